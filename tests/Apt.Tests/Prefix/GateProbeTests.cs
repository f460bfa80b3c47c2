using Apt.Backbone;
using Apt.Prefix;
using static Apt.Tests.Prefix.PrefixTestKit;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Apt.Tests.Prefix;

/// <summary>Gate probes record the α and λ the model computes; PT-2* lengths follow from them.</summary>
public sealed class GateProbeTests
{
    [Fact]
    public void ProbeRecordsTheGatesPerExampleAndSavesThem()
    {
        var backbone = MiniLm.Model;
        const int length = 8;
        using var prefix = PrefixModule.Create(PrefixConfig.Apt(length), backbone.Config)!;
        Randomise(prefix, seed: 13, scale: 0.3);
        prefix.train();
        backbone.eval();
        var batches = new[] { MiniLmBatch(Sentences[0], Sentences[1]), MiniLmBatch(Sentences[2], Sentences[3]) };

        var probe = GateProbe.Run(backbone, prefix, batches);
        Assert.True(prefix.training, "the probe restores the training mode");
        Assert.Equal(6, probe.Layers);
        Assert.Equal(4, probe.Examples);
        Assert.All(probe.Tokens, t => Assert.Equal(length, t));
        Assert.All(probe.AlphaMean.SelectMany(r => r), a => Assert.InRange(a, 0.0, 1.0));
        Assert.Contains(probe.AlphaStd.SelectMany(r => r), s => s > 1e-4); // α depends on the example

        // λ: the layer gate's values, the same for every example.
        var lambda = prefix.named_parameters().Single(p => p.name == "layer_gate").parameter.to_type(ScalarType.Float64).data<double>().ToArray();
        for (int i = 0; i < 6; i++)
        {
            Assert.Equal(lambda[i], probe.LambdaMean[i], 6);
            Assert.Equal(0.0, probe.LambdaStd[i], 6);
        }

        // α of layer 0 by hand: sigmoid(masked mean of the embedding output · W_0 + b_0), per example.
        var alphas = new List<double[]>();
        using (var noGrad = no_grad())
        {
            prefix.eval();
            var w = prefix.named_parameters().Single(p => p.name == "token_gates.0.weight").parameter;
            var b = prefix.named_parameters().Single(p => p.name == "token_gates.0.bias").parameter;
            foreach (var batch in batches)
            {
                using var scope = NewDisposeScope();
                var h0 = backbone.Forward(batch.Ids, batch.TypeIds, batch.AttentionMask, prefix, allHiddenStates: true).HiddenStates![0]; // (B, T, d)
                for (int e = 0; e < batch.Size; e++)
                {
                    long real = batch.AttentionMask[e].sum().item<long>();
                    var pooled = h0[e].narrow(0, 0, real).mean([0]); // (d)
                    var alpha = functional.linear(pooled, w, b).sigmoid(); // (l)
                    alphas.Add(alpha.to_type(ScalarType.Float64).data<double>().ToArray());
                }
            }
        }
        for (int j = 0; j < length; j++)
        {
            double[] column = [.. alphas.Select(a => a[j])];
            double mean = column.Average();
            double std = Math.Sqrt(column.Sum(a => (a - mean) * (a - mean)) / (column.Length - 1));
            Assert.Equal(mean, probe.AlphaMean[0][j], 5);
            Assert.Equal(std, probe.AlphaStd[0][j], 5);
        }

        string folder = Directory.CreateTempSubdirectory("apt-probe-").FullName;
        try
        {
            string json = Path.Combine(folder, "probe.json"), csv = Path.Combine(folder, "probe.csv");
            probe.SaveJson(json);
            probe.SaveCsv(csv);
            var loaded = GateProbeResult.Load(json);
            Assert.Equal(probe.AlphaMean.SelectMany(r => r), loaded.AlphaMean.SelectMany(r => r));
            Assert.Equal(probe.LambdaMean, loaded.LambdaMean);
            Assert.Equal((probe.Layers, probe.Examples, probe.Method), (loaded.Layers, loaded.Examples, loaded.Method));
            string[] lines = File.ReadAllLines(csv);
            Assert.Equal("layer,token,alpha_mean,alpha_std,lambda_mean,lambda_std,examples", lines[0]);
            Assert.Equal(1 + 6 * length, lines.Length);
            Assert.StartsWith("5,7,", lines[^1]);
            File.WriteAllText(json, "{ \"layers\": 2 ");
            var error = Assert.Throws<InvalidDataException>(() => GateProbeResult.Load(json));
            Assert.Contains(json, error.Message);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
            foreach (var batch in batches) batch.Dispose();
        }
    }

    [Fact]
    public void PTuningV2StarLengthsFollowTheProbeAndStayBelowPTuningV2()
    {
        const int layers = 6, length = 16;
        double[] alphaLevel = [0.9, 0.8, 0.5, 0.3, 0.2, 0.1]; // a CoNLL04-like probe: bottom layers weigh more
        var probe = new GateProbeResult("APT", layers, [.. Enumerable.Repeat(length, layers)], 100,
            [.. alphaLevel.Select(a => Enumerable.Repeat(a, length).ToArray())],
            [.. alphaLevel.Select(_ => new double[length])],
            [1.0, 1.0, 1.0, 1.0, 1.0, -0.05], [.. new double[layers]]);
        var config = PrefixConfig.PTuningV2Star(probe, length);
        int[] lengths = config.LayerLengths!;
        // l_i ∝ |λ_i|·mean(α_i): weights 0.9, 0.8, 0.5, 0.3, 0.2, 0.005 of 2.705 → floor(96·w/Σw) = 31, 28, 17, 10, 7, 0 → at least 1.
        Assert.Equal([31, 28, 17, 10, 7, 1], lengths);
        Assert.True(lengths.Sum() < layers * length);
        Assert.Equal(PrefixMethod.PTuningV2, config.Method);

        var report = ParameterReport.For("PT-2*", config, MiniLm.Config, 0);
        Assert.True(report.Prefix < ParameterReport.For("PT-2", PrefixConfig.PTuningV2(length), MiniLm.Config, 0).Prefix);
        using var module = PrefixModule.Create(config, MiniLm.Config)!;
        Assert.Equal(report.Prefix, module.TrainableParameters().Sum(p => p.Parameter.numel()));
        Assert.Equal(31, module.PositionOffset); // shifted by the longest layer prefix

        // The variable prefix runs on a padded batch, each layer with its own length.
        MiniLm.Model.eval();
        module.eval();
        var seen = new int[layers];
        module.GateObserver = (layer, alpha, _) => seen[layer] = (int)alpha.shape[1];
        using var batch = MiniLmBatch(Sentences);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var output = MiniLm.Model.Forward(batch.Ids, batch.TypeIds, batch.AttentionMask, module);
        Assert.Equal(batch.Ids.shape.Append(384), output.LastHidden.shape);
        Assert.Equal(lengths, seen);
    }
}
