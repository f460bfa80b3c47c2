using Apt.Backbone;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Apt.Tests.Backbone;

/// <summary>
/// A small random RoBERTa checkpoint in Hugging Face's layout, loaded by <see cref="PretrainedBackbone"/>,
/// against a reference built from the BERT path (model_type "bert", the same weights) given RoBERTa's
/// position ids by hand: the two may differ only where RoBERTa differs.
/// </summary>
public sealed class RobertaModelTests
{
    static readonly string[] Texts =
    [
        "Prefix tuning trains a few vectors per layer while the backbone stays frozen.",
        "Short.",
        "naïve café 😀, a sentence of middling length",
    ];

    static BertConfig BertPath(bool withPooler) => RobertaTestFolder.Config with { ModelType = "bert", HasPooler = withPooler };

    /// <summary>
    /// Hugging Face's create_position_ids_from_input_ids, spelled out: the n-th real token of a row sits
    /// at pad + n + offset (n from 1), padding at pad.
    /// </summary>
    static Tensor HandPositions(Tensor ids, int pad, int offset)
    {
        long rows = ids.shape[0], length = ids.shape[1];
        long[] flat = ids.data<long>().ToArray();
        var positions = new long[flat.Length];
        for (long b = 0; b < rows; b++)
        {
            long real = 0;
            for (long t = 0; t < length; t++)
            {
                long i = b * length + t;
                positions[i] = flat[i] == pad ? pad : pad + ++real + offset;
            }
        }
        return tensor(positions, [rows, length]);
    }

    static double MaxDifference(Tensor a, Tensor b) => (a - b).abs().max().item<float>();

    /// <summary>Gives the real tokens' positions an offset and no prefix, to isolate the position rule.</summary>
    sealed class OffsetOnly(int offset) : IPrefixProvider
    {
        public int PositionOffset => offset;
        public LayerPrefix? ForLayer(int layer, Tensor hidden, Tensor attentionMask) => null;
    }

    [Fact]
    public void CheckpointLoadsAndEqualsTheBertPathWithRobertaPositions()
    {
        using var folder = new RobertaTestFolder();
        folder.WriteConfig();
        folder.WriteHuggingFaceTokenizer();
        var weights = folder.WriteWeights(withPooler: true, seed: 7);
        using var roberta = PretrainedBackbone.Load(folder.Path);
        using var reference = new BertModel(BertPath(withPooler: true));
        Checkpoint.Load(reference, weights, "test weights");
        foreach (var tensor in weights.Values) tensor.Dispose();
        roberta.Model.eval();
        reference.eval();

        Assert.Equal("roberta", roberta.Config.ModelType);
        Assert.True(roberta.Config.HasPooler);
        Assert.IsType<RobertaTextTokenizer>(roberta.Tokenizer);
        Assert.Equal([0, 31414, 232, 2], roberta.Tokenizer.Encode("Hello world").Ids);

        using var batch = TokenBatch.Collate([.. Texts.Select(t => roberta.Tokenizer.Encode(t))], roberta.Tokenizer.PadId);
        Assert.True(batch.AttentionMask.sum().item<long>() < batch.Ids.numel(), "the batch must contain padding");
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var output = roberta.Model.Forward(batch.Ids, batch.TypeIds, batch.AttentionMask);
        var expected = reference.Forward(batch.Ids, batch.TypeIds, batch.AttentionMask, positionIds: HandPositions(batch.Ids, pad: 1, offset: 0));
        Assert.True(MaxDifference(output.LastHidden, expected.LastHidden) <= 1e-6, "last hidden state (padding included) differs from the reference");
        Assert.True(MaxDifference(output.Pooled!, expected.Pooled!) <= 1e-6, "pooled output differs from the reference");

        // BERT's own rule (0, 1, 2, … for every row) gives other numbers: the position rule is what the test sees.
        var bertRule = reference.Forward(batch.Ids, batch.TypeIds, batch.AttentionMask);
        Assert.True(MaxDifference(output.LastHidden, bertRule.LastHidden) > 1e-2, "RoBERTa's positions made no difference");
    }

