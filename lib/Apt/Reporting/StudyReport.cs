using System.Globalization;
using System.Text;
using Apt.Prefix;
using Apt.Runs;
using Apt.Tasks;
using Apt.Training;

namespace Apt.Reporting;

/// <summary>What <see cref="StudyReport.Write"/> produced.</summary>
/// <param name="Table">Methods × tasks, mean ± std and 95 % interval over seeds.</param>
/// <param name="Comparisons">The paper's claims as paired differences over seeds (<see cref="StudyReport.Claims"/>).</param>
/// <param name="Probes">Per task with gated runs, APT's gate probe summarised across seeds (<see cref="ProbeAcrossSeeds.Summary"/>).</param>
/// <param name="Markdown">Path of results.md.</param>
/// <param name="Csv">Path of results.csv.</param>
/// <param name="Page">Path of report.html: the table, verdicts, probes, notes and every chart in one
/// offline page.</param>
/// <param name="Charts">Paths of the PNG charts written (none without chromium or with png off).</param>
/// <param name="Notes">What the report could not do or the reader should know (coverage, skipped PNGs, pairs not compared).</param>
public sealed record StudyOutputs(ResultsTable Table, IReadOnlyList<PairedComparison> Comparisons,
    IReadOnlyList<string> Probes,
    string Markdown, string Csv, string Page, IReadOnlyList<string> Charts, IReadOnlyList<string> Notes);

/// <summary>
/// The report of a sweep: the results table (with the majority-class baseline when asked), the paper's claims as
/// paired comparisons over seeds (<see cref="Claims"/>), and charts — a bar chart per task and, per task, APT's gate
/// probe: α per seed (sorted within each layer) and, across seeds, per-layer |λ|·mean α and λ with their spread
/// (<see cref="ProbeAcrossSeeds"/>). All of it goes into one offline page (<see cref="ReportPage"/>); the charts also
/// into PNG files where chromium is available, for papers and slides. No HTML file per chart: each would carry
/// plotly.js again, and the page already has every chart interactive.
/// </summary>
public static class StudyReport
{
    /// <summary>The paper's claims, each a method against a baseline: APT over PT-2 (Table 1), PT-2* over PT-2 and APT over PT-2+ (Table 4).</summary>
    public static readonly IReadOnlyList<(string Method, string Baseline)> Claims =
    [
        (MethodCatalogue.Apt.Name, MethodCatalogue.PTuningV2.Name),
        (MethodCatalogue.PTuningV2Star.Name, MethodCatalogue.PTuningV2.Name),
        (MethodCatalogue.Apt.Name, MethodCatalogue.PTuningV2Plus.Name),
    ];

