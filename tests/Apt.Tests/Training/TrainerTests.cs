using Apt.Backbone;
using Apt.Training;
using Apt.TrainProbe;

namespace Apt.Tests.Training;

/// <summary>The trainer on the probe's toy model, in process: determinism, damaged checkpoints, early stopping.</summary>
public class TrainerTests
{
    /// <summary>The bytes of the newest checkpoint's tensor files (trainable tensors and AdamW moments).</summary>
    internal static (byte[] Trainable, byte[] Optimizer) NewestTensors(RunFolder run)
    {
        string newest = new CheckpointStore(run.CheckpointsPath).List()[0];
        return (File.ReadAllBytes(Path.Combine(newest, CheckpointStore.TrainableFile)), File.ReadAllBytes(Path.Combine(newest, CheckpointStore.OptimizerFile)));
    }

    internal static void AssertSameRun(RunFolder expected, RunFolder actual)
    {
        RunResult a = expected.ReadResult(), b = actual.ReadResult();
        Assert.Equal(a.SelectedEpoch, b.SelectedEpoch);
        Assert.Equal(a.SelectedValue, b.SelectedValue);
        Assert.Equal(a.Epochs.Select(e => e.Metrics.OrderBy(m => m.Key)), b.Epochs.Select(e => e.Metrics.OrderBy(m => m.Key)));
        Assert.Equal(File.ReadAllText(expected.MetricsPath), File.ReadAllText(actual.MetricsPath));
        var (trainableA, optimizerA) = NewestTensors(expected);
        var (trainableB, optimizerB) = NewestTensors(actual);
        Assert.True(trainableA.AsSpan().SequenceEqual(trainableB), "trainable tensors differ");
        Assert.True(optimizerA.AsSpan().SequenceEqual(optimizerB), "AdamW moments differ");
        Assert.Equal(File.ReadAllBytes(expected.SelectedTrainablePath), File.ReadAllBytes(actual.SelectedTrainablePath));
    }

    [Fact]
    public void TheSameSeedAndConfigGiveIdenticalMetricsAndTensors()
    {
        using var folder = new TempFolder();
        var progress = new List<TrainingProgress>();
        var first = ProbeRun.Train(folder.Sub("a"), progress.Add);
        ProbeRun.Train(folder.Sub("b"));
        AssertSameRun(RunFolder.Open(folder.Sub("a")), RunFolder.Open(folder.Sub("b")));

        Assert.Equal(Enumerable.Range(1, 24).Select(s => (long)s), progress.Select(p => p.Step));
        Assert.All(progress, p => Assert.Equal(24, p.TotalSteps));
        Assert.Equal([1, 2, 3], progress.Select(p => p.Epoch).Distinct());
        Assert.Equal(TimeSpan.Zero, progress[^1].Eta);
        Assert.All(progress, p => Assert.True(p.ExamplesPerSecond > 0 && double.IsFinite(p.Loss)));

        // A finished run is not trained again: the same result comes back and nothing is appended.
        string metrics = File.ReadAllText(RunFolder.Open(folder.Sub("a")).MetricsPath);
        var again = ProbeRun.Train(folder.Sub("a"), progress.Add);
        Assert.Equal(24, progress.Count);
        Assert.Equal(first.SelectedValue, again.SelectedValue);
        Assert.Equal(metrics, File.ReadAllText(RunFolder.Open(folder.Sub("a")).MetricsPath));

        // The seed matters: another one trains differently (so the equality above is not vacuous).
        ProbeRun.Train(folder.Sub("c"), config: ProbeRun.Config with { Seed = 8, Epochs = 1 });
        Assert.NotEqual(File.ReadLines(Path.Combine(folder.Sub("a"), "metrics.jsonl")).First(), File.ReadLines(Path.Combine(folder.Sub("c"), "metrics.jsonl")).First());
    }

    [Fact]
    public void ATruncatedNewestCheckpointIsNamedAndThePreviousOneResumesToTheSameResult()
    {
        using var folder = new TempFolder();
        ProbeRun.Train(folder.Sub("reference"));
        ProbeRun.Train(folder.Sub("damaged"));
        var run = RunFolder.Open(folder.Sub("damaged"));
        var checkpoints = new CheckpointStore(run.CheckpointsPath).List();
        Assert.Equal(["step-000000024", "step-000000020"], checkpoints.Select(Path.GetFileName));
        // As if the run had died while writing its last checkpoint and results.
        File.Delete(run.ResultPath);
        string tensors = Path.Combine(checkpoints[0], CheckpointStore.TrainableFile);
        using (var stream = new FileStream(tensors, FileMode.Open)) stream.SetLength(stream.Length / 2);

        var warnings = new List<string>();
        ProbeRun.Train(run.Path, warning: warnings.Add);

        string warning = Assert.Single(warnings);
        Assert.Contains(checkpoints[0], warning);
        Assert.Contains("truncated or damaged", warning);
        Assert.Contains($"previous checkpoint {checkpoints[1]}", warning);
        AssertSameRun(RunFolder.Open(folder.Sub("reference")), run);
    }

