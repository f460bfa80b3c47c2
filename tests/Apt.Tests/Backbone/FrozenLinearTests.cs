using Apt.Backbone;
using Apt.Backbone.Cpu;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Apt.Tests.Backbone;

/// <summary>
/// <see cref="FrozenLinear"/> computes what libtorch's linear computes on the stacked weights, packed or not, and
/// its kept copies never outlive a change to the weights.
/// </summary>
public sealed class FrozenLinearTests
{
    static (Linear[] Parts, FrozenLinear Frozen) ThreeFrozenParts()
    {
        manual_seed(21);
        Linear[] parts = [nn.Linear(48, 16), nn.Linear(48, 16), nn.Linear(48, 24)];
        foreach (var parameter in parts.SelectMany(p => p.parameters())) parameter.requires_grad = false;
        return (parts, new FrozenLinear(parts));
    }

    static Tensor Reference(Tensor input, Linear[] parts)
    {
        using var weight = cat(parts.Select(p => (Tensor)p.weight!).ToArray(), 0); // (n, k)
        using var bias = cat(parts.Select(p => (Tensor)p.bias!).ToArray(), 0); // (n)
        return nn.functional.linear(input, weight, bias);
    }

    static void AssertClose(Tensor expected, Tensor actual, string what) =>
        Assert.True(TensorAssert.MaxDifference(expected, actual) <= 1e-5, $"{what}: max |Δ| = {TensorAssert.MaxDifference(expected, actual)}");

    [Theory]
    [InlineData(1, 1)]
    [InlineData(1, 37)]
    [InlineData(4, 128)] // 512 rows: the packed product's limit
    [InlineData(5, 128)] // above it: libtorch's product on the kept weight
    public void Equals_libtorchs_linear_on_the_stacked_weights_in_inference_and_with_a_gradient(int batch, int length)
    {
        var (parts, frozen) = ThreeFrozenParts();
        using var _ = frozen;
        using var input = randn(batch, length, 48);
        using var expected = Reference(input, parts);
        using (inference_mode())
        {
            using var inferred = frozen.Forward(input);
            AssertClose(expected, inferred, $"inference, {batch} × {length}");
        }

        using var trainable = input.detach().requires_grad_(true);
        using var output = frozen.Forward(trainable);
        AssertClose(expected, output.detach(), "with a gradient");
        using var upstream = randn_like(output);
        output.backward([upstream]);
        using var stacked = cat(parts.Select(p => (Tensor)p.weight!).ToArray(), 0);
        using var expectedGradient = upstream.matmul(stacked); // (B, T, k)
        AssertClose(expectedGradient, trainable.grad!, "input gradient");
    }

    [Fact]
    public void A_weight_changed_in_place_is_used_at_the_next_product_never_a_stale_copy()
    {
        var (parts, frozen) = ThreeFrozenParts();
        using var _ = frozen;
        using var input = randn(2, 9, 48);
        Tensor Inferred()
        {
            using var inference = inference_mode();
            return frozen.Forward(input);
        }
        Inferred().Dispose(); // keeps and packs the weights

        using (no_grad()) parts[1].weight!.copy_(randn(16, 48)); // as a checkpoint loads
        using (var expected = Reference(input, parts)) using (var actual = Inferred()) AssertClose(expected, actual, "after copy_");

        using (no_grad()) parts[2].bias!.narrow(0, 3, 5).mul_(-2); // a write through a view
        using (var expected = Reference(input, parts)) using (var actual = Inferred()) AssertClose(expected, actual, "after a write through a view");

        parts[0].weight!.requires_grad = true; // full fine-tuning: an optimizer step
        using var optimizer = optim.AdamW(parts[0].parameters(), lr: 0.1);
        using (var loss = frozen.Forward(input).square().sum()) loss.backward();
        Assert.NotNull(parts[0].weight!.grad);
        optimizer.step();
        parts[0].weight!.requires_grad = false;
        using (var expected = Reference(input, parts)) using (var actual = Inferred()) AssertClose(expected, actual, "after an AdamW step");

        // A parameter replaced by another whose version counter reads the same: only the storage tells them apart.
        var replacement = new Parameter(randn(16, 48), requires_grad: false);
        using (no_grad())
            while (TensorVersion.Of(replacement) < TensorVersion.Of(parts[1].weight!)) replacement.add_(0.0);
        Assert.Equal(TensorVersion.Of(parts[1].weight!), TensorVersion.Of(replacement));
        parts[1].weight = replacement;
        using (var expected = Reference(input, parts)) using (var actual = Inferred()) AssertClose(expected, actual, "after the parameter was replaced");
    }

    [Fact]
    public void Weights_kept_during_inference_serve_a_later_training_step()
    {
        // Kept tensors made under inference mode would be inference tensors, which autograd refuses to save.
        var (parts, frozen) = ThreeFrozenParts();
        using var _ = frozen;
        using var input = randn(3, 5, 48);
        using (inference_mode()) frozen.Forward(input).Dispose();
        using var trainable = input.detach().requires_grad_(true);
        using var loss = frozen.Forward(trainable).sum();
        loss.backward();
        Assert.NotNull(trainable.grad);
    }
}
