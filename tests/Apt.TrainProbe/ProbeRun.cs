using Apt.Training;

namespace Apt.TrainProbe;

/// <summary>The probe's run: 3 epochs of 8 steps, a checkpoint every 5 steps, a log line every 2, NER-style selection.</summary>
public static class ProbeRun
{
    public static readonly TrainerConfig Config = new()
    {
        Epochs = 3,
        BatchSize = 8,
        LearningRate = 1e-2,
        Schedule = LearningRateDecay.Linear,
        WarmupRatio = 0.1,
        Seed = 7,
        CheckpointEverySteps = 5,
        LogEverySteps = 2,
        Selection = SelectionRule.TestAtBestDev,
    };

    public static RunResult Train(string folder, Action<TrainingProgress>? progress = null, Action<string>? warning = null, TrainerConfig? config = null)
    {
        config ??= Config;
        using var model = new ToyClassifier(initSeed: config.Seed);
        var run = RunFolder.OpenOrCreate(folder, new { task = "toy", method = "full", trainer = config });
        var trainer = new Trainer(config);
        if (progress is not null) trainer.StepCompleted += progress;
        if (warning is not null) trainer.Warning += warning;
        return trainer.Run(model, run, new Dictionary<string, long> { ["backbone"] = 0 });
    }
}
