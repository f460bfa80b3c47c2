using System.Text.Json;
using System.Text.Json.Nodes;
using Apt.Backbone;
using static TorchSharp.torch;

namespace Apt.Prefix;

/// <summary>
/// Exchange of PT-2 prefixes with Hugging Face PEFT's prefix tuning (<c>PeftType.PREFIX_TUNING</c>):
/// a folder with <c>adapter_config.json</c> (PEFT's field names) and <c>adapter_model.safetensors</c>
/// holding one tensor <c>prompt_embeddings</c> of shape (num_virtual_tokens, num_layers·2·token_dim).
/// PEFT views each row as (num_layers·2, heads, head_dim) and splits it into pairs, so layer i's keys are
/// block 2i and its values block 2i + 1, each d wide, heads outermost; the same layout as P-tuning v2.
/// <para>
/// With projection on, the export holds the materialised prefix (the MLP applied), which is what PEFT's
/// own save writes; the config then says <c>prefix_projection: false</c> so that PEFT loads that flat
/// tensor whether or not it is in inference mode. Only the prefix is exchanged: the task head is not.
/// PEFT on BERT shifts position ids by the prefix length, so only prefixes with
/// <see cref="PrefixConfig.ShiftPositions"/> export.
/// </para>
/// </summary>
public static class PeftPrefixTuning
{
    public const string ConfigFile = "adapter_config.json";
    public const string WeightsFile = "adapter_model.safetensors";
    /// <summary>The key PEFT saves prompt-learning weights under.</summary>
    public const string TensorKey = "prompt_embeddings";

