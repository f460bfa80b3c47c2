using System.Text.Json;
using System.Text.Json.Serialization;
using Apt.Backbone;

namespace Apt.Prefix;

/// <summary>Which parameters a method trains on the frozen backbone.</summary>
public enum PrefixMethod
{
    /// <summary>FT: every backbone parameter and the head train; no prefix (the upper reference).</summary>
    FineTune,
    /// <summary>PT-2: P-tuning v2's deep prefix, the same in every example.</summary>
    PTuningV2,
    /// <summary>APT: the deep prefix scaled per layer and per example by gates.</summary>
    Apt,
}

/// <summary>The gate-granularity ablation of the paper: which of APT's two gates exist.</summary>
public enum GateGranularity
{
    /// <summary>No gate (= PT-2).</summary>
    None,
    /// <summary>Token-level α only; λ ≡ 1 and is not a parameter.</summary>
    Token,
    /// <summary>Layer-level λ only; α ≡ 1 and its W, b do not exist.</summary>
    Layer,
    /// <summary>Both gates (= APT).</summary>
    Both,
}

/// <summary>How the token gate summarises the hidden states entering a layer.</summary>
public enum GatePooling
{
    /// <summary>Mean over the real (unpadded) tokens.</summary>
    Mean,
    /// <summary>The first token's state ([CLS]).</summary>
    First,
}

/// <summary>How the layer gate λ is parameterised.</summary>
public enum LayerGateForm
{
    /// <summary>λ_i is the parameter itself, unconstrained, initialised to 1.</summary>
    Free,
    /// <summary>λ_i = sigmoid(θ_i) ∈ (0, 1), θ_i initialised to 0 (so λ starts at 0.5).</summary>
    Sigmoid,
}

/// <summary>How the trained prefix tensors start.</summary>
public enum PrefixInit
{
    /// <summary>
    /// P-tuning v2's: N(0, initializer_range) for the prefix table (0.02 for BERT and RoBERTa), and with projection the
    /// same for its embedding and Linear weights, Linear biases 0. Its <c>from_pretrained</c> re-initialises every module
    /// of a key the checkpoint lacks with the model's <c>_init_weights</c> (../shared/reference/ptuning-v2.md).
    /// </summary>
    InitializerRange,
    /// <summary>PEFT's: PyTorch's own initialisation, N(0, 1) for the table (nn.Embedding), Kaiming-uniform Linear layers.</summary>
    StandardNormal,
}

/// <summary>
/// A prefix method, PEFT style: every field has a documented default; the presets below build the
/// methods the paper compares (FT, PT-2, APT, the token/layer ablation, PT-2+, PT-2*), which Runs.MethodCatalogue names.
/// The default is the paper's method, APT with both gates, at prefix length 16.
/// </summary>
public sealed record PrefixConfig : IJsonOnDeserializing
{
    /// <summary>The method. Default <see cref="PrefixMethod.Apt"/>.</summary>
    [JsonPropertyName("method")] public PrefixMethod Method { get; init; } = PrefixMethod.Apt;

    /// <summary>Which gates exist: <c>None</c> for PT-2 and FT, <c>Both</c> for APT, <c>Token</c>/<c>Layer</c> for the ablation. Default <see cref="GateGranularity.Both"/>.</summary>
    [JsonPropertyName("granularity")] public GateGranularity Granularity { get; init; } = GateGranularity.Both;

    /// <summary>l: prefix tokens per layer (P-tuning v2's <c>pre_seq_len</c>). Default 16.</summary>
    [JsonPropertyName("prefix_length")] public int PrefixLength { get; init; } = 16;

    /// <summary>
    /// P-tuning v2's reparameterisation: Embedding(l, d) → Linear(d, r) → tanh → Linear(r, L·2·d) instead of
    /// a free Embedding(l, L·2·d). Default false (the released scripts never turn it on).
    /// </summary>
    [JsonPropertyName("projection")] public bool Projection { get; init; }

    /// <summary>r: hidden width of the projection MLP. Default 512 (P-tuning v2's).</summary>
    [JsonPropertyName("projection_hidden")] public int ProjectionHidden { get; init; } = 512;

    /// <summary>
    /// How the prefix starts. Default <see cref="PrefixInit.InitializerRange"/> (P-tuning v2's); a config written before
    /// the field existed reads as <see cref="PrefixInit.StandardNormal"/>, the initialisation it was trained with.
    /// </summary>
    [JsonPropertyName("init")] public PrefixInit Init { get => _init; init => _init = value; }
    PrefixInit _init = PrefixInit.InitializerRange;

