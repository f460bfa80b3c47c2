using Apt.Prefix;
using TorchSharp;
using Xunit.Abstractions;
using static Apt.Tests.Prefix.PrefixTestKit;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Apt.Tests.Prefix;

/// <summary>Training touches exactly the trainable set, and steps do not leak native tensors.</summary>
public sealed class PrefixTrainingTests(ITestOutputHelper output)
{
    /// <summary>
    /// On the real MiniLM for APT (table, both gates) and the projected PT-2 (embedding + MLP); the other
    /// granularities, whose parameter kinds those two already cover, on the tiny backbone to keep CI short.
    /// </summary>
    [Theory]
    [InlineData("apt", false, true)]
    [InlineData("pt2", true, true)]
    [InlineData("pt2", false, false)]
    [InlineData("token", false, false)]
    [InlineData("layer", false, false)]
    public void TwentyAdamWStepsChangeExactlyTheTrainableTensorsOnAFrozenBackbone(string method, bool projection, bool miniLm)
    {
        var backbone = miniLm ? MiniLm.Model : Tiny(seed: 5);
        int layers = backbone.Config.NumLayers;
        var config = Configure(method, backbone.Config, prefixLength: 16, projection);
        manual_seed(5);
        var prefix = PrefixModule.Create(config, backbone.Config)!;
        var model = new PooledClassifier(backbone, prefix, labels: 2); // may hold the shared MiniLM: not disposed
        var trainable = model.named_parameters().Where(p => p.parameter.requires_grad).ToList();
        var names = trainable.Select(p => p.name).Order(StringComparer.Ordinal).ToList();

        // The trainable set, written out from the method's definition.
        var expected = new List<string> { "head.bias", "head.weight" };
        expected.AddRange(projection
            ? ["prefix.prefix_encoder.embedding", "prefix.prefix_encoder.transform_in.bias", "prefix.prefix_encoder.transform_in.weight", "prefix.prefix_encoder.transform_out.bias", "prefix.prefix_encoder.transform_out.weight"]
            : ["prefix.prefix_encoder.table"]);
        if (config.HasTokenGate)
            for (int i = 0; i < layers; i++) expected.AddRange([$"prefix.token_gates.{i}.weight", $"prefix.token_gates.{i}.bias"]);
        if (config.HasLayerGate) expected.Add("prefix.layer_gate");
        Assert.Equal(expected.Order(StringComparer.Ordinal), names);

        var backboneBefore = backbone.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().clone());
        var trainableBefore = trainable.ToDictionary(p => p.name, p => p.parameter.detach().clone());
        using var optimizer = optim.AdamW(trainable.Select(p => p.parameter), lr: 1e-2);
        using var batch = miniLm ? MiniLmBatch(ShortSentences) : RandomBatch(5, 9, 4, 7, 2);
        using var labels = tensor(new long[] { 0, 1, 1, 0 });
        model.train(); // P-tuning v2 keeps the whole model in train mode (dropout on)
        var withGradients = new SortedSet<string>(StringComparer.Ordinal);
        for (int step = 0; step < 20; step++)
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            var logits = model.Forward(batch);
            functional.cross_entropy(logits, labels).backward();
            foreach (var (name, parameter) in model.named_parameters())
                if (parameter.grad is { } gradient && gradient.abs().sum().item<float>() > 0) withGradients.Add(name);
            optimizer.step();
        }
        model.eval();

        Assert.Equal(names, withGradients.ToList());
        var unchanged = trainable.Where(p => Same(p.parameter, trainableBefore[p.name])).Select(p => p.name).ToList();
        Assert.True(unchanged.Count == 0, $"trainable tensors that did not change: {string.Join(", ", unchanged)}");
        var edited = backbone.named_parameters().Where(p => !Same(p.parameter, backboneBefore[p.name])).Select(p => p.name).ToList();
        Assert.True(edited.Count == 0, $"backbone tensors that changed: {string.Join(", ", edited)}");
        Assert.All(backbone.parameters(), p => Assert.Null(p.grad));
        foreach (var t in backboneBefore.Values.Concat(trainableBefore.Values)) t.Dispose();
        prefix.Dispose();
        if (!miniLm) backbone.Dispose();
    }

    [Fact]
    public void TwoHundredStepsDoNotGrowTheLiveNativeTensors()
    {
        using var backbone = Tiny(seed: 6);
        using var prefix = PrefixModule.Create(PrefixConfig.Apt(4), backbone.Config)!;
        using var model = new PooledClassifier(backbone, prefix, labels: 3);
        using var optimizer = optim.AdamW(model.parameters().Where(p => p.requires_grad), lr: 1e-3);
        using var batch = RandomBatch(7, 9, 4, 6, 2);
        using var labels = tensor(new long[] { 0, 2, 1, 0 });
        model.train();
        long liveAfterWarmUp = 0, scopeLiveAfterWarmUp = 0;
        for (int step = 1; step <= 200; step++)
        {
            using (var scope = NewDisposeScope())
            {
                optimizer.zero_grad();
                functional.cross_entropy(model.Forward(batch), labels).backward();
                optimizer.step();
            }
            if (step == 10)
            {
                liveAfterWarmUp = Tensor.TotalCount;
                scopeLiveAfterWarmUp = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
            }
        }
        long live = Tensor.TotalCount, scopeLive = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        output.WriteLine($"live tensors after step 10: {liveAfterWarmUp}, after step 200: {live}; dispose-scope live count {scopeLiveAfterWarmUp} → {scopeLive}");
        Assert.True(live <= liveAfterWarmUp, $"live native tensors grew from {liveAfterWarmUp} (step 10) to {live} (step 200)");
        Assert.True(scopeLive <= scopeLiveAfterWarmUp, $"TorchSharp's live count grew from {scopeLiveAfterWarmUp} to {scopeLive}");
    }
}
