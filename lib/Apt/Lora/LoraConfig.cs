using System.Text.Json.Serialization;
using Apt.Backbone;

namespace Apt.Lora;

/// <summary>
/// LoRA (Hu et al., 2021) on the frozen backbone's attention projections: W·x + (α/r)·B·A·dropout(x) with A (r, d) and
/// B (d, r) trained, B starting at zero so the model starts as the frozen backbone. Defaults follow PEFT's LoraConfig
/// for BERT (query and value, A Kaiming-uniform with a = √5, B zero), with the paper's r = 8.
/// </summary>
public sealed record LoraConfig
{
    /// <summary>
    /// The projections LoRA adapts, PEFT's target_modules: "query", "key", "value". Default query and value.
    /// </summary>
    public static readonly IReadOnlyList<string> Projections = ["query", "key", "value"];

    /// <summary>r: the rank of ΔW = B·A. Default 8.</summary>
    [JsonPropertyName("rank")] public int Rank { get; init; } = 8;

    /// <summary>α: ΔW is scaled by α / r. Default 8 (PEFT's).</summary>
    [JsonPropertyName("alpha")] public double Alpha { get; init; } = 8;

    /// <summary>Dropout on the input of A, per target (PEFT's lora_dropout). Default 0.</summary>
    [JsonPropertyName("dropout")] public double Dropout { get; init; }

    /// <summary>Which projections get a ΔW (a subset of <see cref="Projections"/>). Default query and value.</summary>
    [JsonPropertyName("target_modules")] public string[] TargetModules { get; init; } = ["query", "value"];

    /// <summary>The factor of B·A·x.</summary>
    [JsonIgnore] public double Scaling => Alpha / Rank;

    /// <summary>Checks the fields; the message names the field.</summary>
    public void Validate(BertConfig backbone)
    {
        string Fail(string message) => throw new ArgumentException($"lora config: {message}");
        if (Rank < 1 || Rank > backbone.HiddenSize) Fail($"rank must be in 1..{backbone.HiddenSize} (got {Rank})");
        if (!(Alpha > 0 && double.IsFinite(Alpha))) Fail($"alpha must be positive (got {Alpha})");
        if (Dropout is < 0 or >= 1) Fail($"dropout must be in [0, 1) (got {Dropout})");
        bool known = TargetModules.Length > 0 && TargetModules.All(Projections.Contains);
        if (!known || TargetModules.Distinct().Count() != TargetModules.Length)
            Fail($"target_modules must be distinct names of {string.Join(", ", Projections)} "
                + $"(got [{string.Join(", ", TargetModules)}])");
    }
}
