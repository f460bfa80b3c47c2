using System.ComponentModel;
using Apt.Backbone;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Apt.Cli.Commands;

/// <summary>`aptnb encode "a" "b" …`: sentence embeddings and their cosine similarities (a demo of the
/// backbone).</summary>
public sealed class EncodeCommand : Command<EncodeCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandArgument(0, "[sentences]")]
        [Description("Sentences to compare (default: two examples).")]
        public string[] Sentences { get; init; } = [];

        [CommandOption("--backbone")]
        [Description("Embedded backbone key (minilm, arctic-xs) or a Hugging Face model folder.")]
        [DefaultValue("minilm")]
        public string Backbone { get; init; } = "minilm";
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellation)
    {
        string[] sentences = settings.Sentences.Length >= 2 ? settings.Sentences : ["A man is eating food.", "A man is eating a piece of bread."];
        TorchRuntime.EnsureLoaded();
        using var backbone = PretrainedBackbone.Load(settings.Backbone);
        using var vectors = SentenceEmbeddings.Encode(backbone, sentences);
        var similarity = SentenceEmbeddings.Similarities(vectors);
        AnsiConsole.MarkupLineInterpolated($"backbone: [bold]{backbone.Identity.Name}[/] ({backbone.Identity.Source}), {backbone.Config.NumLayers} layers, d={backbone.Config.HiddenSize}");
        var table = new Table().AddColumn("sentence");
        for (int j = 0; j < sentences.Length; j++) table.AddColumn($"#{j + 1}");
        for (int i = 0; i < sentences.Length; i++)
            table.AddRow([$"#{i + 1} {Markup.Escape(sentences[i])}", .. Enumerable.Range(0, sentences.Length).Select(j => similarity[i, j].ToString("F4"))]);
        AnsiConsole.Write(table);
        return 0;
    }
}
