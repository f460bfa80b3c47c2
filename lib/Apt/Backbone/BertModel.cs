using Apt.Backbone.Cpu;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Apt.Backbone;

// A BERT encoder in one file. Field names equal Hugging Face's checkpoint keys
// (embeddings.word_embeddings.weight, encoder.layer.0.attention.self.query.weight, …) so weights load
// without a translation table. Shapes: B batch, T input tokens, P prefix tokens, S = P + T keys,
// d hidden, H heads, hd = d / H.
// The code below is the reference path: libtorch operations only, on any device. Where ComputePath.UsesFastCpu says so,
// a one-line branch hands the same computation to the hand-written CPU kernels in Backbone/Cpu (same function, same
// dropout masks); deleting that folder means deleting those branches and nothing else.

/// <summary>What the backbone returns.</summary>
/// <param name="LastHidden">(B, T, d): the final layer's output for the real tokens; (B, 1, d), the first token's alone, when the forward was asked for that only.</param>
/// <param name="Pooled">(B, d): tanh(dense(first token)), or null for a backbone without a pooler.</param>
/// <param name="HiddenStates">On request: the embedding output and every layer's output, L + 1 tensors of (B, T, d).</param>
public sealed record BackboneOutput(Tensor LastHidden, Tensor? Pooled, IReadOnlyList<Tensor>? HiddenStates);

/// <summary>
/// Word, position and token-type embeddings, summed, normalised, dropped out. Position ids follow the
/// family: BERT numbers the tokens 0, 1, …; RoBERTa numbers the real tokens from pad_token_id + 1 and
/// gives padding the padding index (Hugging Face's create_position_ids_from_input_ids). A prefix
/// provider's offset shifts the real tokens either way, as P-tuning v2's key/value cache does.
/// </summary>
public sealed class BertEmbeddings : nn.Module
{
    readonly Embedding word_embeddings, position_embeddings, token_type_embeddings;
    readonly LayerNorm LayerNorm;
    readonly CounterDropout dropout;
    readonly BertConfig _config;

    public BertEmbeddings(BertConfig config) : base(nameof(BertEmbeddings))
    {
        _config = config;
        word_embeddings = Embedding(config.VocabSize, config.HiddenSize, padding_idx: config.PadTokenId);
        position_embeddings = Embedding(config.MaxPositions, config.HiddenSize, padding_idx: config.PositionPaddingIndex);
        token_type_embeddings = Embedding(config.TypeVocabSize, config.HiddenSize);
        LayerNorm = nn.LayerNorm(config.HiddenSize, config.LayerNormEps);
        dropout = new CounterDropout(config.HiddenDropout);
        RegisterComponents();
    }

    /// <summary>The hidden dropout after the embeddings.</summary>
    internal CounterDropout Dropout => dropout;

    /// <summary>
    /// ids and typeIds (B, T) → (B, T, d). Positions are <paramref name="positionIds"/> ((B, T) or (T)) when
    /// given, else the family's rule with the real tokens shifted by <paramref name="positionOffset"/>.
    /// </summary>
    public Tensor Forward(Tensor ids, Tensor typeIds, int positionOffset, Tensor? positionIds = null)
    {
        using var positions = positionIds?.alias() ?? PositionIds(ids, positionOffset); // (T) or (B, T)
        using var words = word_embeddings.forward(ids);
        using var types = token_type_embeddings.forward(typeIds);
        using var place = position_embeddings.forward(positions);
        using var sum = words + types + place; // (B, T, d) + (T, d) or (B, T, d)
        using var normed = LayerNorm.forward(sum);
        return dropout.forward(normed);
    }

    Tensor PositionIds(Tensor ids, int positionOffset)
    {
        long length = ids.shape[1];
        _config.CheckPositions(positionOffset, (int)length);
        if (_config.PositionPaddingIndex is not int padding)
            return arange(positionOffset, positionOffset + length, dtype: ScalarType.Int64, device: ids.device); // (T)
        using var scope = NewDisposeScope();
        var real = ids.ne(padding).to_type(ScalarType.Int64); // (B, T): 1 for real tokens
        var counted = real.cumsum(1) + positionOffset; // (B, T)
        return (counted * real + padding).MoveToOuterDisposeScope(); // (B, T)
    }
}

