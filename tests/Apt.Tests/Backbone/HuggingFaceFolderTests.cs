using System.Text.Json.Nodes;
using Apt.Backbone;
using static TorchSharp.torch;

namespace Apt.Tests.Backbone;

/// <summary>
/// Hugging Face model folders, on a small random BERT that the test writes itself in exactly that
/// layout: keys spelled out here as the transformers library names them, independently of the model code.
/// </summary>
public sealed class HuggingFaceFolderTests : IDisposable
{
    const int Hidden = 16, Layers = 2, Heads = 2, Intermediate = 32, Vocab = 40, Positions = 64;
    readonly string _folder = Directory.CreateTempSubdirectory("apt-hf-").FullName;

    /// <summary>transformers' BertForPreTraining keys: "bert." prefix, pooler, and the pre-training heads.</summary>
    static Dictionary<string, long[]> CheckpointShapes()
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

    Dictionary<string, Tensor> WriteFolder(Func<Dictionary<string, long[]>, Dictionary<string, long[]>>? edit = null)
    {
        var config = new JsonObject
        {
            ["architectures"] = new JsonArray("BertForPreTraining"), ["model_type"] = "bert", ["vocab_size"] = Vocab,
            ["hidden_size"] = Hidden, ["num_hidden_layers"] = Layers, ["num_attention_heads"] = Heads,
            ["intermediate_size"] = Intermediate, ["hidden_act"] = "gelu", ["hidden_dropout_prob"] = 0.1,
            ["attention_probs_dropout_prob"] = 0.1, ["max_position_embeddings"] = Positions, ["type_vocab_size"] = 2,
            ["initializer_range"] = 0.02, ["layer_norm_eps"] = 1e-12, ["pad_token_id"] = 0,
        };
        File.WriteAllText(Path.Combine(_folder, "config.json"), config.ToJsonString());
        var tokens = new[] { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat", "a", "dog", "##s", "." };
        File.WriteAllLines(Path.Combine(_folder, "vocab.txt"), tokens.Concat(Enumerable.Range(0, Vocab - tokens.Length).Select(i => $"w{i}")));
        var generator = new TorchSharp.torch.Generator(7);
        var shapes = (edit ?? (s => s))(CheckpointShapes());
        var weights = shapes.ToDictionary(s => s.Key, s => randn(s.Value, generator: generator) * 0.1f);
        SafeTensors.Write(Path.Combine(_folder, "model.safetensors"), weights);
        return weights;
    }

    [Fact]
    public void LoadsTheCheckpointUnderTheTransformersNames()
    {
        var written = WriteFolder();
        using var backbone = PretrainedBackbone.Load(_folder);
        Assert.Equal((Layers, Hidden, Heads, true), (backbone.Config.NumLayers, backbone.Config.HiddenSize, backbone.Config.NumHeads, backbone.Config.HasPooler));
        var state = backbone.Model.state_dict();
        var expected = written.Where(w => !w.Key.StartsWith("cls.")).ToDictionary(w => w.Key["bert.".Length..], w => w.Value);
        Assert.Equal(expected.Keys.Order(), state.Keys.Order());
        Assert.All(expected, w => TensorAssert.Equal(w.Value, state[w.Key], w.Key));
        Assert.Equal(["[CLS]", "the", "cat", "sat", "on", "the", "mat", ".", "[SEP]"], backbone.Tokenizer.Tokens(backbone.Tokenizer.Encode("The cat sat on the mat.").Ids));

        using var batch = TokenBatch.Collate([backbone.Tokenizer.Encode("the cat sat"), backbone.Tokenizer.Encode("a dog")], 0);
        backbone.Model.eval();
        using var noGrad = no_grad();
        var output = backbone.Model.Forward(batch.Ids, batch.TypeIds, batch.AttentionMask, allHiddenStates: true);
        Assert.Equal([2L, 5, Hidden], output.LastHidden.shape);
        Assert.Equal(Layers + 1, output.HiddenStates!.Count);
        TensorAssert.Equal(output.LastHidden, output.HiddenStates[^1]);
    }

    [Fact]
    public void MissingUnexpectedAndMisshapedKeysAreAllListed()
    {
        WriteFolder(shapes =>
        {
            shapes.Remove("bert.encoder.layer.1.output.dense.bias");
            shapes["bert.encoder.layer.0.extra.weight"] = [3];
            shapes["bert.encoder.layer.0.intermediate.dense.weight"] = [Intermediate + 1, Hidden];
            return shapes;
        });
        var error = Assert.Throws<InvalidDataException>(() => PretrainedBackbone.Load(_folder));
        Assert.Contains("Missing keys (1): encoder.layer.1.output.dense.bias", error.Message);
        Assert.Contains("Unexpected keys (1): encoder.layer.0.extra.weight", error.Message);
        Assert.Contains("encoder.layer.0.intermediate.dense.weight: file [33, 16], model [32, 16]", error.Message);
        Assert.Contains("model.safetensors", error.Message);
    }

    [Fact]
    public void APickleCheckpointIsRefusedWithTheWayToConvertIt()
    {
        WriteFolder();
        File.Delete(Path.Combine(_folder, "model.safetensors"));
        File.WriteAllBytes(Path.Combine(_folder, "pytorch_model.bin"), [0x80, 0x02]);
        var error = Assert.Throws<InvalidDataException>(() => PretrainedBackbone.Load(_folder));
        Assert.Contains("pytorch_model.bin", error.Message);
        Assert.Contains("arbitrary code", error.Message);
        Assert.Contains("safe_serialization=True", error.Message);
    }

    [Fact]
    public void ATruncatedWeightFileIsNamedInTheError()
    {
        WriteFolder();
        string path = Path.Combine(_folder, "model.safetensors");
        byte[] bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
        var error = Assert.Throws<InvalidDataException>(() => PretrainedBackbone.Load(_folder));
        Assert.Contains(path, error.Message);
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
