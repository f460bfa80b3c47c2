using Apt.Tasks.Data;
using Apt.Tests.Cli;
using Apt.Tests.Training;
using Apt.Training;

namespace Apt.Tests.Reliability;

/// <summary>
/// SIGTERM and SIGINT delivered to a real `aptnb train` / `aptnb sweep` while a step is in progress (sent by the
/// process to itself at the test-only <see cref="CrashPoint"/>, so the signal lands inside a known step): the step
/// finishes, a
/// checkpoint is saved, the process exits with the command that resumes it, and that command ends in the uninterrupted
/// run. </summary>
public sealed class SignalStopTests : IDisposable
{
    readonly TempFolder _folder = new();
    string DataRoot => _folder.Sub("data");

    public SignalStopTests() =>
        StandInBuilder.BuildWordNetWic(DataRoot, new WordNetWicOptions { Train = 48, Validation = 16, Test = 16 });

    /// <summary>12 steps (6 per epoch), a checkpoint every 4 and at each epoch end.</summary>
    string[] Train(string run) =>
    [
        "train", "--task", "wordnet-wic", "--data-root", DataRoot, "--method", "apt", "--backbone", "minilm",
        "--epochs", "2", "--batch-size", "8", "--train-examples", "48", "--eval-examples", "16", "--max-length", "48",
        "--prefix-length", "4", "--lr", "0.01", "--seed", "3", "--checkpoint-every", "4", "--run", run,
    ];

    /// <summary>Runs `aptnb <paramref name="args"/>` in <paramref name="folder"/>, signalled inside step
    /// <paramref name="step"/>.</summary>
    static (int ExitCode, string Output) SignalledInStep(string signal, long step, string folder,
        params string[] args) =>
        CliTests.AptIn(folder, new() { [CrashPoint.Variable] = $"{signal}:{step}" }, args);

    static void Succeeds(string resume)
    {
        Assert.StartsWith("aptnb ", resume);
        var (exitCode, output) = CliTests.Apt(resume["aptnb ".Length..].Split(' '));
        Assert.True(exitCode == 0, $"{resume} exited {exitCode}:\n{output}");
    }

    [Fact]
    public void SigtermInAStepOfTrainSavesACheckpointPrintsTheResumeCommandAndTheResumeEndsAsTheUninterruptedRun()
    {
        string reference = _folder.Sub("reference"), stopped = _folder.Sub("stopped");
        var (referenceExit, referenceOutput) = CliTests.Apt(Train(reference));
        Assert.True(referenceExit == 0, referenceOutput);

        var (exitCode, output) = SignalledInStep(CrashPoint.SigTerm, 7, _folder.Path, Train(stopped));
        Assert.True(exitCode == 130, $"exit {exitCode}:\n{output}");
        Assert.Contains("SIGTERM: stopping after the step in progress, with a checkpoint (send it again " +
            "to stop at once)", output);
        string resume = $"aptnb train --resume {stopped} --data-root {DataRoot}";
        Assert.Contains($"stopped at step 7 of 12 (checkpoint saved) in {stopped}; resume with: {resume}", output);
        Assert.DoesNotContain("error:", output);
        var run = RunFolder.Open(stopped);
        Assert.False(run.IsFinished);
        Assert.Equal("step-000000007", Path.GetFileName(new CheckpointStore(run.CheckpointsPath).List()[0]));
        Assert.Empty(Directory.GetFiles(stopped, "*.tmp", SearchOption.AllDirectories));

        Succeeds(resume);
        RealRunKillTests.AssertSameFolder(reference, stopped);
    }

    [Fact]
    public void SigintInASweepStopsBeforeTheNextRunAndTheSameCommandFinishesTheGrid()
    {
        using var grid = new TinyGrid(["pt2"], [1, 2]);
        // In this process (--workers 1), where the signal and the runs meet; workers stop as `aptnb train` does.
        string[] sweep = ["sweep", grid.File, "--runs", grid.Runs("stopped"), "--data-root", grid.DataRoot, "--workers", "1"];
        grid.Run(null, "sweep", grid.File, "--runs", grid.Runs("reference"), "--data-root", grid.DataRoot);

        // One step per run: the signal lands in seed 1's only step, which finishes its run; seed 2 does not start.
        var (exitCode, output) = SignalledInStep(CrashPoint.SigInt, 1, grid.Root, sweep);
        Assert.True(exitCode == 130, $"exit {exitCode}:\n{output}");
        Assert.Contains("SIGINT: stopping after the step in progress", output);
        string seed2 = Path.Combine(grid.Runs("stopped"), "rte", "pt2-l4-lr0.01-seed2");
        string resume = $"aptnb {string.Join(' ', sweep)}";
        Assert.Contains($"stopped before {seed2} started; resume with: {resume}", output);
        Assert.False(File.Exists(Path.Combine(seed2, Apt.Runs.SweepRunner.FailureFileName)));

        var (resumedExit, resumed) = CliTests.AptIn(grid.Root, sweep);
        Assert.True(resumedExit == 0, resumed);
        Assert.Contains("1 trained here, 1 already finished", resumed);
        foreach (string seed in new[] { "pt2-l4-lr0.01-seed1", "pt2-l4-lr0.01-seed2" })
            TinyGrid.AssertSameRun(Path.Combine(grid.Runs("reference"), "rte", seed),
                Path.Combine(grid.Runs("stopped"), "rte", seed));
    }

    [Fact]
    public void SigintInTheWorkersOfASweepStopsThemBeforeTheirNextRunAndTheSameCommandFinishesTheGrid()
    {
        using var grid = new TinyGrid(["pt2"], [1, 2, 3]);
        string[] sweep = ["sweep", grid.File, "--runs", grid.Runs("stopped"), "--data-root", grid.DataRoot, "--workers", "2"];
        grid.Run(null, "sweep", grid.File, "--runs", grid.Runs("reference"), "--data-root", grid.DataRoot);

        // Each worker signals itself in its first run's only step: both runs finish, and the worker sent seed 3
        // refuses to start it, which stops the sweep with the command that resumes it.
        var (exitCode, output) = SignalledInStep(CrashPoint.SigInt, 1, grid.Root, sweep);
        Assert.True(exitCode == 130, $"exit {exitCode}:\n{output}");
        string seed3 = Path.Combine(grid.Runs("stopped"), "rte", "pt2-l4-lr0.01-seed3");
        Assert.Contains($"stopped before {seed3} started; resume with: aptnb {string.Join(' ', sweep)}", output);
        Assert.False(File.Exists(Path.Combine(seed3, "result.json")));

        var (resumedExit, resumed) = CliTests.AptIn(grid.Root, sweep);
        Assert.True(resumedExit == 0, resumed);
        Assert.Contains("1 trained here, 2 already finished", resumed);
        foreach (int seed in new[] { 1, 2, 3 })
            TinyGrid.AssertSameRun(Path.Combine(grid.Runs("reference"), "rte", $"pt2-l4-lr0.01-seed{seed}"),
                Path.Combine(grid.Runs("stopped"), "rte", $"pt2-l4-lr0.01-seed{seed}"));
    }

    public void Dispose() => _folder.Dispose();
}