    public static async Task<StudyOutputs> Write(string runsFolder, string outputFolder, string? dataRoot = null, bool png = true)
    {
        var table = ResultsTable.FromRuns(runsFolder);
        var notes = new List<string>();
        var links = new List<string>();
        RunFolder.FindFinished(runsFolder, links);
        if (links.Count > 0)
            notes.Add($"skipped {links.Count} link(s) to folders, not followed so that no run counts twice: " +
                $"{string.Join(", ", links)}");
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

        var comparisons = new List<PairedComparison>();
        var runs = PairedComparison.ReadRuns(runsFolder);
        foreach (string task in table.Tasks)
            foreach (var (method, baseline) in Claims)
                try
                {
                    if (PairedComparison.Pair(runs, task, method, baseline) is { } comparison) comparisons.Add(comparison);
                }
                catch (InvalidOperationException e) { notes.Add($"{e.Message}: not compared"); }

        var probes = table.Tasks.Select(task => ProbeAcrossSeeds.Read(runsFolder, task)).OfType<ProbeAcrossSeeds>().ToList();
        Directory.CreateDirectory(outputFolder);
        string markdown = Path.Combine(outputFolder, "results.md"), csv = Path.Combine(outputFolder, "results.csv");
        var text = new StringBuilder(table.ToMarkdown());
        if (comparisons.Count > 0) text.AppendLine().AppendJoin(Environment.NewLine, comparisons.Select(c => "- " + c)).AppendLine();
        if (probes.Count > 0) text.AppendLine().AppendJoin(Environment.NewLine, probes.Select(p => "- " + p.Summary())).AppendLine();
        if (coverage is not null) text.AppendLine().AppendLine(coverage + ".");
        AtomicFile.WriteAllText(markdown, text.ToString());
        AtomicFile.WriteAllText(csv, table.ToCsv());

        var charts = new List<(Chart Chart, string Name)>();
        foreach (string task in table.Tasks)
        {
            charts.Add((table.ToChart(task), $"results-{task}"));
            if (DevCurves(runsFolder, task) is { } curves) charts.Add((curves, $"dev-curve-{task}"));
        }
        charts.AddRange(probes.SelectMany(ProbeCharts));
        var written = await SavePngs(charts, Path.Combine(outputFolder, "charts"), png, notes);

        string page = Path.Combine(outputFolder, "report.html");
        string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(runsFolder)));
        var report = new ReportPage($"Report of {name}")
            .Heading("Results")
            .Paragraph("Scores in %, mean ± std [95 % confidence interval of the mean] over seeds.")
            .Html(table.ToHtml());
        if (comparisons.Count > 0) report.Heading("Verdicts").List(comparisons.Select(c => c.Sentence));
        if (probes.Count > 0) report.Heading("Gate probes").List(probes.Select(p => p.Summary()));
        if (notes.Count > 0) report.Heading("Notes").List(notes);
        AddCharts(report, charts).Save(page);
        return new StudyOutputs(table, comparisons, [.. probes.Select(p => p.Summary())], markdown, csv, page, written,
            notes);
    }

    /// <summary>
    /// <c>aptnb report --bench</c>: the scaling scans of a benchmark JSON file as charts (measured step time beside
    /// the FLOP model's) on one page, bench-scaling.html in <paramref name="outputFolder"/>, and as PNGs in its charts
    /// folder; returns the files written (the page first) and any notes.
    /// </summary>
    public static async Task<(IReadOnlyList<string> Files, IReadOnlyList<string> Notes)> WriteBenchCharts(string benchJsonPath, string outputFolder, bool png = true)
    {
        var charts = BenchScaling.Read(benchJsonPath)
            .Select(scan => (Charts.Scaling(scan), "bench-scaling-" + string.Join("-", scan.Axis.Split(' ', StringSplitOptions.RemoveEmptyEntries))))
            .ToList();
        var notes = new List<string>();
        var written = await SavePngs(charts, Path.Combine(outputFolder, "charts"), png, notes);
        string page = Path.Combine(outputFolder, "bench-scaling.html");
        var report = new ReportPage($"Scaling scans of {Path.GetFileName(benchJsonPath)}").List(notes);
        AddCharts(report, charts).Save(page);
        return ([page, .. written], notes);
    }

    static ReportPage AddCharts(ReportPage page, IReadOnlyList<(Chart Chart, string Name)> charts)
    {
        if (charts.Count > 0) page.Heading("Charts");
        foreach (var (chart, _) in charts) page.Chart(chart);
        return page;
    }

    /// <summary>Saves each chart as PNG while chromium is found; a missing chromium becomes one note.</summary>
    static async Task<List<string>> SavePngs(IEnumerable<(Chart Chart, string Name)> charts,
        string chartFolder, bool png,
        List<string> notes)
    {
        var written = new List<string>();
        if (!png) return written;
        Directory.CreateDirectory(chartFolder);
        foreach (var (chart, name) in charts)
        {
            string image = Path.Combine(chartFolder, name + ".png");
            try
            {
                await chart.SavePngAsync(image);
                written.Add(image);
            }
            catch (FileNotFoundException e)
            {
                notes.Add($"PNG charts skipped: {e.Message}");
                break;
            }
        }
        return written;
    }

    /// <summary>The dev curve of every method on <paramref name="task"/>: mean dev score (in %) per epoch over its finished runs; null when there are none.</summary>
    public static Chart? DevCurves(string runsFolder, string task)
    {
        var runs = RunFolder.FindFinished(runsFolder)
            .Select(r => (Config: ExperimentConfig.Read(r), Result: r.ReadResult()))
            .Where(r => r.Config.Task == task)
            .ToList();
        if (runs.Count == 0) return null;
        string key = Selection.Key("dev", runs[0].Result.SelectionMetric);
        var curves = runs.GroupBy(r => r.Config.Method).OrderBy(g => MethodCatalogue.Order(g.Key)).Select(g =>
        {
            var byEpoch = g.SelectMany(r => r.Result.Epochs).Where(e => e.Metrics.ContainsKey(key)).GroupBy(e => e.Epoch).OrderBy(e => e.Key).ToList();
            return (MethodCatalogue.Label(g.Key), byEpoch.Select(e => (double)e.Key).ToArray(), byEpoch.Select(e => 100 * e.Average(m => m.Metrics[key])).ToArray());
        }).Where(c => c.Item2.Length > 0).ToList();
        return curves.Count == 0 ? null : Charts.DevCurves(curves, key + " (%)", $"{task}: dev {runs[0].Result.SelectionMetric} per epoch (mean over seeds)");
    }

    /// <summary>
    /// APT's gate probe on a task: per seed, α with each layer's tokens sorted (token indices mean nothing across
    /// seeds); across seeds, per-layer |λ|·mean α (PT-2*'s weight) and λ, each with its spread over seeds.
    /// </summary>
    public static IEnumerable<(Chart Chart, string Name)> ProbeCharts(ProbeAcrossSeeds probes)
    {
        string task = probes.Task, seeds = $"{probes.Probes.Count} seed{(probes.Probes.Count == 1 ? "" : "s")}";
        foreach (var (seed, probe) in probes.Probes)
            yield return (Charts.SortedGateHeatmap(ProbeAcrossSeeds.SortedAlpha(probe), $"{task}: token gate α of APT, seed {seed} (each layer's tokens sorted)"), $"gates-alpha-{task}-seed{seed}");
        yield return (Charts.LayerBars(probes.LayerWeightMean, "|λ|·mean α", $"{task}: prefix each layer lets through, |λ|·mean α (mean ± std over {seeds})", probes.LayerWeightStd), $"gates-layer-weight-{task}");
        yield return (Charts.LayerBars(probes.LambdaMean, "λ", $"{task}: layer gate λ of APT (mean ± std over {seeds})", probes.LambdaStd), $"gates-lambda-{task}");
    }

    /// <summary>A one-line, culture-invariant figure for logs.</summary>
    public static string Percent(double fraction) => (100 * fraction).ToString("F1", CultureInfo.InvariantCulture);
}
