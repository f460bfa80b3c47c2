using System.Text.Json.Nodes;
using Apt.Backbone;
using static TorchSharp.torch;

namespace Apt.Tests.Backbone;

/// <summary>
/// A small random BERT written in a Hugging Face model folder's layout (config.json, vocab.txt, model.safetensors):
/// keys spelled out here as the transformers library names them, independently of the model code.
/// </summary>
static class BertTestFolder
{
    public const int Hidden = 16, Layers = 2, Heads = 2, Intermediate = 32, Vocab = 40, Positions = 64;

    /// <summary>transformers' BertForPreTraining keys: "bert." prefix, pooler, and the pre-training heads.</summary>
    public static Dictionary<string, long[]> CheckpointShapes()
    {
        var shapes = new Dictionary<string, long[]>
        {
            ["bert.embeddings.word_embeddings.weight"] = [Vocab, Hidden],
            ["bert.embeddings.position_embeddings.weight"] = [Positions, Hidden],
            ["bert.embeddings.token_type_embeddings.weight"] = [2, Hidden],
            ["bert.embeddings.LayerNorm.weight"] = [Hidden],
            ["bert.embeddings.LayerNorm.bias"] = [Hidden],
            ["bert.pooler.dense.weight"] = [Hidden, Hidden],
            ["bert.pooler.dense.bias"] = [Hidden],
            ["cls.predictions.bias"] = [Vocab],
            ["cls.seq_relationship.weight"] = [2, Hidden],
        };
        for (int i = 0; i < Layers; i++)
        {
            string p = $"bert.encoder.layer.{i}.";
            foreach (var name in new[] { "attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense" })
            {
                shapes[p + name + ".weight"] = [Hidden, Hidden];
                shapes[p + name + ".bias"] = [Hidden];
            }
            shapes[p + "intermediate.dense.weight"] = [Intermediate, Hidden];
            shapes[p + "intermediate.dense.bias"] = [Intermediate];
            shapes[p + "output.dense.weight"] = [Hidden, Intermediate];
            shapes[p + "output.dense.bias"] = [Hidden];
            foreach (var norm in new[] { "attention.output.LayerNorm", "output.LayerNorm" })
            {
                shapes[p + norm + ".weight"] = [Hidden];
                shapes[p + norm + ".bias"] = [Hidden];
            }
        }
        return shapes;
    }

    /// <summary>Config.json (with <paramref name="editConfig"/> applied), vocab.txt and random weights of the shapes <paramref name="edit"/> leaves; returns the weights.</summary>
    public static Dictionary<string, Tensor> Write(string folder, Func<Dictionary<string, long[]>, Dictionary<string, long[]>>? edit = null, Action<JsonObject>? editConfig = null)
    {
        var config = new JsonObject
        {
            ["architectures"] = new JsonArray("BertForPreTraining"), ["model_type"] = "bert", ["vocab_size"] = Vocab,
            ["hidden_size"] = Hidden, ["num_hidden_layers"] = Layers, ["num_attention_heads"] = Heads,
            ["intermediate_size"] = Intermediate, ["hidden_act"] = "gelu", ["hidden_dropout_prob"] = 0.1,
            ["attention_probs_dropout_prob"] = 0.1, ["max_position_embeddings"] = Positions, ["type_vocab_size"] = 2,
            ["initializer_range"] = 0.02, ["layer_norm_eps"] = 1e-12, ["pad_token_id"] = 0,
        };
        editConfig?.Invoke(config);
        File.WriteAllText(Path.Combine(folder, "config.json"), config.ToJsonString());
        var tokens = new[] { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat", "a", "dog", "##s", "." };
        File.WriteAllLines(Path.Combine(folder, "vocab.txt"), tokens.Concat(Enumerable.Range(0, Vocab - tokens.Length).Select(i => $"w{i}")));
        var generator = new TorchSharp.torch.Generator(7);
        var shapes = (edit ?? (s => s))(CheckpointShapes());
        var weights = shapes.ToDictionary(s => s.Key, s => randn(s.Value, generator: generator) * 0.1f);
        SafeTensors.Write(Path.Combine(folder, "model.safetensors"), weights);
        return weights;
    }

}
