using System.ComponentModel;
using Apt.Backbone;
using Apt.Tasks;
using Apt.Tasks.Data;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Apt.Cli.Commands;

/// <summary>`aptnb data inspect --task T --path P`: counts per split, label distribution, the first
/// example encoded.</summary>
public sealed class DataInspectCommand : Command<DataInspectCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--task <TASK>")]
        [Description("Task name (boolq, cb, copa, rte, wic, wsc, multirc, record, conll03, conll04, ontonotes, wordnet-wic, brown-ner).")]
        public string Task { get; init; } = "";

        [CommandOption("--path <PATH>")]
        [Description("A data file, or a folder holding the split files.")]
        public string Path { get; init; } = "";

        [CommandOption("--backbone")]
        [Description("Backbone whose tokenizer encodes the example.")]
        [DefaultValue("minilm")]
        public string Backbone { get; init; } = "minilm";

        public override ValidationResult Validate() =>
            Task.Length == 0 || Path.Length == 0 ? ValidationResult.Error("--task and --path are required") : ValidationResult.Success();
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellation)
    {
        var task = TaskRegistry.Get(settings.Task);
        TorchRuntime.EnsureLoaded();
        using var backbone = PretrainedBackbone.Load(settings.Backbone);
        var report = DatasetInspector.Inspect(task, settings.Path, backbone.Tokenizer);
        AnsiConsole.MarkupLineInterpolated($"[bold]{task.Name}[/] ({task.Kind}, max length {task.MaxLength}): {task.Description}");
        var table = new Table().AddColumns("split", "file", "examples", "labels");
        foreach (var split in report.Splits)
            table.AddRow(split.Split, Markup.Escape(split.File), split.Examples.ToString(), Markup.Escape(string.Join(", ", split.Labels.Select(kv => $"{kv.Key} {kv.Value}"))));
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLineInterpolated($"first example ({report.First.Example.Location}):");
        for (int i = 0; i < report.First.Inputs.Count; i++)
        {
            var input = report.First.Inputs[i];
            var tokens = report.FirstTokens[i];
            var rows = new Table().AddColumns("#", "token", "id", "type", "label");
            for (int t = 0; t < input.Length; t++)
            {
                string label = task.Kind == TaskKind.TokenClassification
                    ? report.First.Labels![t] == TaskLoss.IgnoreIndex ? "-100" : task.Labels[report.First.Labels[t]]
                    : t == 0 && report.First.Labels is { } l ? task.Labels[l[0]] : "";
                rows.AddRow(t.ToString(), Markup.Escape(tokens[t]), input.Ids[t].ToString(), input.TypeIds[t].ToString(), label);
            }
            if (report.First.Inputs.Count > 1) AnsiConsole.MarkupLineInterpolated($"choice {i + 1}:");
            AnsiConsole.Write(rows);
        }
        return 0;
    }
}
