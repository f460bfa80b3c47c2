namespace Apt.Training;

/// <summary>
/// Training stopped on request (a signal) at a safe point, between two steps, with a checkpoint of the step reached:
/// nothing is half-written and the run resumes from there.
/// </summary>
public sealed class RunStoppedException(string runFolder, string message) : OperationCanceledException(message)
{
    /// <summary>The run folder that was training (or about to).</summary>
    public string RunFolder { get; } = runFolder;
}
