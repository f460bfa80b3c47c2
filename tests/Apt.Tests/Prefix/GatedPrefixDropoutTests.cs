using Apt.Backbone;
using Apt.Backbone.Cpu;
using static TorchSharp.torch;

namespace Apt.Tests.Prefix;

/// <summary>
/// <see cref="GatedPrefixDropout"/> must give, bit for bit, what the composed form gives from the same seed —
/// the raw prefix repeated over the batch, <see cref="CounterDropout"/>, then the gate — and the gradients autograd
/// computes through that form.
/// </summary>
public sealed class GatedPrefixDropoutTests
{
    const int Batch = 3;

    public enum Gate { None, Scalar, PerToken }

    [Theory]
    [InlineData(Gate.PerToken, 7, 16, true, true)] // 2d = 32: whole vectors only
    [InlineData(Gate.PerToken, 5, 5, true, true)] // 2d = 10: one vector and a scalar tail
    [InlineData(Gate.PerToken, 4, 12, false, true)] // a gradient for the gate only (a frozen prefix)
    [InlineData(Gate.PerToken, 4, 12, true, false)] // for the prefix only (gates forced open)
    [InlineData(Gate.Scalar, 6, 12, true, true)] // the layer gate alone: λ over the whole layer
    [InlineData(Gate.None, 6, 12, true, false)] // PT-2: no gate
    public void Output_is_the_composed_forms_bits_and_gradients_equal_autograd_through_it(Gate gate, int length, int hidden, bool prefixLearns, bool gateLearns)
    {
        const double p = 0.3;
        manual_seed(5);
        using var scope = NewDisposeScope();
        var raw = randn(length, 2, hidden).requires_grad_(prefixLearns); // (l, 2, d)
        var gates = gate switch
        {
            Gate.PerToken => rand(Batch, length), // (B, l)
            Gate.Scalar => rand(1).squeeze(), // ()
            _ => null,
        };
        gates?.requires_grad_(gateLearns);
        var upstream = randn(Batch, length, 2, hidden); // the gradient arriving at the output

        manual_seed(9);
        var fused = GatedPrefixDropout.Apply(raw, gates, Batch, p);
        manual_seed(9);
        var composed = CounterDropout.Apply(raw.unsqueeze(0).expand(Batch, -1, -1, -1), p, training: true); // (B, l, 2, d)
        if (gates is not null) composed = composed * (gate == Gate.Scalar ? gates : gates.view(Batch, length, 1, 1));
        TensorAssert.Equal(composed, fused, "the gated, dropped prefix");
        using var zeros = fused.eq(0).to_type(ScalarType.Float64);
        Assert.InRange(zeros.mean().item<double>(), 0.15, 0.45); // the mask drops about p of the elements

        var inputs = new[] { raw, gates }.Where(t => t is not null && t.requires_grad).Select(t => t!).ToArray();
        var fusedGradients = autograd.grad([fused], inputs, [upstream]);
        var composedGradients = autograd.grad([composed], inputs, [upstream]);
        for (int i = 0; i < inputs.Length; i++)
        {
            double difference = TensorAssert.MaxDifference(composedGradients[i], fusedGradients[i]);
            Assert.True(difference <= 1e-5, $"gradient {i} of {inputs.Length}: max |Δ| = {difference}");
            Assert.True(fusedGradients[i].abs().max().item<float>() > 0.1f, $"gradient {i} is all but zero");
        }
    }

    [Fact]
    public void Without_a_gradient_it_keeps_nothing_and_backward_releases_what_the_forward_kept()
    {
        manual_seed(3);
        using var raw = randn(4, 2, 8).requires_grad_(true);
        using var gates = rand(Batch, 4).requires_grad_(true);
        long live = TensorAssert.LiveTensors();
        using (NewDisposeScope())
        {
            manual_seed(4);
            var withNode = GatedPrefixDropout.Apply(raw, gates, Batch, 0.2);
            Assert.True(Tensor.TotalCount >= live + 3, "the forward keeps the prefix, the gates and the mask");
            manual_seed(4);
            using (no_grad())
            using (NewDisposeScope())
            {
                long before = TensorAssert.LiveTensors();
                var plain = GatedPrefixDropout.Apply(raw, gates, Batch, 0.2);
                Assert.Equal(before + 1, TensorAssert.LiveTensors()); // the output alone: a node would have kept its inputs and mask for a backward that never comes
                TensorAssert.Equal(withNode.detach(), plain, "the prefix without a gradient");
            }
            withNode.sum().backward();
        }
        Assert.Equal(live, TensorAssert.LiveTensors());
    }
}
