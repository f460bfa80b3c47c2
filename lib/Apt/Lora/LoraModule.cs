using Apt.Backbone;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Apt.Lora;

/// <summary>
/// One projection's low-rank update: lora_A (r, d) then lora_B (d, r), as PEFT's Linear pair (no biases).
/// </summary>
public sealed class LoraPair : nn.Module
{
    readonly Linear lora_A, lora_B;
    readonly CounterDropout dropout;

    public LoraPair(int hidden, int rank, double dropoutRate) : base(nameof(LoraPair))
    {
        lora_A = Linear(hidden, rank, hasBias: false); // Kaiming-uniform with a = √5, as PEFT's init_lora_weights=True
        lora_B = Linear(rank, hidden, hasBias: false);
        using (no_grad()) init.zeros_(lora_B.weight!); // B = 0: the model starts as the frozen backbone
        dropout = new CounterDropout(dropoutRate);
        RegisterComponents();
    }

    /// <summary>(α/r)·B·A·dropout(x): hidden (B, T, d) → (B, T, d).</summary>
    public Tensor Forward(Tensor hidden, double scaling)
    {
        using var dropped = dropout.forward(hidden);
        using var reduced = lora_A.forward(dropped); // (B, T, r)
        using var expanded = lora_B.forward(reduced); // (B, T, d)
        return expanded.mul(scaling);
    }
}

/// <summary>One layer's LoRA pairs, named as the projections they adapt (a projection without one has none).</summary>
public sealed class LoraLayer : nn.Module
{
    readonly LoraPair? query, key, value;

    public LoraLayer(LoraConfig config, int hidden) : base(nameof(LoraLayer))
    {
        LoraPair? Pair(string target) =>
            config.TargetModules.Contains(target) ? new LoraPair(hidden, config.Rank, config.Dropout) : null;
        (query, key, value) = (Pair("query"), Pair("key"), Pair("value"));
        RegisterComponents();
    }

    /// <summary>
    /// The layer's deltas of hidden (B, T, d): each (B, T, d), or null where the projection has no pair.
    /// </summary>
    public ProjectionDelta Forward(Tensor hidden, double scaling) =>
        new(query?.Forward(hidden, scaling), key?.Forward(hidden, scaling), value?.Forward(hidden, scaling));
}

/// <summary>
/// LoRA on every layer of a frozen backbone, answering the backbone's <see cref="IProjectionDeltaProvider"/>: layer i's
/// query (and the other targets) becomes W·x + (α/r)·B_i·A_i·x. Parameter names follow PEFT's for BERT without its
/// wrapper prefixes: <c>layer.{i}.{query|key|value}.lora_A.weight</c> and <c>….lora_B.weight</c>.
/// </summary>
public sealed class LoraModule : nn.Module, IProjectionDeltaProvider
{
    readonly ModuleList<LoraLayer> layer;

    /// <summary>The method's configuration.</summary>
    public LoraConfig Config { get; }

    public LoraModule(LoraConfig config, BertConfig backbone) : base(nameof(LoraModule))
    {
        config.Validate(backbone);
        Config = config;
        var layers = Enumerable.Range(0, backbone.NumLayers).Select(_ => new LoraLayer(config, backbone.HiddenSize));
        layer = new ModuleList<LoraLayer>([.. layers]);
        RegisterComponents();
    }

    /// <summary>Every parameter of the module (A and B of each target in each layer).</summary>
    public long ParameterCount => parameters().Sum(p => p.numel());

    public ProjectionDelta? ForLayer(int index, Tensor hidden) => layer[index].Forward(hidden, Config.Scaling);
}
