using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;
using Apt.Backbone;
using Apt.Tests.Backbone;
using static TorchSharp.torch;

namespace Apt.Tests.Reliability;

/// <summary>
/// Model folders that break the format or disagree with their config.json: each is refused with one line that names
/// the file at fault and what was expected, as one of the exception types the CLI prints as "error: …" (exit code 2),
/// never an out-of-memory, a native crash or a stack trace.
/// </summary>
public sealed class HostileModelFolderTests : IDisposable
{
    readonly string _folder = Directory.CreateTempSubdirectory("apt-hostile-").FullName;
    string Weights => Path.Combine(_folder, "model.safetensors");

    /// <summary>Loading the folder fails with a one-line message naming <paramref name="file"/> and holding every phrase of <paramref name="expected"/>.</summary>
    string AssertRefused(string file, params string[] expected)
    {
        var error = Record.Exception(() => PretrainedBackbone.Load(_folder).Dispose());
        Assert.NotNull(error);
        Assert.True(error is InvalidDataException or FileNotFoundException or ArgumentException, $"{error.GetType().Name} escaped: {error}");
        Assert.DoesNotContain('\n', error.Message);
        Assert.Contains(Path.Combine(_folder, file), error.Message);
        foreach (string phrase in expected) Assert.Contains(phrase, error.Message);
        return error.Message;
    }

    /// <summary>The folder's model.safetensors with its JSON header replaced by <paramref name="edit"/>'s and its data kept.</summary>
    void EditHeader(Action<JsonObject> edit)
    {
        byte[] bytes = File.ReadAllBytes(Weights);
        int length = (int)BinaryPrimitives.ReadInt64LittleEndian(bytes);
        var header = JsonNode.Parse(Encoding.UTF8.GetString(bytes, 8, length))!.AsObject();
        edit(header);
        WriteRaw(Encoding.UTF8.GetBytes(header.ToJsonString()), bytes[(8 + length)..]);
    }

    void WriteRaw(byte[] header, byte[] data, long? declaredLength = null)
    {
        byte[] length = new byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(length, declaredLength ?? header.Length);
        File.WriteAllBytes(Weights, [.. length, .. header, .. data]);
    }

    [Fact]
    public void AnAbsurdHeaderLengthIsRefusedBeforeAnythingIsAllocated()
    {
        BertTestFolder.Write(_folder);
        WriteRaw("{}"u8.ToArray(), [], declaredLength: 1L << 62);
        AssertRefused("model.safetensors", "header length 4611686018427387904 does not fit the file's 10 bytes");
    }

    [Fact]
    public void AHeaderLengthPastTheEndOfTheFileIsRefused()
    {
        BertTestFolder.Write(_folder);
        long size = new FileInfo(Weights).Length;
        byte[] bytes = File.ReadAllBytes(Weights);
        BinaryPrimitives.WriteInt64LittleEndian(bytes, size);
        File.WriteAllBytes(Weights, bytes);
        AssertRefused("model.safetensors", $"header length {size} does not fit", "truncated");
    }

    [Fact]
    public void AHeaderThatIsNotJsonIsRefused()
    {
        BertTestFolder.Write(_folder);
        WriteRaw("{\"a\": [1, 2"u8.ToArray(), new byte[16]);
        AssertRefused("model.safetensors", "the header is not valid JSON");
    }

    [Fact]
    public void OffsetsOutsideTheDataAreRefused()
    {
        BertTestFolder.Write(_folder);
        EditHeader(h => h["bert.pooler.dense.bias"]!["data_offsets"] = new JsonArray(1L << 40, (1L << 40) + 64));
        AssertRefused("model.safetensors", "tensor 'bert.pooler.dense.bias'", "lie outside the data section");
    }

    [Fact]
    public void OffsetsThatDoNotMatchTheShapeAreRefused()
    {
        BertTestFolder.Write(_folder);
        EditHeader(h => h["bert.pooler.dense.bias"]!["shape"] = new JsonArray(1L << 40));
        AssertRefused("model.safetensors", "tensor 'bert.pooler.dense.bias'", "needs 4398046511104");
    }

    [Fact]
    public void AShapeWhoseSizeOverflowsIsRefused()
    {
        BertTestFolder.Write(_folder);
        EditHeader(h => h["bert.pooler.dense.bias"]!["shape"] = new JsonArray(1L << 40, 1L << 40));
        AssertRefused("model.safetensors", "tensor 'bert.pooler.dense.bias'", "shape [1099511627776, 1099511627776] holds more bytes than a file can");
    }

    [Fact]
    public void OverlappingTensorsAreRefused()
    {
        BertTestFolder.Write(_folder);
        EditHeader(h => h["bert.embeddings.LayerNorm.bias"]!["data_offsets"] = h["bert.embeddings.LayerNorm.weight"]!["data_offsets"]!.DeepClone());
        AssertRefused("model.safetensors", "'bert.embeddings.LayerNorm.bias'", "'bert.embeddings.LayerNorm.weight'", "overlap");
    }

    [Fact]
    public void AnEntryWithoutDtypeOrOfAnUnknownDtypeIsRefused()
    {
        BertTestFolder.Write(_folder);
        EditHeader(h => h["bert.pooler.dense.bias"]!.AsObject().Remove("dtype"));
        AssertRefused("model.safetensors", "tensor 'bert.pooler.dense.bias': no dtype");
        EditHeader(h => h["bert.pooler.dense.bias"]!["dtype"] = "F8_E4M3");
        AssertRefused("model.safetensors", "dtype F8_E4M3; expected one of F32");
    }

