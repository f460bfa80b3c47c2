using System.Text.Json;
using System.Text.Json.Nodes;
using Apt.Training;
using Microsoft.Data.Analysis;

namespace Apt.Runs;

/// <summary>
/// The finished runs under a folder as a <see cref="DataFrame"/>, and their aggregation over seeds.
/// A row is one run: "run" (its folder relative to the root), the run's config.json flattened to dotted
/// string columns (e.g. "task", "method", "trainer.learningRate"), and number columns from result.json:
/// "selectedEpoch", "selectedValue", "wallSeconds", "stoppedEarly" (1 or 0), each selected-epoch metric under its own key
/// ("dev.accuracy", "test.f1", "train.loss") and each parameter count as "params.&lt;name&gt;".
/// </summary>
public static class RunIndex
{
    public const string RunColumn = "run";

    /// <summary>
    /// Indexes every folder under <paramref name="runsFolder"/> (at any depth, links to folders not followed) that has
    /// a result.json.
    /// </summary>
    public static DataFrame Load(string runsFolder)
    {
        if (!Directory.Exists(runsFolder)) throw new DirectoryNotFoundException($"{runsFolder}: runs folder not found");
        var rows = new List<(Dictionary<string, string> Text, Dictionary<string, double> Numbers)>();
        foreach (var run in RunFolder.FindFinished(runsFolder))
        {
            var text = new Dictionary<string, string> { [RunColumn] = Path.GetRelativePath(runsFolder, run.Path) };
            Flatten(run.ReadConfig(), "", text, run.ConfigPath);
            var result = run.ReadResult();
            var numbers = new Dictionary<string, double>
            {
                ["selectedEpoch"] = result.SelectedEpoch,
                ["selectedValue"] = result.SelectedValue,
                ["wallSeconds"] = result.WallSeconds,
                ["stoppedEarly"] = result.StoppedEarly ? 1 : 0,
            };
            foreach (var (key, value) in result.SelectedMetrics) numbers[key] = value;
            foreach (var (key, value) in result.ParameterCounts) numbers[$"params.{key}"] = value;
            if (text.Keys.FirstOrDefault(numbers.ContainsKey) is { } clash)
                throw new InvalidDataException($"{run.ConfigPath}: config key '{clash}' has the name of a result column; rename it");
            rows.Add((text, numbers));
        }
        var textColumns = rows.SelectMany(r => r.Text.Keys).Distinct().ToList();
        var numberColumns = rows.SelectMany(r => r.Numbers.Keys).Distinct().ToList();
        var columns = new List<DataFrameColumn>();
        columns.AddRange(textColumns.Select(c => new StringDataFrameColumn(c, rows.Select(r => r.Text.GetValueOrDefault(c)))));
        columns.AddRange(numberColumns.Select(c => new DoubleDataFrameColumn(c, rows.Select(r => r.Numbers.TryGetValue(c, out double v) ? v : (double?)null))));
        return new DataFrame(columns);
    }

    /// <summary>
    /// One row per group of runs with equal <paramref name="keys"/> (by default every config column except "run"
    /// and any "…seed"), in order of first appearance: the keys, "runs" (the group's size), and for each number
    /// column "&lt;name&gt;.mean" and "&lt;name&gt;.std" (sample standard deviation, n−1; missing for a single run).
    /// </summary>
    public static DataFrame Aggregate(DataFrame runs, IReadOnlyList<string>? keys = null)
    {
        var textColumns = runs.Columns.OfType<StringDataFrameColumn>().ToList();
        keys ??= [.. textColumns.Select(c => c.Name).Where(name => name != RunColumn && !name.Split('.')[^1].Equals("seed", StringComparison.OrdinalIgnoreCase))];
        foreach (string key in keys)
            if (!textColumns.Any(c => c.Name == key))
                throw new ArgumentException($"no config column '{key}' to group by; the runs have: {string.Join(", ", textColumns.Select(c => c.Name))}");
        var valueColumns = runs.Columns.OfType<DoubleDataFrameColumn>().ToList();

        var groups = new List<(string?[] Key, List<long> Rows)>();
        for (long row = 0; row < runs.Rows.Count; row++)
        {
            string?[] key = [.. keys.Select(k => (string?)runs.Columns[k][row])];
            var group = groups.FirstOrDefault(g => g.Key.SequenceEqual(key));
            if (group.Rows is null) groups.Add((key, [row]));
            else group.Rows.Add(row);
        }

        var columns = new List<DataFrameColumn>();
        for (int k = 0; k < keys.Count; k++) columns.Add(new StringDataFrameColumn(keys[k], groups.Select(g => g.Key[k])));
        columns.Add(new Int32DataFrameColumn("runs", groups.Select(g => g.Rows.Count)));
        foreach (var column in valueColumns)
        {
            var stats = groups.Select(g => MeanAndStd([.. g.Rows.Select(r => column[r]).OfType<double>()])).ToList();
            columns.Add(new DoubleDataFrameColumn($"{column.Name}.mean", stats.Select(s => s.Mean)));
            columns.Add(new DoubleDataFrameColumn($"{column.Name}.std", stats.Select(s => s.Std)));
        }
        return new DataFrame(columns);
    }

    /// <summary>Mean and sample standard deviation (n−1); null where undefined.</summary>
    public static (double? Mean, double? Std) MeanAndStd(IReadOnlyList<double> values)
    {
        if (values.Count == 0) return (null, null);
        double mean = values.Average();
        if (values.Count == 1) return (mean, null);
        double variance = values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1);
        return (mean, Math.Sqrt(variance));
    }

    static void Flatten(JsonNode? node, string prefix, Dictionary<string, string> into, string source)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var (name, child) in obj) Flatten(child, prefix.Length == 0 ? name : $"{prefix}.{name}", into, source);
                break;
            case JsonValue value when value.GetValueKind() == JsonValueKind.String:
                into[prefix] = value.GetValue<string>();
                break;
            case null:
                break;
            default:
                if (prefix.Length == 0) throw new InvalidDataException($"{source}: expected a JSON object");
                into[prefix] = node.ToJsonString();
                break;
        }
    }
}
