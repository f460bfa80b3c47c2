namespace Apt.Training;

/// <summary>
/// The learning rate as a pure function of (global step, epoch), so a resumed run needs no scheduler
/// state beyond its position. Linear: Hugging Face's linear schedule with warm-up (the rate of step s,
/// counted from 0, is base·s/W during warm-up, then base·(S−s)/(S−W), with S the run's total steps).
/// Exponential: base·γ^epoch (epoch counted from 0), as PyTorch's ExponentialLR stepped once per epoch;
/// a warm-up, if any, multiplies it by s/W.
/// </summary>
public sealed class LearningRateSchedule
{
    readonly TrainerConfig config;

    public LearningRateSchedule(TrainerConfig config, int stepsPerEpoch)
    {
        if (stepsPerEpoch < 1) throw new ArgumentException($"steps per epoch = {stepsPerEpoch}; expected at least 1", nameof(stepsPerEpoch));
        this.config = config;
        TotalSteps = (long)config.Epochs * stepsPerEpoch;
        WarmupSteps = config.WarmupSteps ?? (long)Math.Ceiling(config.WarmupRatio * TotalSteps);
    }

    /// <summary>Optimizer steps in the whole run.</summary>
    public long TotalSteps { get; }

    /// <summary>Steps of linear warm-up from 0.</summary>
    public long WarmupSteps { get; }

    /// <summary>The rate for the optimizer step that follows <paramref name="step"/> completed steps, in epoch <paramref name="epoch"/> (from 0).</summary>
    public double At(long step, int epoch)
    {
        double warmup = step < WarmupSteps ? (double)step / WarmupSteps : 1.0;
        return config.Schedule switch
        {
            LearningRateDecay.Linear when step < WarmupSteps => config.LearningRate * warmup,
            LearningRateDecay.Linear => config.LearningRate * Math.Max(0.0, (double)(TotalSteps - step) / Math.Max(1, TotalSteps - WarmupSteps)),
            LearningRateDecay.Exponential => config.LearningRate * Math.Pow(config.ExponentialGamma, epoch) * warmup,
            _ => throw new ArgumentOutOfRangeException(nameof(config), config.Schedule, "unknown schedule"),
        };
    }
}
