using Apt.Prefix;
using static Apt.Tests.Prefix.PrefixTestKit;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Apt.Tests.Prefix;

/// <summary>The gate's autograd gradient against central finite differences, in double precision.</summary>
public sealed class GateGradientTests
{
    [Theory]
    [InlineData(GatePooling.Mean, LayerGateForm.Free)]
    [InlineData(GatePooling.First, LayerGateForm.Sigmoid)]
    public void GateGradientsMatchFiniteDifferences(GatePooling pooling, LayerGateForm layerGate)
    {
        using var backbone = Tiny(seed: 8);
        using var prefix = PrefixModule.Create(PrefixConfig.Apt(3) with { GatePooling = pooling, LayerGate = layerGate }, backbone.Config)!;
        Randomise(prefix, seed: 9);
        backbone.to(ScalarType.Float64);
        prefix.to(ScalarType.Float64);
        backbone.eval();
        prefix.eval();
        using var batch = RandomBatch(10, 6, 3, 5);
        manual_seed(11);
        using var weightsHidden = randn(3, 6, 16, dtype: ScalarType.Float64);
        using var weightsPooled = randn(3, 16, dtype: ScalarType.Float64);

        double Loss()
        {
            using var scope = NewDisposeScope();
            var output = backbone.Forward(batch.Ids, batch.TypeIds, batch.AttentionMask, prefix);
            return ((output.LastHidden * weightsHidden).sum() + (output.Pooled! * weightsPooled).sum()).item<double>();
        }

        var parameters = prefix.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        using (var scope = NewDisposeScope())
        {
            var output = backbone.Forward(batch.Ids, batch.TypeIds, batch.AttentionMask, prefix);
            ((output.LastHidden * weightsHidden).sum() + (output.Pooled! * weightsPooled).sum()).backward();
        }

        const double step = 1e-6;
        var random = new Random(12);
        int checkedEntries = 0;
        foreach (string name in new[] { "token_gates.0.weight", "token_gates.1.weight", "token_gates.1.bias", "layer_gate", "prefix_encoder.table" })
        {
            var parameter = parameters[name];
            using var flatGradient = parameter.grad!.reshape(-1);
            double[] gradient = flatGradient.data<double>().ToArray();
            for (int k = 0; k < 4; k++)
            {
                long index = random.NextInt64(parameter.numel());
                double original;
                using (var noGrad = no_grad())
                {
                    using var flat = parameter.view(-1);
                    original = flat[index].item<double>();
                    flat[index].fill_(original + step);
                    double plus = Loss();
                    flat[index].fill_(original - step);
                    double minus = Loss();
                    flat[index].fill_(original);
                    double numeric = (plus - minus) / (2 * step);
                    double error = Math.Abs(numeric - gradient[index]);
                    Assert.True(error <= 1e-6 * Math.Max(1.0, Math.Abs(numeric)),
                        $"{name}[{index}]: autograd {gradient[index]:G10}, finite differences {numeric:G10}");
                    Assert.True(Math.Abs(numeric) > 1e-9, $"{name}[{index}]: the gradient must not vanish for the check to mean something");
                    checkedEntries++;
                }
            }
        }
        Assert.Equal(20, checkedEntries);
    }
}
