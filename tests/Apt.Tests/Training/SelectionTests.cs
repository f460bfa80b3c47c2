using Apt.Training;

namespace Apt.Tests.Training;

public class SelectionTests
{
    static EpochMetrics Epoch(int epoch, double dev, double test) =>
        new(epoch, new Dictionary<string, double> { ["train.loss"] = 1.0 / epoch, ["dev.f1"] = dev, ["test.f1"] = test });

    // Dev peaks at epoch 3 (0.80), ties at epoch 5; test peaks elsewhere (epoch 4), so each rule has one right answer.
    static readonly EpochMetrics[] Script =
    [
        Epoch(1, 0.60, 0.55),
        Epoch(2, 0.75, 0.70),
        Epoch(3, 0.80, 0.72),
        Epoch(4, 0.78, 0.90),
        Epoch(5, 0.80, 0.74),
    ];

    [Fact]
    public void BestDevReportsTheBestDevValueAndTheEarliestOfTiedEpochs()
    {
        var picked = Selection.Pick(Script, SelectionRule.BestDev, "f1");
        Assert.Equal(3, picked.Epoch);
        Assert.Equal(0.80, picked.Value);
        Assert.Equal(0.72, picked.Metrics["test.f1"]);
    }

    [Fact]
    public void TestAtBestDevReportsTestOfTheBestDevEpochNotTheBestTest()
    {
        var picked = Selection.Pick(Script, SelectionRule.TestAtBestDev, "f1");
        Assert.Equal(3, picked.Epoch);
        Assert.Equal(0.72, picked.Value);
    }

    [Fact]
    public void LowerIsBetterPicksTheSmallestDevValue()
    {
        var picked = Selection.Pick(Script, SelectionRule.TestAtBestDev, "f1", higherIsBetter: false);
        Assert.Equal(1, picked.Epoch);
        Assert.Equal(0.55, picked.Value);
    }

    [Fact]
    public void EpochsWithoutTheMetricOrWithNaNAreSkipped()
    {
        EpochMetrics[] script =
        [
            new(1, new Dictionary<string, double> { ["train.loss"] = 0.9 }),
            Epoch(2, double.NaN, 0.99),
            Epoch(3, 0.5, 0.4),
        ];
        Assert.Equal(3, Selection.Pick(script, SelectionRule.BestDev, "f1").Epoch);
    }

    [Fact]
    public void MissingMetricsGiveAnErrorNamingThem()
    {
        var noDev = Assert.Throws<InvalidOperationException>(() => Selection.Pick(Script, SelectionRule.BestDev, "accuracy"));
        Assert.Contains("dev.accuracy", noDev.Message);
        EpochMetrics[] devOnly = [new(1, new Dictionary<string, double> { ["dev.f1"] = 0.5 })];
        var noTest = Assert.Throws<InvalidOperationException>(() => Selection.Pick(devOnly, SelectionRule.TestAtBestDev, "f1"));
        Assert.Contains("test.f1", noTest.Message);
    }
}
