using Apt.Backbone;
using Apt.Prefix;
using Apt.Tasks;
using Apt.Tests.Backbone;
using Apt.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Apt.Tests.Training;

/// <summary>
/// The training recipe pinned to P-tuning v2's released code (../shared/reference/ptuning-v2.md, "Protocol details"):
/// how the trained tensors start, which tensors decay and how transformers' AdamW steps, and the one dropout value.
/// </summary>
public sealed class RecipeTests(MiniLMFixture minilm) : IClassFixture<MiniLMFixture>
{
    static double Std(Tensor t) => t.to_type(ScalarType.Float64).std().item<double>();

    static Tensor Named(nn.Module module, string name) => module.named_parameters().Single(p => p.name == name).parameter;

    [Fact]
    public void AFreshPrefixStartsAtTheInitializerRangeAndPeftsOptionAtOne()
    {
        var backbone = minilm.Backbone.Config; // initializer_range 0.02; 6 layers × 16 tokens × 2 × 384 = 73,728 draws
        Assert.Equal(0.02, backbone.InitializerRange);
        using (var prefix = PrefixModule.Create(PrefixConfig.PTuningV2(16), backbone)!)
            Assert.Equal(0.02, Std(Named(prefix, "prefix_encoder.table")), 3);
        using (var apt = PrefixModule.Create(PrefixConfig.Apt(16), backbone)!)
            Assert.Equal(0.02, Std(Named(apt, "prefix_encoder.table")), 3);
        using (var peft = PrefixModule.Create(PrefixConfig.PTuningV2(16) with { Init = PrefixInit.StandardNormal }, backbone)!)
            Assert.Equal(1.0, Std(Named(peft, "prefix_encoder.table")), 1);
        using var projected = PrefixModule.Create(PrefixConfig.PTuningV2(16) with { Projection = true }, backbone)!;
        foreach (string name in new[] { "prefix_encoder.embedding", "prefix_encoder.transform_in.weight", "prefix_encoder.transform_out.weight" })
            Assert.InRange(Std(Named(projected, name)), 0.019, 0.021);
        foreach (string name in new[] { "prefix_encoder.transform_in.bias", "prefix_encoder.transform_out.bias" })
            Assert.Equal(0.0, Named(projected, name).abs().max().item<float>());
    }

    [Theory]
    [InlineData("wordnet-wic")]
    [InlineData("brown-ner")]
    [InlineData("copa")]
    public void AFreshHeadIsNormalAtTheInitializerRangeWithZeroBias(string task)
    {
        using var head = TaskRegistry.Get(task).CreateHead(minilm.Backbone.Config with { InitializerRange = 0.05 }, 0.1);
        var weight = Named(head, "classifier.weight"); // 384 × (1, 2 or 3) draws
        Assert.InRange(Std(weight), 0.045, 0.055);
        Assert.Equal(0.0, Named(head, "classifier.bias").abs().max().item<float>());
    }

    [Fact]
    public void WeightDecayDefaultsToZeroAndSparesBiasesAndLayerNorms()
    {
        Assert.Equal(0.0, new TrainerConfig().WeightDecay);
        var defaults = new Trainer(new TrainerConfig());
        var decayed = new Trainer(new TrainerConfig { WeightDecay = 0.1 });
        string[] weights = ["prefix.prefix_encoder.table", "prefix.token_gates.0.weight", "prefix.layer_gate", "head.classifier.weight",
            "backbone.encoder.layer.0.attention.self.query.weight"];
        string[] exempt = ["prefix.token_gates.0.bias", "head.classifier.bias", "backbone.embeddings.LayerNorm.weight",
            "backbone.encoder.layer.3.output.LayerNorm.bias"];
        Assert.All(weights.Concat(exempt), name => Assert.Equal(0.0, defaults.WeightDecayOf(name)));
        Assert.All(weights, name => Assert.Equal(0.1, decayed.WeightDecayOf(name)));
        Assert.All(exempt, name => Assert.Equal(0.0, decayed.WeightDecayOf(name)));
    }

