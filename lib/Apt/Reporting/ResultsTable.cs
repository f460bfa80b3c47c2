using System.Globalization;
using System.Text;
using Apt.Runs;
using Apt.Tasks;
using Apt.Training;
using Microsoft.Data.Analysis;

namespace Apt.Reporting;

/// <summary>
/// One cell of a results table: mean and sample standard deviation (in %) over <see cref="Runs"/> seeds, and the
/// 95 % confidence interval of the mean (Student's t), written "mean ± std [low, high]"; <see cref="Of"/> is how many
/// runs the sweep's grid has for it, shown when the mean covers fewer ("59.0 ± 0.3 [56.3, 61.7] (2 of 3 runs)").
/// </summary>
public sealed record ResultCell(double Mean, double? Std, int Runs, int? Of = null)
{
    /// <summary>Half the width of the 95 % confidence interval of <see cref="Mean"/>; null for a single run.</summary>
    public double? ConfidenceHalfWidth => SeedStatistics.ConfidenceHalfWidth(Std, Runs);

    public override string ToString() =>
        MeanStdText(Mean, Std)
        + (ConfidenceHalfWidth is double h ? string.Create(CultureInfo.InvariantCulture,
            $" [{Mean - h:F1}, {Mean + h:F1}]") : "")
        + (Of is int of && Runs < of ? $" ({Runs} of {of} runs)" : "");

    /// <summary>
    /// "62.3 ± 1.0" (one decimal, scores in %), or "62.3" without a spread: the table's rounding, which the bar labels
    /// of <see cref="Charts.MeanStdBars"/> share so that a chart never prints more digits than the table beside it.
    /// </summary>
    public static string MeanStdText(double mean, double? std) => std is double s
        ? string.Create(CultureInfo.InvariantCulture, $"{mean:F1} ± {s:F1}")
        : mean.ToString("F1", CultureInfo.InvariantCulture);
}

/// <summary>
/// The paper's layout: tasks as columns, methods as rows, mean ± std over seeds of the reported metric
/// (in %), with each method's trainable-parameter count. Built from the runs under a folder
/// (<see cref="RunIndex"/>); baselines without runs (majority class) can be added.
/// </summary>
public sealed class ResultsTable
{
    readonly Dictionary<(string Method, string Task), ResultCell> _cells = [];
    readonly Dictionary<(string Method, string Task), long> _parameters = [];
    readonly List<string> _methods = [], _tasks = [];

    public IReadOnlyList<string> Methods => _methods;
    public IReadOnlyList<string> Tasks => _tasks;

    public ResultCell? this[string method, string task] => _cells.GetValueOrDefault((method, task));

    /// <summary>Trainable parameters of a method's runs on a task; null for baselines without any.</summary>
    public long? Parameters(string method, string task) => _parameters.TryGetValue((method, task), out long p) ? p : null;

    /// <summary>
    /// A method's trainable parameters as the table's last column shows them: one count when every task's runs have the
    /// same, else one per task in column order ("1,155 / 770": the head's width follows the labels, a study's prefix
    /// length its choice per task); "–" for baselines without any.
    /// </summary>
    public string ParameterText(string method)
    {
        string?[] perTask = [.. _tasks.Select(t => Parameters(method, t)?.ToString("N0", CultureInfo.InvariantCulture))];
        var distinct = perTask.OfType<string>().Distinct().ToList();
        return distinct.Count switch { 0 => "–", 1 => distinct[0], _ => string.Join(" / ", perTask.Select(c => c ?? "–")) };
    }

    /// <summary>Sets a cell; rows and columns appear in the order they are first given.</summary>
    public void Set(string method, string task, ResultCell cell, long? parameters = null)
    {
        if (!_methods.Contains(method)) _methods.Add(method);
        if (!_tasks.Contains(task)) _tasks.Add(task);
        _cells[(method, task)] = cell;
        if (parameters is long p) _parameters[(method, task)] = p;
    }

    /// <summary>The finished runs under <paramref name="runsFolder"/>, grouped by task and method (rows in <see cref="MethodCatalogue"/> order).</summary>
    public static ResultsTable FromRuns(string runsFolder)
    {
        var table = new ResultsTable();
        var runs = RunIndex.Load(runsFolder);
        if (runs.Rows.Count == 0) return table;
        var groups = RunIndex.Aggregate(runs, ["task", "method"]);
        var rows = Enumerable.Range(0, (int)groups.Rows.Count)
            .OrderBy(r => MethodCatalogue.Order((string)groups.Columns["method"][r]))
            .ThenBy(r => (string)groups.Columns["task"][r], StringComparer.Ordinal);
        foreach (int r in rows)
        {
            string method = (string)groups.Columns["method"][r], task = (string)groups.Columns["task"][r];
            double mean = 100 * (double)groups.Columns["selectedValue.mean"][r]!;
            double? std = groups.Columns["selectedValue.std"][r] is double s ? 100 * s : null;
            long? parameters = groups.Columns.IndexOf("params.trainable.mean") >= 0 && groups.Columns["params.trainable.mean"][r] is double p ? (long)p : null;
            table.Set(MethodCatalogue.Label(method), task, new ResultCell(mean, std, (int)groups.Columns["runs"][r]), parameters);
        }
        return table;
    }

