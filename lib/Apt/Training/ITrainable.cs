using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Apt.Training;

/// <summary>The splits a trainer evaluates.</summary>
public enum EvaluationSplit { Dev, Test }

/// <summary>
/// What the trainer needs from a task wired to a method: the tensors to optimise, a loss over a batch of
/// training examples named by index, and evaluation. The trainer owns data order, optimisation,
/// schedule, RNG seeding, checkpoints and records; an implementation owns collation, the forward pass
/// and the metrics. The model's frozen part must be built identically on resume (seed it before construction).
/// </summary>
public interface ITrainable
{
    /// <summary>
    /// The parameters AdamW updates (requires_grad = true), by a name that is stable across runs; they are
    /// also exactly what a checkpoint saves and restores. Frozen parameters must not be listed.
    /// </summary>
    IReadOnlyDictionary<string, Parameter> TrainableParameters { get; }

    /// <summary>Number of training examples; batches name them by index 0..count−1.</summary>
    int TrainingExampleCount { get; }

    /// <summary>Each training example's length in tokens, for <see cref="TrainerConfig.LengthGrouping"/>; null when the model has none.</summary>
    IReadOnlyList<int>? TrainingExampleLengths => null;

    /// <summary>Switches dropout (and anything else mode-dependent) between training and evaluation.</summary>
    void SetTraining(bool training);

    /// <summary>Mean loss (a scalar with its graph) of the training examples with these indices, in this order.</summary>
    Tensor Loss(IReadOnlyList<int> batch);

    /// <summary>
    /// Metrics of a split by name (e.g. "accuracy", "f1"). Called in evaluation mode, under no_grad and a
    /// dispose scope. <see cref="EvaluationSplit.Test"/> is asked for only under <see cref="SelectionRule.TestAtBestDev"/>.
    /// </summary>
    IReadOnlyDictionary<string, double> Evaluate(EvaluationSplit split);
}