    /// <summary>
    /// One step of the trainer against transformers 4.11.3's AdamW written out in double precision: ε is added to √v
    /// before the bias correction, and the decay multiplies the updated weight. The gradients are chosen near ε·√(1−β₂)
    /// so that libtorch's own ε placement would move the weight about twice as far.
    /// </summary>
    [Fact]
    public void AStepIsTransformersAdamWWithTheDecayAfterTheUpdate()
    {
        const double lr = 0.1, decay = 0.5;
        float[] start = [1.58e-7f, -3e-7f, 0.25f];
        using var model = new Quadratic(start);
        using var folder = new TempFolder();
        var config = new TrainerConfig { Epochs = 1, BatchSize = 1, LearningRate = lr, WeightDecay = decay, MaxGradientNorm = 0, CheckpointEverySteps = 0 };
        new Trainer(config).Run(model, RunFolder.OpenOrCreate(folder.Path, config));

        static double Adam(double p, double g)
        {
            double m = 0.1 * g, v = 0.001 * g * g;
            double stepSize = lr * Math.Sqrt(1 - 0.999) / (1 - 0.9);
            return p - stepSize * m / (Math.Sqrt(v) + 1e-8);
        }
        double[] weight = [.. start.Select(p => Adam(p, 2.0 * p) * (1 - lr * decay))]; // loss Σ w²: gradient 2w
        double[] bias = [.. start.Select(p => Adam(p, 2.0 * p))]; // a bias takes no decay
        double[] idle = [.. start.Select(p => p * (1 - lr * decay))]; // no gradient: the decay alone
        AssertClose(weight, model.Weight);
        AssertClose(bias, model.Bias);
        AssertClose(idle, model.Idle);
    }

    static void AssertClose(double[] expected, Tensor actual)
    {
        float[] values = actual.data<float>().ToArray();
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - values[i]) <= 1e-6 * Math.Max(1, Math.Abs(expected[i])) + 1e-12,
                $"element {i}: expected {expected[i]:R}, got {values[i]:R}");
    }

    /// <summary>Loss Σ weight² + Σ bias² + 0·Σ idle over one example; three tensors named as a layer's.</summary>
    sealed class Quadratic : ITrainable, IDisposable
    {
        public Parameter Weight { get; }
        public Parameter Bias { get; }
        public Parameter Idle { get; }

        public Quadratic(float[] start)
        {
            Weight = new Parameter(tensor(start));
            Bias = new Parameter(tensor(start));
            Idle = new Parameter(tensor(start));
            TrainableParameters = new Dictionary<string, Parameter> { ["layer.weight"] = Weight, ["layer.bias"] = Bias, ["idle.weight"] = Idle };
        }

        public IReadOnlyDictionary<string, Parameter> TrainableParameters { get; }
        public int TrainingExampleCount => 1;
        public void SetTraining(bool training) { }
        public Tensor Loss(IReadOnlyList<int> batch) => Weight.square().sum() + Bias.square().sum() + Idle.sum() * 0;
        public IReadOnlyDictionary<string, double> Evaluate(EvaluationSplit split) => new Dictionary<string, double> { ["accuracy"] = 1 };

        public void Dispose()
        {
            Weight.Dispose();
            Bias.Dispose();
            Idle.Dispose();
        }
    }

    [Fact]
    public void TheRunsDropoutIsTheFrozenBackbonesHiddenDropoutInTraining()
    {
        using var grid = new TinyGrid(["pt2"], [1]);
        var cell = grid.Spec with { Tasks = [grid.Spec.Tasks[0] with { Dropout = 0.2 }] };
        using var experiment = new Experiment(grid.DataRoot);
        var backbone = experiment.Frozen("minilm");
        var config = cell.Expand(grid.Runs("runs"))[0].Configure(backbone.Config);
        Assert.Equal((0.2, 0.2, 0.2), (config.Prefix.Dropout, config.HeadDropout, config.HiddenDropout));

        using (var trainable = experiment.Build(config, TaskRegistry.Get("rte"), backbone))
        {
            trainable.SetTraining(true);
            var dropouts = trainable.Model.Backbone.HiddenDropouts().ToList();
            Assert.Equal(1 + 2 * backbone.Config.NumLayers, dropouts.Count);
            Assert.All(dropouts, d => Assert.True(d.training && d.P == 0.2, $"p = {d.P}, training = {d.training}"));
        }

        // Told to keep the checkpoint's, a run leaves the backbone at hidden_dropout_prob (0.1 for MiniLM).
        var kept = cell with { Tasks = [cell.Tasks[0] with { DropoutInBackbone = false }] };
        var keptConfig = kept.Expand(grid.Runs("runs"))[0].Configure(backbone.Config);
        Assert.Null(keptConfig.HiddenDropout);
        using var keeps = experiment.Build(keptConfig, TaskRegistry.Get("rte"), backbone);
        Assert.All(keeps.Model.Backbone.HiddenDropouts(), d => Assert.Equal(backbone.Config.HiddenDropout, d.P));
    }

    [Fact]
    public void AConfigWrittenBeforeTheRecipeFieldsReadsAsTheRecipeItTrainedWith()
    {
        var old = PrefixConfig.FromJson("""{ "method": "p_tuning_v2", "granularity": "none", "prefix_length": 8 }""", "adapter.json");
        Assert.Equal(PrefixInit.StandardNormal, old.Init);
        Assert.Equal(PrefixInit.InitializerRange, PrefixConfig.FromJson(PrefixConfig.PTuningV2(8).ToJson(), "adapter.json").Init);
        Assert.Equal(PrefixInit.InitializerRange, new PrefixConfig().Init);
    }
}
