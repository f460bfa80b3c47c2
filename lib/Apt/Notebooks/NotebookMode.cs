namespace Apt.Notebooks;

/// <summary>
/// The notebooks' small mode: the headless test run sets <c>APT_NOTEBOOK_SMALL=1</c> so every notebook finishes in
/// seconds; a person running a notebook gets the full sizes. Cells pick their sizes through <see cref="Pick{T}"/>
/// instead of reading the variable themselves, so one rule decides what "small" means.
/// </summary>
public static class NotebookMode
{
    /// <summary>The environment variable that turns small mode on ("1" or "true").</summary>
    public const string SmallVariable = "APT_NOTEBOOK_SMALL";

    /// <summary>True when <see cref="SmallVariable"/> is "1" or "true" (read on every call: the runner sets it per run).</summary>
    public static bool IsSmall => Environment.GetEnvironmentVariable(SmallVariable)?.Trim().ToLowerInvariant() is "1" or "true";

    /// <summary><paramref name="small"/> in small mode, else <paramref name="full"/>; e.g. <c>Pick(full: 3, small: 1)</c> epochs.</summary>
    public static T Pick<T>(T full, T small) => IsSmall ? small : full;

    /// <summary>A one-line description for a notebook's first output, so a saved run says which mode produced it.</summary>
    public static string Describe() => IsSmall
        ? $"Small mode ({SmallVariable}=1): data and epochs are shrunk so the notebook runs in seconds; numbers are not results."
        : $"Full mode: the sizes written in the cells (set {SmallVariable}=1 for a quick smoke run).";

    /// <summary>The environment variable that moves every notebook's run folders elsewhere (the headless tests use a fresh one).</summary>
    public const string RunsVariable = "APT_NOTEBOOK_RUNS";

    /// <summary>
    /// Where a notebook keeps the run folders of <paramref name="name"/>: under <see cref="RunsVariable"/> when set,
    /// else under <paramref name="defaultRoot"/> (relative to the notebook), where finished runs are read back.
    /// </summary>
    public static string RunsFolder(string name, string defaultRoot = "../runs/notebooks") =>
        Path.Combine(Environment.GetEnvironmentVariable(RunsVariable) is { Length: > 0 } root ? root : defaultRoot, name);
}
