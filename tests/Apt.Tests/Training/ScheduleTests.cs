using Apt.Training;

namespace Apt.Tests.Training;

public class ScheduleTests
{
    [Fact]
    public void LinearWithWarmupRampsThenDecaysToZero()
    {
        // 2 epochs × 10 steps = 20; warm-up ratio 0.1 → 2 steps; base 0.01.
        var schedule = new LearningRateSchedule(new TrainerConfig { Epochs = 2, LearningRate = 0.01, WarmupRatio = 0.1 }, stepsPerEpoch: 10);
        Assert.Equal(20, schedule.TotalSteps);
        Assert.Equal(2, schedule.WarmupSteps);
        Assert.Equal(0.0, schedule.At(0, 0));
        Assert.Equal(0.005, schedule.At(1, 0), 15);       // 0.01 · 1/2
        Assert.Equal(0.01, schedule.At(2, 0), 15);        // 0.01 · (20−2)/18
        Assert.Equal(0.01 * 9 / 18, schedule.At(11, 1), 15); // 0.0050
        Assert.Equal(0.01 / 18, schedule.At(19, 1), 15);  // the last step
        Assert.Equal(0.0, schedule.At(20, 1));
    }

    [Fact]
    public void LinearWithoutWarmupStartsAtTheBaseRate()
    {
        var schedule = new LearningRateSchedule(new TrainerConfig { Epochs = 1, LearningRate = 0.02 }, stepsPerEpoch: 4);
        Assert.Equal([0.02, 0.015, 0.01, 0.005], [.. Enumerable.Range(0, 4).Select(s => schedule.At(s, 0))]);
    }

    [Fact]
    public void WarmupStepsOverrideTheRatio()
    {
        var schedule = new LearningRateSchedule(new TrainerConfig { Epochs = 1, LearningRate = 0.01, WarmupRatio = 0.5, WarmupSteps = 4 }, stepsPerEpoch: 10);
        Assert.Equal(4, schedule.WarmupSteps);
        Assert.Equal(0.0075, schedule.At(3, 0), 15);
    }

    [Fact]
    public void ExponentialDecaysOncePerEpochNotPerStep()
    {
        var schedule = new LearningRateSchedule(new TrainerConfig { Epochs = 30, LearningRate = 0.03, Schedule = LearningRateDecay.Exponential }, stepsPerEpoch: 100);
        Assert.Equal(0.03, schedule.At(0, 0), 15);
        Assert.Equal(0.03, schedule.At(99, 0), 15);
        Assert.Equal(0.0285, schedule.At(100, 1), 15);       // 0.03 · 0.95
        Assert.Equal(0.027075, schedule.At(250, 2), 15);     // 0.03 · 0.95²
        Assert.Equal(0.03 * Math.Pow(0.95, 29), schedule.At(2999, 29), 15);
    }

    [Fact]
    public void BadConfigNamesTheField()
    {
        var error = Assert.Throws<ArgumentException>(() => new TrainerConfig { BatchSize = 0 }.Validate());
        Assert.Contains("BatchSize", error.Message);
    }
}
