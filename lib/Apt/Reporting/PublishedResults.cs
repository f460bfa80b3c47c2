namespace Apt.Reporting;

/// <summary>
/// Numbers published by others, for the tables that put ours beside them: P-tuning v2's own re-run (its
/// README; SuperGLUE dev accuracy, NER test F1, in %), as quoted in shared/reference/ptuning-v2.md.
/// </summary>
public static class PublishedResults
{
    /// <summary>The task columns, in the README's order.</summary>
    public static readonly IReadOnlyList<string> Tasks = ["boolq", "copa", "rte", "wic", "wsc", "conll03", "conll04", "ontonotes"];

    /// <summary>P-tuning v2 (PT-2) by backbone and task; tasks it did not report are absent.</summary>
    public static readonly IReadOnlyDictionary<string, IReadOnlyDictionary<string, double>> PTuningV2 = new Dictionary<string, IReadOnlyDictionary<string, double>>
    {
        ["BERT-large"] = new Dictionary<string, double>
        {
            ["boolq"] = 74.3, ["copa"] = 77.0, ["rte"] = 80.1, ["wic"] = 75.1, ["wsc"] = 68.3, ["conll04"] = 84.5, ["ontonotes"] = 86.4,
        },
        ["RoBERTa-large"] = new Dictionary<string, double>
        {
            ["boolq"] = 84.0, ["copa"] = 92.0, ["rte"] = 86.6, ["wic"] = 73.7, ["wsc"] = 64.4, ["conll03"] = 91.8, ["conll04"] = 88.4, ["ontonotes"] = 90.1,
        },
    };

    /// <summary>The published table as rows (backbone, then one value or null per task of <see cref="Tasks"/>).</summary>
    public static IEnumerable<(string Backbone, double?[] Values)> Rows() =>
        PTuningV2.Select(b => (b.Key, Tasks.Select(t => b.Value.TryGetValue(t, out double v) ? v : (double?)null).ToArray()));
}
