using System.Diagnostics;

namespace Apt.Tests.Cli;

/// <summary>The launcher at the repository's root, as a user types it: through a link on the PATH, from
/// any folder.</summary>
public sealed class LauncherTests
{
    [Fact]
    public void Aptnb_on_the_path_runs_the_Release_build_from_any_folder()
    {
        string folder = Directory.CreateTempSubdirectory("aptnb-").FullName;
        try
        {
            // As `bash setup.sh --link` makes it: ~/.local/bin/aptnb -> <checkout>/aptnb.
            string bin = Directory.CreateDirectory(Path.Combine(folder, "bin")).FullName;
            File.CreateSymbolicLink(Path.Combine(bin, "aptnb"), Path.Combine(TestPaths.RepoRoot, "aptnb"));
            // The first call may build the Release output (a fresh clone); the second finds it current.
            var (code, help) = Run(folder, bin, "--help");
            Assert.True(code == 0, help);
            Assert.Contains("USAGE:", help);
            Assert.Contains("aptnb [OPTIONS] <COMMAND>", help);
            var (doctorCode, doctor) = Run(folder, bin, "doctor");
            Assert.True(doctorCode == 0, doctor);
            Assert.DoesNotContain("building lib/Apt.Cli", doctor);
            Assert.Contains("C++ runtime", doctor);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    static (int ExitCode, string Output) Run(string workingFolder, string bin, string verb)
    {
        var start = new ProcessStartInfo(Path.Combine(bin, "aptnb"), verb)
        {
            WorkingDirectory = workingFolder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["COLUMNS"] = "200";
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        Assert.True(process.WaitForExit(600_000), "aptnb did not finish within 10 minutes");
        return (process.ExitCode, output + error.Result);
    }
}
