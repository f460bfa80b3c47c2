using Apt.Backbone;
using Apt.Prefix;
using Apt.Runs;
using Apt.Tasks;
using Apt.Training;
using static TorchSharp.torch;

namespace Apt.Tests.Backbone;

/// <summary>
/// Every prefix method on a RoBERTa backbone (a small random checkpoint in Hugging Face's layout, with the real
/// byte-level BPE tokenizer), wired as training wires it: RTE cast by the task, a few AdamW steps, and only the
/// method's trainable set receives gradients while the backbone stays bitwise unchanged.
/// </summary>
public sealed class RobertaPrefixTests : IDisposable
{
    readonly RobertaTestFolder _model = new();
    readonly string _data = Directory.CreateTempSubdirectory("apt-roberta-data-").FullName;

    public RobertaPrefixTests()
    {
        _model.WriteConfig();
        _model.WriteWeights(withPooler: true, seed: 3);
        _model.WriteHuggingFaceTokenizer();
        string fixture = Path.Combine(TestPaths.RepoRoot, "tests", "Apt.Tests", "Fixtures", "superglue", "rte", "train.jsonl");
        Directory.CreateDirectory(Path.Combine(_data, "rte"));
        foreach (string split in new[] { "train", "val" }) File.Copy(fixture, Path.Combine(_data, "rte", split + ".jsonl"));
    }

    [Theory]
    [InlineData("pt2")]
    [InlineData("apt")]
    [InlineData("token")]
    [InlineData("layer")]
    [InlineData("pt2plus")]
    [InlineData("pt2star")]
    public void ThePrefixMethodTrainsOnRobertaWithOnlyItsParametersReceivingGradients(string method)
    {
        using var backbone = PretrainedBackbone.Load(_model.Path);
        Assert.Equal("roberta", backbone.Config.ModelType);
        using var experiment = new Experiment(_data);
        var probe = method == "pt2star" ? ProbeOfAnApt(experiment, backbone) : null;
        var config = new ExperimentConfig
        {
            Task = "rte", Backbone = _model.Path, Method = method, Prefix = MethodCatalogue.Get(method).Configure(new MethodInputs(backbone.Config, PrefixLength: 4, Projection: false, probe)).Prefix,
            Trainer = new TrainerConfig { Seed = 1 },
        };
        using var trainable = experiment.Build(config, TaskRegistry.Get("rte"), backbone);
        var parameters = trainable.TrainableParameters;
        Assert.All(parameters.Keys, name => Assert.True(name.StartsWith("prefix.") || name.StartsWith("head."), name));
        Assert.Contains(parameters.Keys, name => name.StartsWith("prefix."));

        var backboneBefore = backbone.Model.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().clone());
        var before = parameters.ToDictionary(p => p.Key, p => p.Value.detach().clone());
        using var optimizer = optim.AdamW(parameters.Values, lr: 1e-2);
        var withGradients = new SortedSet<string>(StringComparer.Ordinal);
        trainable.SetTraining(true);
        for (int step = 0; step < 3; step++)
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            trainable.Loss([.. Enumerable.Range(0, trainable.TrainingExampleCount)]).backward();
            foreach (var (name, parameter) in trainable.Model.named_parameters())
                if (parameter.grad is { } gradient && gradient.abs().sum().item<float>() > 0) withGradients.Add(name);
            optimizer.step();
        }

        Assert.Equal(parameters.Keys.Order(StringComparer.Ordinal), withGradients);
        Assert.All(parameters, p => Assert.False(TensorAssert.Identical(before[p.Key], p.Value), $"{p.Key} did not change"));
        Assert.All(backbone.Model.named_parameters(), p => Assert.True(TensorAssert.Identical(backboneBefore[p.name], p.parameter), $"backbone {p.name} changed"));
        Assert.All(backbone.Model.parameters(), p => Assert.Null(p.grad));
    }

    /// <summary>The gate probe of an (untrained) APT module over the dev split, which is all PT-2* needs to size its layers.</summary>
    static GateProbeResult ProbeOfAnApt(Experiment experiment, PretrainedBackbone backbone)
    {
        var config = new ExperimentConfig { Task = "rte", Method = "apt", Prefix = PrefixConfig.Apt(4), Trainer = new TrainerConfig { Seed = 1 } };
        using var apt = experiment.Build(config, TaskRegistry.Get("rte"), backbone);
        return apt.Probe();
    }

    public void Dispose()
    {
        _model.Dispose();
        Directory.Delete(_data, recursive: true);
    }
}