    void IJsonOnDeserializing.OnDeserializing() => _init = PrefixInit.StandardNormal;

    /// <summary>Dropout on the prefix keys and values, per example, before the gates (P-tuning v2 uses the backbone's hidden dropout). Default 0.1.</summary>
    [JsonPropertyName("dropout")] public double Dropout { get; init; } = 0.1;

    /// <summary>
    /// Shift the real tokens' position ids by the prefix length, as P-tuning v2 (and PEFT on BERT) does as a
    /// side effect of passing the prefix as a key/value cache. Default true.
    /// </summary>
    [JsonPropertyName("shift_positions")] public bool ShiftPositions { get; init; } = true;

    /// <summary>The token gate's pooling of h_{i-1}. Default <see cref="Prefix.GatePooling.Mean"/> over real tokens.</summary>
    [JsonPropertyName("gate_pooling")] public GatePooling GatePooling { get; init; } = GatePooling.Mean;

    /// <summary>The layer gate's form. Default <see cref="LayerGateForm.Free"/> (unconstrained, initialised to 1).</summary>
    [JsonPropertyName("layer_gate")] public LayerGateForm LayerGate { get; init; } = LayerGateForm.Free;

    /// <summary>
    /// PT-2*: one prefix length per layer (each ≥ 1) instead of <see cref="PrefixLength"/> everywhere;
    /// built from a gate probe by <see cref="PTuningV2Star"/>. Default null (uniform length).
    /// </summary>
    [JsonPropertyName("layer_lengths")] public int[]? LayerLengths { get; init; }

    /// <summary>Whether the token gate α exists.</summary>
    [JsonIgnore] public bool HasTokenGate => Granularity is GateGranularity.Token or GateGranularity.Both;

    /// <summary>Whether the layer gate λ exists.</summary>
    [JsonIgnore] public bool HasLayerGate => Granularity is GateGranularity.Layer or GateGranularity.Both;

    /// <summary>The prefix length of layer <paramref name="layer"/>.</summary>
    public int LengthOf(int layer) => LayerLengths?[layer] ?? PrefixLength;

    /// <summary>Checks the fields against each other and against the backbone; the message names the field.</summary>
    public void Validate(BertConfig backbone)
    {
        string Fail(string message) => throw new ArgumentException($"prefix config: {message}");
        switch (Method)
        {
            case PrefixMethod.FineTune or PrefixMethod.PTuningV2 when Granularity != GateGranularity.None:
                Fail($"method {Method} has no gates, so granularity must be None (got {Granularity})"); break;
            case PrefixMethod.Apt when Granularity == GateGranularity.None:
                Fail("method Apt needs granularity Token, Layer or Both (None is PT-2: use method PTuningV2)"); break;
        }
        if (PrefixLength < 0) Fail($"prefix_length must be ≥ 0 (got {PrefixLength})");
        if (Dropout is < 0 or >= 1) Fail($"dropout must be in [0, 1) (got {Dropout})");
        if (Projection && ProjectionHidden <= 0) Fail($"projection_hidden must be positive (got {ProjectionHidden})");
        if (LayerLengths is not null)
        {
            if (LayerLengths.Length != backbone.NumLayers)
                Fail($"layer_lengths has {LayerLengths.Length} entries but the backbone has {backbone.NumLayers} layers");
            if (LayerLengths.Any(l => l < 1)) Fail($"every entry of layer_lengths must be ≥ 1 (got [{string.Join(", ", LayerLengths)}])");
            if (Projection) Fail("projection with per-layer lengths is not defined (PT-2* uses the plain prefix)");
        }
        try { backbone.CheckPositions(PositionOffset, 1); }
        catch (ArgumentException e) { Fail(e.Message); }
    }

    /// <summary>The longest layer prefix (the position shift with <see cref="ShiftPositions"/>).</summary>
    [JsonIgnore] public int MaxLength => LayerLengths?.Max() ?? PrefixLength;

    /// <summary>Where the real tokens' positions start: P-tuning v2 shifts them by the (longest) prefix; FT has none.</summary>
    [JsonIgnore] public int PositionOffset => ShiftPositions && Method != PrefixMethod.FineTune ? MaxLength : 0;

    // ---- presets: the methods of the paper ----

    /// <summary>FT: full fine-tuning, no prefix.</summary>
    public static PrefixConfig FineTune() => new() { Method = PrefixMethod.FineTune, Granularity = GateGranularity.None, PrefixLength = 0 };

