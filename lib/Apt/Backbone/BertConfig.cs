using System.Text.Json;
using System.Text.Json.Serialization;

namespace Apt.Backbone;

/// <summary>
/// The shape of a BERT-family encoder, with Hugging Face's <c>config.json</c> field names so a
/// model folder's config reads as is. Defaults are BERT-base's.
/// </summary>
public sealed record BertConfig
{
    /// <summary>
    /// Architecture family: "bert", or "roberta" — the same encoder whose position ids start after the
    /// padding index (see <see cref="BertEmbeddings"/>), with one token type and a byte-level BPE vocabulary.
    /// </summary>
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = "bert";
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; } = 30522;
    /// <summary>d: width of every hidden state.</summary>
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; } = 768;
    /// <summary>L: number of Transformer layers.</summary>
    [JsonPropertyName("num_hidden_layers")] public int NumLayers { get; init; } = 12;
    /// <summary>H: attention heads per layer; d must be a multiple of H.</summary>
    [JsonPropertyName("num_attention_heads")] public int NumHeads { get; init; } = 12;
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; init; } = 3072;
    /// <summary>Only "gelu" (the exact, erf-based GELU that BERT uses) is supported.</summary>
    [JsonPropertyName("hidden_act")] public string HiddenAct { get; init; } = "gelu";
    /// <summary>Dropout after embeddings, attention output and feed-forward; active in training even though the backbone is frozen, as in P-tuning v2.</summary>
    [JsonPropertyName("hidden_dropout_prob")] public double HiddenDropout { get; init; } = 0.1;
    [JsonPropertyName("attention_probs_dropout_prob")] public double AttentionDropout { get; init; } = 0.1;
    [JsonPropertyName("max_position_embeddings")] public int MaxPositions { get; init; } = 512;
    [JsonPropertyName("type_vocab_size")] public int TypeVocabSize { get; init; } = 2;
    [JsonPropertyName("layer_norm_eps")] public double LayerNormEps { get; init; } = 1e-12;
    [JsonPropertyName("pad_token_id")] public int PadTokenId { get; init; } = 0;
    /// <summary>
    /// Standard deviation of Hugging Face's <c>_init_weights</c> for BERT and RoBERTa. The kit draws what trains from it
    /// (the prefix table, the head), as P-tuning v2's <c>from_pretrained</c> re-initialises its missing keys.
    /// </summary>
    [JsonPropertyName("initializer_range")] public double InitializerRange { get; init; } = 0.02;
    /// <summary>Whether the checkpoint has BERT's pooler (dense + tanh over [CLS]); not a Hugging Face field, read from the weights.</summary>
    [JsonPropertyName("apt_has_pooler")] public bool HasPooler { get; init; } = true;

    public int HeadSize => HiddenSize / NumHeads;

    /// <summary>
    /// RoBERTa's padding index, after which its real tokens' positions count (Hugging Face's
    /// create_position_ids_from_input_ids); null for BERT, whose positions count from 0.
    /// </summary>
    [JsonIgnore] public int? PositionPaddingIndex => ModelType == "roberta" ? PadTokenId : null;

    /// <summary>The position of the first real token when the positions are shifted by <paramref name="offset"/>.</summary>
    public int FirstPosition(int offset) => offset + (PositionPaddingIndex + 1 ?? 0);

    /// <summary>
    /// The one fit rule: <paramref name="length"/> tokens whose positions are shifted by <paramref name="offset"/> (P-tuning
    /// v2's prefix length) must fit the position table; refused with the reason otherwise.
    /// </summary>
    public void CheckPositions(int offset, int length)
    {
        if (FirstPosition(offset) + length > MaxPositions)
            throw new ArgumentException(
                $"prefix length {offset} + {length} tokens exceed the backbone's {MaxPositions} positions" +
                (PositionPaddingIndex is int padding ? $" (its real tokens start after the padding index {padding})" : "") +
                " (P-tuning v2 shifts positions by the prefix: prefix length + maximum sequence length must fit)");
    }

    static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    /// <summary>Reads a Hugging Face config.json; errors name the file and the field.</summary>
    public static BertConfig Read(string path)
    {
        BertConfig? config;
        try { config = JsonSerializer.Deserialize<BertConfig>(InputFile.ReadAllText(path)); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: line {e.LineNumber + 1}: expected a Hugging Face config.json ({e.Message.Split(" Path:")[0].TrimEnd('.', ' ')}; at {e.Path})", e); }
        if (config is null) throw new InvalidDataException($"{path}: empty config");
        config.Validate(path);
        return config;
    }

    /// <summary>
    /// Checks the sizes this config declares against the weight file's tensor shapes (<paramref name="shapes"/>, by
    /// encoder name) before the model allocates them: an absurd intermediate_size would otherwise be ended by the
    /// out-of-memory killer without a word. Each size is read from the tensor that carries it; the full layout is
    /// compared when the weights are copied in.
    /// </summary>
    public void CheckSizes(IReadOnlyDictionary<string, long[]> shapes, string source, string weights)
    {
        var wrong = new List<string>();
        void Expect(string field, long value, string tensor, int dimension)
        {
            if (!shapes.TryGetValue(tensor, out var shape))
                wrong.Add($"{field} {value} cannot be checked: there is no tensor '{tensor}'");
            else if (shape.Length <= dimension || shape[dimension] != value)
                wrong.Add($"{field} {value}, but tensor '{tensor}' has shape [{string.Join(", ", shape)}]");
        }
        Expect("vocab_size", VocabSize, "embeddings.word_embeddings.weight", 0);
        Expect("hidden_size", HiddenSize, "embeddings.word_embeddings.weight", 1);
        Expect("max_position_embeddings", MaxPositions, "embeddings.position_embeddings.weight", 0);
        Expect("type_vocab_size", TypeVocabSize, "embeddings.token_type_embeddings.weight", 0);
        Expect("intermediate_size", IntermediateSize, "encoder.layer.0.intermediate.dense.weight", 0);
        int layers = shapes.Keys.Select(k => k.Split('.'))
            .Where(p => p.Length > 2 && p[0] == "encoder" && p[1] == "layer").Select(p => p[2]).Distinct().Count();
        if (layers != NumLayers) wrong.Add($"num_hidden_layers {NumLayers}, but the weights hold {layers} layers");
        if (wrong.Count > 0)
            throw new InvalidDataException($"{source} does not match {weights}: {string.Join("; ", wrong)}");
    }

    public void Write(string path) => AtomicFile.WriteAllText(path, JsonSerializer.Serialize(this, Json));

    public void Validate(string source)
    {
        if (ModelType is not ("bert" or "roberta"))
            throw new InvalidDataException($"{source}: model_type '{ModelType}' is not supported (expected 'bert' or 'roberta')");
        if (HiddenSize <= 0 || NumLayers <= 0 || NumHeads <= 0 || VocabSize <= 0 || IntermediateSize <= 0)
            throw new InvalidDataException($"{source}: hidden_size, num_hidden_layers, num_attention_heads, vocab_size and intermediate_size must be positive");
        if (HiddenSize % NumHeads != 0)
            throw new InvalidDataException($"{source}: hidden_size {HiddenSize} is not a multiple of num_attention_heads {NumHeads}");
        if (MaxPositions <= 0 || TypeVocabSize <= 0)
            throw new InvalidDataException($"{source}: max_position_embeddings {MaxPositions} and type_vocab_size {TypeVocabSize} must be positive");
        if (PadTokenId < 0 || PadTokenId >= VocabSize)
            throw new InvalidDataException($"{source}: pad_token_id {PadTokenId} is not an id of the vocabulary (expected 0..{VocabSize - 1})");
        if (!(LayerNormEps > 0))
            throw new InvalidDataException($"{source}: layer_norm_eps {LayerNormEps} must be positive");
        if (!(HiddenDropout is >= 0 and < 1) || !(AttentionDropout is >= 0 and < 1))
            throw new InvalidDataException($"{source}: hidden_dropout_prob {HiddenDropout} and attention_probs_dropout_prob {AttentionDropout} must lie in [0, 1)");
        if (!(InitializerRange > 0) || !double.IsFinite(InitializerRange))
            throw new InvalidDataException($"{source}: initializer_range {InitializerRange} must be a positive number");
        if (HiddenAct != "gelu")
            throw new InvalidDataException($"{source}: hidden_act '{HiddenAct}' is not supported (expected 'gelu')");
    }
}
