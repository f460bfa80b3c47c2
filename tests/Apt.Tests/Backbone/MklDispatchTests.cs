using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using Apt.Backbone;
using Apt.Backbone.Cpu;
using TorchSharp;
using static TorchSharp.torch;

namespace Apt.Tests.Backbone;

/// <summary>MKL inside libtorch picks its kernels by the CPU's features (<see cref="MklDispatch"/>), and they compute right.</summary>
public sealed class MklDispatchTests
{
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    delegate int VendorTest();

    /// <summary>What <see cref="TorchRuntime.MklKernels"/> must say on this machine when the vendor test is not replaced; null when it is.</summary>
    static string? NotReplacedBecause() =>
        !OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64 ? "MKL's own dispatch (not Linux x64)"
        : Environment.GetEnvironmentVariable(MklDispatch.KeepVendorTestVariable) is not null ? $"MKL's own dispatch ({MklDispatch.KeepVendorTestVariable} is set)"
        : null;

    [Fact]
    public void Mkls_vendor_test_answers_intel_once_libtorch_is_loaded()
    {
        TorchRuntime.EnsureLoaded();
        if (NotReplacedBecause() is { } reason)
        {
            Assert.Equal(reason, TorchRuntime.MklKernels);
            return;
        }
        Assert.True(NativeLibrary.TryLoad("libtorch_cpu.so", out IntPtr library));
        Assert.True(NativeLibrary.TryGetExport(library, "mkl_serv_intel_cpu_true", out IntPtr vendorTest));
        const string Intel = "MKL's own dispatch (an Intel CPU)";
        if (!Avx2.IsSupported || !Fma.IsSupported)
        {
            Assert.Contains(TorchRuntime.MklKernels, new[] { Intel, "MKL's generic kernels (a CPU without AVX2 and FMA)" });
            return;
        }
        Assert.Equal(1, Marshal.GetDelegateForFunctionPointer<VendorTest>(vendorTest)());
        Assert.Contains(TorchRuntime.MklKernels, new[] { Intel, "by the CPU's features (MKL's vendor test answers Intel on this non-Intel CPU)" });
    }

    /// <summary>The kernels MKL now runs, on MiniLM's shapes, against the same products in float64.</summary>
    [Theory]
    [InlineData(4096, 384, 1536)]
    [InlineData(4096, 1536, 384)]
    [InlineData(128, 384, 1152)]
    public void Linear_products_equal_float64(int rows, int inputs, int outputs)
    {
        TorchRuntime.EnsureLoaded();
        var generator = new Generator(7);
        using var x = randn(rows, inputs, generator: generator);
        using var w = randn(outputs, inputs, generator: generator);
        using var product = nn.functional.linear(x, w);
        using var reference = nn.functional.linear(x.to(ScalarType.Float64), w.to(ScalarType.Float64));
        double error = (product.to(ScalarType.Float64) - reference).abs().max().item<double>();
        Assert.True(error < 1e-3 * Math.Sqrt(inputs), $"max |Δ| {error:E2} against float64 ({rows} × {inputs} → {outputs})");
    }

    [Fact]
    public void Attentions_batched_products_equal_float64()
    {
        TorchRuntime.EnsureLoaded();
        var generator = new Generator(11);
        using var q = randn(32, 12, 128, 32, generator: generator); // (B, H, T, hd)
        using var k = randn(32, 12, 144, 32, generator: generator); // (B, H, S, hd)
        using var scores = q.matmul(k.transpose(-2, -1)); // (B, H, T, S)
        using var reference = q.to(ScalarType.Float64).matmul(k.to(ScalarType.Float64).transpose(-2, -1));
        double error = (scores.to(ScalarType.Float64) - reference).abs().max().item<double>();
        Assert.True(error < 1e-3 * Math.Sqrt(32), $"max |Δ| {error:E2} against float64");
    }
}
