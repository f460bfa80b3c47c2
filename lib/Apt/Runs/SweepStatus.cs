using System.Text.Json;
using Apt.Training;

namespace Apt.Runs;

/// <summary>Where a cell of a sweep stands.</summary>
public enum CellState { Finished, Running, Failed, NotStarted }

/// <summary>One cell's state, with what explains it (the result, the holder, the error or the last checkpoint).</summary>
public sealed record CellStatus(int Index, SweepRun Run, CellState State, string Detail);

/// <summary>
/// A sweep's cells as their run folders show them (no other record is kept): finished (result.json), running (a live
/// process holds the folder's lock), failed (a recorded error, or a run stopped without one: killed, cancelled or
/// preempted; it resumes from its last checkpoint) or not started.
/// </summary>
public static class SweepStatus
{
    public static IReadOnlyList<CellStatus> Of(SweepSpec spec, string runsRoot, RunLockOptions? locks = null)
    {
        locks ??= new RunLockOptions();
        return [.. spec.Expand(runsRoot).Select((run, i) => Of(i, run, locks))];
    }

    static CellStatus Of(int index, SweepRun run, RunLockOptions locks)
    {
        if (run.IsFinished)
        {
            var result = RunFolder.Open(run.Folder).ReadResult();
            return new CellStatus(index, run, CellState.Finished, $"{result.Selection} {result.SelectionMetric} = {result.SelectedValue:F4}, epoch {result.SelectedEpoch}");
        }
        if (RunFolderLock.ReadHolder(run.Folder) is { } holder && !locks.IsStale(holder))
            return new CellStatus(index, run, CellState.Running, $"held by {holder}{Progress(run)}");
        string failure = Path.Combine(run.Folder, SweepRunner.FailureFileName);
        if (File.Exists(failure))
        {
            var recorded = JsonSerializer.Deserialize<RunFailure>(InputFile.ReadAllText(failure),
                TrainingJson.Indented);
            return new CellStatus(index, run, CellState.Failed, $"{recorded?.Kind}: {recorded?.Message}");
        }
        if (File.Exists(Path.Combine(run.Folder, "config.json")))
            return new CellStatus(index, run, CellState.Failed, $"stopped without a result (killed, cancelled or preempted){Progress(run)}; it resumes when run again");
        return new CellStatus(index, run, CellState.NotStarted, "");
    }

    static string Progress(SweepRun run) =>
        new CheckpointStore(Path.Combine(run.Folder, "checkpoints")).List() is [var newest, ..] ? $", last checkpoint {Path.GetFileName(newest)}" : "";
}
