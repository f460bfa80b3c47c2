namespace Apt.Training;

/// <summary>One epoch's metrics: "train.loss", and each evaluated split's metrics as "dev.&lt;name&gt;" / "test.&lt;name&gt;". Epochs count from 1.</summary>
public sealed record EpochMetrics(int Epoch, IReadOnlyDictionary<string, double> Metrics);

/// <summary>The epoch a rule picked, the value it reports, and all of that epoch's metrics.</summary>
public sealed record SelectedEpoch(int Epoch, double Value, IReadOnlyDictionary<string, double> Metrics);

/// <summary>P-tuning v2's reporting rules over a run's per-epoch metrics.</summary>
public static class Selection
{
    /// <summary>Metric key of a split: <c>Key("dev", "accuracy")</c> = "dev.accuracy".</summary>
    public static string Key(string split, string metric) => $"{split}.{metric}";

    /// <summary>
    /// The epoch with the best dev <paramref name="metricName"/> (ties: the earliest; epochs without it, or NaN, are skipped),
    /// reporting its dev value (<see cref="SelectionRule.BestDev"/>) or its test value (<see cref="SelectionRule.TestAtBestDev"/>).
    /// </summary>
    public static SelectedEpoch Pick(IReadOnlyList<EpochMetrics> epochs, SelectionRule rule, string metricName, bool higherIsBetter = true)
    {
        string devKey = Key("dev", metricName);
        EpochMetrics? best = null;
        double bestValue = double.NaN;
        foreach (var epoch in epochs)
        {
            if (!epoch.Metrics.TryGetValue(devKey, out double value) || double.IsNaN(value)) continue;
            if (best is null || (higherIsBetter ? value > bestValue : value < bestValue)) (best, bestValue) = (epoch, value);
        }
        if (best is null)
            throw new InvalidOperationException($"no epoch has the dev metric '{devKey}'; the epochs have: {string.Join(", ", epochs.SelectMany(e => e.Metrics.Keys).Distinct())}");
        if (rule == SelectionRule.BestDev) return new SelectedEpoch(best.Epoch, bestValue, best.Metrics);
        string testKey = Key("test", metricName);
        if (!best.Metrics.TryGetValue(testKey, out double test))
            throw new InvalidOperationException($"epoch {best.Epoch} has the best '{devKey}' but no '{testKey}' to report under {rule}");
        return new SelectedEpoch(best.Epoch, test, best.Metrics);
    }
}
