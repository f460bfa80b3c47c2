namespace Apt.Training;

/// <summary>
/// Where a run stands, as a checkpoint records it (state.json): position, running sums, per-epoch metrics
/// so far, early-stopping counter, elapsed time and the SHA-256 of the checkpoint's tensor files.
/// The learning rate needs no state (<see cref="LearningRateSchedule"/> is a function of step and epoch),
/// nor does the RNG (re-seeded from (seed, step) before each step; data order from (seed, epoch)).
/// </summary>
public sealed class TrainingState
{
    /// <summary>Layout version of this file.</summary>
    public int Format { get; set; } = 1;

    /// <summary>The epoch in progress, from 0; after the last epoch (or an early stop), the number of epochs trained.</summary>
    public int Epoch { get; set; }

    /// <summary>Batches of <see cref="Epoch"/> already trained; a resumed run skips them.</summary>
    public int BatchesDoneInEpoch { get; set; }

    /// <summary>Optimizer steps taken since the start of the run.</summary>
    public long GlobalStep { get; set; }

    /// <summary>Sum of the step losses since the last metrics.jsonl step line, and their count.</summary>
    public double LossSinceLog { get; set; }
    public int StepsSinceLog { get; set; }

    /// <summary>Sum of the step losses of the epoch in progress, and their count.</summary>
    public double EpochLoss { get; set; }
    public int EpochSteps { get; set; }

    /// <summary>Metrics of each finished epoch.</summary>
    public List<EpochMetrics> Epochs { get; set; } = [];

    /// <summary>Evaluated epochs since the dev metric last improved (early stopping).</summary>
    public int EpochsWithoutImprovement { get; set; }

    /// <summary>Whether early stopping ended the run.</summary>
    public bool StoppedEarly { get; set; }

    /// <summary>Wall time spent training so far, over all sessions of the run.</summary>
    public double ElapsedSeconds { get; set; }

    /// <summary>The run seed (data order and per-step torch seeds derive from it).</summary>
    public int Seed { get; set; }

    /// <summary>The learning rate of the last step taken (informational).</summary>
    public double LearningRate { get; set; }

    /// <summary>SHA-256 (hex) of each tensor file of the checkpoint, checked on load to catch truncation or damage.</summary>
    public Dictionary<string, string> FileSha256 { get; set; } = [];
}
