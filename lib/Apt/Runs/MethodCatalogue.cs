using Apt.Backbone;
using Apt.Lora;
using Apt.Prefix;

namespace Apt.Runs;

/// <summary>What a method's configuration is built from: the backbone's shape and the run's method settings.</summary>
/// <param name="Backbone">The backbone's shape.</param>
/// <param name="PrefixLength">l (the base length of PT-2+ and PT-2*).</param>
/// <param name="Projection">P-tuning v2's reparameterised prefix, for the methods with a prefix of uniform
/// length.</param>
/// <param name="Probe">The gate probe of a trained APT run (PT-2* only).</param>
/// <param name="Lora">The run's LoRA settings (LoRA only; default PEFT's).</param>
public sealed record MethodInputs(
    BertConfig Backbone, int PrefixLength, bool Projection, GateProbeResult? Probe, LoraConfig? Lora = null);

/// <summary>
/// What a method configures: the prefix (of length 0 for none, as head-only and LoRA) and LoRA, if it has it.
/// </summary>
public sealed record MethodConfig(PrefixConfig Prefix, LoraConfig? Lora = null)
{
    public static implicit operator MethodConfig(PrefixConfig prefix) => new(prefix);
}

/// <summary>
/// One method of the kit: its short name (config.json's "method", run-folder names, sweep files, the CLI), how tables
/// label it, what it trains, how its configuration is built, and how sweeps and studies treat it.
/// </summary>
/// <param name="Name">The short name.</param>
/// <param name="Label">The tables' label.</param>
/// <param name="Trains">What trains, in words (help texts and notebooks).</param>
/// <param name="Configure">The method's configuration (run-wide settings such as dropout are the recipe's).</param>
public sealed record MethodEntry(string Name, string Label, string Trains, Func<MethodInputs, MethodConfig> Configure)
{
    /// <summary>
    /// The method's own peak learning rate from the run's settings (FT's, LoRA's), or null for the grid's: a study does
    /// not search the learning-rate axis of a method with its own.
    /// </summary>
    public Func<RunSettings, double>? OwnLearningRate { get; init; }

    /// <summary>Gated: a gate probe is written after training (and PT-2* can be derived from it).</summary>
    public bool Probed { get; init; }

    /// <summary>Whether the prefix length shapes the method (false: a study does not search that axis).</summary>
    public bool UsesPrefixLength { get; init; } = true;

    /// <summary>
    /// Defined from APT (its parameter count, its gate probe): a study searches only the learning rate, at APT's chosen
    /// prefix length.
    /// </summary>
    public bool FollowsApt { get; init; }

    /// <summary>
    /// Built from the gate probe of the APT run with the same coordinates, so it runs after that one.
    /// </summary>
    public bool NeedsProbe { get; init; }

    /// <summary>
    /// Trains its head on features the frozen backbone computed once per split in eval mode
    /// (<see cref="Training.FrozenFeatures"/>): the recipe records the backbone's dropout as 0.
    /// </summary>
    public bool LinearProbe { get; init; }
}

/// <summary>
/// Every method of the kit, in the order of the paper's tables. The CLI's help, `aptnb params`, sweeps, studies,
/// reports and notebooks read method names here and nowhere else.
/// </summary>
public static class MethodCatalogue
{
    /// <summary>The frozen backbone with only the head training (a prefix of length 0).</summary>
    public static readonly MethodEntry HeadOnly = new("head", "head only", "the head",
        _ => PrefixConfig.PTuningV2(0)) { UsesPrefixLength = false, LinearProbe = true };

    /// <summary>Full fine-tuning, the upper reference.</summary>
    public static readonly MethodEntry FineTune = new("ft", "FT", "every backbone weight and the head",
        _ => PrefixConfig.FineTune()) { UsesPrefixLength = false, OwnLearningRate = s => s.FineTuneLearningRate };

    /// <summary>P-tuning v2, the baseline.</summary>
    public static readonly MethodEntry PTuningV2 = new("pt2", "PT-2", "the prefix and the head",
        m => PrefixConfig.PTuningV2(m.PrefixLength) with { Projection = m.Projection });

