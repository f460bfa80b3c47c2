using System.Text.Json.Serialization;
using Apt.Backbone;
using Apt.Lora;

namespace Apt.Prefix;

/// <summary>
/// Trainable parameters of a method on a backbone, split into prefix, gates and head, and their share
/// of the backbone's parameters. The prefix and gates are counted on the module the method builds.
/// </summary>
/// <param name="Method">The method's label (the catalogue's: FT, PT-2, PT-2+, APT, …).</param>
/// <param name="PrefixLength">l (the base length for PT-2*).</param>
/// <param name="Prefix">Prefix parameters (the table, or embedding + projection MLP).</param>
/// <param name="Gates">Token-gate W_i, b_i and layer-gate λ_i parameters.</param>
/// <param name="Lora">LoRA's A and B parameters.</param>
/// <param name="Head">Head parameters, as given by the caller.</param>
/// <param name="BackboneTrainable">Backbone parameters that train (all of them for FT, else 0).</param>
/// <param name="Backbone">All backbone parameters.</param>
public sealed record ParameterReport(
    [property: JsonPropertyName("method")] string Method,
    [property: JsonPropertyName("prefix_length")] int PrefixLength,
    [property: JsonPropertyName("prefix")] long Prefix,
    [property: JsonPropertyName("gates")] long Gates,
    [property: JsonPropertyName("lora")] long Lora,
    [property: JsonPropertyName("head")] long Head,
    [property: JsonPropertyName("backbone_trainable")] long BackboneTrainable,
    [property: JsonPropertyName("backbone")] long Backbone)
{
    /// <summary>Everything the optimizer gets.</summary>
    [JsonPropertyName("trainable")] public long Trainable => Prefix + Gates + Lora + Head + BackboneTrainable;

    /// <summary>Trainable parameters as a fraction of the backbone's.</summary>
    [JsonPropertyName("share_of_backbone")] public double ShareOfBackbone => (double)Trainable / Backbone;

    /// <summary>
    /// The report for method <paramref name="label"/> configured as <paramref name="config"/> (and <paramref name="lora"/>)
    /// on <paramref name="backbone"/> with a head of <paramref name="headParameters"/> parameters, counted on the modules it builds.
    /// </summary>
    public static ParameterReport For(string label, PrefixConfig config, BertConfig backbone, long headParameters, LoraConfig? lora = null)
    {
        using var module = config.MaxLength == 0 ? null : PrefixModule.Create(config, backbone);
        using var lowRank = lora is null ? null : new LoraModule(lora, backbone);
        long all = BackboneParameters(backbone);
        return new ParameterReport(label, config.PrefixLength, module?.PrefixParameterCount ?? 0, module?.GateParameterCount ?? 0,
            lowRank?.ParameterCount ?? 0, headParameters, config.Method == PrefixMethod.FineTune ? all : 0, all);
    }

    /// <summary>
    /// A BERT encoder's parameters: embeddings (V + P + types)·d + 2d; per layer 4(d² + d) attention,
    /// 2d LayerNorm, (dI + I) + (Id + d) feed-forward, 2d LayerNorm; pooler d² + d if present.
    /// </summary>
    public static long BackboneParameters(BertConfig backbone)
    {
        long d = backbone.HiddenSize, inner = backbone.IntermediateSize;
        long embeddings = ((long)backbone.VocabSize + backbone.MaxPositions + backbone.TypeVocabSize) * d + 2 * d;
        long layer = 4 * (d * d + d) + 2 * d + (d * inner + inner) + (inner * d + d) + 2 * d;
        long pooler = backbone.HasPooler ? d * d + d : 0;
        return embeddings + backbone.NumLayers * layer + pooler;
    }
}
