using System.Text.RegularExpressions;
using Apt.Tests.Training;
using Apt.Training;

namespace Apt.Tests.Cluster;

/// <summary>
/// `aptnb sweep --slurm --submit` on a real one-node Slurm cluster (<see cref="OneNodeSlurm"/>): the grid runs as a job
/// array, one task per cell, and ends equal to the serial sweep; a cancelled task's cell resumes when resubmitted.
/// </summary>
[Collection(nameof(OneNodeSlurm))]
public sealed partial class SlurmArrayTests(OneNodeSlurm cluster)
{
    static readonly TimeSpan JobTimeout = TimeSpan.FromMinutes(8);

    [SlurmFact]
    public void AJobArrayTrainsEveryCellOnceAndReportsWhatASerialSweepReports()
    {
        using var grid = new TinyGrid(["pt2", "apt"], [1, 2]); // 4 cells of one step each
        string array = grid.Runs("array"), serial = grid.Runs("serial");

        string job = Submit(grid, array);
        var tasks = cluster.WaitForJob(job, JobTimeout);
        Assert.Equal(4, tasks.Count);
        Assert.All(tasks, task => Assert.Equal(("COMPLETED", "0:0"), task));

        // Every cell trained by exactly one task, each task's log its own.
        var logs = Directory.GetFiles(Path.Combine(array, "slurm"), $"{job}_*.out");
        Assert.Equal(4, logs.Length);
        var trained = logs.SelectMany(log => TinyGrid.Trained(File.ReadAllText(log))).ToList();
        Assert.Equal(grid.Spec.Expand(array).Select(c => Path.GetFullPath(c.Folder)).Order(), trained.Order());
        Assert.Contains("4 finished", grid.Run(null, "sweep", "--status", array));

        grid.Run(null, "sweep", grid.File, "--runs", serial, "--data-root", grid.DataRoot);
        foreach (var cell in grid.Spec.Expand(array))
            TinyGrid.AssertSameRun(Path.Combine(serial, Path.GetRelativePath(array, cell.Folder)), cell.Folder);
        Assert.Equal(Report(grid, serial), Report(grid, array));
    }

    [SlurmFact]
    public void ACancelledTaskResumesWhenResubmittedAndEndsEqualToAnUninterruptedRun()
    {
        // One APT cell of 60 epochs × 2 steps, a checkpoint after each epoch: long enough to cancel mid-run.
        using var grid = new TinyGrid(["apt"], [1], epochs: 60, batchSize: 1);
        string array = grid.Runs("array"), serial = grid.Runs("serial");
        string folder = grid.Spec.Expand(array).Single().Folder, checkpoints = Path.Combine(folder, "checkpoints");

        string first = Submit(grid, array);
        cluster.WaitUntil(() => Directory.Exists(checkpoints) && new CheckpointStore(checkpoints).List().Count > 0, JobTimeout, "the first checkpoint");
        cluster.Run("scancel", first);
        cluster.WaitForJob(first, JobTimeout);
        var cell = RunFolder.Open(folder);
        Assert.False(cell.IsFinished, "the cell finished before scancel reached it: the test needs a longer run");
        long stepAtCancel;
        using (var newest = CheckpointStore.Read(new CheckpointStore(cell.CheckpointsPath).List()[0])) stepAtCancel = newest.State.GlobalStep;

        string second = Submit(grid, array);
        Assert.All(cluster.WaitForJob(second, JobTimeout), task => Assert.Equal(("COMPLETED", "0:0"), task));
        Assert.True(cell.IsFinished);
        Assert.True(stepAtCancel > 0 && stepAtCancel < 120, $"cancelled at step {stepAtCancel}, not mid-run");
        string resumedLog = File.ReadAllText(Directory.GetFiles(Path.Combine(array, "slurm"), $"{second}_*.out").Single());
        Assert.Contains(" epoch 60:", resumedLog); // it trained to the end,
        Assert.DoesNotContain(" epoch 1:", resumedLog); // going on from the checkpoint, not starting over

        grid.Run(null, "sweep", grid.File, "--runs", serial, "--data-root", grid.DataRoot);
        TinyGrid.AssertSameRun(Path.Combine(serial, Path.GetRelativePath(array, cell.Path)), cell.Path);
    }

    /// <summary>`aptnb sweep --slurm --submit` of the grid's unfinished cells; returns the array's job id.</summary>
    string Submit(TinyGrid grid, string runs)
    {
        string output = grid.Run(cluster.Environment, "sweep", grid.File, "--runs", runs, "--data-root", grid.DataRoot,
            "--slurm", "--submit", "--max-parallel", "2", "--cpus-per-task", "1");
        var submitted = SubmittedJob().Match(output);
        Assert.True(submitted.Success, $"no 'submitted job array' line in: {output}");
        return submitted.Groups[1].Value;
    }

    [GeneratedRegex(@"submitted job array (\d+)")]
    private static partial Regex SubmittedJob();

    /// <summary>`aptnb report` of <paramref name="runs"/>: its results.md and results.csv.</summary>
    static string Report(TinyGrid grid, string runs)
    {
        string output = Path.Combine(runs, "report");
        grid.Run(null, "report", "--runs", runs, "--out", output, "--data-root", grid.DataRoot, "--no-png");
        return File.ReadAllText(Path.Combine(output, "results.md")) + File.ReadAllText(Path.Combine(output, "results.csv"));
    }
}

/// <summary>One cluster for every test that needs it, which run one after another.</summary>
[CollectionDefinition(nameof(OneNodeSlurm))]
public sealed class OneNodeSlurmCollection : ICollectionFixture<OneNodeSlurm>;
