using System.Text.Json;
using System.Text.Json.Nodes;
using Apt.Backbone;
using static TorchSharp.torch;

namespace Apt.Lora;

/// <summary>
/// Exchange of LoRA adapters with Hugging Face PEFT (<c>PeftType.LORA</c>) on a BERT model: a folder with
/// <c>adapter_config.json</c> (PEFT's field names) and <c>adapter_model.safetensors</c> whose keys are PEFT's as
/// <c>save_pretrained</c> writes them, e.g. <c>base_model.model.encoder.layer.0.attention.self.query.lora_A.weight</c>
/// (A (r, d)) and <c>….lora_B.weight</c> (B (d, r)). Only LoRA's tensors are exchanged: the task head is not.
/// </summary>
public static class PeftLora
{
    public const string ConfigFile = "adapter_config.json";
    public const string WeightsFile = "adapter_model.safetensors";

    /// <summary>PEFT's key of a module parameter <c>layer.{i}.{target}.{rest}</c>.</summary>
    static string PeftKey(string name)
    {
        string[] parts = name.Split('.', 4); // layer, i, target, lora_A.weight
        return $"base_model.model.encoder.layer.{parts[1]}.attention.self.{parts[2]}.{parts[3]}";
    }

    /// <summary>Writes <paramref name="lora"/> as a PEFT LoRA adapter in <paramref name="folder"/>.</summary>
    /// <param name="lora">The trained LoRA module.</param>
    /// <param name="folder">Where adapter_config.json and adapter_model.safetensors go.</param>
    /// <param name="baseModelNameOrPath">PEFT's <c>base_model_name_or_path</c>, e.g.
    /// "sentence-transformers/all-MiniLM-L6-v2".</param>
    /// <param name="taskType">PEFT's <c>task_type</c> (SEQ_CLS, TOKEN_CLS, …), or null for the bare encoder.</param>
    public static void Export(LoraModule lora, string folder, string baseModelNameOrPath, string? taskType = null)
    {
        var config = lora.Config;
        Directory.CreateDirectory(folder);
        using (var scope = NewDisposeScope())
        {
            var tensors = lora.named_parameters()
                .ToDictionary(p => PeftKey(p.name), p => p.parameter.detach().to_type(ScalarType.Float32));
            var metadata = new Dictionary<string, string> { ["format"] = "pt" };
            SafeTensors.Write(Path.Combine(folder, WeightsFile), tensors, metadata);
        }
        var json = new JsonObject
        {
            ["base_model_name_or_path"] = baseModelNameOrPath,
            ["bias"] = "none",
            ["fan_in_fan_out"] = false,
            ["inference_mode"] = true,
            ["init_lora_weights"] = true,
            ["lora_alpha"] = config.Alpha,
            ["lora_dropout"] = config.Dropout,
            ["peft_type"] = "LORA",
            ["r"] = config.Rank,
            ["target_modules"] = new JsonArray([.. config.TargetModules.Select(t => JsonValue.Create(t))]),
            ["task_type"] = taskType,
            ["use_dora"] = false,
            ["use_rslora"] = false,
        };
        string text = json.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
        AtomicFile.WriteAllText(Path.Combine(folder, ConfigFile), text);
    }

    /// <summary>
    /// Reads a PEFT LoRA adapter for <paramref name="backbone"/> into a <see cref="LoraModule"/>; errors name the file
    /// and the field or keys that do not fit (PEFT options this kit does not compute, such as DoRA, are refused).
    /// </summary>
    public static LoraModule Import(string folder, BertConfig backbone)
    {
        string configPath = Path.Combine(folder, ConfigFile), weightsPath = Path.Combine(folder, WeightsFile);
        foreach (var required in new[] { configPath, weightsPath })
            if (!File.Exists(required))
                throw new FileNotFoundException($"{folder}: a PEFT adapter needs {Path.GetFileName(required)}", required);

        T Bad<T>(string message) => throw new InvalidDataException($"{configPath}: {message}");
        JsonObject json;
        try { json = JsonNode.Parse(InputFile.ReadAllText(configPath))?.AsObject() ?? Bad<JsonObject>("empty"); }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{configPath}: line {e.LineNumber + 1}: not valid JSON: {e.Message}", e);
        }
        if (json["peft_type"]?.GetValue<string>() is not "LORA")
            Bad<bool>($"peft_type is '{json["peft_type"]}', expected 'LORA'");
        foreach (string option in new[] { "use_dora", "use_rslora", "fan_in_fan_out" })
            if (json[option]?.GetValue<bool>() == true) Bad<bool>($"{option} is true; this kit computes plain LoRA only");
        if (json["bias"]?.GetValue<string>() is { } bias && bias != "none")
            Bad<bool>($"bias is '{bias}'; this kit trains no LoRA biases");
        var config = new LoraConfig
        {
            Rank = json["r"]?.GetValue<int>() ?? Bad<int>("field 'r' is missing"),
            Alpha = json["lora_alpha"]?.GetValue<double>() ?? Bad<double>("field 'lora_alpha' is missing"),
            Dropout = json["lora_dropout"]?.GetValue<double>() ?? 0,
            TargetModules = json["target_modules"] is JsonArray targets
                ? [.. targets.Select(t => t!.GetValue<string>())]
                : Bad<string[]>("field 'target_modules' must be a list of module names"),
        };
        var module = new LoraModule(config, backbone);
        var saved = SafeTensors.Read(weightsPath, out _);
        try
        {
            var parameters = module.named_parameters().ToDictionary(p => PeftKey(p.name), p => (Tensor)p.parameter);
            string adapted = string.Join(", ", config.TargetModules);
            Checkpoint.Copy(parameters, saved,
                $"{weightsPath}: the adapter's tensors do not fit LoRA r = {config.Rank} on [{adapted}] of this backbone.");
        }
        catch
        {
            module.Dispose();
            throw;
        }
        finally
        {
            foreach (var tensor in saved.Values) tensor.Dispose();
        }
        return module;
    }
}
