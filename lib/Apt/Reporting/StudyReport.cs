using System.Globalization;
using System.Text;
using Apt.Prefix;
using Apt.Tasks;
using Apt.Training;

namespace Apt.Reporting;

/// <summary>Whether APT beat PT-2 on a task, judged from the runs' own seed-to-seed spread.</summary>
/// <param name="Task">The task compared on.</param>
/// <param name="Apt">APT's mean ± std over seeds.</param>
/// <param name="PTuningV2">PT-2's mean ± std over seeds.</param>
/// <param name="Verdict">"better", "worse" or "within the spread".</param>
public sealed record MethodComparison(string Task, ResultCell Apt, ResultCell PTuningV2, string Verdict)
{
    /// <summary>
    /// The rule: APT is better (worse) when its mean minus its standard deviation lies above (its mean plus its
    /// standard deviation lies below) PT-2's mean plus (minus) PT-2's standard deviation, i.e. the ±1 std
    /// intervals over seeds do not overlap. With a single seed there is no spread, and no verdict either way.
    /// </summary>
    public static MethodComparison Judge(string task, ResultCell apt, ResultCell pt2)
    {
        string verdict = apt.Std is not double a || pt2.Std is not double p ? "not judged (one seed)"
            : apt.Mean - a > pt2.Mean + p ? "better"
            : apt.Mean + a < pt2.Mean - p ? "worse"
            : "within the spread";
        return new MethodComparison(task, apt, pt2, verdict);
    }

    public override string ToString() =>
        $"{Task}: APT {Apt} vs PT-2 {PTuningV2} → APT is {(Verdict is "better" or "worse" ? Verdict + " than PT-2 beyond the seed-to-seed spread" : Verdict)}";
}

/// <summary>What <see cref="StudyReport.Write"/> produced.</summary>
public sealed record StudyOutputs(ResultsTable Table, IReadOnlyList<MethodComparison> Comparisons, string Markdown, string Csv, IReadOnlyList<string> Charts, IReadOnlyList<string> Notes);

/// <summary>
/// The report of a sweep: the results table (with the majority-class baseline when asked), APT-vs-PT-2
/// verdicts, and charts — a bar chart per task and, per task, the gate-probe heatmap of α and the bars of λ
/// averaged over APT's seeds — as self-contained HTML and, where chromium is available, PNG.
/// </summary>
public static class StudyReport
{
    public static async Task<StudyOutputs> Write(string runsFolder, string outputFolder, string? dataRoot = null, bool png = true)
    {
        var table = ResultsTable.FromRuns(runsFolder);
        var notes = new List<string>();
        string? coverage = SweepSpec.SavedIn(runsFolder) is { } grid ? table.MarkCoverage(grid) : null;
        if (coverage is not null) notes.Add(coverage);
        if (dataRoot is not null)
            foreach (string task in table.Tasks.ToList())
            {
                var definition = TaskRegistry.Get(task);
                string folder = Path.Combine(dataRoot, task);
                if (Directory.Exists(folder))
                    table.Set("majority class", task, new ResultCell(100 * Baselines.MajorityClass(definition, folder), null, 0));
            }

        var comparisons = table.Tasks
            .Where(t => table["APT", t] is not null && table["PT-2", t] is not null)
            .Select(t => MethodComparison.Judge(t, table["APT", t]!, table["PT-2", t]!))
            .ToList();

        Directory.CreateDirectory(outputFolder);
        string markdown = Path.Combine(outputFolder, "results.md"), csv = Path.Combine(outputFolder, "results.csv");
        var text = new StringBuilder(table.ToMarkdown());
        if (comparisons.Count > 0) text.AppendLine().AppendJoin(Environment.NewLine, comparisons.Select(c => "- " + c)).AppendLine();
        if (coverage is not null) text.AppendLine().AppendLine(coverage + ".");
        AtomicFile.WriteAllText(markdown, text.ToString());
        AtomicFile.WriteAllText(csv, table.ToCsv());

        var charts = new List<(Chart Chart, string Name)>();
        foreach (string task in table.Tasks)
        {
            charts.Add((table.ToChart(task), $"results-{task}"));
            if (MeanProbe(runsFolder, task) is { } probe)
            {
                charts.Add((Charts.GateHeatmap(probe.Alpha, $"{task}: token gate α of APT (layer × prefix token, mean over {probe.Runs} seeds)"), $"gates-alpha-{task}"));
                charts.Add((Charts.LayerBars(probe.Lambda, "λ", $"{task}: layer gate λ of APT (mean over {probe.Runs} seeds)"), $"gates-lambda-{task}"));
            }
        }
        var written = await SaveCharts(charts, Path.Combine(outputFolder, "charts"), png, notes);
        return new StudyOutputs(table, comparisons, markdown, csv, written, notes);
    }

