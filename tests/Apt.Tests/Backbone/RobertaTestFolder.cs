using System.Globalization;
using System.Text;
using System.Text.Json;
using Apt.Backbone;
using TorchSharp;
using static TorchSharp.torch;

namespace Apt.Tests.Backbone;

/// <summary>
/// A RoBERTa model folder in Hugging Face's layout, written by the test: config.json, a small random
/// model.safetensors under Hugging Face's own key names, and vocab.json + merges.txt converted here
/// (independently of the library) from the real fairseq files in Microsoft.ML.TorchSharp.
/// </summary>
sealed class RobertaTestFolder : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "apt-roberta-" + Guid.NewGuid().ToString("N"));

    /// <summary>roberta-base's vocabulary and position table, a tiny encoder.</summary>
    public static BertConfig Config { get; } = new()
    {
        ModelType = "roberta", VocabSize = 50265, HiddenSize = 32, NumLayers = 2, NumHeads = 4, IntermediateSize = 64,
        MaxPositions = 514, TypeVocabSize = 1, LayerNormEps = 1e-5, PadTokenId = 1,
    };

    public RobertaTestFolder() => Directory.CreateDirectory(Path);

    public string File(string name) => System.IO.Path.Combine(Path, name);

    /// <summary>Hugging Face's RoBERTa config.json, as a checkpoint from the hub spells it.</summary>
    public void WriteConfig()
    {
        var json = new Dictionary<string, object>
        {
            ["architectures"] = new[] { "RobertaForMaskedLM" }, ["model_type"] = "roberta", ["vocab_size"] = Config.VocabSize,
            ["hidden_size"] = Config.HiddenSize, ["num_hidden_layers"] = Config.NumLayers, ["num_attention_heads"] = Config.NumHeads,
            ["intermediate_size"] = Config.IntermediateSize, ["hidden_act"] = "gelu", ["hidden_dropout_prob"] = 0.1,
            ["attention_probs_dropout_prob"] = 0.1, ["max_position_embeddings"] = Config.MaxPositions, ["type_vocab_size"] = 1,
            ["layer_norm_eps"] = 1e-5, ["pad_token_id"] = 1, ["bos_token_id"] = 0, ["eos_token_id"] = 2,
        };
        System.IO.File.WriteAllText(File("config.json"), JsonSerializer.Serialize(json));
    }

    /// <summary>Hugging Face's RoBERTa parameter names and shapes (RobertaModel's state dict).</summary>
    public static IEnumerable<(string Name, long[] Shape)> HuggingFaceKeys(bool withPooler)
    {
        long d = Config.HiddenSize, inner = Config.IntermediateSize;
        yield return ("embeddings.word_embeddings.weight", [Config.VocabSize, d]);
        yield return ("embeddings.position_embeddings.weight", [Config.MaxPositions, d]);
        yield return ("embeddings.token_type_embeddings.weight", [1, d]);
        yield return ("embeddings.LayerNorm.weight", [d]);
        yield return ("embeddings.LayerNorm.bias", [d]);
        for (int i = 0; i < Config.NumLayers; i++)
        {
            string layer = $"encoder.layer.{i}.";
            foreach (string part in new[] { "attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense" })
            {
                yield return (layer + part + ".weight", [d, d]);
                yield return (layer + part + ".bias", [d]);
            }
            yield return (layer + "attention.output.LayerNorm.weight", [d]);
            yield return (layer + "attention.output.LayerNorm.bias", [d]);
            yield return (layer + "intermediate.dense.weight", [inner, d]);
            yield return (layer + "intermediate.dense.bias", [inner]);
            yield return (layer + "output.dense.weight", [d, inner]);
            yield return (layer + "output.dense.bias", [d]);
            yield return (layer + "output.LayerNorm.weight", [d]);
            yield return (layer + "output.LayerNorm.bias", [d]);
        }
        if (withPooler)
        {
            yield return ("pooler.dense.weight", [d, d]);
            yield return ("pooler.dense.bias", [d]);
        }
    }

    /// <summary>
    /// Random weights under the encoder's own names (returned; the caller disposes them), saved the way
    /// a RobertaForMaskedLM checkpoint from the hub is: prefixed "roberta.", with the masked-LM head and
    /// the position-id buffer that loading must drop.
    /// </summary>
    public Dictionary<string, Tensor> WriteWeights(bool withPooler, int seed)
    {
        torch.random.manual_seed(seed);
        using var scope = NewDisposeScope();
        var weights = HuggingFaceKeys(withPooler).ToDictionary(
            k => k.Name,
            k => (k.Name.EndsWith("LayerNorm.weight", StringComparison.Ordinal) ? 1 + 0.1 * randn(k.Shape) : 0.3 * randn(k.Shape)).MoveToOuterDisposeScope());
        var file = weights.ToDictionary(p => "roberta." + p.Key, p => p.Value);
        file["lm_head.dense.weight"] = randn(Config.HiddenSize, Config.HiddenSize);
        file["lm_head.bias"] = randn(Config.VocabSize);
        file["roberta.embeddings.position_ids"] = arange(Config.MaxPositions, dtype: ScalarType.Int64).unsqueeze(0); // (1, 514)
        SafeTensors.Write(File("model.safetensors"), file, new Dictionary<string, string> { ["format"] = "pt" });
        return weights;
    }

    /// <summary>The package's real encoder.json, vocab.bpe and dict.txt, copied as they are (fairseq's layout).</summary>
    public void WriteFairseqTokenizer()
    {
        foreach (string name in new[] { "encoder.json", "vocab.bpe", "dict.txt" })
            System.IO.File.WriteAllBytes(File(name), RobertaTextTokenizer.PackagedFiles.ReadResource(name));
    }

    /// <summary>
    /// Hugging Face's vocab.json + merges.txt from the package's fairseq files, converted as Hugging Face
    /// did for roberta-base: &lt;s&gt; &lt;pad&gt; &lt;/s&gt; &lt;unk&gt; = 0..3, the GPT-2 token on dict.txt's line n
    /// (1-based) gets n + 3, &lt;mask&gt; comes last; merges.txt is vocab.bpe unchanged.
    /// </summary>
    public void WriteHuggingFaceTokenizer()
    {
        var packaged = RobertaTextTokenizer.PackagedFiles;
        var gpt2 = JsonSerializer.Deserialize<Dictionary<string, int>>(packaged.ReadResource("encoder.json"))!.ToDictionary(p => p.Value, p => p.Key);
        var vocab = new Dictionary<string, int> { ["<s>"] = 0, ["<pad>"] = 1, ["</s>"] = 2, ["<unk>"] = 3 };
        string[] lines = Encoding.UTF8.GetString(packaged.ReadResource("dict.txt")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        for (int n = 1; n <= lines.Length; n++)
        {
            string symbol = lines[n - 1].Split(' ')[0];
            vocab[int.TryParse(symbol, CultureInfo.InvariantCulture, out int id) ? gpt2[id] : symbol] = n + 3;
        }
        vocab["<mask>"] = lines.Length + 4;
        System.IO.File.WriteAllText(File("vocab.json"), JsonSerializer.Serialize(vocab));
        System.IO.File.WriteAllBytes(File("merges.txt"), packaged.ReadResource("vocab.bpe"));
    }

    public void Dispose()
    {
        if (Directory.Exists(Path)) Directory.Delete(Path, recursive: true);
    }
}
