using Apt.Backbone;
using Apt.Backbone.Cpu;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Apt.Prefix;

/// <summary>
/// PT-2, APT and the granularity ablation as one <see cref="IPrefixProvider"/>: for each layer i it
/// hands the backbone K̂_i = λ_i·(α_i ⊙ P_i^k) and V̂_i = λ_i·(α_i ⊙ P_i^v) (design.md §2), where the
/// token gate α_i = sigmoid(pool(h_{i-1})·W_i + b_i) ∈ (0,1)^l is computed here from the hidden states
/// the layer is given, and λ_i is one learnable scalar per layer. A missing gate is the constant 1
/// and owns no parameter. The prefix mask is all ones. Nothing is kept between forwards.
/// Parameter names: <c>prefix_encoder.table</c> (or <c>prefix_encoder.embedding</c>,
/// <c>prefix_encoder.transform_in/out.*</c> with projection), <c>token_gates.{i}.weight|bias</c>, <c>layer_gate</c>.
/// </summary>
public sealed class PrefixModule : nn.Module, IPrefixProvider
{
    readonly PrefixEncoder prefix_encoder;
    readonly ModuleList<Linear>? token_gates;
    readonly Parameter? layer_gate;

    /// <summary>The method this module implements.</summary>
    public PrefixConfig Config { get; }

    /// <summary>The backbone shape it was built for.</summary>
    public BertConfig BackboneConfig { get; }

    /// <summary>
    /// Tests only: α ≡ 1 and λ ≡ 1 while still multiplying the prefix by them, which must give exactly
    /// PT-2's output with the same prefix.
    /// </summary>
    internal bool GatesForcedOpen { get; set; }

    /// <summary>
    /// Called per layer with α (B, l_i) and λ (a scalar), both 1 where the gate does not exist; used by
    /// <see cref="GateProbe"/>. The tensors are disposed when the call returns: copy what you keep.
    /// </summary>
    internal Action<int, Tensor, Tensor>? GateObserver { get; set; }

    PrefixModule(PrefixConfig config, BertConfig backbone) : base(nameof(PrefixModule))
    {
        Config = config;
        BackboneConfig = backbone;
        int layers = backbone.NumLayers, hidden = backbone.HiddenSize;
        int[] lengths = [.. Enumerable.Range(0, layers).Select(config.LengthOf)];
        double? range = config.Init == PrefixInit.InitializerRange ? backbone.InitializerRange : null;
        prefix_encoder = config.Projection
            ? new ProjectedPrefix(config.PrefixLength, layers, hidden, config.ProjectionHidden, range)
            : new PrefixTable(lengths, hidden, range ?? 1.0);
        if (config.HasTokenGate)
        {
            token_gates = new ModuleList<Linear>([.. lengths.Select(length => Linear(hidden, length))]);
            using var noGrad = no_grad();
            foreach (var gate in token_gates)
            {
                init.normal_(gate.weight!, 0.0, 0.02); // W_i ~ N(0, 0.02)
                init.zeros_(gate.bias!); // b_i = 0
            }
        }
        if (config.HasLayerGate)
            layer_gate = new Parameter(config.LayerGate == LayerGateForm.Free ? ones(layers) : zeros(layers)); // λ = 1, or sigmoid(0)
        RegisterComponents();
    }

    /// <summary>The prefix module of a method, or null for full fine-tuning (which has none: unfreeze the backbone instead).</summary>
    public static PrefixModule? Create(PrefixConfig config, BertConfig backbone)
    {
        config.Validate(backbone);
        return config.Method == PrefixMethod.FineTune ? null : new PrefixModule(config, backbone);
    }

    /// <summary>P-tuning v2 shifts the real tokens' positions by the prefix length (the longest one for PT-2*).</summary>
    public int PositionOffset => Config.PositionOffset;

    /// <summary>Parameters of the prefix itself: the table, or the embedding and projection.</summary>
    public long PrefixParameterCount => Count("prefix_encoder.");

    /// <summary>Parameters of the gates (the token gates' W_i, b_i and the layer gates' λ): everything beside the prefix.</summary>
    public long GateParameterCount => Count("") - PrefixParameterCount;

    long Count(string name) => named_parameters().Where(p => p.name.StartsWith(name, StringComparison.Ordinal)).Sum(p => p.parameter.numel());

    /// <summary>The trainable parameters, by name (what an optimizer and an adapter file get).</summary>
    public IEnumerable<(string Name, Parameter Parameter)> TrainableParameters() =>
        named_parameters().Where(p => p.parameter.requires_grad);

