using System.ComponentModel;
using Apt.Reporting;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Apt.Cli.Commands;

/// <summary>`apt report --runs runs/quickstart`: the paper's table from run records, as Markdown, CSV and charts.</summary>
public sealed class ReportCommand : AsyncCommand<ReportCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--runs")]
        [Description("A folder of run folders (searched at any depth for result.json).")]
        [DefaultValue("runs")]
        public string Runs { get; init; } = "runs";

        [CommandOption("--out")]
        [Description("Where to write results.md, results.csv and charts/ (default: the runs folder).")]
        public string? Out { get; init; }

        [CommandOption("--data-root")]
        [Description("Data folder, for the majority-class baseline of each task.")]
        [DefaultValue("data")]
        public string DataRoot { get; init; } = "data";

        [CommandOption("--no-png")]
        [Description("Write HTML charts only.")]
        public bool NoPng { get; init; }
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellation)
    {
        var outputs = await StudyReport.Write(settings.Runs, settings.Out ?? settings.Runs, settings.DataRoot, png: !settings.NoPng);
        StudyConsole.Print(outputs);
        return 0;
    }
}
