using System.IO.Compression;
using Apt.Backbone;

namespace Apt.Tests.Backbone;

/// <summary>The build's fix for libtorch on Debian 12, on the pristine library from TorchSharp's .nupkg.</summary>
public sealed class LibTorchPatchTests
{
    static string PristineLibrary()
    {
        string package = EmbeddedBackbones.PackageRoots()
            .Select(root => Path.Combine(root, "torchsharp", TorchRuntime.TorchSharpVersion, $"torchsharp.{TorchRuntime.TorchSharpVersion}.nupkg"))
            .First(File.Exists);
        using var zip = ZipFile.OpenRead(package);
        string path = Path.Combine(Directory.CreateTempSubdirectory("apt-elf-").FullName, "libLibTorchSharp.so");
        zip.GetEntry("runtimes/linux-x64/native/libLibTorchSharp.so")!.ExtractToFile(path);
        return path;
    }

    [Fact]
    public void MarksOnlyTheGlibcxxRequirementWeakAndIsIdempotent()
    {
        string path = PristineLibrary();
        try
        {
            byte[] before = File.ReadAllBytes(path);
            Assert.False(ElfVersionNeed.IsWeak(path, TorchRuntime.RequiredGlibcxx));
            Assert.True(ElfVersionNeed.Weaken(path, TorchRuntime.RequiredGlibcxx));
            Assert.True(ElfVersionNeed.IsWeak(path, TorchRuntime.RequiredGlibcxx));
            byte[] after = File.ReadAllBytes(path);
            Assert.Equal(before.Length, after.Length);
            Assert.Single(Enumerable.Range(0, before.Length), i => before[i] != after[i]); // one flag byte
            Assert.False(ElfVersionNeed.Weaken(path, TorchRuntime.RequiredGlibcxx)); // already weak: nothing written
            Assert.Equal(after, File.ReadAllBytes(path));
            Assert.Null(ElfVersionNeed.IsWeak(path, "GLIBCXX_9.9.99"));
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(path)!, recursive: true);
        }
    }

    [Fact]
    public void TheLoadedCopyWorksAndDoctorIsHealthy()
    {
        TorchRuntime.EnsureLoaded();
        var report = Doctor.Examine();
        Assert.True(report.Healthy, string.Join("; ", report.Findings.Where(f => !f.Ok).Select(f => $"{f.Check}: {f.Value}")));
        Assert.Contains(report.Findings, f => f.Check == "libtorch" && f.Value.StartsWith("2.10"));
    }

    [Fact]
    public void NotAnElfFileIsRefusedWithAReason()
    {
        string path = Path.GetTempFileName();
        File.WriteAllText(path, "not a library");
        try
        {
            var error = Assert.Throws<InvalidDataException>(() => ElfVersionNeed.IsWeak(path, TorchRuntime.RequiredGlibcxx));
            Assert.Contains("ELF", error.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
