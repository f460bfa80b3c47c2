using System.Diagnostics;
using Apt.Training;

namespace Apt.Tests.Training;

/// <summary>A real crash: the probe runs in a child process, is killed with SIGKILL mid-epoch, and is resumed.</summary>
public class ResumeAfterKillTests
{
    static string ProbeDll => Path.Combine(AppContext.BaseDirectory, "Apt.TrainProbe.dll");

    static Process Start(string runFolder, long? hangAfterStep = null)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(ProbeDll);
        info.ArgumentList.Add(runFolder);
        if (hangAfterStep is { } step) { info.ArgumentList.Add("--hang-after-step"); info.ArgumentList.Add(step.ToString()); }
        return Process.Start(info)!;
    }

    static string RunToEnd(string runFolder)
    {
        using var process = Start(runFolder);
        string output = process.StandardOutput.ReadToEnd();
        string errors = process.StandardError.ReadToEnd();
        Assert.True(process.WaitForExit(60_000), "the probe did not finish within 60 s");
        Assert.True(process.ExitCode == 0, $"the probe failed ({process.ExitCode}): {errors}");
        return output;
    }

    [Fact]
    public void ASigkilledRunResumesToTheUninterruptedRunsResultMetricsAndTensors()
    {
        using var folder = new TempFolder();
        RunToEnd(folder.Sub("reference"));

        // Kill after step 13 of 24 (epoch 2 of 3, 8 steps each): the newest checkpoint is step 10, and
        // metrics.jsonl already has the line of step 12, which the resume must drop and write again.
        using (var process = Start(folder.Sub("killed"), hangAfterStep: 13))
        {
            string? line;
            while ((line = process.StandardOutput.ReadLine()) is not null && line != "step 13") { }
            Assert.Equal("step 13", line);
            process.Kill(); // SIGKILL on Unix
            process.WaitForExit();
        }
        var killed = RunFolder.Open(folder.Sub("killed"));
        Assert.False(killed.IsFinished);
        using (var newest = CheckpointStore.Read(new CheckpointStore(killed.CheckpointsPath).List()[0]))
        {
            Assert.Equal(10, newest.State.GlobalStep);
            Assert.Equal(1, newest.State.Epoch);
            Assert.Equal(2, newest.State.BatchesDoneInEpoch);
        }
        Assert.Contains(killed.ReadMetrics(), line => (long)line["step"]! == 12);

        string resumed = RunToEnd(killed.Path);
        Assert.StartsWith("step 11\n", resumed); // it continued, it did not start over
        TrainerTests.AssertSameRun(RunFolder.Open(folder.Sub("reference")), killed);
    }
}
