using System.ComponentModel;
using System.Diagnostics;
using Apt.Backbone;
using Apt.Reporting;
using Apt.Runs;
using Apt.Tasks.Data;
using Apt.Training;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Apt.Cli.Commands;

/// <summary>
/// `aptnb quickstart`, the README's main job: builds the stand-in data if missing, trains the quickstart sweep
/// (head only, PT-2 and APT on MiniLM for wordnet-wic and brown-ner over 3 seeds), prints the results table
/// with the majority-class baseline and the APT-vs-PT-2 verdicts, and writes the gate-probe heatmaps.
/// </summary>
public sealed class QuickstartCommand : AsyncCommand<QuickstartCommand.Settings>
{
    public sealed class Settings : WorkerSettings
    {
        [CommandOption("--runs")]
        [DefaultValue("runs/quickstart")]
        public string Runs { get; init; } = "runs/quickstart";

        [CommandOption("--data-root")]
        [DefaultValue("data")]
        public string DataRoot { get; init; } = "data";
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellation)
    {
        var clock = Stopwatch.StartNew();
        using var experiment = new Experiment(settings.DataRoot) { Stop = cancellation };
        var profile = experiment.Profile;
        profile.Add("process start-up", DateTime.Now - Process.GetCurrentProcess().StartTime);
        profile.Time("libtorch load", TorchRuntime.EnsureLoaded);
        foreach (var (name, elapsed) in profile.Time("stand-in data", () => StandInBuilder.EnsureBuilt(settings.DataRoot)))
            AnsiConsole.MarkupLineInterpolated($"built the stand-in data set [bold]{name}[/] from npm packages in {elapsed.TotalSeconds:F0} s");
        var spec = SweepSpec.Load("quickstart");
        AnsiConsole.MarkupLineInterpolated($"[bold]quickstart[/]: {spec.Description}");
        var (runs, timedBefore) = (Stopwatch.StartNew(), profile.Total);
        var workerTimes = new PhaseTimes();
        var pool = settings.Pool(spec.Tasks.Max(t => t.Threads), settings.DataRoot, noWait: false, workerTimes,
            experiment.Work, cancellation);
        if (pool is not null)
        {
            TrainingConsole.Show(pool, () => pool.RunAll(spec.Expand(settings.Runs)));
            profile.Add("runs, in worker processes side by side", runs.Elapsed);
        }
        else
        {
            TrainingConsole.Show(experiment, () => SweepRunner.Run(spec, experiment, settings.Runs));
            profile.Add("runs, the rest (console, run folders, metrics log)",
                runs.Elapsed - (profile.Total - timedBefore));
        }
        var report = Stopwatch.StartNew(); // awaited: the charts' images are drawn after Write returns its task
        var outputs = await StudyReport.Write(settings.Runs, settings.Runs, settings.DataRoot);
        profile.Add("table and charts (HTML and PNG)", report.Elapsed);
        StudyConsole.Print(outputs);
        if (outputs.Comparisons.Any(c => c.Verdict is "undecided" or "not judged" || c.Training is not null))
            AnsiConsole.MarkupLine("[yellow]The quickstart is sized to show the kit, not to decide between methods. " +
                "For a comparison with power (the same search per method on dev, 6 paired seeds trained until dev " +
                "plateaus, larger dev and test sets): [bold]aptnb sweep --preset study[/].[/]");
        new JobWork(spec.Backbone, clock.Elapsed.TotalSeconds, Environment.ProcessorCount, pool?.Count ?? 1,
            experiment.Work.Counts).Save(settings.Runs);
        AnsiConsole.MarkupLineInterpolated($"wall time {clock.Elapsed:mm\\:ss}. Run folders (config, metrics, adapter, gate probe): {Path.GetFullPath(settings.Runs)}");
        AnsiConsole.MarkupLine("where the time went (this process; the build before it is not counted):");
        foreach (var (phase, elapsed) in profile.Totals)
            AnsiConsole.MarkupLineInterpolated($"  {phase,-48} {elapsed.TotalSeconds,7:F1} s");
        if (workerTimes.Totals.Count > 0)
        {
            AnsiConsole.MarkupLine("the runs' phases, summed over the worker processes (they overlap in time):");
            foreach (var (phase, elapsed) in workerTimes.Totals)
                AnsiConsole.MarkupLineInterpolated($"  {phase,-48} {elapsed.TotalSeconds,7:F1} s");
        }
        return 0;
    }
}