    [Fact]
    public void PrefixOffsetShiftsRobertaPositions()
    {
        using var folder = new RobertaTestFolder();
        folder.WriteConfig();
        folder.WriteHuggingFaceTokenizer();
        var weights = folder.WriteWeights(withPooler: false, seed: 11);
        using var roberta = PretrainedBackbone.Load(folder.Path);
        using var reference = new BertModel(BertPath(withPooler: false));
        Checkpoint.Load(reference, weights, "test weights");
        foreach (var tensor in weights.Values) tensor.Dispose();
        roberta.Model.eval();
        reference.eval();
        Assert.False(roberta.Config.HasPooler);

        using var batch = TokenBatch.Collate([.. Texts.Select(t => roberta.Tokenizer.Encode(t))], roberta.Tokenizer.PadId);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var shifted = roberta.Model.Forward(batch.Ids, batch.TypeIds, batch.AttentionMask, new OffsetOnly(5));
        var expected = reference.Forward(batch.Ids, batch.TypeIds, batch.AttentionMask, positionIds: HandPositions(batch.Ids, pad: 1, offset: 5));
        Assert.Null(shifted.Pooled);
        Assert.True(MaxDifference(shifted.LastHidden, expected.LastHidden) <= 1e-6, "shifted positions differ from pad + n + 5");
        var unshifted = roberta.Model.Forward(batch.Ids, batch.TypeIds, batch.AttentionMask);
        Assert.True(MaxDifference(shifted.LastHidden, unshifted.LastHidden) > 1e-2, "the offset made no difference");

        // 514 positions hold pad + 512 - offset real tokens: one more must be refused with the reason.
        using var tooLong = full(1, 512 - 5 + 1, 100L, ScalarType.Int64);
        using var zeros = zeros_like(tooLong);
        using var ones = ones_like(tooLong);
        var error = Assert.Throws<ArgumentException>(() => roberta.Model.Forward(tooLong, zeros, ones, new OffsetOnly(5)));
        Assert.Contains("exceed the backbone's 514 positions", error.Message);
    }

    [Fact]
    public void SavedFolderAndFairseqTokenizerFilesLoadTheSameBackbone()
    {
        using var folder = new RobertaTestFolder();
        folder.WriteConfig();
        folder.WriteHuggingFaceTokenizer();
        foreach (var tensor in folder.WriteWeights(withPooler: true, seed: 3).Values) tensor.Dispose();
        using var original = PretrainedBackbone.Load(folder.Path);
        using var saved = new RobertaTestFolder();
        original.SaveHuggingFace(saved.Path);
        using var reloaded = PretrainedBackbone.Load(saved.Path);

        using var fairseq = new RobertaTestFolder();
        File.Copy(folder.File("config.json"), fairseq.File("config.json"));
        File.Copy(folder.File("model.safetensors"), fairseq.File("model.safetensors"));
        fairseq.WriteFairseqTokenizer();
        using var fromFairseq = PretrainedBackbone.Load(fairseq.Path);

        var encoded = Texts.Select(t => original.Tokenizer.Encode(t, "and a second text")).ToList();
        foreach (var other in new[] { reloaded, fromFairseq })
            Assert.Equal(encoded.Select(e => e.Ids), Texts.Select(t => other.Tokenizer.Encode(t, "and a second text").Ids));
        using var batch = TokenBatch.Collate(encoded, original.Tokenizer.PadId);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        original.Model.eval();
        reloaded.Model.eval();
        var expected = original.Model.Forward(batch.Ids, batch.TypeIds, batch.AttentionMask).LastHidden;
        Assert.Equal(0.0, MaxDifference(expected, reloaded.Model.Forward(batch.Ids, batch.TypeIds, batch.AttentionMask).LastHidden));
        Assert.Equal("roberta", reloaded.Config.ModelType);
        Assert.Equal(original.Identity.WeightsSha256, fromFairseq.Identity.WeightsSha256);

        using var noTokenizer = new RobertaTestFolder();
        File.Copy(folder.File("config.json"), noTokenizer.File("config.json"));
        File.Copy(folder.File("model.safetensors"), noTokenizer.File("model.safetensors"));
        var missing = Assert.Throws<FileNotFoundException>(() => PretrainedBackbone.Load(noTokenizer.Path));
        Assert.Contains("vocab.json and merges.txt", missing.Message);
    }

