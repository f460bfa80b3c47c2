using System.Text.Json.Nodes;
using Apt.Tasks.Data;
using Apt.Tests.Cli;
using Apt.Tests.Training;
using Apt.Training;

namespace Apt.Tests.Reliability;

/// <summary>
/// `aptnb train` of APT on the embedded MiniLM and a small wordnet-wic slice, SIGKILLed inside a training step and
/// inside a checkpoint write (by the test-only <see cref="CrashPoint"/>, so the place is exact), then resumed with
/// `--resume`: the run folder ends up as an uninterrupted run's — metrics.jsonl, the adapter, the gate probe and the
/// selected tensors byte for byte, result.json too but for its wall time (which counts the sessions' own seconds).
/// </summary>
public sealed class RealRunKillTests : IDisposable
{
    readonly TempFolder _folder = new();
    string DataRoot => _folder.Sub("data");

    public RealRunKillTests() =>
        StandInBuilder.BuildWordNetWic(DataRoot, new WordNetWicOptions { Train = 48, Validation = 16, Test = 16 });

    /// <summary>12 steps (6 per epoch), a checkpoint every 4 and at each epoch end, a metrics step line at step 10.</summary>
    string[] Train(string run) =>
    [
        "train", "--task", "wordnet-wic", "--data-root", DataRoot, "--method", "apt", "--backbone", "minilm",
        "--epochs", "2", "--batch-size", "8", "--train-examples", "48", "--eval-examples", "16", "--max-length", "48",
        "--prefix-length", "4", "--lr", "0.01", "--seed", "3", "--checkpoint-every", "4", "--run", run,
    ];

    static void Succeeds(params string[] args)
    {
        var (exitCode, output) = CliTests.Apt(args);
        Assert.True(exitCode == 0, $"apt {string.Join(' ', args)} exited {exitCode}:\n{output}");
    }

    /// <summary>Runs until the crash point kills the process; asserts that it died there, unfinished.</summary>
    static RunFolder KilledAt(string point, long step, string[] args)
    {
        var (exitCode, output) = CliTests.AptWith(new() { [CrashPoint.Variable] = $"{point}:{step}" }, args);
        Assert.True(exitCode != 0, $"the run was not killed at {point}:{step}:\n{output}");
        Assert.DoesNotContain("error:", output);
        var run = RunFolder.Open(args[^1]);
        Assert.False(run.IsFinished);
        return run;
    }

    internal static void AssertSameFolder(string expected, string actual)
    {
        foreach (string file in new[] { "config.json", "metrics.jsonl", "selected.safetensors", "adapter.safetensors", "adapter.json", "gate-probe.json", "gate-probe.csv" })
            Assert.True(File.ReadAllBytes(Path.Combine(expected, file)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(actual, file))), $"{file} differs");
        static JsonNode WithoutWallTime(string folder)
        {
            var result = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "result.json")))!;
            Assert.True(result.AsObject().Remove("wallSeconds"));
            return result;
        }
        Assert.True(JsonNode.DeepEquals(WithoutWallTime(expected), WithoutWallTime(actual)), "result.json differs beyond its wall time");
    }

    [Fact]
    public void KilledInAStepOrInACheckpointWriteItResumesToTheUninterruptedRun()
    {
        string reference = _folder.Sub("reference");
        Succeeds(Train(reference));
        Assert.Contains(RunFolder.Open(reference).ReadMetrics(), line => (string?)line["kind"] == "step" && (long)line["step"]! == 10);

        // Inside step 11: the newest checkpoint is step 8, and metrics.jsonl already holds step 10's line, which goes.
        string inStep = _folder.Sub("killed-in-step");
        var run = KilledAt(CrashPoint.Step, 11, Train(inStep));
        Assert.Equal("step-000000008", Path.GetFileName(new CheckpointStore(run.CheckpointsPath).List()[0]));
        Assert.Contains(run.ReadMetrics(), line => (long)line["step"]! == 10);
        Succeeds("train", "--resume", inStep, "--data-root", DataRoot);
        AssertSameFolder(reference, inStep);

        // Inside the epoch-end checkpoint of step 6: it is half staged, the newest whole one is step 4, and epoch 1's
        // metrics line and selected tensors are already written; the resume trains and evaluates epoch 1's end again.
        string inCheckpoint = _folder.Sub("killed-in-checkpoint");
        run = KilledAt(CrashPoint.Checkpoint, 6, Train(inCheckpoint));
        string staged = Assert.Single(Directory.GetDirectories(run.CheckpointsPath, ".staging-step-000000006-*"));
        Assert.True(File.Exists(Path.Combine(staged, CheckpointStore.TrainableFile)) && !File.Exists(Path.Combine(staged, CheckpointStore.StateFile)));
        Assert.Equal("step-000000004", Path.GetFileName(new CheckpointStore(run.CheckpointsPath).List()[0]));
        Assert.Contains(run.ReadMetrics(), line => (string?)line["kind"] == "epoch" && (long)line["step"]! == 6);
        Succeeds("train", "--resume", inCheckpoint, "--data-root", DataRoot);
        Assert.Empty(Directory.GetDirectories(run.CheckpointsPath, ".staging-*"));
        AssertSameFolder(reference, inCheckpoint);
    }

    public void Dispose() => _folder.Dispose();
}
