using System.Globalization;
using System.Text.RegularExpressions;
using Apt.Backbone;
using Apt.Prefix;
using Apt.Runs;
using Apt.Tasks;
using Apt.Training;

namespace Apt.Tests.Docs;

/// <summary>
/// docs/method.md's protocol table against the code: for each setting the code fixes, the first value in backticks of
/// the table's "kit default" column must be the default that the library, the sweep files and the task protocols use.
/// </summary>
public sealed partial class ProtocolTableTests
{
    /// <summary>Each setting's defaults as the code holds them (every place a run can take it from must agree).</summary>
    static Dictionary<string, object[]> CodeDefaults()
    {
        var trainer = new TrainerConfig();
        var prefix = new PrefixConfig();
        var sweep = new SweepTask();
        var superGlue = TaskProtocol.For(TaskRegistry.Get("rte"), trainer);
        var ner = TaskProtocol.For(TaskRegistry.Get("conll03"), trainer);
        return new()
        {
            ["AdamW β₁"] = [trainer.Beta1],
            ["AdamW β₂"] = [trainer.Beta2],
            ["AdamW ε"] = [trainer.Epsilon],
            ["weight decay"] = [trainer.WeightDecay, sweep.WeightDecay],
            ["gradient clipping"] = [trainer.MaxGradientNorm],
            ["schedule, SuperGLUE"] = [superGlue.Schedule],
            ["warm-up"] = [trainer.WarmupRatio, sweep.Warmup, (double)(trainer.WarmupSteps ?? 0)],
            ["schedule, NER"] = [ner.Schedule],
            ["exponential γ"] = [trainer.ExponentialGamma],
            ["batches"] = [trainer.LengthGrouping, sweep.LengthGrouping],
            ["prefix initialisation"] = [prefix.Init, sweep.PrefixInit],
            ["initializer_range"] = [new BertConfig().InitializerRange],
            ["prefix dropout"] = [prefix.Dropout, sweep.Dropout],
            ["head dropout"] = [new ExperimentConfig().HeadDropout, sweep.Dropout],
            ["backbone hidden dropout"] = [sweep.DropoutInBackbone],
            ["position ids"] = [prefix.ShiftPositions],
            ["prefix projection"] = [prefix.Projection, sweep.Projection],
            ["evaluation"] = [trainer.EvaluateEachEpoch],
            ["selection, SuperGLUE"] = [superGlue.Selection],
            ["selection, NER"] = [ner.Selection],
            ["when test is scored (NER)"] = [ner.TestEveryEpoch],
            ["seed"] = [trainer.Seed],
            ["threads per run"] = [sweep.Threads],
        };
    }

    [GeneratedRegex(@"`([^`]+)`")]
    private static partial Regex Backticked();

    /// <summary>The protocol table's rows, each as its cells (setting, kit default, P-tuning v2, verdict).</summary>
    static List<string[]> Rows()
    {
        string[] lines = File.ReadAllLines(Path.Combine(TestPaths.RepoRoot, "docs", "method.md"));
        int start = Array.FindIndex(lines, l => l.StartsWith("## The training protocol", StringComparison.Ordinal));
        Assert.True(start >= 0, "docs/method.md has no section '## The training protocol'");
        return [.. lines.Skip(start).SkipWhile(l => !l.StartsWith('|')).TakeWhile(l => l.StartsWith('|')).Skip(2)
            .Select(r => r.Split('|')[1..^1].Select(c => c.Trim()).ToArray())];
    }

    static bool Same(string documented, object code) => code switch
    {
        double d => double.TryParse(documented, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && v == d,
        int i => documented == i.ToString(CultureInfo.InvariantCulture),
        bool b => string.Equals(documented, b.ToString(), StringComparison.OrdinalIgnoreCase),
        _ => documented == code.ToString(),
    };

    [Fact]
    public void EveryDefaultTheTableStatesIsTheCodes()
    {
        var table = Rows().ToDictionary(cells => cells[0], cells => cells[1]);
        Assert.True(table.Count >= 30, $"the protocol table has {table.Count} rows");
        foreach (var (setting, defaults) in CodeDefaults())
        {
            Assert.True(table.TryGetValue(setting, out string? kit), $"the protocol table has no row '{setting}'");
            var literal = Backticked().Match(kit!);
            Assert.True(literal.Success, $"row '{setting}': the kit's default is not in backticks: {kit}");
            foreach (object value in defaults)
                Assert.True(Same(literal.Groups[1].Value, value), $"row '{setting}': the table says `{literal.Groups[1].Value}`, the code {value}");
        }
    }

    [Fact]
    public void EveryRowSaysWhereP_TuningV2SetsItAndWhetherTheKitDeviates() => Assert.All(Rows(), cells =>
    {
        Assert.True(cells.Length == 4 && cells.All(c => c.Length > 0), $"row '{cells[0]}' lacks a cell");
        Assert.True(cells[3].StartsWith("same", StringComparison.Ordinal) || cells[3].StartsWith("deviation: ", StringComparison.Ordinal)
            || cells[2] == "–", $"row '{cells[0]}': the verdict must be 'same' or 'deviation: why' (got '{cells[3]}')");
    });
}