    /// <summary>A generic prefix method: trainable keys and values per layer, P-tuning v2's position shift.</summary>
    sealed class TrainablePrefix : nn.Module, IPrefixProvider
    {
        readonly Parameter keys, values;
        readonly int _length;

        public TrainablePrefix(BertConfig config, int length) : base(nameof(TrainablePrefix))
        {
            keys = new Parameter(randn(config.NumLayers, length, config.HiddenSize).mul_(0.1)); // (L, P, d)
            values = new Parameter(randn(config.NumLayers, length, config.HiddenSize).mul_(0.1));
            _length = length;
            RegisterComponents();
        }

        public int PositionOffset => _length;

        public LayerPrefix? ForLayer(int layer, Tensor hidden, Tensor attentionMask)
        {
            long batch = hidden.shape[0];
            return new LayerPrefix(
                stack([keys[layer], values[layer]], 1).expand(batch, -1, -1, -1), // (B, P, 2, d)
                ones(batch, _length, dtype: ScalarType.Int64)); // (B, P)
        }
    }

    [Fact]
    public void APrefixProviderTrainsOnRobertaWithOnlyItsParametersReceivingGradients()
    {
        using var folder = new RobertaTestFolder();
        folder.WriteConfig();
        folder.WriteHuggingFaceTokenizer();
        foreach (var tensor in folder.WriteWeights(withPooler: true, seed: 5).Values) tensor.Dispose();
        using var roberta = PretrainedBackbone.Load(folder.Path);
        torch.random.manual_seed(1);
        using var prefix = new TrainablePrefix(roberta.Config, length: 4);
        using var head = randn(roberta.Config.HiddenSize, 2); // fixed, not trained: only the prefix may learn
        using var labels = tensor(new long[] { 0, 1, 1 });
        using var batch = TokenBatch.Collate([.. Texts.Select(t => roberta.Tokenizer.Encode(t))], roberta.Tokenizer.PadId);
        var backboneBefore = roberta.Model.parameters().Select(p => p.detach().clone()).ToList();
        var prefixBefore = prefix.parameters().Select(p => p.detach().clone()).ToList();

        double Loss()
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            roberta.Model.eval();
            var output = roberta.Model.Forward(batch.Ids, batch.TypeIds, batch.AttentionMask, prefix);
            return nn.functional.cross_entropy(output.Pooled!.matmul(head), labels).item<float>();
        }

        double initial = Loss();
        using var optimizer = optim.Adam(prefix.parameters(), lr: 0.05);
        roberta.Model.train();
        for (int step = 0; step < 5; step++)
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            var output = roberta.Model.Forward(batch.Ids, batch.TypeIds, batch.AttentionMask, prefix);
            var loss = nn.functional.cross_entropy(output.Pooled!.matmul(head), labels);
            loss.backward();
            Assert.All(roberta.Model.parameters(), p => Assert.Null(p.grad));
            Assert.All(prefix.parameters(), p => Assert.True(p.grad is not null && p.grad.abs().sum().item<float>() > 0, "a prefix parameter got no gradient"));
            optimizer.step();
        }
        double final = Loss();

        Assert.True(final < initial, $"loss did not fall: {initial:F4} → {final:F4}");
        Assert.All(roberta.Model.parameters().Zip(backboneBefore), p => Assert.True(p.First.equal(p.Second).all().item<bool>(), "a backbone parameter changed"));
        Assert.All(prefix.parameters().Zip(prefixBefore), p => Assert.False(p.First.equal(p.Second).all().item<bool>(), "a prefix parameter did not change"));
        foreach (var tensor in backboneBefore.Concat(prefixBefore)) tensor.Dispose();
    }
}
