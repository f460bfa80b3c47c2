using static TorchSharp.torch;

namespace Apt.Tests;

/// <summary>Tensor comparisons for tests (TorchSharp's <c>equal</c> is element-wise).</summary>
public static class TensorAssert
{
    /// <summary>Same shape and bitwise the same values.</summary>
    public static bool Identical(Tensor a, Tensor b) =>
        a.shape.SequenceEqual(b.shape) && a.dtype == b.dtype && a.eq(b).all().item<bool>();

    public static void Equal(Tensor expected, Tensor actual, string? what = null) =>
        Assert.True(Identical(expected, actual), $"{what ?? "tensors"} differ: max |Δ| = {MaxDifference(expected, actual)}");

    /// <summary>
    /// <see cref="Tensor.TotalCount"/> once the garbage of earlier tests has been finalized: the count is process-wide,
    /// and a finalizer running mid-test would otherwise move it. What a node keeps is reachable, so it still counts.
    /// </summary>
    public static long LiveTensors()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return Tensor.TotalCount;
    }

    /// <summary>Largest absolute element difference (shapes must broadcast).</summary>
    public static double MaxDifference(Tensor a, Tensor b)
    {
        using var difference = (a.to_type(ScalarType.Float64) - b.to_type(ScalarType.Float64)).abs().max();
        return difference.item<double>();
    }
}
