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
        if (StudyPlan.Of(spec, source) is { } study) return RunStudy(study, settings, runs);
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

    /// <summary>A study: the search on dev, its choices, then the seeds at each method's best setting (<see cref="StudyPlan"/>).</summary>
    static int RunStudy(StudyPlan study, Settings settings, string runs)
    {
        if (settings.List)
        {
            var search = study.SearchRuns(runs, settings.Backbone ?? study.Spec.Backbone, new Dictionary<string, StudyChoice>());
            AnsiConsole.MarkupLineInterpolated($"[bold]{study.Spec.Name}[/] (a study): {search.Count(r => r.IsFinished)} of {search.Count} search runs finished (PT-2+ and PT-2* search after APT's choice; the seed runs follow the choices)");
            return 0;
        }
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var (plan, built) = study.Prepare(settings.DataRoot);
        foreach (var (name, elapsed) in built)
            AnsiConsole.MarkupLineInterpolated($"built the study's stand-in [bold]{name}[/] in {elapsed.TotalSeconds:F0} s");
        AnsiConsole.MarkupLineInterpolated($"[bold]{plan.Spec.Name}[/] (a study): {plan.Spec.Description}, in {runs}");
        TorchRuntime.EnsureLoaded();
        using var experiment = new Experiment(settings.DataRoot);
        TrainingConsole.Show(experiment, () => StudyRunner.Run(plan, experiment, runs, settings.Backbone, line => AnsiConsole.MarkupLineInterpolated($"chosen on dev: {line}")));
        AnsiConsole.MarkupLineInterpolated($"done in {clock.Elapsed:hh\\:mm\\:ss}. Choices: {Path.Combine(runs, StudyPlan.ChoicesFile)}. Report: apt report --runs {Path.Combine(runs, StudyPlan.SeedsFolder)}");
        return 0;
    }
}
