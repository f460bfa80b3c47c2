using System.Text.Json.Serialization;

namespace Apt.Training;

/// <summary>How the learning rate moves over a run (P-tuning v2 uses one per task family).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<LearningRateDecay>))]
public enum LearningRateDecay
{
    /// <summary>Linear decay to zero at the last step, after an optional linear warm-up (SuperGLUE).</summary>
    Linear,
    /// <summary>Multiplied by <see cref="TrainerConfig.ExponentialGamma"/> once per epoch (NER).</summary>
    Exponential,
}

/// <summary>Which epoch a run reports (P-tuning v2's two protocols).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<SelectionRule>))]
public enum SelectionRule
{
    /// <summary>The best dev metric over epochs (SuperGLUE: best dev accuracy).</summary>
    BestDev,
    /// <summary>The test metric at the epoch with the best dev metric (NER: test F1 at the best dev F1).</summary>
    TestAtBestDev,
}

/// <summary>
/// Everything the trainer needs to know about a run's optimisation, schedule, evaluation and bookkeeping.
/// Defaults follow P-tuning v2's released code where it fixes a value (its Hugging Face Trainer's AdamW with
/// transformers 4.11.3's TrainingArguments defaults, gamma 0.95; ../shared/reference/ptuning-v2.md) and are otherwise
/// documented choices; docs/method.md's protocol table lists each beside P-tuning v2's.
/// </summary>
public sealed record TrainerConfig
{
    /// <summary>Passes over the training set.</summary>
    public int Epochs { get; init; } = 3;

    /// <summary>Training examples per optimizer step; the last batch of an epoch may be smaller.</summary>
    public int BatchSize { get; init; } = 32;

    /// <summary>Peak learning rate (prefix tuning uses large ones: P-tuning v2's scripts use 5e-3 to 6e-2).</summary>
    public double LearningRate { get; init; } = 1e-2;

    /// <summary>
    /// AdamW's decoupled weight decay, on every trainable tensor but biases and LayerNorm parameters. Default 0, as P-tuning
    /// v2 trains: no script passes --weight_decay and TrainingArguments.weight_decay defaults to 0.0.
    /// </summary>
    public double WeightDecay { get; init; }

    /// <summary>AdamW's first-moment decay.</summary>
    public double Beta1 { get; init; } = 0.9;

    /// <summary>AdamW's second-moment decay.</summary>
    public double Beta2 { get; init; } = 0.999;

    /// <summary>AdamW's denominator term.</summary>
    public double Epsilon { get; init; } = 1e-8;

    /// <summary>Learning-rate schedule: <see cref="LearningRateDecay.Linear"/> for SuperGLUE, <see cref="LearningRateDecay.Exponential"/> for NER.</summary>
    public LearningRateDecay Schedule { get; init; } = LearningRateDecay.Linear;

    /// <summary>Warm-up as a fraction of all steps (rounded up); ignored when <see cref="WarmupSteps"/> is set. 0 = none.</summary>
    public double WarmupRatio { get; init; } = 0;

    /// <summary>Warm-up length in steps; overrides <see cref="WarmupRatio"/>. Warm-up ramps linearly from 0 and multiplies either schedule.</summary>
    public int? WarmupSteps { get; init; }

    /// <summary>Per-epoch factor of the exponential schedule (P-tuning v2: 0.95).</summary>
    public double ExponentialGamma { get; init; } = 0.95;

    /// <summary>Clips the global L2 norm of the gradients to this value before each step; 0 turns clipping off.</summary>
    public double MaxGradientNorm { get; init; } = 1.0;

    /// <summary>
    /// 0 (the default, as P-tuning v2): batches are drawn at random. k &gt; 0: each epoch's shuffled examples are sorted by
    /// length within groups of k batches and the batches shuffled (<see cref="DataOrder.Batches"/>), so a batch pads less;
    /// on a CPU, where every padded token costs, it trains the same examples in fewer seconds. Batches then mix lengths less.
    /// </summary>
    public int LengthGrouping { get; init; }

    /// <summary>Seeds the data order (per epoch) and torch's generator (per step), so a run is reproducible.</summary>
    public int Seed { get; init; } = 11;

    /// <summary>Evaluate on dev (and test, under <see cref="SelectionRule.TestAtBestDev"/>: see <see cref="TestEveryEpoch"/>) after every epoch; when false, only after the last.</summary>
    public bool EvaluateEachEpoch { get; init; } = true;