    /// <summary>The method `aptnb train` and `aptnb params` run unless told otherwise: APT.</summary>
    public const string DefaultName = "apt";

    /// <summary>APT, the paper's method: both gates.</summary>
    public static readonly MethodEntry Apt = new(DefaultName, "APT",
        "the prefix, the token and layer gates, and the head",
        m => PrefixConfig.Apt(m.PrefixLength) with { Projection = m.Projection }) { Probed = true };

    /// <summary>The granularity ablation: the token gate alone.</summary>
    public static readonly MethodEntry TokenGate = new("token", "APT (token gate only)",
        "the prefix, the token gates and the head",
        m => PrefixConfig.Ablation(GateGranularity.Token, m.PrefixLength) with { Projection = m.Projection })
    { Probed = true };

    /// <summary>The granularity ablation: the layer gate alone.</summary>
    public static readonly MethodEntry LayerGate = new("layer", "APT (layer gate only)",
        "the prefix, the layer gates and the head",
        m => PrefixConfig.Ablation(GateGranularity.Layer, m.PrefixLength) with { Projection = m.Projection })
    { Probed = true };

    /// <summary>PT-2+: PT-2 lengthened until it trains at least APT's parameters.</summary>
    public static readonly MethodEntry PTuningV2Plus = new("pt2plus", "PT-2+",
        "a prefix enlarged to APT's parameters, and the head",
        m => PrefixConfig.PTuningV2Plus(m.Backbone, m.PrefixLength, m.Projection)) { FollowsApt = true };

    /// <summary>PT-2*: PT-2 with per-layer lengths from an APT gate probe.</summary>
    public static readonly MethodEntry PTuningV2Star = new("pt2star", "PT-2*",
        "per-layer prefixes sized by APT's gate probe, and the head",
        m => PrefixConfig.PTuningV2Star(m.Probe ?? throw new ArgumentException(
                "method pt2star needs the gate probe of a trained APT run (--probe <gate-probe.json>)"), m.PrefixLength)
            with { Projection = m.Projection })
    { FollowsApt = true, NeedsProbe = true };

    /// <summary>LoRA (Hu et al., 2021) on the frozen backbone's query and value projections.</summary>
    public static readonly MethodEntry LowRank = new("lora", "LoRA",
        "low-rank updates B·A of the query and value projections, and the head",
        m => new MethodConfig(PrefixConfig.PTuningV2(0), m.Lora ?? new LoraConfig()))
    { UsesPrefixLength = false, OwnLearningRate = s => s.LoraLearningRate };

    static readonly MethodEntry[] Entries =
        [HeadOnly, FineTune, PTuningV2, Apt, TokenGate, LayerGate, PTuningV2Plus, PTuningV2Star, LowRank];

    /// <summary>Every method, in table order.</summary>
    public static IReadOnlyList<MethodEntry> All => Entries;

    /// <summary>Every short name, in table order.</summary>
    public static IReadOnlyList<string> Names { get; } = [.. All.Select(m => m.Name)];

    /// <summary>The entry named <paramref name="name"/>; the message lists the names.</summary>
    public static MethodEntry Get(string name) =>
        Find(name) ?? throw new ArgumentException(
            $"unknown method '{name}' (expected one of {string.Join(", ", Names)})");

    /// <summary>The entry named <paramref name="name"/>, or null.</summary>
    public static MethodEntry? Find(string name) => All.FirstOrDefault(m => m.Name == name);

    /// <summary>
    /// How the tables label <paramref name="name"/> (the name itself when it is not in the catalogue).
    /// </summary>
    public static string Label(string name) => Find(name)?.Label ?? name;

    /// <summary>A table row's position: catalogue order, unknown names last.</summary>
    public static int Order(string name) => Find(name) is { } entry ? Array.IndexOf(Entries, entry) : int.MaxValue;

    /// <summary>The methods for help texts: "name (label: what trains)", separated by semicolons.</summary>
    public static string Describe() => string.Join("; ", All.Select(m => $"{m.Name} ({m.Label}: {m.Trains})"));
}
