using System.Text.Json;
using Apt.Backbone;
using Apt.Prefix;
using Apt.TrainProbe;
using Apt.Tests.Training;
using Apt.Training;
using static TorchSharp.torch;

namespace Apt.Tests.Reliability;

/// <summary>
/// Damaged adapter and run files: each is refused with one line naming the file (or recovered as its doc comment
/// says), and nothing already written is changed by the refusal.
/// </summary>
public sealed class DamagedRunFileTests : IDisposable
{
    readonly TempFolder _folder = new();

    static void AssertOneLineNaming(Exception error, string path, string phrase)
    {
        Assert.IsType<InvalidDataException>(error);
        Assert.DoesNotContain('\n', error.Message);
        Assert.Contains(path, error.Message);
        Assert.Contains(phrase, error.Message);
    }

    /// <summary>An adapter of a 4 → 2 linear head, and a model of the same shape to load it into.</summary>
    (string Path, nn.Module Model, BackboneIdentity Backbone) SavedAdapter()
    {
        using var head = nn.Linear(4, 2);
        var backbone = new BackboneIdentity("minilm", "test", new string('a', 64));
        string path = _folder.Sub("adapter.safetensors");
        AdapterFile.Save(path, head, PrefixConfig.PTuningV2(4), new BertConfig(), backbone, "Linear(4, 2)");
        return (path, nn.Linear(4, 2), backbone);
    }

    [Theory]
    [InlineData("{\"format\": \"apt-adapter/1\", \"prefix\": {", "not an adapter manifest")]
    [InlineData("", "not an adapter manifest")]
    [InlineData("null", "expected an adapter manifest of format 'apt-adapter/1'")]
    [InlineData("{\"format\": \"apt-adapter/0\"}", "expected an adapter manifest of format 'apt-adapter/1'")]
    [InlineData("{\"format\": \"apt-adapter/1\", \"parameters\": \"many\"}", "not an adapter manifest")]
    public void ACorruptManifestIsRefusedAndTheTensorsAreLeftAsTheyWere(string manifest, string phrase)
    {
        var (path, model, backbone) = SavedAdapter();
        byte[] tensors = File.ReadAllBytes(path);
        File.WriteAllText(AdapterFile.ManifestPath(path), manifest);
        AssertOneLineNaming(Record.Exception(() => AdapterFile.Load(path, model, backbone))!, AdapterFile.ManifestPath(path), phrase);
        Assert.Equal(tensors, File.ReadAllBytes(path));
    }

    [Fact]
    public void AnAdapterOfAnotherBackboneOrShapeIsRefused()
    {
        var (path, model, backbone) = SavedAdapter();
        AssertOneLineNaming(Record.Exception(() => AdapterFile.Load(path, model, backbone with { Name = "arctic-xs", WeightsSha256 = new string('b', 64) }))!,
            path, "an adapter only fits the weights it was trained on");
        using var wider = nn.Linear(8, 2);
        AssertOneLineNaming(Record.Exception(() => AdapterFile.Load(path, wider, backbone))!, path, "Wrong shapes (1): weight: file [2, 4], model [2, 8]");
    }

    [Fact]
    public void ATruncatedAdapterIsRefused()
    {
        var (path, model, backbone) = SavedAdapter();
        using (var stream = new FileStream(path, FileMode.Open)) stream.SetLength(stream.Length - 5);
        AssertOneLineNaming(Record.Exception(() => AdapterFile.Load(path, model, backbone))!, path, "lie outside the data section");
    }

    [Fact]
    public void ATruncatedResultIsRefusedWithTheRemedyAndTheRemedyRebuildsIt()
    {
        var expected = ProbeRun.Train(_folder.Sub("run"));
        var run = RunFolder.Open(_folder.Sub("run"));
        string metrics = File.ReadAllText(run.MetricsPath);
        string result = File.ReadAllText(run.ResultPath);
        File.WriteAllText(run.ResultPath, result[..(result.Length / 2)]);

        var refused = Record.Exception(() => ProbeRun.Train(run.Path))!;
        AssertOneLineNaming(refused, run.ResultPath, "not a run result");
        Assert.Contains("delete it and resume the run", refused.Message);
        Assert.Equal(metrics, File.ReadAllText(run.MetricsPath)); // the refusal touched nothing
        File.WriteAllText(run.ResultPath, "{}");
        AssertOneLineNaming(Record.Exception(run.ReadResult)!, run.ResultPath, "expected a run result with selectionMetric");

        File.Delete(run.ResultPath);
        var progress = new List<TrainingProgress>();
        var rebuilt = ProbeRun.Train(run.Path, progress.Add);
        Assert.Empty(progress); // rebuilt from the final checkpoint, not trained again
        static string WithoutWallTime(RunResult r) => JsonSerializer.Serialize(r with { WallSeconds = 0 }, TrainingJson.Indented);
        Assert.Equal(WithoutWallTime(expected), WithoutWallTime(rebuilt));
        Assert.Equal(metrics, File.ReadAllText(run.MetricsPath));
    }

    [Fact]
    public void DamagedRunRecordsAreRefusedOnTheirLine()
    {
        ProbeRun.Train(_folder.Sub("run"));
        var run = RunFolder.Open(_folder.Sub("run"));
        File.AppendAllText(run.MetricsPath, "{\"kind\": \"step\", \"st");
        AssertOneLineNaming(Record.Exception(run.ReadMetrics)!, $"{run.MetricsPath}:{File.ReadAllLines(run.MetricsPath).Length}:", "expected a JSON object");

        File.WriteAllText(run.ConfigPath, "{\"task\": ");
        AssertOneLineNaming(Record.Exception(run.ReadConfig)!, run.ConfigPath, "expected the run's config as a JSON object");
        AssertOneLineNaming(Record.Exception(() => ProbeRun.Train(run.Path))!, run.ConfigPath, "line 1");
    }

    [Fact]
    public void WithEveryCheckpointDamagedTheErrorIsOneLineNamingEach()
    {
        ProbeRun.Train(_folder.Sub("run"));
        var run = RunFolder.Open(_folder.Sub("run"));
        File.Delete(run.ResultPath);
        var checkpoints = new CheckpointStore(run.CheckpointsPath).List();
        foreach (string checkpoint in checkpoints) File.AppendAllText(Path.Combine(checkpoint, CheckpointStore.TrainableFile), "x");
        var error = Record.Exception(() => ProbeRun.Train(run.Path))!;
        AssertOneLineNaming(error, checkpoints[0], "no usable checkpoint");
        Assert.Contains(checkpoints[1], error.Message);
        Assert.Equal(checkpoints, new CheckpointStore(run.CheckpointsPath).List()); // none deleted: nothing proved intact
    }

    public void Dispose() => _folder.Dispose();
}
