using Apt.Backbone;
using Apt.Backbone.Cpu;
using static TorchSharp.torch;

namespace Apt.Tests.Backbone;

/// <summary>
/// <see cref="DropoutAttention"/>'s hand-written forward and backward must equal autograd through the same
/// attention composed from libtorch operations, given the same keep mask.
/// </summary>
public sealed class DropoutAttentionTests
{
    const int Heads = 3;

    [Theory]
    [InlineData(false, 15, 8, 6)] // head size 8: the batched path; 21 keys: two 8-wide blocks and a scalar tail
    [InlineData(true, 15, 8, 6)]
    [InlineData(true, 0, 8, 5)] // no prefix; shorter than one vector
    [InlineData(false, 8, 32, 13)] // head size 32: the per-head path (where 512-bit lanes run); 13 queries: one 8-row block and a tail
    [InlineData(true, 34, 32, 16)] // 50 keys padded to 64: a 48-wide and a 16-wide block
    [InlineData(true, 0, 16, 7)] // no prefix
    [InlineData(false, 128, 64, 16)] // a long prefix; a base model's head size
    [InlineData(true, 112, 32, 16)] // 128 keys: rows padded to 144, not 128
    public void Output_and_gradients_equal_autograd_through_the_composed_attention(bool masked, int prefixLength, int headSize, int length)
    {
        const double p = 0.3;
        manual_seed(11);
        using var scope = NewDisposeScope();
        int width = Heads * headSize, keys = prefixLength + length;
        var projected = randn(2, length, 3 * width); // (B, T, 3d), as the stacked Q/K/V product makes it
        var prefix = prefixLength > 0 ? randn(2, prefixLength, 2, width) : null; // (B, P, 2, d): keys and values as the prefix module makes them
        var keyMask = masked ? ones(2, keys, dtype: ScalarType.Bool).index_put_(false, TensorIndex.Single(1), TensorIndex.Slice(keys - 3, null)) : null; // (B, S)
        var keep = FastDropout.KeepMask([2, Heads, length, keys], p); // (B, H, T, S)
        var upstream = randn(2, length, width); // the gradient arriving at the output

        var (fused, fusedGradients) = OutputAndGradients((x, keysAndValues) => DropoutAttention.Apply(x, keysAndValues, keyMask, keep, p));
        var (composed, composedGradients) = OutputAndGradients((x, keysAndValues) =>
        {
            var (q, k, v) = BertSelfAttention.HeadViews(x, Heads, keysAndValues);
            return BertSelfAttention.MergeHeads(BertSelfAttention.ComposedAttention(q, k, v, keyMask?.view(2, 1, 1, keys), keep, p));
        });

        Assert.True(TensorAssert.MaxDifference(composed, fused) <= 1e-5, $"output: max |Δ| = {TensorAssert.MaxDifference(composed, fused)}");
        for (int i = 0; i < composedGradients.Length; i++)
            Assert.True(TensorAssert.MaxDifference(composedGradients[i], fusedGradients[i]) <= 1e-5,
                $"gradient of {(i == 0 ? "the projection" : "the prefix")}: max |Δ| = {TensorAssert.MaxDifference(composedGradients[i], fusedGradients[i])}");
        foreach (var (name, part) in new[] { ("q", 0), ("k", 1), ("v", 2) })
            Assert.True(fusedGradients[0].narrow(2, part * width, width).abs().sum().item<float>() > 0, $"the gradient of the tokens' {name} is not all zero");

        (Tensor Output, Tensor[] Gradients) OutputAndGradients(Func<Tensor, Tensor?, Tensor> attention)
        {
            Tensor[] inputs = prefix is null ? [projected.clone().requires_grad_()] : [projected.clone().requires_grad_(), prefix.clone().requires_grad_()];
            var output = attention(inputs[0], prefix is null ? null : inputs[1]);
            output.backward([upstream]);
            return (output.detach(), [.. inputs.Select(x => x.grad!)]);
        }
    }

