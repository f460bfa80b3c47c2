using System.ComponentModel;
using System.Text.Json;
using Apt.Training;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Apt.Cli.Commands;

/// <summary>`aptnb eval --run runs/…`: a finished run's model at its selected epoch, scored on a split.</summary>
public sealed class EvalCommand : Command<EvalCommand.Settings>
{
    public sealed class Settings : ComputeSettings
    {
        [CommandOption("--run")]
        [Description("A finished run folder.")]
        public string Run { get; init; } = "";

        [CommandOption("--split")]
        [Description("dev or test (test needs labels: NER test files have them, SuperGLUE's do not).")]
        [DefaultValue("dev")]
        public string Split { get; init; } = "dev";

        [CommandOption("--data-root")]
        [DefaultValue("data")]
        public string DataRoot { get; init; } = "data";

        [CommandOption("--json")]
        public bool Json { get; init; }

        public override ValidationResult Validate() =>
            Run.Length == 0 ? ValidationResult.Error("--run <folder> is required") : SettingRanges.First(SettingRanges.OneOf("--split", Split, ["dev", "test"]));
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellation)
    {
        var split = settings.Split == "test" ? EvaluationSplit.Test : EvaluationSplit.Dev;
        using var experiment = new Experiment(settings.DataRoot);
        using var model = experiment.Open(settings.Run);
        if (model.Examples(split).Count == 0)
            throw new ArgumentException($"{settings.Run}: the run's protocol loads no {settings.Split} split (SuperGLUE reports dev)");
        var report = model.Score(split);
        if (settings.Json)
        {
            Console.WriteLine(JsonSerializer.Serialize(new { run = settings.Run, split = settings.Split, metrics = report.Values, per_type = report.PerType }, TrainingJson.Indented));
            return 0;
        }
        AnsiConsole.MarkupLineInterpolated($"[bold]{model.Task.Name}[/] {settings.Split}: {string.Join(", ", report.Values.Select(v => $"{v.Key} {100 * v.Value:F2}"))}");
        if (report.PerType is { } perType)
        {
            var table = new Table().AddColumns("type", "gold", "predicted", "correct", "precision", "recall", "F1");
            foreach (var (type, score) in perType)
                table.AddRow(type, $"{score.Gold}", $"{score.Predicted}", $"{score.Correct}", $"{100 * score.Precision:F2}", $"{100 * score.Recall:F2}", $"{100 * score.F1:F2}");
            AnsiConsole.Write(table);
        }
        return 0;
    }
}