/// <summary>Multi-head self-attention whose keys and values may be preceded by a layer prefix.</summary>
public sealed class BertSelfAttention : nn.Module
{
    readonly Linear query, key, value;
    readonly int _heads;
    readonly double _dropout;
    /// <summary>Q, K and V in one product over the three weights stacked (the parameters keep Hugging Face's names).</summary>
    readonly FrozenLinear _queryKeyValue;

    public BertSelfAttention(BertConfig config) : base(nameof(BertSelfAttention))
    {
        query = Linear(config.HiddenSize, config.HiddenSize);
        key = Linear(config.HiddenSize, config.HiddenSize);
        value = Linear(config.HiddenSize, config.HiddenSize);
        _heads = config.NumHeads;
        _dropout = config.AttentionDropout;
        RegisterComponents();
        _queryKeyValue = new FrozenLinear(query, key, value);
    }

    /// <summary>
    /// hidden (B, T, d); keyMask (B, S) bool, true where a key may be attended, or null when every key may be
    /// (then attention runs without a mask, which lets libtorch pick its fused kernel); prefix (B, P, 2, d) keys and values;
    /// delta added to the projections. With <paramref name="firstQueryOnly"/> only the first token attends (over every
    /// key): (B, 1, d) out.
    /// </summary>
    public Tensor Forward(Tensor hidden, Tensor? keyMask, LayerPrefix? prefix, ProjectionDelta? delta = null, bool firstQueryOnly = false)
    {
        using var scope = NewDisposeScope();
        bool fast = ComputePath.UsesFastCpu(hidden);
        var projected = fast ? _queryKeyValue.Forward(hidden) : cat([query.forward(hidden), key.forward(hidden), value.forward(hidden)], 2); // (B, T, 3d)
        if (delta is not null) projected = delta.AddTo(projected); // (B, T, 3d)
        var keysAndValues = prefix?.KeysAndValues.to(projected.dtype); // (B, P, 2, d)
        bool dropout = training && _dropout > 0;
        if (dropout && fast && !firstQueryOnly) return DropoutAttention.AttentionWithDropout(projected, _heads, keysAndValues, keyMask, _dropout).MoveToOuterDisposeScope();
        var (q, k, v) = HeadViews(projected, _heads, keysAndValues, firstQueryOnly);
        var mask = keyMask?.view(hidden.shape[0], 1, 1, k.shape[2]); // (B, 1, 1, S)
        var attended = dropout
            ? ComposedAttention(q, k, v, mask, CounterDropout.KeepMask([.. q.shape[..3], k.shape[2]], _dropout, projected), _dropout) // keep (B, H, T or 1, S)
            : functional.scaled_dot_product_attention(q, k, v, mask);
        return MergeHeads(attended).MoveToOuterDisposeScope(); // (B, T or 1, d)
    }

    /// <summary>
    /// The heads of the stacked projection (B, T, 3d), with the prefix's keys and values (B, P, 2, d) joined in
    /// front: q (B, H, T, hd), or the first token's alone (B, H, 1, hd) with <paramref name="firstQueryOnly"/>, k and v
    /// (B, H, S, hd), views where no join is needed.
    /// </summary>
    internal static (Tensor Q, Tensor K, Tensor V) HeadViews(Tensor projected, int heads, Tensor? prefix, bool firstQueryOnly = false)
    {
        long batch = projected.shape[0], length = projected.shape[1], width = projected.shape[2] / 3, headSize = width / heads;
        long queries = firstQueryOnly ? 1 : length;
        var q = projected.narrow(1, 0, queries).narrow(2, 0, width).view(batch, queries, heads, headSize).transpose(1, 2); // (B, H, T or 1, hd)
        var k = projected.narrow(2, width, width); // (B, T, d)
        var v = projected.narrow(2, 2 * width, width);
        if (prefix is not null)
        {
            k = cat([prefix.select(2, 0), k], 1); // (B, S, d)
            v = cat([prefix.select(2, 1), v], 1);
        }
        return (q, k.view(batch, -1, heads, headSize).transpose(1, 2), v.view(batch, -1, heads, headSize).transpose(1, 2)); // (B, H, S, hd)
    }

