using System.Text.Json.Nodes;
using Apt.Backbone;
using Apt.Lora;
using Apt.Prefix;
using Apt.Runs;
using Apt.Tasks;
using Apt.Training;
using static Apt.Tests.Prefix.PrefixTestKit;
using TorchSharp;
using static TorchSharp.torch;

namespace Apt.Tests.Lora;

/// <summary>
/// LoRA through the backbone's projection-delta seam: the start, what trains, its gradients, PEFT's files, its size.
/// </summary>
public sealed class LoraTests
{
    static double Sum(BackboneOutput output, Tensor weightsHidden, Tensor weightsPooled)
    {
        using var scope = NewDisposeScope();
        return ((output.LastHidden * weightsHidden).sum() + (output.Pooled! * weightsPooled).sum()).item<double>();
    }

    [Theory]
    [InlineData(KernelChoice.Auto, false)]
    [InlineData(KernelChoice.Reference, false)]
    [InlineData(KernelChoice.Auto, true)]
    [InlineData(KernelChoice.Reference, true)]
    public void WithBAtZeroTheOutputIsExactlyTheFrozenBackbones(KernelChoice path, bool training)
    {
        using var force = ComputePath.Force(path);
        using var backbone = Tiny(seed: 3);
        var config = new LoraConfig { Rank = 4, TargetModules = ["query", "key", "value"] };
        using var lora = new LoraModule(config, backbone.Config);
        backbone.train(training);
        lora.train(training);
        using var batch = RandomBatch(4, 7, 3, 5);
        using var scope = NewDisposeScope();
        manual_seed(9); // the same dropout masks for both forwards
        var frozen = backbone.Forward(batch.Ids, batch.TypeIds, batch.AttentionMask);
        manual_seed(9);
        var adapted = backbone.Forward(batch.Ids, batch.TypeIds, batch.AttentionMask, deltas: lora);
        Assert.True(frozen.LastHidden.eq(adapted.LastHidden).all().item<bool>(), "LoRA with B = 0 moved the hidden states");
        Assert.True(frozen.Pooled!.eq(adapted.Pooled!).all().item<bool>(), "LoRA with B = 0 changed the pooled output");
    }

    [Fact]
    public void OnlyLorasTensorsAndTheHeadTrain()
    {
        using var backbone = Tiny(seed: 4);
        using var lora = new LoraModule(new LoraConfig { Rank = 2 }, backbone.Config);
        Randomise(lora, seed: 5, scale: 0.1); // B ≠ 0, so A receives a gradient too
        using var head = TaskRegistry.Get("rte").CreateHead(backbone.Config, 0.1);
        using var model = new TunedModel(backbone, prefix: null, head, lora);
        foreach (string name in model.TrainableParameters().Keys)
            Assert.True(name.StartsWith("lora.") || name.StartsWith("head."), name);
        Assert.Equal(2 * 2 * 2 * 2 * backbone.Config.HiddenSize, model.ParameterCounts()["lora"]); // L·targets·2·r·d

        using var batch = RandomBatch(6, 5, 4);
        using (var scope = NewDisposeScope())
        {
            var output = backbone.Forward(batch.Ids, batch.TypeIds, batch.AttentionMask, deltas: lora);
            output.LastHidden.square().sum().backward();
        }
        foreach (var (name, parameter) in lora.named_parameters())
            Assert.True(parameter.grad is { } g && g.abs().sum().item<float>() > 0, $"{name} got no gradient");
        Assert.All(backbone.parameters(), p => Assert.Null(p.grad));
    }

    [Fact]
    public void LoraGradientsMatchFiniteDifferences()
    {
        using var backbone = Tiny(seed: 8);
        using var lora = new LoraModule(new LoraConfig { Rank = 3, Alpha = 6 }, backbone.Config);
        Randomise(lora, seed: 9, scale: 0.3);
        backbone.to(ScalarType.Float64);
        lora.to(ScalarType.Float64);
        backbone.eval();
        lora.eval();
        using var batch = RandomBatch(10, 6, 3, 5);
        manual_seed(11);
        using var weightsHidden = randn(3, 6, 16, dtype: ScalarType.Float64);
        using var weightsPooled = randn(3, 16, dtype: ScalarType.Float64);
        double Loss() =>
            Sum(backbone.Forward(batch.Ids, batch.TypeIds, batch.AttentionMask, deltas: lora), weightsHidden, weightsPooled);

        using (var scope = NewDisposeScope())
        {
            var output = backbone.Forward(batch.Ids, batch.TypeIds, batch.AttentionMask, deltas: lora);
            ((output.LastHidden * weightsHidden).sum() + (output.Pooled! * weightsPooled).sum()).backward();
        }
        var parameters = lora.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        const double step = 1e-6;
        var random = new Random(12);
        int checkedEntries = 0;
        string[] names =
            ["layer.0.query.lora_A.weight", "layer.0.value.lora_B.weight", "layer.1.query.lora_B.weight", "layer.1.value.lora_A.weight"];
        foreach (string name in names)
        {
            var parameter = parameters[name];
            using var flatGradient = parameter.grad!.reshape(-1);
            double[] gradient = flatGradient.data<double>().ToArray();
            for (int k = 0; k < 4; k++)
            {
                long index = random.NextInt64(parameter.numel());
                using var noGrad = no_grad();
                using var flat = parameter.view(-1);
                double original = flat[index].item<double>();
                flat[index].fill_(original + step);
                double plus = Loss();
                flat[index].fill_(original - step);
                double minus = Loss();
                flat[index].fill_(original);
                double numeric = (plus - minus) / (2 * step);
                Assert.True(Math.Abs(numeric - gradient[index]) <= 1e-6 * Math.Max(1.0, Math.Abs(numeric)),
                    $"{name}[{index}]: autograd {gradient[index]:G10}, finite differences {numeric:G10}");
                Assert.True(Math.Abs(numeric) > 1e-9, $"{name}[{index}]: a vanishing gradient would check nothing");
                checkedEntries++;
            }
        }
        Assert.Equal(16, checkedEntries);
    }

