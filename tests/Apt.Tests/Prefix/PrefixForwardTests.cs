using Apt.Backbone;
using Apt.Prefix;
using static Apt.Tests.Prefix.PrefixTestKit;
using static TorchSharp.torch;

namespace Apt.Tests.Prefix;

/// <summary>What a prefix does to the backbone's forward: exact identities, gate granularity, padding.</summary>
public sealed class PrefixForwardTests
{
    [Theory]
    [InlineData(GateGranularity.None)]
    [InlineData(GateGranularity.Both)]
    public void PrefixLengthZeroGivesTheBackboneOutputExactly(GateGranularity granularity)
    {
        var backbone = MiniLm.Model;
        backbone.eval();
        using var prefix = PrefixModule.Create(PrefixConfig.Ablation(granularity, prefixLength: 0), backbone.Config)!;
        prefix.eval();
        Assert.Equal(0, prefix.PositionOffset);
        using var batch = MiniLmBatch(Sentences);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var plain = backbone.Forward(batch.Ids, batch.TypeIds, batch.AttentionMask);
        var prefixed = backbone.Forward(batch.Ids, batch.TypeIds, batch.AttentionMask, prefix);
        Assert.True(Same(plain.LastHidden, prefixed.LastHidden), "last hidden state differs");
        Assert.True(Same(plain.Pooled!, prefixed.Pooled!), "pooled output differs");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AptWithGatesForcedToOneEqualsPTuningV2WithTheSamePrefix(bool projection)
    {
        var backbone = MiniLm.Model;
        backbone.eval();
        manual_seed(1);
        using var pt2 = PrefixModule.Create(PrefixConfig.PTuningV2(16) with { Projection = projection }, backbone.Config)!;
        using var apt = PrefixModule.Create(PrefixConfig.Apt(16) with { Projection = projection }, backbone.Config)!;
        Randomise(apt, seed: 2);
        CopyShared(pt2, apt);
        pt2.eval();
        apt.eval();
        using var batch = MiniLmBatch(Sentences);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var expected = backbone.Forward(batch.Ids, batch.TypeIds, batch.AttentionMask, pt2);

        apt.GatesForcedOpen = true;
        var forced = backbone.Forward(batch.Ids, batch.TypeIds, batch.AttentionMask, apt);
        Assert.True(Same(expected.LastHidden, forced.LastHidden), "APT with α = λ = 1 differs from PT-2");
        Assert.True(Same(expected.Pooled!, forced.Pooled!), "pooled output differs");

        apt.GatesForcedOpen = false;
        var gated = backbone.Forward(batch.Ids, batch.TypeIds, batch.AttentionMask, apt);
        double difference = (gated.LastHidden - expected.LastHidden).abs().max().item<float>();
        Assert.True(difference > 1e-3, $"the gates must change the output when not forced (max difference {difference})");
    }

    [Fact]
    public void FirstTokenOnlyGivesTheFirstTokensOutputAndThePrefixTheSameGradients()
    {
        var backbone = MiniLm.Model;
        using var prefix = RandomAptInEvaluation(backbone, seed: 5);
        using var batch = MiniLmBatch(Sentences); // padded: the key mask is in play
        var parameters = prefix.TrainableParameters().ToList();
        (Tensor LastHidden, Tensor Pooled, Tensor[] Gradients) Run(bool firstTokenOnly)
        {
            using var scope = NewDisposeScope();
            foreach (var (_, parameter) in parameters) parameter.grad = null;
            var output = backbone.Forward(batch.Ids, batch.TypeIds, batch.AttentionMask, prefix, firstTokenOnly: firstTokenOnly);
            output.Pooled!.square().sum().backward();
            var gradients = parameters.Select(p => p.Parameter.grad!.clone().MoveToOuterDisposeScope()).ToArray();
            return (output.LastHidden.MoveToOuterDisposeScope(), output.Pooled.MoveToOuterDisposeScope(), gradients);
        }
        var full = Run(firstTokenOnly: false);
        var first = Run(firstTokenOnly: true);

        Assert.Equal([Sentences.Length, 1, backbone.Config.HiddenSize], first.LastHidden.shape);
        using var fullFirst = full.LastHidden.narrow(1, 0, 1);
        Assert.True(TensorAssert.MaxDifference(fullFirst, first.LastHidden) < 1e-5, $"first token's state: max |Δ| = {TensorAssert.MaxDifference(fullFirst, first.LastHidden)}");
        Assert.True(TensorAssert.MaxDifference(full.Pooled, first.Pooled) < 1e-5, $"pooled: max |Δ| = {TensorAssert.MaxDifference(full.Pooled, first.Pooled)}");
        for (int i = 0; i < parameters.Count; i++)
        {
            double size = full.Gradients[i].abs().max().item<float>(), difference = TensorAssert.MaxDifference(full.Gradients[i], first.Gradients[i]);
            Assert.True(size > 0, $"{parameters[i].Name} took no gradient");
            Assert.True(difference <= 1e-4 * size, $"{parameters[i].Name}'s gradient: max |Δ| = {difference} of max |g| = {size}");
        }
    }

    [Fact]
    public void FirstTokenOnlyInTrainingDropsOutTheLastLayersAttentionAndReproducesUnderTheSameSeed()
    {
        // One layer whose only dropout is attention's: what training changes is the first-token path's own.
        manual_seed(6);
        using var backbone = new BertModel(TinyConfig with { NumLayers = 1, HiddenDropout = 0, AttentionDropout = 0.5 });
        using var prefix = PrefixModule.Create(PrefixConfig.Apt(4), backbone.Config)!;
        Randomise(prefix, seed: 7);
        using var batch = RandomBatch(8, 7, 3, 5);
        using var scope = NewDisposeScope();
        Tensor Pooled(bool training, int seed)
        {
            backbone.train(training);
            prefix.train(training);
            manual_seed(seed);
            return backbone.Forward(batch.Ids, batch.TypeIds, batch.AttentionMask, prefix, firstTokenOnly: true).Pooled!;
        }
        var trained = Pooled(training: true, seed: 9);
        Assert.True(Same(trained, Pooled(training: true, seed: 9)), "the same seed must give the same output");
        Assert.True(TensorAssert.MaxDifference(trained, Pooled(training: false, seed: 9)) > 1e-3, "attention dropout must act in training");
        trained.square().sum().backward();
        Assert.All(prefix.TrainableParameters(), p => Assert.True(p.Parameter.grad is { } g && g.abs().max().item<float>() > 0, $"{p.Name} took no gradient"));
    }

    /// <summary>APT with 8 prefix tokens and random parameters (gates far from their init), it and the backbone in evaluation mode.</summary>
    static PrefixModule RandomAptInEvaluation(BertModel backbone, int seed)
    {
        backbone.eval();
        var prefix = PrefixModule.Create(PrefixConfig.Apt(8), backbone.Config)!;
        Randomise(prefix, seed);
        prefix.eval();
        return prefix;
    }

    /// <summary>Copies every tensor of <paramref name="source"/> into the same-named one of <paramref name="target"/>.</summary>
    static void CopyShared(PrefixModule source, PrefixModule target)
    {
        var targets = target.state_dict();
        using var noGrad = no_grad();
        foreach (var (name, tensor) in source.state_dict()) targets[name].copy_(tensor);
    }

    [Theory]
    [InlineData(GateGranularity.Token)]
    [InlineData(GateGranularity.Layer)]
    public void TheMissingGateStaysOneInTheForwardAndIsNotInTheOptimizer(GateGranularity granularity)
    {
        using var backbone = Tiny(seed: 3);
        using var prefix = PrefixModule.Create(PrefixConfig.Ablation(granularity, prefixLength: 4), backbone.Config)!;
        var trainable = prefix.TrainableParameters().Select(p => p.Name).ToHashSet();
        if (granularity == GateGranularity.Token)
        {
            Assert.DoesNotContain("layer_gate", trainable);
            Assert.Equal(["prefix_encoder.table", "token_gates.0.bias", "token_gates.0.weight", "token_gates.1.bias", "token_gates.1.weight"], trainable.Order());
        }
        else
        {
            Assert.DoesNotContain(trainable, n => n.StartsWith("token_gates", StringComparison.Ordinal));
            Assert.Equal(["layer_gate", "prefix_encoder.table"], trainable.Order());
        }
        Assert.Equal(trainable.Order(), prefix.named_parameters().Select(p => p.name).Order()); // nothing frozen hides in the module

        using var optimizer = optim.AdamW(prefix.TrainableParameters().Select(p => p.Parameter), lr: 0.05);
        using var batch = RandomBatch(4, 7, 3, 5);
        backbone.train();
        prefix.train();
        var seen = new List<(int Layer, double[] Alpha, double Lambda)>();
        prefix.GateObserver = (layer, alpha, lambda) => seen.Add((layer, alpha.to_type(ScalarType.Float64).data<double>().ToArray(), lambda.to_type(ScalarType.Float64).item<double>()));
        for (int step = 0; step < 5; step++)
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            var output = backbone.Forward(batch.Ids, batch.TypeIds, batch.AttentionMask, prefix);
            output.Pooled!.square().sum().backward();
            optimizer.step();
        }
        prefix.GateObserver = null;
        Assert.Equal(5 * backbone.Config.NumLayers, seen.Count);
        if (granularity == GateGranularity.Token)
        {
            Assert.All(seen, s => Assert.Equal(1.0, s.Lambda));
            Assert.Contains(seen, s => s.Alpha.Any(a => a != 1.0));
        }
        else
        {
            Assert.All(seen, s => Assert.All(s.Alpha, a => Assert.Equal(1.0, a)));
            Assert.Contains(seen, s => s.Lambda != 1.0); // λ trains away from its initial 1
        }
    }

