using System.Text.Json;
using Apt.Runs;
using Apt.Training;

namespace Apt.Tests.Training;

/// <summary>Sweeps whose runs train side by side in worker processes (`--workers`), through the real
/// `aptnb` command.</summary>
public sealed class SweepWorkersTests
{
    static readonly TimeSpan Limit = TimeSpan.FromMinutes(4);

    [Fact]
    public void ASweepWithOneWorkerAndWithTwoWritesTheSameRunFolders()
    {
        using var grid = new TinyGrid(["head", "pt2", "apt"], [1, 2], epochs: 2);
        string one = grid.Runs("one"), two = grid.Runs("two");
        grid.Run(null, "sweep", grid.File, "--runs", one, "--workers", "1");
        string output = grid.Run(null, "sweep", grid.File, "--runs", two, "--workers", "2");
        Assert.Equal(6, TinyGrid.Trained(output).Count());
        foreach (var cell in grid.Spec.Expand(one))
        {
            string other = Path.Combine(two, Path.GetRelativePath(one, cell.Folder));
            TinyGrid.AssertSameRun(cell.Folder, other);
            foreach (string file in new[] { "config.json", Experiment.AdapterFileName, Experiment.ProbeFileName })
                if (File.Exists(Path.Combine(cell.Folder, file)))
                    Assert.Equal(File.ReadAllBytes(Path.Combine(cell.Folder, file)),
                        File.ReadAllBytes(Path.Combine(other, file)));
        }
    }

    [Fact]
    public void AWorkerKilledMidRunLeavesOnlyItsRunToResume()
    {
        using var grid = new TinyGrid(["pt2"], [1]);
        // Two cells: three steps (one per epoch) and one step, so that only the first reaches the
        // crash point at step 2.
        var task = grid.Spec.Tasks[0];
        var spec = grid.Spec with { Tasks = [task with { Epochs = 3 },
            task with { Epochs = 1, LearningRates = [2e-2] }] };
        File.WriteAllText(grid.File, JsonSerializer.Serialize(spec));
        var (killed, survived) = (spec.Expand(grid.Runs("runs"))[0].Folder, spec.Expand(grid.Runs("runs"))[1].Folder);

        using (var sweep = grid.Start(new Dictionary<string, string> { [CrashPoint.Variable] = $"{CrashPoint.Step}:2" },
            "sweep", grid.File, "--runs", grid.Runs("runs"), "--workers", "2"))
        {
            var (exitCode, output) = sweep.WaitForExit(Limit);
            Assert.True(exitCode != 0, $"the sweep did not fail with its worker killed:\n{output}");
            Assert.Contains("ended while training it", output);
        }
        Assert.False(RunFolder.Open(killed).IsFinished);
        Assert.True(RunFolder.Open(survived).IsFinished);
        Assert.NotEmpty(new CheckpointStore(RunFolder.Open(killed).CheckpointsPath).List());

        string again = grid.Run(null, "sweep", grid.File, "--runs", grid.Runs("runs"), "--workers", "2");
        Assert.Equal([Path.GetFullPath(killed)], TinyGrid.Trained(again));
        grid.Run(null, "sweep", grid.File, "--runs", grid.Runs("reference"), "--workers", "1");
        TinyGrid.AssertSameRun(spec.Expand(grid.Runs("reference"))[0].Folder, killed);
    }
}
