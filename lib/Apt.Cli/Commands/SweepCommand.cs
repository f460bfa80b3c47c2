using System.ComponentModel;
using Apt.Backbone;
using Apt.Training;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Apt.Cli.Commands;

/// <summary>`apt sweep --preset full-grid` or `apt sweep grid.json`: every run of a grid; finished runs are skipped.</summary>
public sealed class SweepCommand : Command<SweepCommand.Settings>
{
    public sealed class Settings : ComputeSettings
    {
        [CommandArgument(0, "[file]")]
        [Description("A sweep JSON file (see lib/Apt/Training/Presets for the format).")]
        public string? File { get; init; }

        [CommandOption("--preset")]
        [Description("A built-in sweep: quickstart, full-grid, bert-large-cased, bert-large-uncased, roberta-large.")]
        public string? Preset { get; init; }

        [CommandOption("--backbone")]
        [Description("Override the sweep's backbone (embedded key or model folder).")]
        public string? Backbone { get; init; }

        [CommandOption("--runs")]
        [Description("Root of the run folders (default runs/<sweep name>).")]
        public string? Runs { get; init; }

        [CommandOption("--data-root")]
        [DefaultValue("data")]
        public string DataRoot { get; init; } = "data";

        [CommandOption("--list")]
        [Description("Only list the runs and whether each is finished.")]
        public bool List { get; init; }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellation)
    {
        string source = settings.Preset ?? settings.File ?? throw new ArgumentException("give a sweep file or --preset <name> (" + string.Join(", ", SweepSpec.Presets) + ")");
        var spec = SweepSpec.Load(source);
        string runs = settings.Runs ?? Path.Combine("runs", spec.Name);
        var points = spec.Expand(runs, settings.Backbone);
        AnsiConsole.MarkupLineInterpolated($"[bold]{spec.Name}[/]: {spec.Description} — {points.Count} runs, {points.Count(p => p.IsFinished)} finished, in {runs}");
        if (settings.List)
        {
            var table = new Table().AddColumn("run").AddColumn("finished");
            foreach (var point in points) table.AddRow(Markup.Escape(point.Folder), point.IsFinished ? "yes" : "no");
            AnsiConsole.Write(table);
            return 0;
        }
        TorchRuntime.EnsureLoaded();
        using var experiment = new Experiment(settings.DataRoot);
        int skipped = 0;
        TrainingConsole.Show(experiment, () => SweepRunner.Run(spec, experiment, runs, settings.Backbone, _ => skipped++));
        AnsiConsole.MarkupLineInterpolated($"done: {points.Count - skipped} trained, {skipped} already finished. Report: apt report --runs {runs}");
        return 0;
    }
}
