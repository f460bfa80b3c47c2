using Apt.Backbone;
using Apt.Prefix;
using Apt.Runs;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Apt.Tests.Prefix;

/// <summary>Backbones, batches and a small classifier shared by the prefix tests.</summary>
internal static class PrefixTestKit
{
    static readonly Lazy<PretrainedBackbone> _miniLm = new(() => PretrainedBackbone.Load("minilm"));

    /// <summary>The real all-MiniLM-L6-v2, loaded once for the test run (never modified by these tests).</summary>
    /// <summary>The prefix configuration the catalogue builds for <paramref name="method"/> (no probe: not PT-2*).</summary>
    public static PrefixConfig Configure(string method, BertConfig backbone, int prefixLength, bool projection = false) =>
        MethodCatalogue.Get(method).Configure(new MethodInputs(backbone, prefixLength, projection, Probe: null)).Prefix;

    public static PretrainedBackbone MiniLm => _miniLm.Value;

    public static readonly BertConfig TinyConfig = new()
    {
        VocabSize = 50, HiddenSize = 16, NumLayers = 2, NumHeads = 2, IntermediateSize = 32, MaxPositions = 64,
    };

    /// <summary>A random BERT, L=2, d=16, H=2, vocabulary 50: fast, and exact in double precision.</summary>
    public static BertModel Tiny(int seed)
    {
        manual_seed(seed);
        return new BertModel(TinyConfig);
    }

    /// <summary>Random token ids (never the pad id 0) for sequences of the given lengths, padded to the longest.</summary>
    public static TokenBatch RandomBatch(int seed, params int[] lengths)
    {
        var random = new Random(seed);
        var items = lengths.Select(n => new EncodedText(
            [.. Enumerable.Range(0, n).Select(_ => random.Next(1, TinyConfig.VocabSize))],
            [.. Enumerable.Range(0, n).Select(t => t < n / 2 ? 0 : 1)])).ToList();
        return TokenBatch.Collate(items, padId: 0);
    }

    public static readonly (string, string)[] Sentences =
    [
        ("The cat sat on the mat.", "A cat is sitting."),
        ("Prefix tuning keeps the backbone frozen.", "Only a few vectors per layer are trained."),
        ("It rained.", "The streets were wet and the sky stayed grey all afternoon."),
        ("Short.", "Yes."),
    ];

    /// <summary>Four short pairs (5 to 9 tokens): a training batch that keeps 20 MiniLM steps quick.</summary>
    public static readonly (string, string)[] ShortSentences =
    [
        ("Yes.", "No."),
        ("It rained.", "Streets got wet."),
        ("Cats purr.", "Dogs bark."),
        ("Stop.", "Go on."),
    ];

    public static TokenBatch MiniLmBatch(params (string, string)[] pairs) =>
        TokenBatch.Collate([.. pairs.Select(p => MiniLm.Tokenizer.Encode(p.Item1, p.Item2))], MiniLm.Tokenizer.PadId);

    /// <summary>Bitwise-equal values and the same shape (TorchSharp's Tensor.equal is element-wise).</summary>
    public static bool Same(Tensor a, Tensor b)
    {
        if (!a.shape.SequenceEqual(b.shape)) return false;
        using var equal = a.eq(b);
        using var all = equal.all();
        return all.item<bool>();
    }

    /// <summary>Fills every parameter of <paramref name="module"/> with fresh random values (so gates are far from their init).</summary>
    public static void Randomise(nn.Module module, int seed, double scale = 0.5)
    {
        manual_seed(seed);
        using var noGrad = no_grad();
        foreach (var parameter in module.parameters()) parameter.copy_(randn_like(parameter) * scale);
    }
}

/// <summary>The task model of the tests: backbone + prefix + dropout → Linear head on the pooled output (P-tuning v2's sequence head).</summary>
internal sealed class PooledClassifier : nn.Module
{
    readonly BertModel backbone;
    readonly PrefixModule? prefix;
    readonly Dropout dropout;
    readonly Linear head;

    public PooledClassifier(BertModel backbone, PrefixModule? prefix, int labels) : base(nameof(PooledClassifier))
    {
        this.backbone = backbone;
        this.prefix = prefix;
        dropout = nn.Dropout(0.1);
        head = nn.Linear(backbone.Config.HiddenSize, labels);
        RegisterComponents();
    }

    public PrefixModule? Prefix => prefix;

    public static string HeadDescription(int hidden, int labels) => $"dropout 0.1 → Linear({hidden}, {labels}) on the pooled output";

    public Tensor Forward(TokenBatch batch)
    {
        using var scope = NewDisposeScope();
        var output = backbone.Forward(batch.Ids, batch.TypeIds, batch.AttentionMask, prefix);
        return head.forward(dropout.forward(output.Pooled!)).MoveToOuterDisposeScope(); // (B, labels)
    }
}
