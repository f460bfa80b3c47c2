using Apt.Backbone;
using static TorchSharp.torch;

namespace Apt.Tests.Backbone;

/// <summary>
/// <see cref="DropoutAttention"/>'s hand-written forward and backward must equal autograd through the same
/// attention composed from libtorch operations, given the same keep mask.
/// </summary>
public sealed class DropoutAttentionTests
{
    [Theory]
    [InlineData(false, 21, 8, 6)] // head size 8: the batched path; 21 keys: two 8-wide blocks and a scalar tail
    [InlineData(true, 21, 8, 6)]
    [InlineData(true, 5, 8, 6)] // shorter than one vector
    [InlineData(false, 21, 32, 13)] // head size 32: the per-head path (where 512-bit lanes run); 13 queries: one 8-row block and a tail
    [InlineData(true, 50, 32, 16)] // 50 keys padded to 64: a 48-wide and a 16-wide block
    [InlineData(true, 7, 16, 9)]
    [InlineData(false, 144, 64, 8)] // MiniLM's keys with a prefix of 16; a base model's head size
    public void Output_and_gradients_equal_autograd_through_the_composed_attention(bool masked, int keys, int headSize, int length)
    {
        const double p = 0.3;
        manual_seed(11);
        using var scope = NewDisposeScope();
        var q = randn(2, 3, length, headSize); // (B, H, T, hd)
        // k and v as the model makes them: views of (B, S, H·hd) with heads moved forward, rows not contiguous
        var k = randn(2, keys, 3 * headSize).view(2, keys, 3, headSize).transpose(1, 2); // (B, H, S, hd)
        var v = randn(2, keys, 3 * headSize).view(2, keys, 3, headSize).transpose(1, 2);
        var keyMask = masked ? ones(2, keys, dtype: ScalarType.Bool).index_put_(false, TensorIndex.Single(1), TensorIndex.Slice(keys - 3, null)).view(2, 1, 1, keys) : null; // (B, 1, 1, S)
        var keep = FastDropout.KeepMask([2, 3, length, keys], p); // (B, H, T, S)
        var upstream = randn(2, 3, length, headSize); // the gradient arriving at the output

        var (fused, fusedGradients) = OutputAndGradients((a, b, c) => DropoutAttention.Apply(a, b, c, keyMask, keep, p));
        var (composed, composedGradients) = OutputAndGradients((a, b, c) => BertSelfAttention.ComposedAttention(a, b, c, keyMask, keep, p));

        Assert.True(TensorAssert.MaxDifference(composed, fused) <= 1e-5, $"output: max |Δ| = {TensorAssert.MaxDifference(composed, fused)}");
        foreach (var (name, i) in new[] { ("q", 0), ("k", 1), ("v", 2) })
            Assert.True(TensorAssert.MaxDifference(composedGradients[i], fusedGradients[i]) <= 1e-5,
                $"gradient of {name}: max |Δ| = {TensorAssert.MaxDifference(composedGradients[i], fusedGradients[i])}");
        Assert.True(fusedGradients[1].abs().sum().item<float>() > 0, "the keys' gradient is not all zero");

        (Tensor Output, Tensor[] Gradients) OutputAndGradients(Func<Tensor, Tensor, Tensor, Tensor> attention)
        {
            Tensor[] inputs = [q.clone().requires_grad_(), k.clone().requires_grad_(), v.clone().requires_grad_()];
            var output = attention(inputs[0], inputs[1], inputs[2]);
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
        var q = randn(1, 2, 4, headSize); // as in a first layer: the queries come from frozen embeddings
        var k = randn(1, 2, 9, headSize).requires_grad_();
        var v = randn(1, 2, 9, headSize).requires_grad_();
        var keep = FastDropout.KeepMask([1, 2, 4, 9], 0.1);
        DropoutAttention.Apply(q, k, v, null, keep, 0.1).sum().backward();
        Assert.Null(q.grad);
        Assert.NotNull(k.grad);
        Assert.NotNull(v.grad);
    }

    [Fact]
    public void Without_gradients_it_computes_the_same_output_and_keeps_nothing()
    {
        manual_seed(13);
        using var q = randn(2, 2, 5, 8).requires_grad_();
        using var k = randn(2, 2, 11, 8);
        using var v = randn(2, 2, 11, 8);
        using var keep = FastDropout.KeepMask([2, 2, 5, 11], 0.2);
        using var withNode = DropoutAttention.Apply(q, k, v, null, keep, 0.2);
        using var expected = withNode.detach();
        long live = Tensor.TotalCount;
        using (no_grad())
        using (NewDisposeScope())
        {
            var plain = DropoutAttention.Apply(q, k, v, null, keep, 0.2);
            TensorAssert.Equal(expected, plain, "output without gradients");
        }
        Assert.Equal(live, Tensor.TotalCount); // a node would have kept q, k, v, the probabilities and the mask for a backward that never comes
    }

    [Fact]
    public void Backward_releases_what_the_forward_kept()
    {
        manual_seed(14);
        using var q = randn(2, 2, 5, 8).requires_grad_();
        using var k = randn(2, 2, 11, 8).requires_grad_();
        using var v = randn(2, 2, 11, 8).requires_grad_();
        using var keep = FastDropout.KeepMask([2, 2, 5, 11], 0.2);
        long live = Tensor.TotalCount;
        using (NewDisposeScope())
        {
            var output = DropoutAttention.Apply(q, k, v, null, keep, 0.2);
            Assert.True(Tensor.TotalCount >= live + 5, "the forward keeps q, k, v, the probabilities and the mask");
            output.sum().backward();
        }
        Assert.Equal(live, Tensor.TotalCount);
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
