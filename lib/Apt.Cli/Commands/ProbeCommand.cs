using System.ComponentModel;
using Apt.Runs;
using Apt.Training;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Apt.Cli.Commands;

/// <summary>`aptnb probe --run runs/…`: the gates of a trained gated run over a split: α per layer and token, λ
/// per layer.</summary>
public sealed class ProbeCommand : Command<ProbeCommand.Settings>
{
    public sealed class Settings : ComputeSettings
    {
        [CommandOption("--run")]
        [Description("A finished run folder of a gated method (apt, token, layer).")]
        public string Run { get; init; } = "";

        [CommandOption("--out")]
        [Description("JSON file to write (a CSV is written beside it). Default: <run>/gate-probe.json.")]
        public string? Out { get; init; }

        [CommandOption("--data-root")]
        [DefaultValue("data")]
        public string DataRoot { get; init; } = "data";
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellation)
    {
        if (settings.Run.Length == 0) throw new ArgumentException("--run <folder> is required");
        var method = MethodCatalogue.Get(ExperimentConfig.Read(RunFolder.Open(settings.Run)).Method);
        if (!method.Probed) throw new ArgumentException($"{settings.Run}: the run's method has no gates to probe (it is {method.Label})");
        using var experiment = new Experiment(settings.DataRoot);
        using var model = experiment.Open(settings.Run);
        var probe = model.Probe();
        string output = settings.Out ?? Path.Combine(settings.Run, Experiment.ProbeFileName);
        probe.SaveCsv(Path.ChangeExtension(output, ".csv"));
        probe.SaveJson(output);
        var table = new Table().AddColumns("layer", "λ mean", "λ std", "mean α", "min α", "max α");
        for (int i = 0; i < probe.Layers; i++)
            table.AddRow($"{i + 1}", $"{probe.LambdaMean[i]:F3}", $"{probe.LambdaStd[i]:F3}", $"{probe.AlphaMean[i].DefaultIfEmpty().Average():F3}",
                $"{probe.AlphaMean[i].DefaultIfEmpty().Min():F3}", $"{probe.AlphaMean[i].DefaultIfEmpty().Max():F3}");
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLineInterpolated($"{probe.Examples} examples probed; written to {output} and {Path.ChangeExtension(output, ".csv")}");
        return 0;
    }
}
