using Apt.Backbone;
using Apt.Lora;
using Apt.Prefix;
using Apt.Tasks;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Apt.Training;

/// <summary>
/// The whole model of a run: the frozen backbone, the method's prefix (none for FT, head-only and LoRA), LoRA (for
/// LoRA) and the task's head. Parameter names are "backbone.…", "prefix.…", "head.…" and "lora.…", which is what checkpoints and
/// adapter files hold; only the trainable ones are listed for the optimizer.
/// </summary>
public sealed class TunedModel : nn.Module
{
    readonly BertModel backbone;
    readonly PrefixModule? prefix;
    readonly TaskHead head;
    readonly LoraModule? lora;

    public BertModel Backbone => backbone;
    public PrefixModule? Prefix => prefix;
    public TaskHead Head => head;
    public LoraModule? Lora => lora;

    public TunedModel(BertModel backbone, PrefixModule? prefix, TaskHead head, LoraModule? lora = null) : base(nameof(TunedModel))
    {
        this.backbone = backbone;
        this.prefix = prefix;
        this.head = head;
        this.lora = lora;
        RegisterComponents();
    }

    /// <summary>
    /// Logits for a batch: (B, K), (B, C) or (B, T, K) by the task's kind. For a head that reads the first token
    /// alone, the backbone's last layer computes that token's output only (<see cref="BertModel.Forward"/>).
    /// </summary>
    public Tensor Forward(TaskBatch batch)
    {
        var inputs = batch.Inputs;
        var output = backbone.Forward(inputs.Ids, inputs.TypeIds, inputs.AttentionMask, prefix, firstTokenOnly: head.ReadsFirstTokenOnly, deltas: lora);
        return head.Forward(output);
    }

    /// <summary>Every parameter with requires_grad, by its stable name.</summary>
    public IReadOnlyDictionary<string, Parameter> TrainableParameters() =>
        named_parameters().Where(p => p.parameter.requires_grad).ToDictionary(p => p.name, p => p.parameter);

    /// <summary>Parameters that train, split as the paper's tables count them.</summary>
    public IReadOnlyDictionary<string, long> ParameterCounts()
    {
        long Count(string prefixName) => named_parameters().Where(p => p.parameter.requires_grad && p.name.StartsWith(prefixName, StringComparison.Ordinal)).Sum(p => p.parameter.numel());
        var counts = new Dictionary<string, long>
        {
            ["backbone"] = backbone.parameters().Sum(p => p.numel()),
            ["backbone_trainable"] = Count("backbone."),
            ["prefix"] = prefix?.PrefixParameterCount ?? 0,
            ["gates"] = prefix?.GateParameterCount ?? 0,
            ["head"] = Count("head."),
        };
        if (lora is not null) counts["lora"] = lora.ParameterCount; // only where there is LoRA: other runs' records stay as they were
        return counts;
    }
}
