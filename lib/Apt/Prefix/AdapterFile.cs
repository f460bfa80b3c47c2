using System.Text.Json;
using System.Text.Json.Serialization;
using Apt.Backbone;
using Apt.Lora;
using TorchSharp;
using static TorchSharp.torch;

namespace Apt.Prefix;

/// <summary>
/// What an adapter's JSON holds beside its safetensors: enough to rebuild the task model and to refuse
/// the wrong backbone.
/// </summary>
/// <param name="Format">Always <see cref="AdapterFile.FormatName"/>.</param>
/// <param name="Prefix">The method's config.</param>
/// <param name="Backbone">The backbone the tensors were trained on (name, source, SHA-256 of its weights).</param>
/// <param name="BackboneConfig">Its shape.</param>
/// <param name="Head">The caller's description of the head (e.g. "dropout 0.1 → Linear(384, 2) on the pooled output").</param>
/// <param name="Tensors">Every saved tensor's shape, by name.</param>
/// <param name="Parameters">Total saved parameters.</param>
/// <param name="Lora">LoRA's config, for a LoRA adapter.</param>
public sealed record AdapterManifest(
    [property: JsonPropertyName("format")] string Format,
    [property: JsonPropertyName("prefix")] PrefixConfig Prefix,
    [property: JsonPropertyName("backbone")] BackboneIdentity Backbone,
    [property: JsonPropertyName("backbone_config")] BertConfig BackboneConfig,
    [property: JsonPropertyName("head")] string Head,
    [property: JsonPropertyName("tensors")] SortedDictionary<string, long[]> Tensors,
    [property: JsonPropertyName("parameters")] long Parameters,
    [property: JsonPropertyName("lora"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] LoraConfig? Lora = null);

/// <summary>
/// Adapter files: only the trainable tensors of a task model (prefix, gates, head; the whole backbone for
/// FT) as <c>name.safetensors</c>, and <c>name.json</c> beside it with an <see cref="AdapterManifest"/>.
/// </summary>
public static class AdapterFile
{
    public const string FormatName = "apt-adapter/1";

    /// <summary>The JSON beside an adapter's safetensors.</summary>
    public static string ManifestPath(string adapterPath) => Path.ChangeExtension(adapterPath, ".json");

    /// <summary>The trainable parameters (requires_grad) of a task model, by name.</summary>
    public static Dictionary<string, Tensor> TrainableTensors(nn.Module taskModel) =>
        taskModel.named_parameters().Where(p => p.parameter.requires_grad).ToDictionary(p => p.name, p => (Tensor)p.parameter);

    /// <summary>Saves the trainable tensors of <paramref name="taskModel"/> and the manifest (both atomic).</summary>
    public static AdapterManifest Save(string path, nn.Module taskModel, PrefixConfig prefix, BertConfig backboneConfig, BackboneIdentity backbone, string head,
        LoraConfig? lora = null) =>
        Save(path, TrainableTensors(taskModel), prefix, backboneConfig, backbone, head, lora);

    /// <summary>Saves named trainable tensors and the manifest (both atomic).</summary>
    public static AdapterManifest Save(string path, IReadOnlyDictionary<string, Tensor> trainable, PrefixConfig prefix, BertConfig backboneConfig, BackboneIdentity backbone, string head,
        LoraConfig? lora = null)
    {
        if (trainable.Count == 0) throw new ArgumentException("an adapter needs at least one trainable tensor", nameof(trainable));
        var manifest = new AdapterManifest(FormatName, prefix, backbone, backboneConfig, head,
            new SortedDictionary<string, long[]>(trainable.ToDictionary(t => t.Key, t => t.Value.shape), StringComparer.Ordinal),
            trainable.Values.Sum(t => t.numel()), lora);
        SafeTensors.Write(path, trainable, new Dictionary<string, string> { ["format"] = "pt", ["apt_format"] = FormatName });
        AtomicFile.WriteAllText(ManifestPath(path), JsonSerializer.Serialize(manifest, PrefixConfig.Json));
        return manifest;
    }

    /// <summary>Reads the manifest beside <paramref name="path"/> (to rebuild the task model before <see cref="Load"/>).</summary>
    public static AdapterManifest ReadManifest(string path)
    {
        string manifestPath = ManifestPath(path);
        if (!File.Exists(manifestPath)) throw new FileNotFoundException($"{path}: the adapter has no manifest {Path.GetFileName(manifestPath)} beside it", manifestPath);
        AdapterManifest? manifest;
        try { manifest = JsonSerializer.Deserialize<AdapterManifest>(InputFile.ReadAllText(manifestPath),
            PrefixConfig.Json); }
        catch (JsonException e) { throw new InvalidDataException($"{manifestPath}: line {e.LineNumber + 1}: not an adapter manifest: {e.Message}", e); }
        if (manifest is null || manifest.Format != FormatName || manifest.Prefix is null || manifest.Backbone is null || manifest.BackboneConfig is null || manifest.Tensors is null)
            throw new InvalidDataException($"{manifestPath}: expected an adapter manifest of format '{FormatName}' with prefix, backbone, backbone_config and tensors");
        return manifest;
    }

    /// <summary>
    /// Loads an adapter into <paramref name="taskModel"/>'s trainable parameters. Fails, naming the files, if
    /// it was trained on another backbone (its weights' SHA-256 differs from <paramref name="backbone"/>'s) or if
    /// the saved tensors and the model's trainable parameters differ in names or shapes.
    /// </summary>
    public static AdapterManifest Load(string path, nn.Module taskModel, BackboneIdentity backbone)
    {
        var manifest = ReadManifest(path);
        if (!string.Equals(manifest.Backbone.WeightsSha256, backbone.WeightsSha256, StringComparison.OrdinalIgnoreCase))
            throw new InvalidDataException(
                $"{path}: the adapter was trained on backbone '{manifest.Backbone.Name}' ({manifest.Backbone.Source}, weights SHA-256 {manifest.Backbone.WeightsSha256}), " +
                $"but this backbone is '{backbone.Name}' ({backbone.Source}, weights SHA-256 {backbone.WeightsSha256}); an adapter only fits the weights it was trained on");
        var model = TrainableTensors(taskModel);
        var saved = SafeTensors.Read(path, out _);
        try
        {
            Checkpoint.Copy(model, saved, $"{path}: the adapter ({manifest.Prefix.Method}, prefix length {manifest.Prefix.PrefixLength}) does not fit the model's trainable parameters.");
        }
        finally
        {
            foreach (var tensor in saved.Values) tensor.Dispose();
        }
        return manifest;
    }
}
