using System.Diagnostics;

namespace Apt.Tests.Backbone;

/// <summary>
/// The build property that picks the TorchSharp package (Directory.Build.props): TorchSharp-cpu by default,
/// TorchSharp-cuda-linux with <c>-p:TorchDevice=cuda</c>, both pinned in Directory.Packages.props, a misspelt device
/// refused. Evaluated with MSBuild only: the CUDA package is not served here, so it is never restored.
/// </summary>
public sealed class TorchDeviceBuildTests
{
    static string Library => Path.Combine(TestPaths.RepoRoot, "lib", "Apt", "Apt.csproj");

    [Theory]
    [InlineData(null, "TorchSharp-cpu")]
    [InlineData("cpu", "TorchSharp-cpu")]
    [InlineData("cuda", "TorchSharp-cuda-linux")]
    public void The_device_picks_the_package_and_the_package_has_a_pinned_version(string? device, string package)
    {
        var (exit, output) = MsBuild([Library, "-getProperty:TorchSharpPackage", "-getItem:PackageReference", "-getItem:PackageVersion", .. device is null ? Array.Empty<string>() : [$"-p:TorchDevice={device}"]]);
        Assert.True(exit == 0, output);
        Assert.Contains($"\"TorchSharpPackage\": \"{package}\"", output);
        Assert.Contains($"\"Identity\": \"{package}\"", output);
        string other = package == "TorchSharp-cpu" ? "TorchSharp-cuda-linux" : "TorchSharp-cpu";
        int references = output.IndexOf("\"PackageReference\"", StringComparison.Ordinal), versions = output.IndexOf("\"PackageVersion\"", StringComparison.Ordinal);
        Assert.DoesNotContain($"\"Identity\": \"{other}\"", references < versions ? output[references..versions] : output[references..]); // only one TorchSharp is referenced
        Assert.Matches($"\"Identity\": \"{package}\",\\s*\"Version\": \"0\\.107\\.0\"", output[versions..]); // pinned at the release the kit is built on
    }

    [Fact]
    public void A_misspelt_device_is_refused_with_the_choices()
    {
        var (exit, output) = MsBuild([Library, "-t:CheckTorchDevice", "-p:TorchDevice=gpu", "-nologo"]);
        Assert.NotEqual(0, exit);
        Assert.Contains("TorchDevice 'gpu' is not a TorchSharp build; expected cpu (the default, TorchSharp-cpu) or cuda (TorchSharp-cuda-linux)", output);
    }

    static (int Exit, string Output) MsBuild(string[] arguments)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = TestPaths.RepoRoot };
        info.ArgumentList.Add("msbuild");
        foreach (string argument in arguments) info.ArgumentList.Add(argument);
        using var process = Process.Start(info)!;
        var error = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output + error.Result);
    }
}
