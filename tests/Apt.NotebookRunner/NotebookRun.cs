namespace Apt.NotebookRunner;

/// <summary>How to run a notebook headless.</summary>
public sealed record NotebookRunOptions
{
    /// <summary>Folder the executed notebook (with its outputs) is written to, under the notebook's own file name.</summary>
    public required string OutputFolder { get; init; }

    /// <summary>Environment variables set for the run and restored afterwards, e.g. APT_NOTEBOOK_SMALL=1.</summary>
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();

    /// <summary>Longest time one cell may take before the run fails.</summary>
    public TimeSpan CellTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Which kernel executes the cells: this process (default) or a separate dotnet-interactive process.</summary>
    public NotebookKernel Kernel { get; init; } = NotebookKernel.InProcess;

    /// <summary>
    /// In process only: point a cell's <c>#r "…/X.dll"</c> at the copy of X that this process already loaded (default on).
    /// The notebooks name the Release build folder for people; the tests run the Debug build they just compiled, and
    /// one process cannot load two copies of an assembly, so the cells must compile against the loaded one.
    /// A separate kernel process always gets the cells as written.
    /// </summary>
    public bool RedirectLoadedReferences { get; init; } = true;
}

/// <summary>Where a notebook's cells run.</summary>
public enum NotebookKernel
{
    /// <summary>A C# kernel inside this process (fast; shares this process's assemblies).</summary>
    InProcess,

    /// <summary>
    /// A separate <c>dotnet-interactive stdio</c> process, the tool pinned in the repository's <c>.config/dotnet-tools.json</c>:
    /// the kernel that VS Code Polyglot Notebooks and Jupyter's .NET kernel run, with its own assemblies loaded first.
    /// </summary>
    DotnetInteractiveTool,
}

/// <summary>One output of a cell as Jupyter stores it.</summary>
/// <param name="Kind">"stream" (stdout/stderr), "display_data", "execute_result" or "error".</param>
/// <param name="Data">Mime type → text for display_data and execute_result; "stdout"/"stderr" → text for streams;
/// "ename"/"evalue" for errors.</param>
public sealed record CellOutput(string Kind, IReadOnlyDictionary<string, string> Data)
{
    /// <summary>Every text this output carries, for searching in tests.</summary>
    public string AllText => string.Join("\n", Data.Values);
}

/// <summary>What one code cell did.</summary>
/// <param name="Index">0-based position of the cell in the notebook's cell list (markdown cells count).</param>
/// <param name="FirstLine">The cell's first non-empty line, to name it in messages.</param>
/// <param name="Elapsed">Wall time of the cell.</param>
/// <param name="Outputs">What the cell showed, in order (updated displays hold their last state).</param>
public sealed record CellRun(int Index, string FirstLine, TimeSpan Elapsed, IReadOnlyList<CellOutput> Outputs);

/// <summary>A whole notebook run that succeeded.</summary>
public sealed record NotebookRun(string NotebookPath, string ExecutedPath, TimeSpan Elapsed, IReadOnlyList<CellRun> Cells)
{
    public IEnumerable<CellOutput> Outputs => Cells.SelectMany(c => c.Outputs);
}

/// <summary>A cell failed (compile error, exception, or time-out): names the notebook, the cell and its first line.</summary>
public sealed class NotebookCellException(string notebookPath, int cellIndex, string firstLine, string executedPath, string error)
    : Exception($"{notebookPath}: cell {cellIndex} (\"{firstLine}\") failed: {error}\nThe executed notebook up to that cell is at {executedPath}.")
{
    public string NotebookPath { get; } = notebookPath;

    /// <summary>0-based position in the notebook's cell list, markdown cells included.</summary>
    public int CellIndex { get; } = cellIndex;

    public string FirstLine { get; } = firstLine;

    public string ExecutedPath { get; } = executedPath;

    public string Error { get; } = error;
}
