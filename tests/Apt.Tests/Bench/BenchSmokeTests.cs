using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Apt.Bench;
using Xunit.Abstractions;

namespace Apt.Tests.Bench;

/// <summary>
/// The benchmark's measurement code end to end in its quick mode (tiny shapes, child processes included):
/// every figure of the performance benchmark is present and a finite number. Speed itself is checked by running the
/// benchmark, not here.
/// </summary>
public sealed class BenchSmokeTests(ITestOutputHelper output)
{
    [Fact]
    public async Task QuickRunReportsEveryFigureAsAFiniteNumber()
    {
        var settings = BenchSettings.Smoke;
        var report = Benchmarks.Run(settings);
        var json = JsonNode.Parse(report.ToJson())!;
        output.WriteLine(json.ToJsonString());

        // Every number anywhere in the report is finite: the writer spells NaN and ±∞ as strings.
        var leaves = Leaves(json).ToList();
        Assert.Contains(leaves, leaf => leaf.Value.GetValueKind() == System.Text.Json.JsonValueKind.Number);
        Assert.DoesNotContain(leaves, leaf => leaf.Value.ToJsonString() is "\"NaN\"" or "\"Infinity\"" or "\"-Infinity\"");

        // Each figure exists, with a positive time or size where one is measured.
        Assert.Equal(4, report.Matmul.Count);
        Assert.All(report.Matmul, m => Assert.True(m.MedianMs > 0 && m.Gflops > 0, m.Shape));
        Assert.True(report.PeakGflops > 0);
        foreach (var step in new[] { report.Apt, report.PTuningV2, report.AptFirstToken })
            Assert.True(step.MedianMs > 0 && step.TokensPerSecond > 0 && step.Gflops > 0, step.Method);
        Assert.Equal(("APT", "PT-2", "APT, first token only"), (report.Apt.Method, report.PTuningV2.Method, report.AptFirstToken.Method));
        Assert.True(report.AptFirstToken.StepGflop < report.Apt.StepGflop, "the first-token step counts less work");
        Assert.True(report.Utilisation > 0 && report.AptOverPTuningV2 > 0 && report.PTuningV2OverFineTune > 0);
        foreach (var child in new[] { report.AptChild, report.PTuningV2Child, report.FineTuneChild })
            Assert.True(child.MedianMs > 0 && child.Gflops > 0 && child.PeakRssMiB >= child.RssAfterLoadMiB && child.RssAfterLoadMiB > 0, child.Method);
        Assert.True(report.FineTuneChild.StepGflop > report.PTuningV2Child.StepGflop, "full fine-tuning counts the weight gradients too");
        Assert.Equal([settings.Batch, 1], report.Eval.Select(e => e.Batch));
        Assert.All(report.Eval, e => Assert.True(e.OursMs > 0 && e.OnnxRuntimeMs > 0 && e.Ratio > 0));
        Assert.True(report.Memory.EarlyRssMiB > 0 && report.Memory.LateRssMiB > 0);
        Assert.Equal((settings.MemoryEarlySteps, settings.MemoryLateSteps), (report.Memory.EarlySteps, report.Memory.LateSteps));
        Assert.Equal(settings.ScanLengths, report.Scaling[0].Points.Select(p => p.Length));
        Assert.Equal(settings.ScanPrefixes, report.Scaling[1].Points.Select(p => p.Prefix));
        Assert.All(report.Scaling, s => Assert.True(double.IsFinite(s.MeasuredExponent) && s.FlopExponent > 0, s.Axis));
        // The FLOP model: attention grows with the attended length, so longer sequences cost more per token.
        Assert.True(report.Scaling[0].FlopExponent > 1);
        // The PyTorch peer runs where Debian's python3 has torch; elsewhere the report says why it was skipped.
        bool peerRan = report.PyTorch.Description is not null;
        if (peerRan)
        {
            Assert.Equal(["APT", "PT-2", "FT"], report.PyTorch.Steps.Select(p => p.Method));
            Assert.All(report.PyTorch.Steps, p => Assert.True(p.MedianMs > 0 && p.PeakRssMiB > 0 && p.KitOverPyTorch > 0, p.Method));
            Assert.Equal(report.AptChild.MedianMs / report.PyTorch.Steps[0].MedianMs, report.PyTorch.Steps[0].KitOverPyTorch, 9);
            Assert.All(report.Eval, e => Assert.True(e.PyTorchMs > 0 && e.OverPyTorch > 0));
        }
        else
        {
            Assert.False(string.IsNullOrWhiteSpace(report.PyTorch.Skipped));
            Assert.Empty(report.PyTorch.Steps);
        }
        // (a), (b), (c) memory, two for (d), (e), two for (f), and three for (g) when the peer ran
        Assert.Equal(peerRan ? 11 : 8, report.Targets.Count);
        Assert.All(report.Targets, t => Assert.True(double.IsFinite(t.Value), t.Name));
        Assert.Equal(["≤ 0.95", "≤ 1.00"], report.Targets.Where(t => t.Name.StartsWith("(d)")).Select(t => t.Goal));

        // aptnb report --bench reads the scans back from the JSON and charts measured time beside the FLOP model's.
        string folder = Directory.CreateTempSubdirectory("apt-bench-report-").FullName;
        string file = Path.Combine(folder, "bench.json");
        File.WriteAllText(file, report.ToJson());
        var scans = Apt.Reporting.BenchScaling.Read(file);
        Assert.Equal(["sequence length", "prefix length"], scans.Select(s => s.Axis));
        Assert.Equal([.. settings.ScanLengths.Select(length => (double)settings.Batch * length)], scans[0].X);
        Assert.Equal([.. settings.ScanPrefixes.Select(prefix => (double)settings.Length + prefix)], scans[1].X);
        Assert.Equal(report.Scaling[1].Points.Select(p => p.MedianMs), scans[1].MeasuredMs);
        var figure = JsonNode.Parse(Apt.Reporting.Charts.Scaling(scans[0]).ToFigureJson())!;
        Assert.Equal(["measured", "∝ FLOPs (from the first point)"], figure["data"]!.AsArray().Select(t => t!["name"]!.GetValue<string>()));
        Assert.Equal(scans[0].MeasuredMs[0], figure["data"]![1]!["y"]![0]!.GetValue<double>(), 6);
        var (files, _) = await Apt.Reporting.StudyReport.WriteBenchCharts(file, folder, png: false);
        Assert.Equal([Path.Combine(folder, "bench-scaling.html")], files); // both scans on one page
        Assert.Equal(2, Regex.Matches(File.ReadAllText(files[0]), "Plotly\\.newPlot\\(\"chart-").Count);

        // The doc's table is regenerated from the JSON; the hand-written text around it stays.
        string doc = Path.Combine(folder, "performance.md");
        File.WriteAllText(doc, $"# hand\n{PerformanceDoc.Begin}\nold table\n{PerformanceDoc.End}\nhand after\n");
        PerformanceDoc.Update(doc, BenchReport.FromJson(file));
        string written = File.ReadAllText(doc);
        Assert.StartsWith($"# hand\n{PerformanceDoc.Begin}\n", written);
        Assert.EndsWith($"{PerformanceDoc.End}\nhand after\n", written);
        Assert.DoesNotContain("old table", written);
        Assert.All(report.Targets, t => Assert.Contains($"| {t.Name} | {t.Value.ToString("F3", System.Globalization.CultureInfo.InvariantCulture)} | {t.Goal} |", written));
        File.WriteAllText(doc, "# no markers\n");
        Assert.Contains(doc, Assert.Throws<ArgumentException>(() => PerformanceDoc.Update(doc, report)).Message);

        File.WriteAllText(file, "{ \"apt\": {} }");
        var refused = Assert.Throws<InvalidDataException>(() => Apt.Reporting.BenchScaling.Read(file));
        Assert.Contains(file, refused.Message);
        Assert.Contains("\"scaling\"", refused.Message);
        Assert.Contains(file, Assert.Throws<ArgumentException>(() => BenchReport.FromJson(file)).Message);
        Directory.Delete(folder, true);
    }

    static IEnumerable<(string Path, JsonValue Value)> Leaves(JsonNode node, string path = "$")
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var (key, child) in o)
                    if (child is not null) foreach (var leaf in Leaves(child, $"{path}.{key}")) yield return leaf;
                break;
            case JsonArray a:
                for (int i = 0; i < a.Count; i++)
                    if (a[i] is { } child) foreach (var leaf in Leaves(child, $"{path}[{i}]")) yield return leaf;
                break;
            case JsonValue v:
                yield return (path, v);
                break;
        }
    }
}