    /// <summary>PT-2: P-tuning v2's deep prefix.</summary>
    public static PrefixConfig PTuningV2(int prefixLength = 16) => new() { Method = PrefixMethod.PTuningV2, Granularity = GateGranularity.None, PrefixLength = prefixLength };

    /// <summary>APT: deep prefix with token- and layer-level gates.</summary>
    public static PrefixConfig Apt(int prefixLength = 16) => new() { Method = PrefixMethod.Apt, Granularity = GateGranularity.Both, PrefixLength = prefixLength };

    /// <summary>The granularity ablation: None = PT-2, Token, Layer, Both = APT.</summary>
    public static PrefixConfig Ablation(GateGranularity granularity, int prefixLength = 16) =>
        granularity == GateGranularity.None ? PTuningV2(prefixLength) : Apt(prefixLength) with { Granularity = granularity };

    /// <summary>PT-2+: PT-2 lengthened until its trainable parameters are at least APT's at <paramref name="prefixLength"/>.</summary>
    public static PrefixConfig PTuningV2Plus(BertConfig backbone, int prefixLength = 16, bool projection = false) =>
        PTuningV2(EnlargedLength(backbone, Apt(prefixLength) with { Projection = projection })) with { Projection = projection };

    /// <summary>
    /// The shortest PT-2 prefix whose trainable parameters (prefix only) reach those of <paramref name="target"/>
    /// (prefix and gates, counted on the module it builds, so any gate counts), with the same projection setting.
    /// </summary>
    public static int EnlargedLength(BertConfig backbone, PrefixConfig target)
    {
        long goal;
        using (var module = PrefixModule.Create(target, backbone)!) goal = module.PrefixParameterCount + module.GateParameterCount;
        int length = 1;
        while (PlainPrefixParameters(backbone, length, target) < goal) length++;
        return length;
    }

    /// <summary>
    /// A plain PT-2 prefix's parameters in closed form (building a module per length of the search would be slow on a large
    /// backbone; ParameterCountTests hold it to the modules): 2·L·l·d, or with projection l·d + (d·r + r) + (r·L·2d + L·2d).
    /// </summary>
    static long PlainPrefixParameters(BertConfig backbone, int length, PrefixConfig projection)
    {
        long d = backbone.HiddenSize, layers = backbone.NumLayers, r = projection.ProjectionHidden;
        return projection.Projection ? length * d + (d * r + r) + (r * layers * 2 * d + layers * 2 * d) : 2 * layers * length * d;
    }

    /// <summary>PT-2*: PT-2 with the per-layer lengths of <see cref="VariableLengths"/>.</summary>
    public static PrefixConfig PTuningV2Star(GateProbeResult probe, int prefixLength = 16) =>
        PTuningV2(prefixLength) with { LayerLengths = VariableLengths(probe, prefixLength) };

    /// <summary>
    /// Per-layer prefix lengths from an APT probe: l_i ∝ |λ_i|·mean_j(α_ij) (the magnitude, since a free λ may
    /// turn negative), each the floor of its share of L·l and at least 1; if the floors and minimums reach
    /// L·l, the longest layers give up a token each until the total is below L·l (fewer parameters than PT-2).
    /// </summary>
    public static int[] VariableLengths(GateProbeResult probe, int prefixLength)
    {
        if (prefixLength < 1) throw new ArgumentException($"PT-2* needs a base prefix length ≥ 1 (got {prefixLength})");
        int layers = probe.Layers;
        if (layers * prefixLength <= layers)
            throw new ArgumentException($"PT-2* with base length {prefixLength} cannot stay below L·l = {layers * prefixLength} with every layer ≥ 1");
        double[] weights = probe.LayerWeights;
        double sum = weights.Sum();
        if (!(sum > 0)) throw new ArgumentException("the gate probe's layer weights |λ|·mean(α) are all zero; PT-2* cannot derive lengths from it");
        int budget = layers * prefixLength;
        int[] lengths = [.. weights.Select(w => Math.Max(1, (int)Math.Floor(budget * w / sum)))];
        while (lengths.Sum() >= budget)
        {
            int longest = Array.IndexOf(lengths, lengths.Max());
            lengths[longest]--;
        }
        return lengths;
    }

    // ---- JSON (the adapter files) ----

    internal static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Reads a config written by <see cref="ToJson"/>; errors name <paramref name="source"/> and the line.</summary>
    public static PrefixConfig FromJson(string json, string source)
    {
        try
        {
            return JsonSerializer.Deserialize<PrefixConfig>(json, Json) ?? throw new InvalidDataException($"{source}: empty prefix config");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{source}: line {e.LineNumber + 1}: not a valid prefix config: {e.Message}", e);
        }
    }
}