    /// <summary>
    /// Marks each mean with how many runs <paramref name="grid"/> has for its method and task; returns a note when the grid
    /// is only partly finished (some means cover fewer runs than the grid's), else null.
    /// </summary>
    public string? MarkCoverage(SweepSpec grid)
    {
        var planned = grid.Expand("").GroupBy(run => (Method: MethodCatalogue.Label(run.Method), run.Settings.Task)).ToDictionary(g => g.Key, g => g.Count());
        foreach (var ((method, task), count) in planned)
            if (this[method, task] is { } cell) _cells[(method, task)] = cell with { Of = count };
        int finished = planned.Sum(p => Math.Min(this[p.Key.Method, p.Key.Task]?.Runs ?? 0, p.Value)), total = planned.Values.Sum();
        return finished < total
            ? $"partly finished grid '{grid.Name}': {finished} of {total} runs have results; a mean over fewer runs than the grid has for it says how many it covers, – has none yet"
            : null;
    }

    /// <summary>Markdown, with a note marking stand-in data sets (never benchmark scores).</summary>
    public string ToMarkdown()
    {
        var text = new StringBuilder();
        text.AppendLine($"| method | {string.Join(" | ", _tasks.Select(Header))} | trainable params |");
        text.AppendLine($"|---|{string.Concat(_tasks.Select(_ => "---|"))}---|");
        foreach (string method in _methods)
            text.AppendLine($"| {method} | {string.Join(" | ", _tasks.Select(t => this[method, t]?.ToString() ?? "–"))} | {ParameterText(method)} |");
        if (_tasks.Any(IsStandIn))
            text.AppendLine().AppendLine("\\* " + StandInNote);
        return text.ToString();
    }

    /// <summary>An HTML table for <see cref="ReportPage"/>, the same cells and note as
    /// <see cref="ToMarkdown"/>.</summary>
    public string ToHtml()
    {
        static string Cell(string tag, string text, string? css = null) =>
            $"<{tag}{(css is null ? "" : $" class=\"{css}\"")}>{ReportPage.Encode(text)}</{tag}>";
        var html = new StringBuilder("<table>\n<tr>").Append(Cell("th", "method"));
        foreach (string task in _tasks) html.Append(Cell("th", IsStandIn(task) ? task + "*" : task));
        html.Append(Cell("th", "trainable params")).Append("</tr>\n");
        foreach (string method in _methods)
        {
            html.Append("<tr>").Append(Cell("td", method));
            foreach (string task in _tasks) html.Append(Cell("td", this[method, task]?.ToString() ?? "–", "number"));
            html.Append(Cell("td", ParameterText(method), "number")).Append("</tr>\n");
        }
        html.Append("</table>\n");
        if (_tasks.Any(IsStandIn)) html.Append(Cell("p", "* " + StandInNote));
        return html.ToString();
    }

    /// <summary>CSV: one row per method and task.</summary>
    public string ToCsv()
    {
        var text = new StringBuilder("method,task,mean,std,ci95_low,ci95_high,runs,trainable_params\n");
        foreach (string method in _methods)
            foreach (string task in _tasks)
                if (this[method, task] is { } cell)
                    text.Append(CultureInfo.InvariantCulture, $"{Quote(method)},{task},{cell.Mean:R},{Number(cell.Std)},{Number(cell.Mean - cell.ConfidenceHalfWidth)},{Number(cell.Mean + cell.ConfidenceHalfWidth)},{cell.Runs},{Parameters(method, task)?.ToString(CultureInfo.InvariantCulture) ?? ""}\n");
        return text.ToString();
    }

    /// <summary>A bar chart per task of every method's mean ± std.</summary>
    public Chart ToChart(string task) =>
        Charts.MeanStdBars(
            [.. _methods.Where(m => this[m, task] is not null).Select(m => new MeanStd(m, this[m, task]!.Mean,
                this[m, task]!.Std))],
            "score (%)", $"{task}{(IsStandIn(task) ? " (stand-in data)" : "")}");

    const string StandInNote = "stand-in data built here from public corpora (WordNet, Brown): not benchmark scores.";

    static bool IsStandIn(string task) => TaskRegistry.Names.Contains(task) && TaskRegistry.Get(task).IsStandIn;
    static string Header(string task) => IsStandIn(task) ? task + "\\*" : task;
    static string Number(double? value) => value?.ToString("R", CultureInfo.InvariantCulture) ?? "";
    static string Quote(string text) => text.Contains(',') || text.Contains('"') ? $"\"{text.Replace("\"", "\"\"")}\"" : text;
}