    public LayerPrefix? ForLayer(int layer, Tensor hidden, Tensor attentionMask)
    {
        using var scope = NewDisposeScope();
        long batch = hidden.shape[0];
        var raw = prefix_encoder.ForLayer(layer).to(hidden.dtype); // (l, 2, d)
        var alpha = TokenGate(layer, hidden, attentionMask); // (B, l) or null
        var lambda = LayerGate(layer); // () or null
        if (GatesForcedOpen)
        {
            alpha = ones(batch, raw.shape[0], dtype: hidden.dtype, device: hidden.device);
            lambda = tensor(1.0, dtype: hidden.dtype, device: hidden.device);
        }
        // λ · (α ⊙ dropout(P)), the gates multiplied first, the (B, l, 2, d) prefix written once
        var gate = alpha is null ? lambda : lambda is null ? alpha : lambda * alpha; // (), (B, l) or null
        var prefix = training && Config.Dropout > 0 && ComputePath.UsesFastCpu(raw)
            ? GatedPrefixDropout.Apply(raw, gate, batch, Config.Dropout) // the same, fused: Backbone/Cpu
            : GatedPrefix(raw, gate, batch); // (B, l, 2, d), one dropout mask per example
        if (GateObserver is not null)
        {
            using var noGrad = no_grad();
            GateObserver(layer,
                alpha?.detach() ?? ones(batch, raw.shape[0], dtype: hidden.dtype, device: hidden.device),
                lambda?.detach() ?? tensor(1.0, dtype: hidden.dtype, device: hidden.device));
        }
        var mask = ones(batch, raw.shape[0], dtype: ScalarType.Int64, device: hidden.device); // (B, l)
        return new LayerPrefix(prefix.MoveToOuterDisposeScope(), mask.MoveToOuterDisposeScope()); // (B, l, 2, d)
    }

    /// <summary>The raw prefix (l, 2, d) repeated over the batch, dropped out per example, times the gate ((B, l), a scalar or null): (B, l, 2, d).</summary>
    Tensor GatedPrefix(Tensor raw, Tensor? gate, long batch)
    {
        var dropped = CounterDropout.Apply(raw.unsqueeze(0).expand(batch, -1, -1, -1), Config.Dropout, training); // (B, l, 2, d)
        return gate is null ? dropped : dropped * (gate.dim() == 0 ? gate : gate.view(batch, -1, 1, 1)); // broadcast over (2, d)
    }

    /// <summary>α_i = sigmoid(pool(h_{i-1})·W_i + b_i), (B, l_i); null without a token gate.</summary>
    Tensor? TokenGate(int layer, Tensor hidden, Tensor attentionMask)
    {
        if (token_gates is null) return null;
        Tensor pooled;
        if (Config.GatePooling == GatePooling.First)
        {
            pooled = hidden.select(1, 0); // (B, d)
        }
        else
        {
            var weights = attentionMask.to(hidden.dtype).unsqueeze(-1); // (B, T, 1)
            var count = weights.sum(1).clamp_min(1.0); // (B, 1)
            pooled = (hidden * weights).sum(1) / count; // (B, d): mean over real tokens
        }
        return token_gates[layer].forward(pooled).sigmoid(); // (B, l)
    }

    /// <summary>λ_i as a scalar tensor; null without a layer gate.</summary>
    Tensor? LayerGate(int layer)
    {
        if (layer_gate is null) return null;
        var value = layer_gate[layer]; // ()
        return Config.LayerGate == LayerGateForm.Sigmoid ? value.sigmoid() : value;
    }

    /// <summary>
    /// Layer <paramref name="layer"/>'s prefix without dropout or gates, detached: (l_i, 2, d) with keys at
    /// [:, 0] and values at [:, 1]; the projection, if any, is applied (what PEFT's inference adapters hold).
    /// </summary>
    public Tensor MaterialisedPrefix(int layer)
    {
        using var noGrad = no_grad();
        using var raw = prefix_encoder.ForLayer(layer);
        return raw.detach().clone();
    }

    /// <summary>Copies a plain prefix table (Σ l_i, 2, d) into this module; used by imports.</summary>
    internal void LoadPrefixTable(Tensor table)
    {
        if (prefix_encoder is not PrefixTable plain)
            throw new InvalidOperationException("only a plain prefix (no projection) can take a prefix table");
        Checkpoint.Load(plain, new Dictionary<string, Tensor> { ["table"] = table }, "prefix table");
    }
}
