using Apt.Runs;
using Apt.Training;
using Spectre.Console;

namespace Apt.Cli;

/// <summary>
/// Shows experiments as they train: a live progress bar per run (ETA, examples/s, running loss) on an
/// interactive terminal, one line per epoch otherwise (CI logs, pipes).
/// </summary>
public static class TrainingConsole
{
    /// <summary>Runs <paramref name="work"/> with <paramref name="experiment"/>'s events shown.</summary>
    public static T Show<T>(ITrainingEvents experiment, Func<T> work)
    {
        experiment.Warning += w => AnsiConsole.MarkupLineInterpolated($"[yellow]warning:[/] {w}");
        if (!AnsiConsole.Profile.Capabilities.Interactive || Console.IsOutputRedirected)
        {
            experiment.EpochCompleted += (config, epoch) => AnsiConsole.MarkupLineInterpolated(
                $"{Name(config)} epoch {epoch.Metrics.Epoch}: {Describe(epoch.Metrics.Metrics)} ({epoch.Elapsed.TotalSeconds:F0} s){(epoch.Improved ? " *" : "")}");
            return work();
        }

        T result = default!;
        AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(context =>
            {
                var bars = new Dictionary<ExperimentConfig, ProgressTask>(ReferenceEqualityComparer.Instance);
                double runningLoss = double.NaN;
                experiment.StepCompleted += (config, p) =>
                {
                    if (!bars.TryGetValue(config, out var bar)) bars[config] = bar = context.AddTask(Name(config), maxValue: p.TotalSteps);
                    runningLoss = double.IsNaN(runningLoss) || p.Step == 1 ? p.Loss : 0.95 * runningLoss + 0.05 * p.Loss;
                    bar.Value = p.Step;
                    bar.Description = $"{Markup.Escape(Name(config))} ep {p.Epoch}/{p.Epochs} loss {runningLoss:F3} {p.ExamplesPerSecond:F0} ex/s";
                };
                experiment.EpochCompleted += (config, epoch) =>
                {
                    if (bars.TryGetValue(config, out var bar))
                        bar.Description = $"{Markup.Escape(Name(config))} ep {epoch.Metrics.Epoch}: {Markup.Escape(Describe(epoch.Metrics.Metrics))}";
                };
                result = work();
                foreach (var bar in bars.Values) bar.StopTask();
            });
        return result;
    }

    static string Name(ExperimentConfig config) => $"{config.Task} {MethodCatalogue.Label(config.Method)} seed {config.Trainer.Seed}";

    static string Describe(IReadOnlyDictionary<string, double> metrics) =>
        string.Join(", ", metrics.Where(m => !m.Key.StartsWith("train.")).Select(m => $"{m.Key} {m.Value:F4}"));
}