    /// <summary>
    /// Under <see cref="SelectionRule.TestAtBestDev"/>, score the test split after every evaluated epoch (true) or only after
    /// epochs whose dev metric improved (false, the default, as P-tuning v2 does). The reported number is the same either
    /// way: the test metric of an epoch that is not the best on dev is never read; true only fills metrics.jsonl. Written to
    /// a run's config only when true, so run folders made before the option existed still match their config.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool TestEveryEpoch { get; init; }

    /// <summary>Stop after this many evaluated epochs without a better dev metric; null = never stop early.</summary>
    public int? EarlyStoppingPatience { get; init; }

    /// <summary>Write a checkpoint every this many optimizer steps, besides the one at each epoch's end; 0 = epoch ends only.</summary>
    public int CheckpointEverySteps { get; init; } = 100;

    /// <summary>How many of the newest checkpoints to keep (two, so a damaged newest one has a fallback).</summary>
    public int CheckpointsKept { get; init; } = 2;

    /// <summary>Append the mean training loss and the learning rate to metrics.jsonl every this many steps.</summary>
    public int LogEverySteps { get; init; } = 10;

    /// <summary>Which epoch the run reports.</summary>
    public SelectionRule Selection { get; init; } = SelectionRule.BestDev;

    /// <summary>The metric (as the task's evaluation names it, e.g. "accuracy" or "f1") that selection compares.</summary>
    public string SelectionMetric { get; init; } = "accuracy";

    /// <summary>Whether a larger <see cref="SelectionMetric"/> is better.</summary>
    public bool HigherIsBetter { get; init; } = true;

    /// <summary>
    /// Run a full garbage collection every this many steps (0 = never): TorchSharp frees native memory from
    /// finalizers too, and without collections process memory was seen to grow step after step. Every 10th step
    /// bounds that growth at a tenth of the cost of collecting after each (docs/performance.md, the quickstart).
    /// </summary>
    public int CollectGarbageEverySteps { get; init; } = 10;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first field out of range.</summary>
    public void Validate()
    {
        static void Require(bool ok, string field, string expected, object? value)
        {
            if (!ok) throw new ArgumentException($"trainer config: {field} = {value} is out of range; expected {expected}");
        }
        Require(Epochs >= 1, nameof(Epochs), "at least 1", Epochs);
        Require(BatchSize >= 1, nameof(BatchSize), "at least 1", BatchSize);
        Require(LearningRate > 0 && double.IsFinite(LearningRate), nameof(LearningRate), "a positive number", LearningRate);
        Require(WeightDecay >= 0, nameof(WeightDecay), "0 or more", WeightDecay);
        Require(Beta1 is >= 0 and < 1, nameof(Beta1), "in [0, 1)", Beta1);
        Require(Beta2 is >= 0 and < 1, nameof(Beta2), "in [0, 1)", Beta2);
        Require(Epsilon >= 0, nameof(Epsilon), "0 or more", Epsilon);
        Require(WarmupRatio is >= 0 and < 1, nameof(WarmupRatio), "in [0, 1)", WarmupRatio);
        Require(WarmupSteps is null or >= 0, nameof(WarmupSteps), "0 or more", WarmupSteps);
        Require(ExponentialGamma is > 0 and <= 1, nameof(ExponentialGamma), "in (0, 1]", ExponentialGamma);
        Require(MaxGradientNorm >= 0, nameof(MaxGradientNorm), "0 (off) or more", MaxGradientNorm);
        Require(EarlyStoppingPatience is null or >= 1, nameof(EarlyStoppingPatience), "null or at least 1", EarlyStoppingPatience);
        Require(EarlyStoppingPatience is null || EvaluateEachEpoch, nameof(EarlyStoppingPatience), $"null when {nameof(EvaluateEachEpoch)} is false", EarlyStoppingPatience);
        Require(CheckpointEverySteps >= 0, nameof(CheckpointEverySteps), "0 (epoch ends only) or more", CheckpointEverySteps);
        Require(CheckpointsKept >= 2, nameof(CheckpointsKept), "at least 2", CheckpointsKept);
        Require(LengthGrouping >= 0, nameof(LengthGrouping), "0 (off) or more", LengthGrouping);
        Require(LogEverySteps >= 1, nameof(LogEverySteps), "at least 1", LogEverySteps);
        Require(!string.IsNullOrWhiteSpace(SelectionMetric), nameof(SelectionMetric), "a metric name", SelectionMetric);
        Require(CollectGarbageEverySteps >= 0, nameof(CollectGarbageEverySteps), "0 (never) or more", CollectGarbageEverySteps);
    }
}
