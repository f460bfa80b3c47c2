using System.Collections;
using System.Globalization;
using System.Net;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using Apt.Reporting;
using Microsoft.Data.Analysis;

namespace Apt.Notebooks;

/// <summary>
/// <see cref="Show"/> in a terminal, as a notebook's twin (notebooks/*.cs) runs: tables and text are printed, each
/// chart is written as an HTML page and a PNG (through the local chromium, see <see cref="ChartImageExport"/>), an HTML
/// fragment as a page beside them, and a run's progress is one line rewritten in place, plus one line per epoch.
/// </summary>
public sealed partial class TerminalHost : IShowHost
{
    int _files;

    /// <param name="outputFolder">Where charts and HTML are written; created on first use.</param>
    public TerminalHost(string outputFolder) => OutputFolder = Path.GetFullPath(outputFolder);

    public string OutputFolder { get; }

    /// <summary>
    /// Installs a terminal host for the twin that calls it: the working folder becomes the twin's own, as a notebook
    /// kernel starts in the notebook's folder (so the cells' relative paths hold), and <paramref name="outputFolder"/>
    /// (relative to it) is emptied, so that it holds this run's files only.
    /// </summary>
    public static TerminalHost Use(string outputFolder, [CallerFilePath] string twin = "")
    {
        Directory.SetCurrentDirectory(Path.GetDirectoryName(twin)!);
        var host = new TerminalHost(outputFolder);
        if (Directory.Exists(host.OutputFolder)) Directory.Delete(host.OutputFolder, recursive: true);
        Show.Host = host;
        Console.WriteLine($"Charts and HTML go to {host.OutputFolder}");
        return host;
    }

    public void Chart(Chart chart)
    {
        string stem = NextFile(chart.Title), name = Path.GetFileName(stem);
        chart.SaveHtml(stem + ".html");
        try
        {
            chart.SavePngAsync(stem + ".png").GetAwaiter().GetResult();
            Console.WriteLine($"chart '{chart.Title}': {name}.html, {name}.png");
        }
        catch (FileNotFoundException missingBrowser)
        {
            Console.WriteLine($"chart '{chart.Title}': {name}.html (no PNG: {missingBrowser.Message})");
        }
    }

    public void Table<T>(IEnumerable<T> rows)
    {
        var cells = rows.Select(Cells).ToList();
        var columns = cells.SelectMany(r => r.Keys).Distinct().ToList();
        Print(columns, cells.Select(r => columns.Select(c => r.GetValueOrDefault(c)).ToList()).ToList());
    }

    public void Table(DataFrame frame) => Print(
        [.. frame.Columns.Select(c => c.Name)],
        [.. frame.Rows.Select(r => r.Select(v => (object?)v).ToList())]);

    public void Html(string html)
    {
        string path = NextFile("html") + ".html";
        AtomicFile.WriteAllText(path,
            $"<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body>{html}</body></html>");
        string text = WebUtility.HtmlDecode(Tags().Replace(Breaks().Replace(html, "\n"), ""));
        Console.WriteLine(Spaces().Replace(text, " ").Trim());
        Console.WriteLine($"(as HTML: {Path.GetFileName(path)})");
    }

    public IProgressView Progress(string title) => new LineProgress(title);

    string NextFile(string title)
    {
        Directory.CreateDirectory(OutputFolder);
        string slug = NotSlug().Replace(title.ToLowerInvariant(), "-").Trim('-');
        return Path.Combine(OutputFolder, $"{++_files:00}-{(slug.Length > 60 ? slug[..60] : slug)}");
    }

    /// <summary>A row's cells by column: a dictionary's entries, else the public properties
    /// (anonymous types).</summary>
    static Dictionary<string, object?> Cells<T>(T row) => row switch
    {
        IDictionary dictionary => dictionary.Keys.Cast<object>().ToDictionary(k => k.ToString()!, k => dictionary[k]),
        null => [],
        _ => row.GetType().GetProperties().Where(p => p.GetIndexParameters().Length == 0)
            .ToDictionary(p => p.Name, p => p.GetValue(row)),
    };

    static void Print(IReadOnlyList<string> columns, IReadOnlyList<List<object?>> rows)
    {
        var text = rows.Select(r => r.Select(v => v switch
        {
            null => "",
            double d => d.ToString("0.####", CultureInfo.InvariantCulture),
            float f => f.ToString("0.####", CultureInfo.InvariantCulture),
            IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
            _ => v.ToString() ?? "",
        }).ToList()).ToList();
        var widths = columns.Select((c, i) => text.Select(r => r[i].Length).Append(c.Length).Max()).ToList();
        string Line(IEnumerable<string> values) =>
            "| " + string.Join(" | ", values.Select((v, i) => v.PadRight(widths[i]))) + " |";
        Console.WriteLine(Line(columns));
        Console.WriteLine(Line(widths.Select(w => new string('-', w))));
        foreach (var row in text) Console.WriteLine(Line(row));
    }

    [GeneratedRegex("[^a-z0-9]+")]
    private static partial Regex NotSlug();
    [GeneratedRegex("<(br|hr|/div|/p)\\s*/?>", RegexOptions.IgnoreCase)]
    private static partial Regex Breaks();
    [GeneratedRegex("<[^>]+>")]
    private static partial Regex Tags();
    [GeneratedRegex("[ \\t]+")]
    private static partial Regex Spaces();

    /// <summary>
    /// A run's progress in a terminal: one line rewritten in place at most twice a second (when the output is a
    /// terminal), and a line of its own whenever a note arrives (the epoch's dev scores) or the run completes, so a log
    /// keeps those. </summary>
    sealed class LineProgress(string title) : IProgressView
    {
        readonly bool _live = !Console.IsOutputRedirected;
        DateTime _lastDraw = DateTime.MinValue;

        public TrainingProgress? Last { get; private set; }

        public void Report(TrainingProgress value)
        {
            bool noted = value.Note is { Length: > 0 } && value.Note != Last?.Note;
            Last = value;
            if (noted) Write(value.Facts(), permanent: true);
            else if (_live && (value.Step >= value.TotalSteps
                || DateTime.UtcNow - _lastDraw >= TimeSpan.FromSeconds(0.5)))
                Write($"{100 * value.Fraction:0}% · {value.Facts()}", permanent: false);
        }

        public void Complete(string? note = null)
        {
            Last = (Last ?? new TrainingProgress(0, 0)) with { Eta = TimeSpan.Zero, Note = note ?? Last?.Note };
            Write("done · " + Last.Facts(done: true), permanent: true);
        }

        void Write(string facts, bool permanent)
        {
            _lastDraw = DateTime.UtcNow;
            string line = $"{title} — {facts}";
            if (permanent) Console.WriteLine(_live ? $"\r{line,-120}" : line);
            else Console.Write($"\r{(line.Length > 119 ? line[..119] : line),-119}");
        }
    }
}
