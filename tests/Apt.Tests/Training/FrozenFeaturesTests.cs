using Apt.Runs;
using Apt.Tasks;
using Apt.Tests.Backbone;
using Apt.Training;

namespace Apt.Tests.Training;

/// <summary>The head-only baseline as a linear probe: its head on features computed once reads what the
/// backbone gives.</summary>
public sealed class FrozenFeaturesTests(MiniLMFixture minilm) : IClassFixture<MiniLMFixture>
{
    [Theory]
    [InlineData("rte", "superglue/rte/train.jsonl", "train.jsonl", "val.jsonl", "test.jsonl")]
    [InlineData("copa", "superglue/copa/train.jsonl", "train.jsonl", "val.jsonl", "test.jsonl")]
    [InlineData("conll04", "ner/conll04/train.txt", "train.txt", "dev.txt", "test.txt")]
    public void AHeadOnFrozenFeaturesGivesTheLogitsOfTheBackbonePathInEvalMode(string taskName, string fixture,
        params string[] splits)
    {
        using var folder = new TempFolder();
        foreach (string split in splits) File.Copy(Path.Combine(TestPaths.RepoRoot, "tests", "Apt.Tests", "Fixtures",
            fixture), folder.Sub(split));
        var task = TaskRegistry.Get(taskName);
        var config = Recipe.Configure(taskName, MethodCatalogue.HeadOnly.Name, "minilm",
            new RunSettings { Data = folder.Path },
            new RunPoint(1e-2, 16, Seed: 3), minilm.Backbone.Config);
        Assert.Equal(0, config.HiddenDropout); // the recipe records the linear probe's backbone as dropping nothing

        var experiment = new Experiment(folder.Path); // not disposed: the backbone is the fixture's
        using var cached = experiment.Build(config, task, minilm.Backbone);
        using var uncached = experiment.Build(config with { HiddenDropout = null }, task, minilm.Backbone);
        cached.SetTraining(false);
        uncached.SetTraining(false);
        int[] all = [.. Enumerable.Range(0, cached.TrainingExampleCount)];
        using (var fromFeatures = cached.Loss(all))
        using (var fromBackbone = uncached.Loss(all))
            Assert.Equal(fromBackbone.item<float>(), fromFeatures.item<float>(), 1e-5f);
        var (expected, actual) = (uncached.Predict(EvaluationSplit.Dev), cached.Predict(EvaluationSplit.Dev));
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].WordLabels, actual[i].WordLabels);
            Assert.Equal(expected[i].Scores.Length, actual[i].Scores.Length);
            for (int k = 0; k < expected[i].Scores.Length; k++) Assert.Equal(expected[i].Scores[k],
                actual[i].Scores[k], 1e-5f);
        }
    }
}
