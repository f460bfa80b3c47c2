using System.ComponentModel;
using Apt.Reporting;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Apt.Cli.Commands;

/// <summary>
/// `aptnb report --runs runs/quickstart`: the paper's table from run records, as Markdown, CSV and charts;
/// `aptnb report --bench out.json`: the benchmark's scaling scans as charts.
/// </summary>
public sealed class ReportCommand : AsyncCommand<ReportCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--runs")]
        [Description("A folder of run folders (searched at any depth for result.json).")]
        [DefaultValue("runs")]
        public string Runs { get; init; } = "runs";

        [CommandOption("--out")]
        [Description("Where to write report.html, results.md, results.csv and charts/ " +
            "(default: the runs folder, or the benchmark file's folder).")]
        public string? Out { get; init; }

        [CommandOption("--data-root")]
        [Description("Data folder, for the majority-class baseline of each task.")]
        [DefaultValue("data")]
        public string DataRoot { get; init; } = "data";

        [CommandOption("--bench")]
        [Description("An Apt.Bench --json file: chart its scaling scans (step time over sequence and prefix length) " +
            "instead of a runs table.")]
        public string? Bench { get; init; }

        [CommandOption("--no-png")]
        [Description("No PNG charts: the report page only (it has every chart).")]
        public bool NoPng { get; init; }
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellation)
    {
        if (settings.Bench is { } bench)
        {
            var (files, notes) = await StudyReport.WriteBenchCharts(bench, settings.Out ?? Path.GetDirectoryName(Path.GetFullPath(bench))!, png: !settings.NoPng);
            foreach (string note in notes) AnsiConsole.MarkupLineInterpolated($"[yellow]{note}[/]");
            foreach (string file in files) AnsiConsole.MarkupLineInterpolated($"wrote {file}");
            return 0;
        }
        var outputs = await StudyReport.Write(settings.Runs, settings.Out ?? settings.Runs, settings.DataRoot, png: !settings.NoPng);
        StudyConsole.Print(outputs);
        return 0;
    }
}
