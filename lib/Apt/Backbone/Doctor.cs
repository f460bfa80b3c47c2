using System.Runtime.InteropServices;
using System.Text.Json;
using static TorchSharp.torch;

namespace Apt.Backbone;

/// <summary>One line of the environment check.</summary>
public sealed record Finding(string Check, string Value, bool Ok, string Remedy = "");

/// <summary>What `aptnb doctor` reports.</summary>
public sealed record DoctorReport(IReadOnlyList<Finding> Findings)
{
    public bool Healthy => Findings.All(f => f.Ok);
    public string ToJson() => JsonSerializer.Serialize(new { healthy = Healthy, findings = Findings }, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase });
}

/// <summary>Examines the runtime, libtorch and the embedded backbones.</summary>
public static class Doctor
{
    public static DoctorReport Examine()
    {
        var findings = new List<Finding>
        {
            new(".NET runtime", $"{RuntimeInformation.FrameworkDescription} ({RuntimeInformation.RuntimeIdentifier})", Environment.Version.Major >= 10,
                "install the .NET 10 SDK (global.json pins it)"),
            new("TorchSharp", TorchRuntime.TorchSharpVersion, true),
        };

        var libstdcxx = TorchRuntime.CheckLibStdCxx();
        string? native = TorchRuntime.NativeLibraryPath();
        if (libstdcxx is { } check)
        {
            bool weak = native is not null && ElfVersionNeed.IsWeak(native, TorchRuntime.RequiredGlibcxx) != false;
            findings.Add(new("libstdc++", check.Defines
                    ? $"{check.Path} defines {TorchRuntime.RequiredGlibcxx}"
                    : $"{check.Path} lacks {TorchRuntime.RequiredGlibcxx}; {(weak ? "the requirement is marked weak in " + native : "libLibTorchSharp.so is not patched")}",
                check.Defines || weak, "run 'dotnet build' in the repository: build/LibTorchSharp.targets patches the library"));
        }
        if (native is not null) findings.Add(CxxRuntimeNeeds.Examine(Path.GetDirectoryName(native)!, libstdcxx?.Path));

        try
        {
            TorchRuntime.EnsureLoaded();
            findings.Add(new("libtorch", LibTorchVersionText(), true));
            findings.Add(new("device", TorchRuntime.Device.type == TorchSharp.DeviceType.CUDA ? "CUDA" : "CPU (no CUDA build of TorchSharp or no GPU)", true));
            findings.Add(new("threads", $"{get_num_threads()} intra-op (of {Environment.ProcessorCount} cores)", true));
            findings.Add(new("MKL kernels", TorchRuntime.MklKernels, true));
            findings.Add(new("compute path", ComputePath.Describe(TorchRuntime.Device), true));
            if (OperatingSystem.IsLinux())
                findings.Add(new("allocator", Environment.GetEnvironmentVariable("GLIBC_TUNABLES") is { } tunables
                    ? $"GLIBC_TUNABLES={tunables}" : "glibc defaults (a library host: more memory per training step, same speed)", true));
        }
        catch (TorchLoadException e)
        {
            findings.Add(new("libtorch", "does not load", false, e.Message));
        }

        foreach (var backbone in EmbeddedBackbones.All)
        {
            try
            {
                findings.Add(new($"backbone {backbone.Key}", backbone.LocateAssembly(), true));
            }
            catch (FileNotFoundException e)
            {
                findings.Add(new($"backbone {backbone.Key}", "not found", false, e.Message));
            }
        }
        return new DoctorReport(findings);
    }

    static string LibTorchVersionText() => $"{TorchRuntime.LibTorchVersion} ({TorchRuntime.NativeLibraryPath() ?? "native library resolved by the runtime"})";
}