    [Theory]
    [InlineData(8)] // the batched path
    [InlineData(32)] // the per-head path, where 512-bit lanes run
    public void Inputs_that_need_no_gradient_get_none(int headSize)
    {
        manual_seed(12);
        using var scope = NewDisposeScope();
        int width = Heads * headSize;
        var projected = randn(2, 4, 3 * width); // as in a first layer: q, k and v come from frozen embeddings
        // the prefix as a trainable (P, 2, d) table expanded over the batch, as prefix modules hand it over
        var table = randn(5, 2, width).requires_grad_();
        var keep = FastDropout.KeepMask([2, Heads, 4, 9], 0.1);
        var output = DropoutAttention.Apply(projected, table.expand(2, -1, -1, -1), null, keep, 0.1);
        var (q, k, v) = BertSelfAttention.HeadViews(projected, Heads, table.expand(2, -1, -1, -1));
        var composed = BertSelfAttention.MergeHeads(BertSelfAttention.ComposedAttention(q, k, v, null, keep, 0.1));
        var expected = autograd.grad([composed.sum()], [table])[0];
        output.sum().backward();
        Assert.Null(projected.grad);
        Assert.True(TensorAssert.MaxDifference(expected, table.grad!) <= 1e-5, $"the prefix's gradient: max |Δ| = {TensorAssert.MaxDifference(expected, table.grad!)}");
    }

    [Fact]
    public void Without_gradients_it_computes_the_same_output_and_keeps_nothing()
    {
        manual_seed(13);
        using var projected = randn(2, 5, 3 * 2 * 8).requires_grad_(); // two heads of 8
        using var prefix = randn(2, 6, 2, 2 * 8);
        using var keep = FastDropout.KeepMask([2, 2, 5, 11], 0.2);
        using var withNode = DropoutAttention.Apply(projected, prefix, null, keep, 0.2);
        using var expected = withNode.detach();
        long live = TensorAssert.LiveTensors();
        using (no_grad())
        using (NewDisposeScope())
        {
            var plain = DropoutAttention.Apply(projected, prefix, null, keep, 0.2);
            TensorAssert.Equal(expected, plain, "output without gradients");
        }
        Assert.Equal(live, TensorAssert.LiveTensors()); // a node would have kept the inputs, the probabilities and the mask for a backward that never comes
    }

    [Fact]
    public void Backward_releases_what_the_forward_kept()
    {
        manual_seed(14);
        using var projected = randn(2, 5, 3 * 2 * 8).requires_grad_();
        using var prefix = randn(2, 6, 2, 2 * 8).requires_grad_();
        using var keep = FastDropout.KeepMask([2, 2, 5, 11], 0.2);
        long live = TensorAssert.LiveTensors();
        using (NewDisposeScope())
        {
            var output = DropoutAttention.Apply(projected, prefix, null, keep, 0.2);
            Assert.True(Tensor.TotalCount >= live + 4, "the forward keeps the projection, the prefix, the probabilities and the mask");
            output.sum().backward();
        }
        Assert.Equal(live, TensorAssert.LiveTensors());
    }

    [Fact]
    public void The_softmax_exponential_is_within_two_ulp_and_zero_below_its_range()
    {
        var xs = Enumerable.Range(0, 100_001).Select(i => -87.3f * i / 100_000).Append(0f).ToArray(); // [−87.3, 0]
        for (int start = 0; start + 8 <= xs.Length; start += 8)
        {
            var exp = DropoutAttention.ExpOfNonPositive(System.Runtime.Intrinsics.Vector256.Create(xs, start));
            for (int lane = 0; lane < 8; lane++)
            {
                double expected = Math.Exp(xs[start + lane]);
                Assert.True(Math.Abs(exp[lane] - expected) <= 2.4e-7 * expected, $"exp({xs[start + lane]}) = {exp[lane]}, expected {expected}");
            }
        }
        var edges = DropoutAttention.ExpOfNonPositive(System.Runtime.Intrinsics.Vector256.Create(float.NegativeInfinity, -87.31f, -1000f, float.NaN, 0f, -1e-30f, -0.5f, -20f));
        Assert.Equal([0f, 0f, 0f], new[] { edges[0], edges[1], edges[2] });
        Assert.True(float.IsNaN(edges[3]), "NaN stays NaN");
        Assert.Equal(1f, edges[4]);
        Assert.Equal(1f, edges[5]);
    }
}
