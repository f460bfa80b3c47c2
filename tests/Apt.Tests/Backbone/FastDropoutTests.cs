using Apt.Backbone;
using Apt.Backbone.Cpu;
using static TorchSharp.torch;

namespace Apt.Tests.Backbone;

/// <summary>
/// <see cref="FastDropout"/> must be inverted dropout with the configured rate, independent elements,
/// reproducible from torch's seed, and the attention path that uses it must equal scaled_dot_product_attention
/// when nothing is dropped.
/// </summary>
public sealed class FastDropoutTests
{
    [Theory]
    [InlineData(0.1)]
    [InlineData(0.5)]
    public void Keeps_each_element_with_probability_one_minus_p_independently(double p)
    {
        const long count = 4_000_001; // odd: the last pair is half used
        manual_seed(1);
        using var keep = FastDropout.KeepMask([count], p);
        using var asDouble = keep.to_type(ScalarType.Float64);
        double rate = asDouble.mean().item<double>();
        double sigma = Math.Sqrt(p * (1 - p) / count);
        Assert.InRange(rate, 1 - p - 5 * sigma, 1 - p + 5 * sigma);

        // Neighbours share one 64-bit hash (its low and high halves): both kept must be as likely as (1 − p)².
        using var pairs = asDouble.narrow(0, 0, count - 1).view(-1, 2); // (pairs, 2)
        double both = pairs.prod(1).mean().item<double>();
        double pairSigma = Math.Sqrt((1 - p) * (1 - p) * (1 - (1 - p) * (1 - p)) / ((count - 1) / 2));
        Assert.InRange(both, (1 - p) * (1 - p) - 5 * pairSigma, (1 - p) * (1 - p) + 5 * pairSigma);
    }

    [Fact]
    public void Same_seed_gives_the_same_mask_whatever_its_length_and_another_seed_another_mask()
    {
        // Lengths that end the vectorised loop at different places: the shared prefix must agree element for element.
        manual_seed(7);
        using var shorter = FastDropout.KeepMask([1001], 0.3);
        manual_seed(7);
        using var longer = FastDropout.KeepMask([70_013], 0.3);
        Assert.True(TensorAssert.Identical(shorter, longer.narrow(0, 0, 1001)));
        manual_seed(8);
        using var other = FastDropout.KeepMask([1001], 0.3);
        Assert.False(TensorAssert.Identical(shorter, other));
    }

    [Fact]
    public void Training_scales_kept_elements_and_routes_gradients_through_them_only_and_evaluation_is_the_identity()
    {
        const double p = 0.2;
        manual_seed(3);
        using var x = randn(64, 33).requires_grad_(true);
        using var dropout = new CounterDropout(p);
        using var output = dropout.forward(x);
        using var kept = output.ne(0); // randn has no exact zeros
        double keptShare = kept.to_type(ScalarType.Float64).mean().item<double>();
        Assert.InRange(keptShare, 0.7, 0.9);
        using var expected = x.detach().mul(1.0 / (1 - p)).where(kept, 0.0);
        Assert.True(TensorAssert.MaxDifference(expected, output.detach()) <= 1e-6, $"kept elements are x / (1 − p): max |Δ| = {TensorAssert.MaxDifference(expected, output.detach())}");

        output.sum().backward();
        using var expectedGradient = kept.to_type(ScalarType.Float32).mul(1.0 / (1 - p));
        Assert.True(TensorAssert.MaxDifference(expectedGradient, x.grad!) <= 1e-6, $"gradient is 1 / (1 − p) where kept, 0 where dropped: max |Δ| = {TensorAssert.MaxDifference(expectedGradient, x.grad!)}");

        dropout.eval();
        using var evaluated = dropout.forward(x);
        TensorAssert.Equal(x, evaluated, "evaluation output");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Dropout_with_or_without_a_gradient_equals_libtorchs_mul_by_the_mask_drawn_from_the_same_seed(bool withGradient)
    {
        // Without a gradient the mask is drawn and applied in one pass; an odd element count (the last pair half used, a
        // scalar tail) and a transposed, non-contiguous input.
        const double p = 0.15;
        using var source = randn(1001, 7);
        using var x = source.t().requires_grad_(withGradient); // (7, 1001), not contiguous
        manual_seed(11);
        using var keep = FastDropout.KeepMask(x.shape, p);
        using var expected = x.detach().mul(keep).mul_(1.0 / (1 - p));
        manual_seed(11);
        using var output = CounterDropout.Apply(x, p, training: true);
        Assert.True(TensorAssert.Identical(expected, output.detach()), "dropout vs libtorch's mul by the same mask");
        if (!withGradient) return;
        using var upstream = randn(7, 1001);
        output.backward([upstream]);
        using var expectedGradient = upstream.mul(keep).mul_(1.0 / (1 - p));
        Assert.True(TensorAssert.Identical(expectedGradient, x.grad!), "gradient: upstream · keep / (1 − p)");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Attention_with_a_dropout_that_drops_nothing_equals_the_fused_evaluation_path(bool masked)
    {
        // p = 1e-12 rounds the keep threshold to 2³²: the training path keeps every element, so it must equal eval's SDPA.
        var config = new BertConfig { HiddenSize = 32, NumHeads = 4, IntermediateSize = 64, NumLayers = 1, VocabSize = 50, AttentionDropout = 1e-12 };
        manual_seed(5);
        using var attention = new BertSelfAttention(config);
        using var hidden = randn(3, 7, 32); // (B, T, d)
        using var keyMask = masked ? ones(3, 7, dtype: ScalarType.Bool).index_put_(false, TensorIndex.Slice(0, 2), TensorIndex.Slice(5, null)) : null; // (B, S)
        attention.train();
        using var trained = attention.Forward(hidden, keyMask, null);
        attention.eval();
        using var evaluated = attention.Forward(hidden, keyMask, null);
        Assert.True(TensorAssert.MaxDifference(evaluated, trained) <= 1e-5, $"attention with dropout keeping everything vs scaled_dot_product_attention: max |Δ| = {TensorAssert.MaxDifference(evaluated, trained)}");
    }
}
