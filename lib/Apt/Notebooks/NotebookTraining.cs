using Apt.Runs;
using Apt.Training;

namespace Apt.Notebooks;

/// <summary>
/// Training from a notebook cell: one live progress view per run (<see cref="Show.Progress"/>: a bar updated in place
/// in a notebook, a line in a terminal), and the run folders on disk as with the `aptnb` command, so a notebook and the
/// CLI share results.
/// </summary>
public static class NotebookTraining
{
    /// <summary>An experiment whose runs show their progress.</summary>
    public static Experiment Experiment(string dataRoot)
    {
        var experiment = new Experiment(dataRoot);
        var views = new Dictionary<ExperimentConfig, IProgressView>(ReferenceEqualityComparer.Instance);
        experiment.StepCompleted += (config, p) =>
        {
            if (!views.TryGetValue(config, out var view))
                views[config] = view = Show.Progress(
                    $"{config.Task} · {MethodCatalogue.Label(config.Method)} · seed {config.Trainer.Seed}");
            view.Report(new TrainingProgress(
                (int)p.Step, (int)p.TotalSteps, p.Epoch, p.Epochs, p.Loss, p.ExamplesPerSecond, p.Eta));
        };
        experiment.EpochCompleted += (config, epoch) =>
        {
            if (views.TryGetValue(config, out var view))
                view.Report(view.Last! with
                {
                    Note = string.Join(", ", epoch.Metrics.Metrics
                        .Where(m => m.Key.StartsWith("dev.") || m.Key.StartsWith("test."))
                        .Select(m => $"{m.Key} {m.Value:F3}")),
                });
        };
        return experiment;
    }

    /// <summary>Runs a sweep (finished runs are read back, not retrained) with live progress.</summary>
    public static IReadOnlyList<ExperimentOutcome> Run(SweepSpec spec, string runsFolder, string dataRoot) =>
        SweepRunner.Run(spec, Experiment(dataRoot), runsFolder);
}
