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

    [Fact]
    public void TheCxxRuntimeVersionsBeyondDebian12AreListed()
    {
        string path = PristineLibrary();
        try
        {
            var requirement = Assert.Single(ElfVersionNeed.Requirements(path),
                r => r.Version == TorchRuntime.RequiredGlibcxx);
            Assert.Equal("libstdc++.so.6", requirement.Library);
            Assert.False(requirement.Weak);
            var need = Assert.Single(CxxRuntimeNeeds.BeyondDebian12(Path.GetDirectoryName(path)!));
            Assert.Equal(new CxxRuntimeNeeds.Need("libLibTorchSharp.so", TorchRuntime.RequiredGlibcxx,
                Weak: false), need);
            // Without that version in the system's libstdc++, doctor names it and says the load will fail.
            string noCxx = Path.GetTempFileName();
            var finding = CxxRuntimeNeeds.Examine(Path.GetDirectoryName(path)!, noCxx);
            File.Delete(noCxx);
            Assert.False(finding.Ok);
            Assert.Contains("GLIBCXX_3.4.32 (libLibTorchSharp.so, the system lacks it)", finding.Value);
            Assert.Contains("lacks GLIBCXX_3.4.32", finding.Remedy);
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(path)!, recursive: true);
        }
    }

    [Theory]
    [InlineData("GLIBCXX_3.4.32", true)]
    [InlineData("GLIBCXX_3.4.31", true)]
    [InlineData("GLIBCXX_3.4.30", false)]
    [InlineData("GLIBCXX_3.4.9", false)]
    [InlineData("CXXABI_1.3.15", true)]
    [InlineData("CXXABI_1.3.13", false)]
    [InlineData("CXXABI_TM_1", false)]
    [InlineData("GLIBC_2.38", false)]
    public void VersionsAreComparedWithinTheirFamily(string version, bool beyond) =>
        Assert.Equal(beyond, CxxRuntimeNeeds.IsBeyondDebian12(version));

    [Fact]
    public void DoctorListsWhatTheBuildsNativeLibrariesNeed()
    {
        var finding = Assert.Single(Doctor.Examine().Findings, f => f.Check == "C++ runtime");
        Assert.True(finding.Ok, finding.Value);
        Assert.StartsWith("beyond Debian 12's GLIBCXX_3.4.30, CXXABI_1.3.13: ", finding.Value);
        Assert.Contains($"{TorchRuntime.RequiredGlibcxx} (libLibTorchSharp.so, ", finding.Value);
    }
}
