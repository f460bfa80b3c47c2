using Apt.Runs;
using Apt.Training;

namespace Apt.Notebooks;

/// <summary>
/// Training from a notebook cell: one live progress display per run (updated in place, not a wall of log
/// lines), and the run folders on disk as with the `aptnb` command, so a notebook and the CLI share results.
/// </summary>
public static class NotebookTraining
{
    /// <summary>An experiment whose runs show their progress in the notebook.</summary>
    public static Experiment Experiment(string dataRoot)
    {
        var experiment = new Experiment(dataRoot);
        var displays = new Dictionary<ExperimentConfig, ProgressDisplay>(ReferenceEqualityComparer.Instance);
        experiment.StepCompleted += (config, p) =>
        {
            if (!displays.TryGetValue(config, out var display))
                displays[config] = display = ProgressDisplay.Show($"{config.Task} · {MethodCatalogue.Label(config.Method)} · seed {config.Trainer.Seed}");
            display.Report(new TrainingProgress((int)p.Step, (int)p.TotalSteps, p.Epoch, p.Epochs, p.Loss, p.ExamplesPerSecond, p.Eta));
        };
        experiment.EpochCompleted += (config, epoch) =>
        {
            if (displays.TryGetValue(config, out var display))
                display.Report(display.Last! with { Note = string.Join(", ", epoch.Metrics.Metrics.Where(m => m.Key.StartsWith("dev.") || m.Key.StartsWith("test.")).Select(m => $"{m.Key} {m.Value:F3}")) });
        };
        return experiment;
    }

    /// <summary>Runs a sweep (finished runs are read back, not retrained) with live progress.</summary>
    public static IReadOnlyList<ExperimentOutcome> Run(SweepSpec spec, string runsFolder, string dataRoot) =>
        SweepRunner.Run(spec, Experiment(dataRoot), runsFolder);
}
