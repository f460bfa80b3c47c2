using Apt.Reporting;
using Microsoft.Data.Analysis;

namespace Apt.Notebooks;

/// <summary>
/// What a notebook cell shows: a chart, a table, an HTML fragment, a run's progress. The same cell runs in a notebook,
/// where Apt.Notebooks installs a host that shows each in the cell's output, and in the notebook's terminal twin
/// (notebooks/*.cs), where <see cref="TerminalHost"/> prints it and writes files. So the core library, and the CLI
/// with it, carries no notebook-host code.
/// </summary>
public static class Show
{
    /// <summary>Where things show: the terminal (files in ./notebook-output) until a host is installed.</summary>
    public static IShowHost Host { get; set; } = new TerminalHost("notebook-output");

    /// <summary>Shows <paramref name="chart"/>; nothing when there is none (a cell whose runs are not
    /// there yet).</summary>
    public static void Chart(Chart? chart)
    {
        if (chart is not null) Host.Chart(chart);
    }

    /// <summary>Rows as a table: one column per property (or per key, for dictionaries).</summary>
    public static void Table<T>(IEnumerable<T> rows) => Host.Table(rows);

    public static void Table(DataFrame frame) => Host.Table(frame);

    /// <summary>An HTML fragment (e.g. <see cref="SpanView"/>'s coloured spans).</summary>
    public static void Html(string html) => Host.Html(html);

    /// <summary>A progress view for one run, updated by its <see cref="IProgress{T}.Report"/>.</summary>
    public static IProgressView Progress(string title) => Host.Progress(title);
}

/// <summary>A place that shows what <see cref="Show"/> is given: a notebook's output, or the terminal
/// and files.</summary>
public interface IShowHost
{
    void Chart(Chart chart);
    void Table<T>(IEnumerable<T> rows);
    void Table(DataFrame frame);
    void Html(string html);
    IProgressView Progress(string title);
}

/// <summary>A run's progress as shown: pass it to a training loop; <see cref="Complete"/> draws it finished.</summary>
public interface IProgressView : IProgress<TrainingProgress>
{
    /// <summary>The latest progress reported.</summary>
    TrainingProgress? Last { get; }

    /// <summary>Shows the run as finished, with an optional closing note (e.g. the final dev score).</summary>
    void Complete(string? note = null);
}
