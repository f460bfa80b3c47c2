using System.ComponentModel;
using System.Diagnostics;
using Apt.Backbone;
using Apt.Cli.Slurm;
using Apt.Runs;
using Apt.Training;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Apt.Cli.Commands;

/// <summary>The `--workers` option of the verbs that train many runs, and how they start their workers.</summary>
public class WorkerSettings : ComputeSettings
{
    [CommandOption("--workers <N>")]
    [Description("Runs trained side by side, each in a worker process of its own. Default: the cores over " +
        "the runs' threads " +
        "(the grid's \"threads\", default 1): 2 on 2 cores. 1 trains in this process, one run after another.")]
    public int? Workers { get; init; }

    /// <summary>
    /// The workers to train with, or null for this process alone: <see cref="Workers"/>, else one per core over
    /// <paramref name="threads"/> (the most any run takes).
    /// </summary>
    public SweepWorkers? Pool(int threads, string dataRoot, bool noWait, PhaseTimes? profile, WorkLog? work = null,
        CancellationToken stop = default)
    {
        int count = Workers ?? SweepWorkers.DefaultCount(threads);
        if (count < 1) throw new ArgumentException($"--workers: expected at least 1, got {count}");
        return count == 1 ? null : new SweepWorkers(count, () => WorkerCommand.Start(dataRoot, Kernels, noWait)) {
            Profile = profile, Work = work, Stop = stop,
        };
    }
}

/// <summary>
/// `aptnb worker` (hidden): one worker process of <see cref="SweepWorkers"/>, which starts it; it reads cells on
/// standard input and writes their progress on standard output, and its own messages go to standard error.
/// </summary>
public sealed class WorkerCommand : Command<WorkerCommand.Settings>
{
    public sealed class Settings : ComputeSettings
    {
        [CommandOption("--data-root")]
        [DefaultValue("data")]
        public string DataRoot { get; init; } = "data";

        [CommandOption("--no-wait")]
        [Description("Refuse, instead of waiting, a cell another live process trains.")]
        public bool NoWait { get; init; }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellation)
    {
        using var protocol = new StreamWriter(Console.OpenStandardOutput());
        Console.SetOut(Console.Error); // anything else this process prints stays off the protocol
        AnsiConsole.Console = AnsiConsole.Create(
            new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        TorchRuntime.EnsureLoaded();
        using var experiment = new Experiment(settings.DataRoot) { Stop = cancellation };
        SweepWorkers.Serve(Console.In, protocol, experiment, SweepCommand.Locks(settings.NoWait));
        return 0;
    }

    /// <summary>How to start a worker: this program, as it was started, with the verb and the options
    /// it needs.</summary>
    public static ProcessStartInfo Start(string dataRoot, string? kernels, bool noWait)
    {
        string process = Environment.ProcessPath ?? "dotnet";
        var start = new ProcessStartInfo(process);
        if (Path.GetFileNameWithoutExtension(process) == "dotnet")
            start.ArgumentList.Add(typeof(WorkerCommand).Assembly.Location);
        foreach (string argument in new[] { "worker", "--data-root", dataRoot }) start.ArgumentList.Add(argument);
        if (kernels is not null) { start.ArgumentList.Add("--kernels"); start.ArgumentList.Add(kernels); }
        if (noWait) start.ArgumentList.Add("--no-wait");
        return start;
    }
}