    /// <summary>(B, H, n, hd) → (B, n, d): the heads side by side again.</summary>
    internal static Tensor MergeHeads(Tensor heads) =>
        heads.transpose(1, 2).reshape(heads.shape[0], heads.shape[2], heads.shape[1] * heads.shape[3]);

    protected override void Dispose(bool disposing)
    {
        if (disposing) _queryKeyValue.Dispose();
        base.Dispose(disposing);
    }

    /// <summary>
    /// Training-mode attention from libtorch operations, softmax(q·kᵀ/√hd, masked) dropped out by the keep mask
    /// (B, H, T, S), then ·v: scaled_dot_product_attention with dropout, written out so that its mask is
    /// <see cref="CounterDropout"/>'s. The 1/(1 − p) scale is applied to the (B, H, T, hd) result rather than to the
    /// larger (B, H, T, S) probabilities.
    /// </summary>
    internal static Tensor ComposedAttention(Tensor q, Tensor k, Tensor v, Tensor? mask, Tensor keep, double p)
    {
        using var scope = NewDisposeScope();
        var scores = q.mul(1.0 / Math.Sqrt(q.shape[^1])).matmul(k.transpose(-2, -1)); // (B, H, T, S)
        if (mask is not null) scores = scores.masked_fill(mask.logical_not(), double.NegativeInfinity);
        var probabilities = scores.softmax(-1); // (B, H, T, S)
        var attended = probabilities.mul(keep).matmul(v).mul_(1.0 / (1.0 - p)); // (B, H, T, hd)
        return attended.MoveToOuterDisposeScope();
    }
}

/// <summary>Projection, dropout and residual LayerNorm after attention or the feed-forward.</summary>
public sealed class BertResidualOutput : nn.Module
{
    readonly Linear dense;
    readonly LayerNorm LayerNorm;
    readonly CounterDropout dropout;
    readonly FrozenLinear _dense;

    public BertResidualOutput(int input, BertConfig config) : base(nameof(BertResidualOutput))
    {
        dense = Linear(input, config.HiddenSize);
        LayerNorm = nn.LayerNorm(config.HiddenSize, config.LayerNormEps);
        dropout = new CounterDropout(config.HiddenDropout);
        RegisterComponents();
        _dense = new FrozenLinear(dense);
    }

    /// <summary>The hidden dropout on the projection.</summary>
    internal CounterDropout Dropout => dropout;

    public Tensor Forward(Tensor x, Tensor residual)
    {
        using var projected = ComputePath.UsesFastCpu(x) ? _dense.Forward(x) : dense.forward(x);
        using var dropped = dropout.forward(projected);
        using var sum = dropped + residual;
        return LayerNorm.forward(sum);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _dense.Dispose();
        base.Dispose(disposing);
    }
}

/// <summary>Self-attention followed by its output block (Hugging Face's BertAttention).</summary>
public sealed class BertAttention : nn.Module
{
    [ComponentName(Name = "self")] readonly BertSelfAttention selfAttention;
    readonly BertResidualOutput output;

    public BertAttention(BertConfig config) : base(nameof(BertAttention))
    {
        selfAttention = new BertSelfAttention(config);
        output = new BertResidualOutput(config.HiddenSize, config);
        RegisterComponents();
    }

    /// <summary>The output block after self-attention.</summary>
    internal BertResidualOutput Output => output;

    /// <summary>hidden (B, T, d) → (B, T, d), or (B, 1, d) with <paramref name="firstTokenOnly"/>.</summary>
    public Tensor Forward(Tensor hidden, Tensor? keyMask, LayerPrefix? prefix, ProjectionDelta? delta, bool firstTokenOnly = false)
    {
        using var attended = selfAttention.Forward(hidden, keyMask, prefix, delta, firstTokenOnly);
        using var residual = firstTokenOnly ? hidden.narrow(1, 0, 1) : hidden.alias(); // (B, 1 or T, d)
        return output.Forward(attended, residual);
    }
}