    [Fact]
    public void APaddedBatchGivesWhatEachExampleGivesAlone()
    {
        var backbone = MiniLm.Model;
        using var prefix = RandomAptInEvaluation(backbone, seed: 4);
        using var batch = MiniLmBatch(Sentences);
        long[] lengths = batch.AttentionMask.sum(1).data<long>().ToArray();
        Assert.True(lengths.Distinct().Count() == lengths.Length, "the sequences must differ in length so the batch is padded");

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var together = backbone.Forward(batch.Ids, batch.TypeIds, batch.AttentionMask, prefix);
        var withoutPrefix = backbone.Forward(batch.Ids, batch.TypeIds, batch.AttentionMask);
        Assert.True((together.LastHidden - withoutPrefix.LastHidden).abs().max().item<float>() > 1e-2, "the prefix must matter");
        for (int b = 0; b < lengths.Length; b++)
        {
            using var alone = MiniLmBatch(Sentences[b]);
            Assert.Equal(1, alone.Size);
            var single = backbone.Forward(alone.Ids, alone.TypeIds, alone.AttentionMask, prefix);
            var inBatch = together.LastHidden[b].narrow(0, 0, lengths[b]); // (T_b, d): the real tokens only
            double hidden = (inBatch - single.LastHidden[0]).abs().max().item<float>();
            double pooled = (together.Pooled![b] - single.Pooled![0]).abs().max().item<float>();
            Assert.True(hidden < 1e-5, $"example {b} (length {lengths[b]}): hidden states differ by {hidden} in the padded batch");
            Assert.True(pooled < 1e-5, $"example {b}: pooled output differs by {pooled} in the padded batch");
        }
    }
}
