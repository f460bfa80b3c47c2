using Apt.Backbone;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Apt.Lora;

/// <summary>One projection's low-rank update: lora_A (r, d) then lora_B (d, r), as PEFT's Linear pair (no biases).</summary>
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

/// <summary>
/// LoRA on every layer of a frozen backbone, answering the backbone's <see cref="IProjectionDeltaProvider"/>: layer i's
/// query (and the other targets) becomes W·x + (α/r)·B_i·A_i·x. Parameter names follow PEFT's for BERT without its
/// wrapper prefixes: <c>layer.{i}.{query|key|value}.lora_A.weight</c> and <c>….lora_B.weight</c>.
/// </summary>
public sealed class LoraModule : nn.Module, IProjectionDeltaProvider
{
    readonly ModuleList<ModuleDict<LoraPair>> layer;

    /// <summary>The method's configuration.</summary>
    public LoraConfig Config { get; }

    public LoraModule(LoraConfig config, BertConfig backbone) : base(nameof(LoraModule))
    {
        config.Validate(backbone);
        Config = config;
        layer = new ModuleList<ModuleDict<LoraPair>>([.. Enumerable.Range(0, backbone.NumLayers).Select(_ =>
        {
            var targets = new ModuleDict<LoraPair>();
            foreach (string target in config.TargetModules) targets.Add((target, new LoraPair(backbone.HiddenSize, config.Rank, config.Dropout)));
            return targets;
        })]);
        RegisterComponents();
    }

    /// <summary>Every parameter of the module (A and B of each target in each layer).</summary>
    public long ParameterCount => parameters().Sum(p => p.numel());

    public ProjectionDelta? ForLayer(int index, Tensor hidden)
    {
        var targets = layer[index];
        Tensor? Delta(string name) => targets.TryGetValue(name, out var pair) ? pair.Forward(hidden, Config.Scaling) : null;
        return new ProjectionDelta(Delta("query"), Delta("key"), Delta("value"));
    }
}
