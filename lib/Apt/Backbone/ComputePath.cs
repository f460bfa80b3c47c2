using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using TorchSharp;
using static TorchSharp.torch;

namespace Apt.Backbone;

/// <summary>What the user asks of the compute path: <c>auto</c> (the fast CPU kernels where they apply) or <c>reference</c> (libtorch only).</summary>
public enum KernelChoice
{
    /// <summary>The hand-written CPU kernels (folder <c>Backbone/Cpu</c>) on float32 CPU tensors where the CPU has AVX2 and FMA; libtorch elsewhere.</summary>
    Auto,
    /// <summary>libtorch operations only, on every device: the readable path of the model files.</summary>
    Reference,
}

/// <summary>
/// The one place that decides, per call, whether the hand-written CPU kernels (folder <c>Backbone/Cpu</c>: fused
/// dropout-attention, counter-hash dropout, the gated prefix dropout, stacked and MKL-packed frozen linears) or the
/// libtorch reference path runs. CUDA (any non-CPU) tensors always take the reference path; CPU tensors take the fast
/// one when <see cref="Choice"/> is <see cref="KernelChoice.Auto"/>, the tensor is float32 and the CPU has AVX2 and FMA.
/// The default choice comes from the environment variable <see cref="EnvironmentVariable"/> (<c>reference</c> or
/// <c>auto</c>; unset means auto), so notebooks and test passes can force it; the CLI's <c>--kernels</c> sets it per run.
/// Both paths compute the same function and draw the same dropout masks from torch's generator (<see cref="CounterDropout"/>).
/// </summary>
public static class ComputePath
{
    /// <summary>The environment variable read once at start: <c>APT_KERNELS=reference</c> forces the reference path.</summary>
    public const string EnvironmentVariable = "APT_KERNELS";

    static KernelChoice? _choice;

    /// <summary>The current choice (process-wide; tests and the CLI set it, the environment gives its default, read on first use).</summary>
    public static KernelChoice Choice
    {
        get => _choice ??= FromEnvironment();
        set => _choice = value;
    }

    /// <summary>Whether this CPU runs the fast kernels at all: they use 256-bit AVX2 and FMA lanes.</summary>
    public static bool CpuSupported => Avx2.IsSupported && Fma.IsSupported;

    /// <summary>Whether the fast CPU kernels take a computation whose input is <paramref name="tensor"/>.</summary>
    public static bool UsesFastCpu(Tensor tensor) =>
        Choice == KernelChoice.Auto && tensor.device_type == DeviceType.CPU && tensor.dtype == ScalarType.Float32 && CpuSupported;

    /// <summary>Parses <c>auto</c> or <c>reference</c> (any case); names <paramref name="source"/> in the error otherwise.</summary>
    public static KernelChoice Parse(string text, string source) => text.Trim().ToLowerInvariant() switch
    {
        "auto" or "fast-cpu" => KernelChoice.Auto,
        "reference" => KernelChoice.Reference,
        _ => throw new ArgumentException($"{source}: '{text}' is not a kernel choice; expected 'auto' or 'reference'"),
    };

    /// <summary>Sets <see cref="Choice"/> until the returned handle is disposed (tests, the bench).</summary>
    public static IDisposable Force(KernelChoice choice)
    {
        var before = Choice;
        _choice = choice;
        return new Restore(() => _choice = before);
    }

    /// <summary>The path tensors on <paramref name="device"/> take, and why: what <c>aptnb doctor</c> prints.</summary>
    public static string Describe(Device device)
    {
        if (device.type != DeviceType.CPU) return $"reference (libtorch only: {device.type} tensors always take it)";
        if (Choice == KernelChoice.Reference)
            return Environment.GetEnvironmentVariable(EnvironmentVariable) is { } set
                ? $"reference (libtorch only: {EnvironmentVariable}={set})" : "reference (libtorch only: asked for with --kernels reference)";
        return CpuSupported
            ? $"fast-cpu (hand-written AVX2 kernels on float32 CPU tensors, per-head attention in {(Vector512.IsHardwareAccelerated ? "512" : "256")}-bit lanes; {EnvironmentVariable}=reference or --kernels reference for libtorch only)"
            : "reference (libtorch only: this CPU lacks AVX2 or FMA)";
    }

    static KernelChoice FromEnvironment() =>
        Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } text ? Parse(text, $"environment variable {EnvironmentVariable}") : KernelChoice.Auto;

    sealed class Restore(Action restore) : IDisposable
    {
        public void Dispose() => restore();
    }
}