    /// <summary>
    /// <c>apt report --bench</c>: the scaling scans of a benchmark JSON file as charts (measured step time beside
    /// the FLOP model's) in <paramref name="outputFolder"/>/charts; returns the files written and any notes.
    /// </summary>
    public static async Task<(IReadOnlyList<string> Files, IReadOnlyList<string> Notes)> WriteBenchCharts(string benchJsonPath, string outputFolder, bool png = true)
    {
        var charts = BenchScaling.Read(benchJsonPath)
            .Select(scan => (Charts.Scaling(scan), "bench-scaling-" + string.Join("-", scan.Axis.Split(' ', StringSplitOptions.RemoveEmptyEntries))))
            .ToList();
        var notes = new List<string>();
        var written = await SaveCharts(charts, Path.Combine(outputFolder, "charts"), png, notes);
        return (written, notes);
    }

    /// <summary>Saves each chart as self-contained HTML and, while chromium is found, PNG; a missing chromium becomes one note.</summary>
    static async Task<List<string>> SaveCharts(IEnumerable<(Chart Chart, string Name)> charts, string chartFolder, bool png, List<string> notes)
    {
        var written = new List<string>();
        Directory.CreateDirectory(chartFolder);
        foreach (var (chart, name) in charts)
        {
            string html = Path.Combine(chartFolder, name + ".html");
            chart.SaveHtml(html);
            written.Add(html);
            if (!png) continue;
            try
            {
                string image = Path.ChangeExtension(html, ".png");
                await chart.SavePngAsync(image);
                written.Add(image);
            }
            catch (FileNotFoundException e)
            {
                notes.Add($"PNG charts skipped: {e.Message}");
                png = false;
            }
        }
        return written;
    }

    /// <summary>The APT gate probes of <paramref name="task"/>'s runs, averaged over seeds; null when there are none.</summary>
    public static (double[,] Alpha, double[] Lambda, int Runs)? MeanProbe(string runsFolder, string task)
    {
        string folder = Path.Combine(runsFolder, task);
        if (!Directory.Exists(folder)) return null;
        var probes = Directory.EnumerateDirectories(folder, "apt-*").Order(StringComparer.Ordinal)
            .Select(d => Path.Combine(d, Experiment.ProbeFileName)).Where(File.Exists).Select(GateProbeResult.Load).ToList();
        if (probes.Count == 0) return null;
        int layers = probes[0].Layers, tokens = probes[0].Tokens.Max();
        var alpha = new double[layers, tokens];
        var lambda = new double[layers];
        foreach (var probe in probes)
            for (int i = 0; i < layers; i++)
            {
                lambda[i] += probe.LambdaMean[i] / probes.Count;
                for (int j = 0; j < probe.Tokens[i]; j++) alpha[i, j] += probe.AlphaMean[i][j] / probes.Count;
            }
        return (alpha, lambda, probes.Count);
    }

    /// <summary>A one-line, culture-invariant figure for logs.</summary>
    public static string Percent(double fraction) => (100 * fraction).ToString("F1", CultureInfo.InvariantCulture);
}
