using System.ComponentModel;
using System.Globalization;
using System.Text.Json;
using Apt.Backbone;
using Apt.Lora;
using Apt.Prefix;
using Apt.Runs;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Apt.Cli.Commands;

/// <summary>`aptnb params --backbone minilm --method apt --prefix-length 16`: trainable parameters of a method, split
/// into prefix, gates, LoRA and head.</summary>
public sealed class ParamsCommand : Command<ParamsCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--backbone")]
        [Description("Embedded backbone key (minilm, arctic-xs) or a Hugging Face model folder.")]
        [DefaultValue("minilm")]
        public string Backbone { get; init; } = "minilm";

        [CommandOption("--method")]
        [Description("A method of the catalogue (listed above; pt2star needs --probe).")]
        [DefaultValue(MethodCatalogue.DefaultName)]
        public string Method { get; init; } = MethodCatalogue.DefaultName;

        [CommandOption("--prefix-length")]
        [Description("Prefix length l (the base length for pt2plus).")]
        [DefaultValue(16)]
        public int PrefixLength { get; init; } = 16;

        [CommandOption("--probe")]
        [Description("Gate probe JSON of a trained APT run (for pt2star).")]
        public string? Probe { get; init; }

        [CommandOption("--projection")]
        [Description("Use P-tuning v2's reparameterised prefix (embedding → MLP).")]
        public bool Projection { get; init; }

        [CommandOption("--lora-rank")]
        [Description("LoRA's rank r (for lora).")]
        [DefaultValue(8)]
        public int LoraRank { get; init; } = 8;

        [CommandOption("--labels")]
        [Description("Classes of the head, a Linear(d, labels) on the pooled output (0: no head).")]
        [DefaultValue(2)]
        public int Labels { get; init; } = 2;

        [CommandOption("--json")]
        [Description("Print the report as JSON.")]
        public bool Json { get; init; }

        public override ValidationResult Validate() => SettingRanges.First(
            SettingRanges.OneOf("--method", Method, MethodCatalogue.Names),
            SettingRanges.Backbone("--backbone", Backbone),
            SettingRanges.AtLeast("--prefix-length", PrefixLength, 1),
            SettingRanges.AtLeast("--lora-rank", LoraRank, 1),
            SettingRanges.AtLeast("--labels", Labels, 0));
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellation)
    {
        TorchRuntime.EnsureLoaded();
        using var backbone = PretrainedBackbone.Load(settings.Backbone);
        var config = backbone.Config;
        var entry = MethodCatalogue.Get(settings.Method);
        var probe = settings.Probe is null ? null : GateProbeResult.Load(settings.Probe);
        var configured = entry.Configure(new MethodInputs(config, settings.PrefixLength, settings.Projection, probe, new LoraConfig { Rank = settings.LoraRank }));
        var method = configured.Prefix;
        long head = settings.Labels == 0 ? 0 : (long)config.HiddenSize * settings.Labels + settings.Labels;
        var report = ParameterReport.For(entry.Label, method, config, head, configured.Lora);

        if (settings.Json)
        {
            Console.WriteLine(JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        }
        AnsiConsole.MarkupLineInterpolated(
            $"backbone: [bold]{backbone.Identity.Name}[/] ({config.NumLayers} layers, d={config.HiddenSize}); method: [bold]{report.Method}[/], prefix length {method.PrefixLength}{(method.Projection ? $", projection r={method.ProjectionHidden}" : "")}");
        string Share(long count) => (count / (double)report.Backbone).ToString("P3", CultureInfo.InvariantCulture);
        var table = new Table().AddColumn("part").AddColumn(new TableColumn("parameters").RightAligned()).AddColumn(new TableColumn("of backbone").RightAligned());
        table.AddRow("prefix", report.Prefix.ToString("N0", CultureInfo.InvariantCulture), Share(report.Prefix));
        table.AddRow("gates", report.Gates.ToString("N0", CultureInfo.InvariantCulture), Share(report.Gates));
        table.AddRow($"LoRA{(configured.Lora is { } lora ? $" (r={lora.Rank} on {string.Join(", ", lora.TargetModules)})" : "")}",
            report.Lora.ToString("N0", CultureInfo.InvariantCulture), Share(report.Lora));
        table.AddRow($"head ({settings.Labels} labels)", report.Head.ToString("N0", CultureInfo.InvariantCulture), Share(report.Head));
        table.AddRow("backbone (trainable)", report.BackboneTrainable.ToString("N0", CultureInfo.InvariantCulture), Share(report.BackboneTrainable));
        table.AddRow("[bold]trainable[/]", $"[bold]{report.Trainable.ToString("N0", CultureInfo.InvariantCulture)}[/]", $"[bold]{Share(report.Trainable)}[/]");
        table.AddRow("backbone (all)", report.Backbone.ToString("N0", CultureInfo.InvariantCulture), Share(report.Backbone));
        AnsiConsole.Write(table);
        return 0;
    }
}
