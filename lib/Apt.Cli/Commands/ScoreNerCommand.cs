using System.ComponentModel;
using Apt.Tasks;
using Apt.Tasks.Metrics;
using Apt.Tasks.Ner;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Apt.Cli.Commands;

/// <summary>`aptnb score ner --gold G --pred P`: span-level precision, recall and F1 (seqeval default mode) of two
/// CoNLL column files.</summary>
public sealed class ScoreNerCommand : Command<ScoreNerCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--gold <FILE>")]
        [Description("Gold CoNLL column file (word first, tag last).")]
        public string Gold { get; init; } = "";

        [CommandOption("--pred <FILE>")]
        [Description("Predicted CoNLL column file, the same words in the same order (word first, tag last).")]
        public string Pred { get; init; } = "";

        [CommandOption("--iob1")]
        [Description("Both files use IOB1 (CoNLL-2003's original scheme); convert to IOB2 first.")]
        public bool Iob1 { get; init; }

        public override ValidationResult Validate() =>
            Gold.Length == 0 || Pred.Length == 0 ? ValidationResult.Error("--gold and --pred are required") : ValidationResult.Success();
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellation)
    {
        var gold = Read(settings.Gold, settings.Iob1);
        var predicted = Read(settings.Pred, settings.Iob1);
        if (gold.Count != predicted.Count)
            throw new InvalidDataException($"{settings.Pred}: {predicted.Count} sentences, but {settings.Gold} has {gold.Count}");
        for (int i = 0; i < gold.Count; i++)
            if (!gold[i].Words.SequenceEqual(predicted[i].Words))
                throw new InvalidDataException($"{predicted[i].Location}: the sentence's words differ from {gold[i].Location}");
        var report = SpanMetric.Score(gold.Select((g, i) => (g.Tags, predicted[i].Tags)));
        var table = new Table().AddColumns("type", "precision", "recall", "F1", "gold", "predicted", "correct");
        foreach (var (type, score) in report.PerType.Append(new("overall (micro)", report.Overall)))
            table.AddRow(Markup.Escape(type), // a tag is data, not markup
                $"{100 * score.Precision:F2}", $"{100 * score.Recall:F2}", $"{100 * score.F1:F2}",
                score.Gold.ToString(), score.Predicted.ToString(), score.Correct.ToString());
        AnsiConsole.Write(table);
        return 0;
    }

    /// <summary>Sentences of a column file whose column count is taken from its first token line: word first, tag last.</summary>
    static IReadOnlyList<NerExample> Read(string file, bool iob1)
    {
        var firstToken = TextLines.Read(file).Select(l => l.Text.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries))
            .FirstOrDefault(f => f.Length > 0 && f[0] != "-DOCSTART-");
        int count = firstToken?.Length ?? 2;
        return ConllReader.Read(file, new ConllColumns { Count = Math.Max(count, 2), Word = 0, Tag = Math.Max(count, 2) - 1, Iob1 = iob1 }, labels: null);
    }
}