    [Fact]
    public void TheFastPathAddsTheSameDeltaAsTheReferencePath()
    {
        using var backbone = Tiny(seed: 13);
        using var lora = new LoraModule(new LoraConfig { Rank = 2 }, backbone.Config);
        Randomise(lora, seed: 14, scale: 0.2);
        backbone.eval();
        using var batch = RandomBatch(15, 6, 4);
        (Tensor Output, Tensor[] Gradients) Run(KernelChoice path)
        {
            using var force = ComputePath.Force(path);
            foreach (var p in lora.parameters()) p.grad?.zero_();
            using var scope = NewDisposeScope();
            var output = backbone.Forward(batch.Ids, batch.TypeIds, batch.AttentionMask, deltas: lora).LastHidden;
            output.square().sum().backward();
            Tensor[] gradients = [.. lora.parameters().Select(p => p.grad!.clone().MoveToOuterDisposeScope())];
            return (output.detach().MoveToOuterDisposeScope(), gradients);
        }
        var (fast, fastGradients) = Run(KernelChoice.Auto);
        var (reference, referenceGradients) = Run(KernelChoice.Reference);
        Assert.True(fast.allclose(reference, rtol: 1e-4, atol: 1e-5), "the fast path's output differs");
        foreach (var (a, b) in fastGradients.Zip(referenceGradients))
            Assert.True(a.allclose(b, rtol: 1e-3, atol: 1e-5), "the fast path's gradient differs");
    }

    [Fact]
    public void AnAdapterRoundTripsThroughPeftsLoraLayout()
    {
        using var lora = new LoraModule(new LoraConfig { Rank = 3, Alpha = 12, Dropout = 0.05 }, TinyConfig);
        Randomise(lora, seed: 16);
        string folder = Directory.CreateTempSubdirectory("apt-peft-lora-").FullName;
        try
        {
            PeftLora.Export(lora, folder, "tiny-bert", "SEQ_CLS");
            var config = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, PeftLora.ConfigFile)))!;
            T Field<T>(string name) => config[name]!.GetValue<T>();
            var fields = (Field<string>("peft_type"), Field<int>("r"), Field<double>("lora_alpha"), Field<string>("task_type"));
            Assert.Equal(("LORA", 3, 12.0, "SEQ_CLS"), fields);
            Assert.Equal(["query", "value"], config["target_modules"]!.AsArray().Select(t => t!.GetValue<string>()));
            var saved = SafeTensors.Read(Path.Combine(folder, PeftLora.WeightsFile), out _);
            try
            {
                static string Key(int layer, string target, string matrix) =>
                    $"base_model.model.encoder.layer.{layer}.attention.self.{target}.{matrix}.weight";
                var expected = from layer in Enumerable.Range(0, TinyConfig.NumLayers)
                               from target in new[] { "query", "value" }
                               from matrix in new[] { "lora_A", "lora_B" }
                               select Key(layer, target, matrix);
                Assert.Equal(expected.Order(StringComparer.Ordinal), saved.Keys.Order(StringComparer.Ordinal));
                Assert.Equal([3L, TinyConfig.HiddenSize], saved[Key(0, "query", "lora_A")].shape); // A (r, d)
                Assert.Equal([(long)TinyConfig.HiddenSize, 3L], saved[Key(0, "query", "lora_B")].shape); // B (d, r)
            }
            finally
            {
                foreach (var tensor in saved.Values) tensor.Dispose();
            }

            using var imported = PeftLora.Import(folder, TinyConfig);
            Assert.Equal(lora.Config with { TargetModules = imported.Config.TargetModules }, imported.Config);
            var original = lora.named_parameters().ToDictionary(p => p.name, p => p.parameter);
            foreach (var (name, parameter) in imported.named_parameters())
                Assert.True(parameter.eq(original[name]).all().item<bool>(), $"{name} changed in the round trip");
            var misfit = Assert.Throws<InvalidDataException>(() => PeftLora.Import(folder, TinyConfig with { NumLayers = 3 }));
            Assert.Contains("Missing keys", misfit.Message);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void TheStudysLoraRankMatchesAptsParametersAtLength16OnMiniLm()
    {
        var config = MiniLm.Config;
        long apt;
        using (var module = PrefixModule.Create(PrefixConfig.Apt(16), config)!)
            apt = module.PrefixParameterCount + module.GateParameterCount; // 110,694
        long LoraCount(int rank)
        {
            using var module = new LoraModule(new LoraConfig { Rank = rank }, config);
            return module.ParameterCount;
        }
        int closest = Enumerable.Range(1, 32).MinBy(rank => Math.Abs(LoraCount(rank) - apt));
        Assert.Equal(12, closest); // 110,592
        var study = SweepSpec.Load("study");
        Assert.Contains(MethodCatalogue.LowRank.Name, study.Methods);
        Assert.All(study.Tasks, task => Assert.Equal(closest, task.LoraRank));
    }
}
