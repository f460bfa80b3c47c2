using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Apt.Backbone.Cpu;
using static TorchSharp.torch;

namespace Apt.Tests.Backbone;

/// <summary>
/// <see cref="SmallGemm"/>'s kernels must equal libtorch's product, in each lane width this machine runs: whole blocks,
/// the rows left after them, A read transposed through its strides, and a k that is not a multiple of anything.
/// </summary>
public sealed unsafe class SmallGemmTests
{
    public static TheoryData<int, int, int, bool> Shapes => new()
    {
        // m, n, k, A read transposed
        { 13, 32, 32, false }, // 6-row blocks (AVX2) and an 8-row block (512-bit), then rows one at a time
        { 6, 16, 7, true },
        { 1, 48, 5, false }, // a single row: no whole block
        { 20, 80, 33, true }, // 80 columns: 48 + 32 wide blocks in 512-bit lanes, five 16-wide in AVX2
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Every_kernel_this_CPU_runs_equals_the_libtorch_product(int m, int n, int k, bool transposedA)
    {
        manual_seed(3);
        using var scope = NewDisposeScope();
        using var a = randn(m, k); // (m, k)
        using var aStored = transposedA ? a.t().contiguous() : a.contiguous(); // (k, m) when transposed: element (i, p) at p·m + i
        using var b = randn(k, n); // (k, n)
        using var expected = a.matmul(b); // (m, n)
        var kernels = new List<(string Name, Action<IntPtr, IntPtr, IntPtr> Multiply)>();
        (long row, long column) = transposedA ? (1L, (long)m) : (k, 1L);
        if (Avx2.IsSupported && Fma.IsSupported)
            kernels.Add(("256-bit", (x, y, z) => SmallGemm.Multiply256((float*)x, row, column, (float*)y, n, (float*)z, n, m, n, k)));
        if (Vector512.IsHardwareAccelerated)
            kernels.Add(("512-bit", (x, y, z) => SmallGemm.Multiply512((float*)x, row, column, (float*)y, n, (float*)z, n, m, n, k)));
        if (kernels.Count == 0) return; // neither runs here (SmallGemm.Supported is false): the per-head path is off, nothing to test

        foreach (var (name, multiply) in kernels)
        {
            using var product = full(m, n, float.NaN); // every element must be written
            fixed (byte* x = aStored.bytes, y = b.bytes, z = product.bytes) multiply((IntPtr)x, (IntPtr)y, (IntPtr)z);
            double difference = (product - expected).abs().max().item<float>();
            Assert.True(difference <= 1e-4, $"{name} kernels, {m} × {n} × {k}: max |Δ| = {difference}");
        }
    }
}