/// <summary>The feed-forward's first half: dense to the intermediate size, then exact GELU.</summary>
public sealed class BertIntermediate : nn.Module
{
    readonly Linear dense;
    readonly FrozenLinear _dense;

    public BertIntermediate(BertConfig config) : base(nameof(BertIntermediate))
    {
        dense = Linear(config.HiddenSize, config.IntermediateSize);
        RegisterComponents();
        _dense = new FrozenLinear(dense);
    }

    public Tensor Forward(Tensor x)
    {
        using var projected = ComputePath.UsesFastCpu(x) ? _dense.Forward(x) : dense.forward(x);
        return functional.gelu(projected);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _dense.Dispose();
        base.Dispose(disposing);
    }
}

/// <summary>One Transformer layer: attention (with the layer's prefix), then the feed-forward.</summary>
public sealed class BertLayer : nn.Module
{
    readonly BertAttention attention;
    readonly BertIntermediate intermediate;
    readonly BertResidualOutput output;

    public BertLayer(BertConfig config) : base(nameof(BertLayer))
    {
        attention = new BertAttention(config);
        intermediate = new BertIntermediate(config);
        output = new BertResidualOutput(config.IntermediateSize, config);
        RegisterComponents();
    }

    /// <summary>The attention's output block (projection, dropout, residual LayerNorm).</summary>
    internal BertResidualOutput AttentionOutput => attention.Output;

    /// <summary>The feed-forward's output block.</summary>
    internal BertResidualOutput FeedForwardOutput => output;

    /// <summary>
    /// hidden (B, T, d) → (B, T, d). With <paramref name="firstTokenOnly"/> the first token's output alone,
    /// (B, 1, d): every token is still projected to its query, key and value (one stacked product), but attention,
    /// its output projection and the feed-forward run for the first token only.
    /// </summary>
    public Tensor Forward(Tensor hidden, Tensor? keyMask, LayerPrefix? prefix, ProjectionDelta? delta, bool firstTokenOnly = false)
    {
        using var attended = attention.Forward(hidden, keyMask, prefix, delta, firstTokenOnly);
        using var expanded = intermediate.Forward(attended);
        return output.Forward(expanded, attended);
    }
}

/// <summary>The stack of layers (Hugging Face's BertEncoder: a list named "layer").</summary>
public sealed class BertEncoder : nn.Module
{
    internal readonly ModuleList<BertLayer> layer;

    public BertEncoder(BertConfig config) : base(nameof(BertEncoder))
    {
        layer = new ModuleList<BertLayer>([.. Enumerable.Range(0, config.NumLayers).Select(_ => new BertLayer(config))]);
        RegisterComponents();
    }
}

/// <summary>BERT's pooler: tanh(dense(hidden state of the first token)).</summary>
public sealed class BertPooler : nn.Module
{
    readonly Linear dense;

    public BertPooler(BertConfig config) : base(nameof(BertPooler))
    {
        dense = Linear(config.HiddenSize, config.HiddenSize);
        RegisterComponents();
    }

    public Tensor Forward(Tensor hidden)
    {
        using var first = hidden.select(1, 0); // (B, d)
        using var projected = dense.forward(first);
        return projected.tanh();
    }
}

/// <summary>
/// The frozen pre-trained encoder. Construction freezes every parameter (<c>requires_grad = false</c>);
/// full fine-tuning opts back in with <see cref="SetTrainable"/>. Prefix methods never edit it: they
/// answer <see cref="IPrefixProvider.ForLayer"/> from inside each layer's forward.
/// </summary>
public sealed class BertModel : nn.Module
{
    readonly BertEmbeddings embeddings;
    readonly BertEncoder encoder;
    readonly BertPooler? pooler;

    public BertConfig Config { get; }

    public BertModel(BertConfig config) : base(nameof(BertModel))
    {
        config.Validate("BertModel");
        Config = config;
        embeddings = new BertEmbeddings(config);
        encoder = new BertEncoder(config);
        if (config.HasPooler) pooler = new BertPooler(config);
        RegisterComponents();
        SetTrainable(false);
    }