    [Fact]
    public void IntegerWeightsWhereTheModelHasFloatsAreRefused()
    {
        BertTestFolder.Write(_folder);
        var weights = SafeTensors.Read(Weights, out _);
        weights["bert.embeddings.LayerNorm.weight"] = ones([BertTestFolder.Hidden], ScalarType.Int64);
        SafeTensors.Write(Weights, weights);
        AssertRefused("model.safetensors", "Wrong dtypes (1, expected floating point): embeddings.LayerNorm.weight: file Int64, model Float32");
    }

    [Fact]
    public void SizesInConfigJsonThatTheWeightsContradictAreListedOnOneLineBeforeTheModelIsBuilt()
    {
        BertTestFolder.Write(_folder, editConfig: c => { c["num_hidden_layers"] = 3; c["intermediate_size"] = 48; });
        string message = AssertRefused("config.json", $"{Weights}: ",
            "intermediate_size 48, but tensor 'encoder.layer.0.intermediate.dense.weight' has shape [32, 16]",
            "num_hidden_layers 3, but the weights hold 2 layers");
        Assert.StartsWith($"{Path.Combine(_folder, "config.json")} does not match {Weights}: ", message);
    }

    [Theory]
    [InlineData("intermediate_size", 1_000_000_000,
        "tensor 'encoder.layer.0.intermediate.dense.weight' has shape [32, 16]")]
    [InlineData("hidden_size", 1_000_000, "tensor 'embeddings.word_embeddings.weight' has shape [40, 16]")]
    [InlineData("vocab_size", 2_000_000_000, "tensor 'embeddings.word_embeddings.weight' has shape [40, 16]")]
    [InlineData("max_position_embeddings", 2_000_000_000,
        "tensor 'embeddings.position_embeddings.weight' has shape [64, 16]")]
    [InlineData("type_vocab_size", 2_000_000_000, "tensor 'embeddings.token_type_embeddings.weight' has shape [2, 16]")]
    [InlineData("num_hidden_layers", 1_000_000, "the weights hold 2 layers")]
    public void AnAbsurdSizeInConfigJsonIsRefusedNamingTheFieldBeforeAnythingIsAllocated(string field,
        int value, string found)
    {
        BertTestFolder.Write(_folder, editConfig: c =>
        {
            c[field] = value;
            if (field == "hidden_size") c["num_attention_heads"] = 1;
        });
        string message = AssertRefused("config.json", $"{field} {value}, but {found}");
        Assert.StartsWith($"{Path.Combine(_folder, "config.json")} does not match {Weights}: ", message);
    }

    [Fact]
    public void MissingAndExtraTensorsAreListedOnOneLine()
    {
        BertTestFolder.Write(_folder, shapes =>
        {
            shapes.Remove("bert.embeddings.LayerNorm.weight");
            for (int i = 0; i < 20; i++) shapes[$"bert.extra.{i:D2}.weight"] = [2];
            return shapes;
        });
        AssertRefused("model.safetensors", "Missing keys (1): embeddings.LayerNorm.weight.",
            "Unexpected keys (20): extra.00.weight",
            "… and 8 more");
    }

    [Fact]
    public void AHiddenSizeThatTheHeadsDoNotDivideIsRefused()
    {
        BertTestFolder.Write(_folder, editConfig: c => c["num_attention_heads"] = 3);
        AssertRefused("config.json", "hidden_size 16 is not a multiple of num_attention_heads 3");
    }

    [Fact]
    public void AConfigFieldOfTheWrongTypeIsRefused()
    {
        BertTestFolder.Write(_folder, editConfig: c => c["hidden_size"] = "sixteen");
        AssertRefused("config.json", "expected a Hugging Face config.json", "$.hidden_size");
    }

    [Fact]
    public void APadTokenOutsideTheVocabularyIsRefused()
    {
        BertTestFolder.Write(_folder, editConfig: c => c["pad_token_id"] = BertTestFolder.Vocab);
        AssertRefused("config.json", $"pad_token_id {BertTestFolder.Vocab} is not an id of the vocabulary");
    }

    [Fact]
    public void AnEmptyVocabularyIsRefused()
    {
        BertTestFolder.Write(_folder);
        File.WriteAllText(Path.Combine(_folder, "vocab.txt"), "");
        AssertRefused("vocab.txt", "the vocabulary has no [CLS] token");
    }

    [Fact]
    public void AVocabularyLargerThanTheEmbeddingTableIsRefused()
    {
        BertTestFolder.Write(_folder);
        File.AppendAllLines(Path.Combine(_folder, "vocab.txt"), ["extra1", "extra2"]);
        AssertRefused("config.json", $"vocab_size {BertTestFolder.Vocab} is smaller than the {BertTestFolder.Vocab + 2} tokens of");
    }

    [Fact]
    public void ABrokenTokenizerConfigIsRefused()
    {
        BertTestFolder.Write(_folder);
        File.WriteAllText(Path.Combine(_folder, "tokenizer_config.json"), "{\"do_lower_case\": \"yes\"}");
        AssertRefused("tokenizer_config.json", "do_lower_case is true or false");
    }

    [Fact]
    public void OnlyAPickleCheckpointIsRefusedWithTheConversion()
    {
        BertTestFolder.Write(_folder);
        File.Move(Weights, Path.Combine(_folder, "pytorch_model.bin"));
        AssertRefused("", "only pytorch_model.bin is present", "safe_serialization=True");
    }

    [Fact]
    public void AFolderWithoutWeightsSaysWhichFileIsMissing()
    {
        BertTestFolder.Write(_folder);
        File.Delete(Weights);
        AssertRefused("", "the model folder has no model.safetensors");
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