    /// <summary>Writes <paramref name="prefix"/> (a PT-2 prefix) as a PEFT prefix-tuning adapter in <paramref name="folder"/>.</summary>
    /// <param name="prefix">A PT-2 prefix with a uniform length.</param>
    /// <param name="folder">Where adapter_config.json and adapter_model.safetensors go.</param>
    /// <param name="baseModelNameOrPath">PEFT's <c>base_model_name_or_path</c>, e.g. "sentence-transformers/all-MiniLM-L6-v2".</param>
    /// <param name="taskType">PEFT's <c>task_type</c> (SEQ_CLS, TOKEN_CLS, …).</param>
    public static void Export(PrefixModule prefix, string folder, string baseModelNameOrPath, string taskType = "SEQ_CLS")
    {
        var config = prefix.Config;
        if (config.Method != PrefixMethod.PTuningV2)
            throw new ArgumentException(
                $"cannot export a gated prefix ({config.Granularity} gates) to PEFT: PEFT's prefix tuning has a fixed prefix and cannot express APT's " +
                "token- and layer-level gates (α, λ). Only PT-2 adapters export.");
        if (config.LayerLengths is not null)
            throw new ArgumentException("cannot export a PT-2* adapter to PEFT: PEFT's prefix tuning has one prefix length for every layer");
        if (!config.ShiftPositions)
            throw new ArgumentException("cannot export a prefix trained without the position shift: PEFT on BERT always shifts position ids by the prefix length");

        var backbone = prefix.BackboneConfig;
        int layers = backbone.NumLayers, hidden = backbone.HiddenSize, length = config.PrefixLength;
        using (var scope = NewDisposeScope())
        {
            var perLayer = stack(Enumerable.Range(0, layers).Select(prefix.MaterialisedPrefix).ToArray()); // (L, l, 2, d)
            var flat = perLayer.permute(1, 0, 2, 3).reshape(length, layers * 2 * hidden).to_type(ScalarType.Float32); // (l, L·2·d)
            Directory.CreateDirectory(folder);
            SafeTensors.Write(Path.Combine(folder, WeightsFile), new Dictionary<string, Tensor> { [TensorKey] = flat },
                new Dictionary<string, string> { ["format"] = "pt" });
        }
        var json = new JsonObject
        {
            ["auto_mapping"] = null,
            ["base_model_name_or_path"] = baseModelNameOrPath,
            ["encoder_hidden_size"] = config.Projection ? config.ProjectionHidden : hidden,
            ["inference_mode"] = true,
            ["num_attention_heads"] = backbone.NumHeads,
            ["num_layers"] = layers,
            ["num_transformer_submodules"] = 1,
            ["num_virtual_tokens"] = length,
            ["peft_type"] = "PREFIX_TUNING",
            ["prefix_projection"] = false,
            ["revision"] = null,
            ["task_type"] = taskType,
            ["token_dim"] = hidden,
        };
        AtomicFile.WriteAllText(Path.Combine(folder, ConfigFile), json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>
    /// Reads a PEFT prefix-tuning adapter into a PT-2 <see cref="PrefixModule"/> (plain prefix, shifted
    /// positions) for <paramref name="backbone"/>; errors name the file and the field that does not fit.
    /// </summary>
    /// <param name="folder">The PEFT adapter folder.</param>
    /// <param name="backbone">The backbone shape the prefix must fit.</param>
    /// <param name="dropout">Prefix dropout for further training (PEFT stores none).</param>
    public static PrefixModule Import(string folder, BertConfig backbone, double dropout = 0.1)
    {
        string configPath = Path.Combine(folder, ConfigFile), weightsPath = Path.Combine(folder, WeightsFile);
        foreach (var required in new[] { configPath, weightsPath })
            if (!File.Exists(required)) throw new FileNotFoundException($"{folder}: a PEFT adapter folder needs {Path.GetFileName(required)}", required);

        JsonObject json;
        try { json = JsonNode.Parse(InputFile.ReadAllText(configPath))?.AsObject()
            ?? throw new InvalidDataException($"{configPath}: empty"); }
        catch (JsonException e) { throw new InvalidDataException($"{configPath}: line {e.LineNumber + 1}: not valid JSON: {e.Message}", e); }
        string? peftType = json["peft_type"]?.GetValue<string>();
        if (peftType != "PREFIX_TUNING")
            throw new InvalidDataException($"{configPath}: peft_type is '{peftType}', expected 'PREFIX_TUNING'");
        int Field(string name)
        {
            var node = json[name] ?? throw new InvalidDataException($"{configPath}: field '{name}' is missing");
            return node.GetValue<int>();
        }
        void Expect(string name, int expected, string what)
        {
            int actual = Field(name);
            if (actual != expected) throw new InvalidDataException($"{configPath}: {name} is {actual}, but the backbone has {expected} {what}");
        }
        Expect("num_layers", backbone.NumLayers, "layers");
        Expect("token_dim", backbone.HiddenSize, "hidden units");
        Expect("num_attention_heads", backbone.NumHeads, "attention heads");
        if (json["num_transformer_submodules"] is { } submodules && submodules.GetValue<int>() != 1)
            throw new InvalidDataException($"{configPath}: num_transformer_submodules is {submodules.GetValue<int>()}; only encoder-only models (1) are supported");
        int length = Field("num_virtual_tokens");

        var tensors = SafeTensors.Read(weightsPath, out _);
        try
        {
            if (!tensors.TryGetValue(TensorKey, out var flat))
                throw new InvalidDataException($"{weightsPath}: no tensor '{TensorKey}' (found: {string.Join(", ", tensors.Keys)})");
            long[] expected = [length, backbone.NumLayers * 2L * backbone.HiddenSize];
            if (!flat.shape.SequenceEqual(expected))
                throw new InvalidDataException($"{weightsPath}: '{TensorKey}' has shape [{string.Join(", ", flat.shape)}], expected [{string.Join(", ", expected)}] (num_virtual_tokens, num_layers·2·token_dim)");
            var config = PrefixConfig.PTuningV2(length) with { Dropout = dropout };
            var module = PrefixModule.Create(config, backbone)!;
            using var scope = NewDisposeScope();
            var table = flat.view(length, backbone.NumLayers, 2, backbone.HiddenSize) // (l, L, 2, d)
                .permute(1, 0, 2, 3).reshape(backbone.NumLayers * (long)length, 2, backbone.HiddenSize); // (L·l, 2, d)
            module.LoadPrefixTable(table);
            return module;
        }
        finally
        {
            foreach (var tensor in tensors.Values) tensor.Dispose();
        }
    }
}
