namespace Apt.Training;

/// <summary>What a console shows while runs train: an <see cref="Experiment"/> in this process, or workers
/// elsewhere.</summary>
public interface ITrainingEvents
{
    /// <summary>After every optimizer step of any run.</summary>
    event Action<ExperimentConfig, TrainingProgress>? StepCompleted;
    /// <summary>After every epoch of any run.</summary>
    event Action<ExperimentConfig, EpochSummary>? EpochCompleted;
    /// <summary>Warnings of the trainer (e.g. a damaged checkpoint was skipped).</summary>
    event Action<string>? Warning;
}