    [Fact]
    public void ADamagedCheckpointIsDroppedOnceAnOlderOneLoadsAndWithNoneLeftTheErrorNamesTheFile()
    {
        using var folder = new TempFolder();
        ProbeRun.Train(folder.Sub("run"));
        var run = RunFolder.Open(folder.Sub("run"));
        File.Delete(run.ResultPath);
        var store = new CheckpointStore(run.CheckpointsPath);
        var checkpoints = store.List();
        File.WriteAllText(Path.Combine(checkpoints[0], CheckpointStore.StateFile), "{ \"epoch\": ");

        var warnings = new List<string>();
        using (var loaded = store.LoadNewestValid(warnings.Add))
            Assert.Equal(checkpoints[1], loaded!.Path);
        Assert.Contains(Path.Combine(checkpoints[0], CheckpointStore.StateFile), Assert.Single(warnings));
        Assert.Equal([checkpoints[1]], store.List());

        File.AppendAllText(Path.Combine(checkpoints[1], CheckpointStore.OptimizerFile), "x");
        var error = Assert.Throws<InvalidDataException>(() => ProbeRun.Train(run.Path, warning: warnings.Add));
        Assert.Contains("no usable checkpoint", error.Message);
        Assert.Contains(Path.Combine(checkpoints[1], CheckpointStore.OptimizerFile), error.Message);
        Assert.Contains("no older checkpoint is left", warnings[^1]);
    }

    [Fact]
    public void EarlyStoppingEndsTheRunAfterPatienceEpochsWithoutImprovement()
    {
        using var folder = new TempFolder();
        // A learning rate too small to move accuracy: dev never improves after epoch 1.
        var config = ProbeRun.Config with { Epochs = 10, LearningRate = 1e-9, EarlyStoppingPatience = 2, Schedule = LearningRateDecay.Exponential, WarmupRatio = 0 };
        var result = ProbeRun.Train(folder.Sub("run"), config: config);
        Assert.True(result.StoppedEarly);
        Assert.Equal(3, result.Epochs.Count);
        Assert.Equal(1, result.SelectedEpoch);
        var run = RunFolder.Open(folder.Sub("run"));
        SafeTensors.Read(run.SelectedTrainablePath, out var metadata).Values.ToList().ForEach(t => t.Dispose());
        Assert.Equal("1", metadata["epoch"]);

        // The exponential schedule as the trainer applied it: once per epoch, γ = 0.95.
        var rates = run.ReadMetrics().Where(line => (string)line["kind"]! == "step")
            .GroupBy(line => (int)line["epoch"]!).ToDictionary(g => g.Key, g => g.Select(line => (double)line["learningRate"]!).Distinct().Single());
        Assert.Equal(1e-9, rates[1], tolerance: 1e-24);
        Assert.Equal(1e-9 * 0.95, rates[2], tolerance: 1e-24);
        Assert.Equal(1e-9 * 0.95 * 0.95, rates[3], tolerance: 1e-24);
    }

    [Theory]
    [InlineData(1e-2)] // dev moves: the epochs that improve it are scored on test
    [InlineData(1e-9)] // dev never improves after epoch 1: only epoch 1 is scored on test
    public void TestIsScoredOnlyWhenDevImprovesAndTheReportedNumberIsTheSameAsScoringItEveryEpoch(double learningRate)
    {
        using var folder = new TempFolder();
        var config = ProbeRun.Config with { Epochs = 5, LearningRate = learningRate };
        var everyEpoch = ProbeRun.Train(folder.Sub("every"), config: config with { TestEveryEpoch = true });
        var whenImproved = ProbeRun.Train(folder.Sub("improved"), config: config);

        Assert.Equal(everyEpoch.SelectedEpoch, whenImproved.SelectedEpoch);
        Assert.Equal(everyEpoch.SelectedValue, whenImproved.SelectedValue);
        Assert.All(everyEpoch.Epochs, e => Assert.True(e.Metrics.ContainsKey("test.accuracy")));
        double best = double.NegativeInfinity;
        foreach (var epoch in whenImproved.Epochs)
        {
            double dev = epoch.Metrics["dev.accuracy"];
            Assert.Equal(dev > best, epoch.Metrics.ContainsKey("test.accuracy"));
            if (dev > best) Assert.Equal(everyEpoch.Epochs[epoch.Epoch - 1].Metrics["test.accuracy"], epoch.Metrics["test.accuracy"]);
            best = Math.Max(best, dev);
        }
        Assert.Contains(whenImproved.Epochs, e => !e.Metrics.ContainsKey("test.accuracy")); // an epoch was skipped: the rule was exercised
    }
}
