using System.Text.Json.Nodes;
using Apt.Backbone;
using Apt.Prefix;
using static Apt.Tests.Prefix.PrefixTestKit;
using static TorchSharp.torch;

namespace Apt.Tests.Prefix;

/// <summary>PT-2 prefixes go to Hugging Face PEFT's prefix-tuning layout and back unchanged; APT refuses.</summary>
public sealed class PeftInteropTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void PTuningV2ExportedToPeftAndImportedBackGivesIdenticalOutputs(bool projection)
    {
        var backbone = MiniLm.Model;
        backbone.eval();
        manual_seed(17);
        using var prefix = PrefixModule.Create(PrefixConfig.PTuningV2(16) with { Projection = projection }, backbone.Config)!;
        prefix.eval();
        string folder = Directory.CreateTempSubdirectory("apt-peft-").FullName;
        try
        {
            PeftPrefixTuning.Export(prefix, folder, "sentence-transformers/all-MiniLM-L6-v2");

            var json = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "adapter_config.json")))!.AsObject();
            Assert.Equal("PREFIX_TUNING", json["peft_type"]!.GetValue<string>());
            Assert.Equal(16, json["num_virtual_tokens"]!.GetValue<int>());
            Assert.Equal(384, json["token_dim"]!.GetValue<int>());
            Assert.Equal(6, json["num_layers"]!.GetValue<int>());
            Assert.Equal(12, json["num_attention_heads"]!.GetValue<int>());
            Assert.Equal(1, json["num_transformer_submodules"]!.GetValue<int>());
            Assert.False(json["prefix_projection"]!.GetValue<bool>());
            Assert.Equal("sentence-transformers/all-MiniLM-L6-v2", json["base_model_name_or_path"]!.GetValue<string>());

            // PEFT's layout: row t, block 2i = layer i's key, block 2i + 1 = its value, each d wide.
            var tensors = SafeTensors.Read(Path.Combine(folder, "adapter_model.safetensors"), out _);
            Assert.Equal(["prompt_embeddings"], tensors.Keys);
            var flat = tensors["prompt_embeddings"];
            Assert.Equal([16L, 6 * 2 * 384], flat.shape);
            for (int i = 0; i < 6; i++)
            {
                using var layer = prefix.MaterialisedPrefix(i); // (l, 2, d)
                using var keys = flat.narrow(1, 2 * i * 384, 384);
                using var values = flat.narrow(1, (2 * i + 1) * 384, 384);
                Assert.True(Same(keys, layer.select(1, 0)), $"layer {i}: keys are not at block {2 * i}");
                Assert.True(Same(values, layer.select(1, 1)), $"layer {i}: values are not at block {2 * i + 1}");
            }
            flat.Dispose();

            using var imported = PeftPrefixTuning.Import(folder, backbone.Config);
            imported.eval();
            Assert.Equal((PrefixMethod.PTuningV2, null), (imported.Config.Method, imported.Config.LayerLengths));
            Assert.Equal(16, imported.PositionOffset);
            using var batch = MiniLmBatch(Sentences);
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var expected = backbone.Forward(batch.Ids, batch.TypeIds, batch.AttentionMask, prefix);
            var actual = backbone.Forward(batch.Ids, batch.TypeIds, batch.AttentionMask, imported);
            Assert.True(Same(expected.LastHidden, actual.LastHidden), "the imported prefix gives other hidden states");
            Assert.True(Same(expected.Pooled!, actual.Pooled!), "the imported prefix gives another pooled output");

            var tiny = Assert.Throws<InvalidDataException>(() => PeftPrefixTuning.Import(folder, TinyConfig));
            Assert.Contains("num_layers is 6, but the backbone has 2 layers", tiny.Message);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Theory]
    [InlineData("apt")]
    [InlineData("token")]
    [InlineData("layer")]
    public void GatedAdaptersRefuseExportBecausePeftCannotExpressGates(string method)
    {
        using var prefix = PrefixModule.Create(Configure(method, TinyConfig, 4), TinyConfig)!;
        string folder = Path.Combine(Path.GetTempPath(), $"apt-peft-refused-{Guid.NewGuid():N}");
        var error = Assert.Throws<ArgumentException>(() => PeftPrefixTuning.Export(prefix, folder, "tiny"));
        Assert.Contains("cannot express APT's token- and layer-level gates", error.Message);
        Assert.False(Directory.Exists(folder), "nothing is written when the export is refused");
    }
}
