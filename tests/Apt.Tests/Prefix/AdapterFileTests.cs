using Apt.Backbone;
using Apt.Prefix;
using static Apt.Tests.Prefix.PrefixTestKit;
using static TorchSharp.torch;

namespace Apt.Tests.Prefix;

/// <summary>Adapter files hold only the trainable tensors, reload to identical outputs and refuse what does not fit.</summary>
public sealed class AdapterFileTests
{
    [Fact]
    public void SavedThenLoadedAdapterGivesIdenticalOutputsAndRefusesOtherBackbonesAndSizes()
    {
        var backbone = MiniLm.Model;
        var config = PrefixConfig.Apt(8);
        string head = PooledClassifier.HeadDescription(384, 2);
        manual_seed(14);
        var trained = new PooledClassifier(backbone, PrefixModule.Create(config, backbone.Config), labels: 2);
        Randomise(trained.Prefix!, seed: 15);
        trained.eval();
        using var batch = MiniLmBatch(Sentences);
        using var expected = Logits(trained, batch);

        string folder = Directory.CreateTempSubdirectory("apt-adapter-").FullName;
        try
        {
            string path = Path.Combine(folder, "copa-apt.safetensors");
            var manifest = AdapterFile.Save(path, trained, config, backbone.Config, MiniLm.Identity, head);
            Assert.True(File.Exists(AdapterFile.ManifestPath(path)));
            Assert.DoesNotContain(manifest.Tensors.Keys, k => k.StartsWith("backbone.", StringComparison.Ordinal)); // only trainable tensors
            Assert.Equal(73_728 / 2 + 6 * (384 * 8 + 8) + 6 + 770, manifest.Parameters); // prefix 2·L·l·d, gates, λ, head
            var saved = SafeTensors.Read(path, out _);
            Assert.Equal(manifest.Tensors.Keys, saved.Keys.Order(StringComparer.Ordinal));
            foreach (var t in saved.Values) t.Dispose();

            var read = AdapterFile.ReadManifest(path);
            Assert.Equal(config.ToJson(), read.Prefix.ToJson());
            Assert.Equal(MiniLm.Identity, read.Backbone);
            Assert.Equal(head, read.Head);

            manual_seed(16);
            var fresh = new PooledClassifier(backbone, PrefixModule.Create(read.Prefix, backbone.Config), labels: 2);
            fresh.eval();
            using (var before = Logits(fresh, batch))
                Assert.False(Same(before, expected), "a fresh model must differ before loading");
            AdapterFile.Load(path, fresh, MiniLm.Identity);
            using (var after = Logits(fresh, batch))
                Assert.True(Same(after, expected), "the loaded model's outputs differ from the saved one's");

            var other = MiniLm.Identity with { Name = "arctic-xs", WeightsSha256 = new string('0', 64) };
            var wrongBackbone = Assert.Throws<InvalidDataException>(() => AdapterFile.Load(path, fresh, other));
            Assert.Contains("minilm", wrongBackbone.Message);
            Assert.Contains("arctic-xs", wrongBackbone.Message);
            Assert.Contains(path, wrongBackbone.Message);

            var shorter = new PooledClassifier(backbone, PrefixModule.Create(PrefixConfig.Apt(4), backbone.Config), labels: 2);
            var wrongSize = Assert.Throws<InvalidDataException>(() => AdapterFile.Load(path, shorter, MiniLm.Identity));
            Assert.Contains("Wrong shapes", wrongSize.Message);
            Assert.Contains("prefix.prefix_encoder.table: file [48, 2, 384], model [24, 2, 384]", wrongSize.Message);

            var pt2 = new PooledClassifier(backbone, PrefixModule.Create(PrefixConfig.PTuningV2(8), backbone.Config), labels: 2);
            var wrongMethod = Assert.Throws<InvalidDataException>(() => AdapterFile.Load(path, pt2, MiniLm.Identity));
            Assert.Contains("prefix.layer_gate", wrongMethod.Message);

            File.Delete(AdapterFile.ManifestPath(path));
            Assert.Throws<FileNotFoundException>(() => AdapterFile.Load(path, fresh, MiniLm.Identity));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    static Tensor Logits(PooledClassifier model, TokenBatch batch)
    {
        using var noGrad = no_grad();
        return model.Forward(batch);
    }
}