    /// <summary>
    /// The hidden dropout (after the embeddings, each attention output and each feed-forward output; attention
    /// probabilities keep the checkpoint's rate): the checkpoint's hidden_dropout_prob until a run sets its own, as
    /// P-tuning v2 sets hidden_dropout_prob to the run's dropout before it builds the model.
    /// </summary>
    public double HiddenDropout
    {
        get => embeddings.Dropout.P;
        set
        {
            foreach (var dropout in HiddenDropouts()) dropout.P = value;
        }
    }

    /// <summary>Every hidden-dropout module: the embeddings', then each layer's attention output and feed-forward output.</summary>
    internal IEnumerable<CounterDropout> HiddenDropouts() =>
        encoder.layer.SelectMany(layer => new[] { layer.AttentionOutput.Dropout, layer.FeedForwardOutput.Dropout }).Prepend(embeddings.Dropout);

    /// <summary>Sets <c>requires_grad</c> on every backbone parameter.</summary>
    public void SetTrainable(bool trainable)
    {
        foreach (var parameter in parameters()) parameter.requires_grad = trainable;
    }

    /// <summary>
    /// ids, typeIds, attentionMask: (B, T) int64 (mask 1 for real tokens, 0 for padding).
    /// The prefix provider, if any, is asked for each layer's prefix given the hidden states entering it, and the delta
    /// provider, if any, for each layer's additions to its query, key and value projections of them.
    /// positionIds ((B, T) or (T)), as Hugging Face's position_ids, replace the family's own position rule.
    /// <paramref name="firstTokenOnly"/>, for a caller that reads only the first token's final state (the pooler,
    /// a sequence-classification or multiple-choice head): the last layer computes that token's output alone,
    /// and <see cref="BackboneOutput.LastHidden"/> is (B, 1, d). The first token's output is the same function of
    /// the input, but the skipped work is about an eighth of a MiniLM forward and backward (the last of six
    /// layers' attention output and feed-forward for all but one token) and the dropouts of that layer draw
    /// their masks over the smaller tensors, so training with and without it is not bit for bit the same.
    /// </summary>
    public BackboneOutput Forward(Tensor ids, Tensor typeIds, Tensor attentionMask, IPrefixProvider? prefix = null, bool allHiddenStates = false, Tensor? positionIds = null,
        bool firstTokenOnly = false, IProjectionDeltaProvider? deltas = null)
    {
        if (firstTokenOnly && allHiddenStates) throw new ArgumentException("every hidden state and the first token's alone were both asked for", nameof(firstTokenOnly));
        var hidden = embeddings.Forward(ids, typeIds, prefix?.PositionOffset ?? 0, positionIds); // (B, T, d)
        using var inputKeys = attentionMask.to_type(ScalarType.Bool); // (B, T)
        bool inputPadded = !inputKeys.all().item<bool>();
        var states = allHiddenStates ? new List<Tensor> { hidden } : null;
        for (int i = 0; i < encoder.layer.Count; i++)
        {
            LayerPrefix? layerPrefix = prefix?.ForLayer(i, hidden, attentionMask);
            using var prefixKeys = layerPrefix?.Mask.to_type(ScalarType.Bool); // (B, P)
            // No mask at all when every key is attended: an all-true mask changes nothing but the kernel.
            bool masked = inputPadded || (prefixKeys is not null && !prefixKeys.all().item<bool>());
            using var keyMask = !masked ? null : prefixKeys is null ? inputKeys.alias() : cat([prefixKeys, inputKeys], 1); // (B, S)
            using var scope = deltas is null ? null : NewDisposeScope(); // the layer's delta tensors, freed after its forward
            var delta = deltas?.ForLayer(i, hidden);
            var next = encoder.layer[i].Forward(hidden, keyMask, layerPrefix, delta, firstTokenOnly && i == encoder.layer.Count - 1);
            next = scope is null ? next : next.MoveToOuterDisposeScope();
            if (states is null) hidden.Dispose();
            hidden = next;
            states?.Add(hidden);
        }
        Tensor? pooled = pooler?.Forward(hidden);
        return new BackboneOutput(hidden, pooled, states);
    }
}
