using Apt.Backbone;
using static TorchSharp.torch;

namespace Apt.Tests.Backbone;

/// <summary>Hugging Face model folders, on the small random BERT of <see cref="BertTestFolder"/>.</summary>
public sealed class HuggingFaceFolderTests : IDisposable
{
    const int Hidden = BertTestFolder.Hidden, Layers = BertTestFolder.Layers, Heads = BertTestFolder.Heads, Intermediate = BertTestFolder.Intermediate;
    readonly string _folder = Directory.CreateTempSubdirectory("apt-hf-").FullName;

    Dictionary<string, Tensor> WriteFolder(Func<Dictionary<string, long[]>, Dictionary<string, long[]>>? edit = null) => BertTestFolder.Write(_folder, edit);

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
            shapes["bert.encoder.layer.0.attention.output.dense.weight"] = [Hidden, Hidden + 1];
            return shapes;
        });
        var error = Assert.Throws<InvalidDataException>(() => PretrainedBackbone.Load(_folder));
        Assert.Contains("Missing keys (1): encoder.layer.1.output.dense.bias", error.Message);
        Assert.Contains("Unexpected keys (1): encoder.layer.0.extra.weight", error.Message);
        Assert.Contains("encoder.layer.0.attention.output.dense.weight: file [16, 17], model [16, 16]", error.Message);
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
