using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Apt.Backbone.Cpu;

/// <summary>
/// A register-blocked float32 matrix product for the small products inside one attention head: C (m × n) = A (m × k) · B (k × n),
/// with A read through any row and column stride (so Aᵀ costs nothing) and n a multiple of 16. Blocks of rows × columns keep
/// their sums in registers across the whole of k: in 512-bit lanes (32 registers) 8 rows × 48, 32 or 16 columns; in 256-bit
/// AVX2 lanes (16 registers) 6 rows × 16 columns, the shape BLIS and OpenBLAS use on such cores. Written for
/// <see cref="DropoutAttention"/>, whose products (head size 32, 128–256 keys) are too small for MKL's threading and
/// blocking to pay: measured at 32 × 12 heads × 128 × 144 × 32, q·kᵀ into a buffer that stays in cache 2.55 ms
/// (178 GFLOP/s) against libtorch's batched product's 4.65–5.58 ms (81–97 GFLOP/s), with 512-bit lanes.
/// </summary>
static unsafe class SmallGemm
{
    /// <summary>Whether 512-bit lanes run in hardware here; where they do not, the 256-bit kernels do.</summary>
    static readonly bool Wide = Vector512.IsHardwareAccelerated;

    /// <summary>Whether this machine runs the kernels: 512-bit lanes, or AVX2 with FMA.</summary>
    public static bool Supported => Wide || (Avx2.IsSupported && Fma.IsSupported);

    /// <summary>
    /// C = A · B. A's element (i, p) is <c>a[i·aRow + p·aColumn]</c>; B's row p starts at <c>b + p·bRow</c> and C's
    /// row i at <c>c + i·cRow</c>, both with unit column stride; <paramref name="n"/> is a multiple of 16.
    /// </summary>
    public static void Multiply(float* a, long aRow, long aColumn, float* b, long bRow, float* c, long cRow, int m, int n, int k)
    {
        if (Wide) Multiply512(a, aRow, aColumn, b, bRow, c, cRow, m, n, k);
        else Multiply256(a, aRow, aColumn, b, bRow, c, cRow, m, n, k);
    }

    /// <summary><see cref="Multiply"/> in 512-bit lanes (only where <see cref="Vector512.IsHardwareAccelerated"/>: elsewhere .NET emulates them slowly).</summary>
    internal static void Multiply512(float* a, long aRow, long aColumn, float* b, long bRow, float* c, long cRow, int m, int n, int k)
    {
        int i = 0;
        for (; i + 8 <= m; i += 8)
        {
            int j = 0;
            for (; j + 48 <= n; j += 48) Block8x3(a + i * aRow, aRow, aColumn, b + j, bRow, c + i * cRow + j, cRow, k);
            if (j + 32 <= n) Block8x2(a + i * aRow, aRow, aColumn, b + j, bRow, c + i * cRow + j, cRow, k);
            else if (j + 16 <= n) Block8x1(a + i * aRow, aRow, aColumn, b + j, bRow, c + i * cRow + j, cRow, k);
        }
        for (; i < m; i++)
            for (int j = 0; j < n; j += 16)
            {
                var sum = Vector512<float>.Zero;
                float* row = a + i * aRow;
                for (int p = 0; p < k; p++) sum = Vector512.FusedMultiplyAdd(Vector512.Create(row[p * aColumn]), Vector512.Load(b + p * bRow + j), sum);
                sum.Store(c + i * cRow + j);
            }
    }

    /// <summary><see cref="Multiply"/> in 256-bit lanes (AVX2 and FMA): blocks of 6 rows × 16 columns, then the rows left one at a time.</summary>
    internal static void Multiply256(float* a, long aRow, long aColumn, float* b, long bRow, float* c, long cRow, int m, int n, int k)
    {
        int i = 0;
        for (; i + 6 <= m; i += 6)
            for (int j = 0; j < n; j += 16) Block6x16(a + i * aRow, aRow, aColumn, b + j, bRow, c + i * cRow + j, cRow, k);
        for (; i < m; i++)
            for (int j = 0; j < n; j += 16)
            {
                Vector256<float> low = default, high = default;
                float* row = a + i * aRow, column = b + j;
                for (int p = 0; p < k; p++, column += bRow)
                {
                    var x = Vector256.Create(row[p * aColumn]);
                    low = Vector256.FusedMultiplyAdd(x, Vector256.Load(column), low);
                    high = Vector256.FusedMultiplyAdd(x, Vector256.Load(column + 8), high);
                }
                low.Store(c + i * cRow + j);
                high.Store(c + i * cRow + j + 8);
            }
    }

    // The blocks are written out row by row on purpose: 24 (16, 8) named sums are what the JIT keeps in registers
    // across the loop; arrays or loops over rows would put them in memory.
    static void Block8x3(float* a, long aRow, long aColumn, float* b, long bRow, float* c, long cRow, int k)
    {
        Vector512<float> c00 = default, c01 = default, c02 = default, c10 = default, c11 = default, c12 = default,
                         c20 = default, c21 = default, c22 = default, c30 = default, c31 = default, c32 = default,
                         c40 = default, c41 = default, c42 = default, c50 = default, c51 = default, c52 = default,
                         c60 = default, c61 = default, c62 = default, c70 = default, c71 = default, c72 = default;
        for (int p = 0; p < k; p++, a += aColumn, b += bRow)
        {
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 16);
            var b2 = Vector512.Load(b + 32);
            var x = Vector512.Create(a[0]);
            c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01); c02 = Vector512.FusedMultiplyAdd(x, b2, c02);
            x = Vector512.Create(a[aRow]);
            c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11); c12 = Vector512.FusedMultiplyAdd(x, b2, c12);
            x = Vector512.Create(a[2 * aRow]);
            c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21); c22 = Vector512.FusedMultiplyAdd(x, b2, c22);
            x = Vector512.Create(a[3 * aRow]);
            c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31); c32 = Vector512.FusedMultiplyAdd(x, b2, c32);
            x = Vector512.Create(a[4 * aRow]);
            c40 = Vector512.FusedMultiplyAdd(x, b0, c40); c41 = Vector512.FusedMultiplyAdd(x, b1, c41); c42 = Vector512.FusedMultiplyAdd(x, b2, c42);
            x = Vector512.Create(a[5 * aRow]);
            c50 = Vector512.FusedMultiplyAdd(x, b0, c50); c51 = Vector512.FusedMultiplyAdd(x, b1, c51); c52 = Vector512.FusedMultiplyAdd(x, b2, c52);
            x = Vector512.Create(a[6 * aRow]);
            c60 = Vector512.FusedMultiplyAdd(x, b0, c60); c61 = Vector512.FusedMultiplyAdd(x, b1, c61); c62 = Vector512.FusedMultiplyAdd(x, b2, c62);
            x = Vector512.Create(a[7 * aRow]);
            c70 = Vector512.FusedMultiplyAdd(x, b0, c70); c71 = Vector512.FusedMultiplyAdd(x, b1, c71); c72 = Vector512.FusedMultiplyAdd(x, b2, c72);
        }
        c00.Store(c); c01.Store(c + 16); c02.Store(c + 32); c += cRow;
        c10.Store(c); c11.Store(c + 16); c12.Store(c + 32); c += cRow;
        c20.Store(c); c21.Store(c + 16); c22.Store(c + 32); c += cRow;
        c30.Store(c); c31.Store(c + 16); c32.Store(c + 32); c += cRow;
        c40.Store(c); c41.Store(c + 16); c42.Store(c + 32); c += cRow;
        c50.Store(c); c51.Store(c + 16); c52.Store(c + 32); c += cRow;
        c60.Store(c); c61.Store(c + 16); c62.Store(c + 32); c += cRow;
        c70.Store(c); c71.Store(c + 16); c72.Store(c + 32);
    }

    static void Block8x2(float* a, long aRow, long aColumn, float* b, long bRow, float* c, long cRow, int k)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default,
                         c40 = default, c41 = default, c50 = default, c51 = default, c60 = default, c61 = default, c70 = default, c71 = default;
        for (int p = 0; p < k; p++, a += aColumn, b += bRow)
        {
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 16);
            var x = Vector512.Create(a[0]);
            c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01);
            x = Vector512.Create(a[aRow]);
            c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11);
            x = Vector512.Create(a[2 * aRow]);
            c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21);
            x = Vector512.Create(a[3 * aRow]);
            c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31);
            x = Vector512.Create(a[4 * aRow]);
            c40 = Vector512.FusedMultiplyAdd(x, b0, c40); c41 = Vector512.FusedMultiplyAdd(x, b1, c41);
            x = Vector512.Create(a[5 * aRow]);
            c50 = Vector512.FusedMultiplyAdd(x, b0, c50); c51 = Vector512.FusedMultiplyAdd(x, b1, c51);
            x = Vector512.Create(a[6 * aRow]);
            c60 = Vector512.FusedMultiplyAdd(x, b0, c60); c61 = Vector512.FusedMultiplyAdd(x, b1, c61);
            x = Vector512.Create(a[7 * aRow]);
            c70 = Vector512.FusedMultiplyAdd(x, b0, c70); c71 = Vector512.FusedMultiplyAdd(x, b1, c71);
        }
        c00.Store(c); c01.Store(c + 16); c += cRow;
        c10.Store(c); c11.Store(c + 16); c += cRow;
        c20.Store(c); c21.Store(c + 16); c += cRow;
        c30.Store(c); c31.Store(c + 16); c += cRow;
        c40.Store(c); c41.Store(c + 16); c += cRow;
        c50.Store(c); c51.Store(c + 16); c += cRow;
        c60.Store(c); c61.Store(c + 16); c += cRow;
        c70.Store(c); c71.Store(c + 16);
    }

    static void Block8x1(float* a, long aRow, long aColumn, float* b, long bRow, float* c, long cRow, int k)
    {
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;
        for (int p = 0; p < k; p++, a += aColumn, b += bRow)
        {
            var b0 = Vector512.Load(b);
            c0 = Vector512.FusedMultiplyAdd(Vector512.Create(a[0]), b0, c0);
            c1 = Vector512.FusedMultiplyAdd(Vector512.Create(a[aRow]), b0, c1);
            c2 = Vector512.FusedMultiplyAdd(Vector512.Create(a[2 * aRow]), b0, c2);
            c3 = Vector512.FusedMultiplyAdd(Vector512.Create(a[3 * aRow]), b0, c3);
            c4 = Vector512.FusedMultiplyAdd(Vector512.Create(a[4 * aRow]), b0, c4);
            c5 = Vector512.FusedMultiplyAdd(Vector512.Create(a[5 * aRow]), b0, c5);
            c6 = Vector512.FusedMultiplyAdd(Vector512.Create(a[6 * aRow]), b0, c6);
            c7 = Vector512.FusedMultiplyAdd(Vector512.Create(a[7 * aRow]), b0, c7);
        }
        c0.Store(c); c += cRow; c1.Store(c); c += cRow; c2.Store(c); c += cRow; c3.Store(c); c += cRow;
        c4.Store(c); c += cRow; c5.Store(c); c += cRow; c6.Store(c); c += cRow; c7.Store(c);
    }

    /// <summary>6 rows × 16 columns in 256-bit lanes: 12 sums, two rows of B and one broadcast, 15 of AVX2's 16 registers.</summary>
    static void Block6x16(float* a, long aRow, long aColumn, float* b, long bRow, float* c, long cRow, int k)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default,
                         c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < k; p++, a += aColumn, b += bRow)
        {
            var b0 = Vector256.Load(b);
            var b1 = Vector256.Load(b + 8);
            var x = Vector256.Create(a[0]);
            c00 = Vector256.FusedMultiplyAdd(x, b0, c00); c01 = Vector256.FusedMultiplyAdd(x, b1, c01);
            x = Vector256.Create(a[aRow]);
            c10 = Vector256.FusedMultiplyAdd(x, b0, c10); c11 = Vector256.FusedMultiplyAdd(x, b1, c11);
            x = Vector256.Create(a[2 * aRow]);
            c20 = Vector256.FusedMultiplyAdd(x, b0, c20); c21 = Vector256.FusedMultiplyAdd(x, b1, c21);
            x = Vector256.Create(a[3 * aRow]);
            c30 = Vector256.FusedMultiplyAdd(x, b0, c30); c31 = Vector256.FusedMultiplyAdd(x, b1, c31);
            x = Vector256.Create(a[4 * aRow]);
            c40 = Vector256.FusedMultiplyAdd(x, b0, c40); c41 = Vector256.FusedMultiplyAdd(x, b1, c41);
            x = Vector256.Create(a[5 * aRow]);
            c50 = Vector256.FusedMultiplyAdd(x, b0, c50); c51 = Vector256.FusedMultiplyAdd(x, b1, c51);
        }
        c00.Store(c); c01.Store(c + 8); c += cRow;
        c10.Store(c); c11.Store(c + 8); c += cRow;
        c20.Store(c); c21.Store(c + 8); c += cRow;
        c30.Store(c); c31.Store(c + 8); c += cRow;
        c40.Store(c); c41.Store(c + 8); c += cRow;
        c50.Store(c); c51.Store(c + 8);
    }

    /// <summary>
    /// Writes the 8 × 8 block whose row i is the 8 floats at <c>rows[i] + column</c> transposed: its column j to the
    /// 8 floats at <c>target + j·targetRow</c>. Eight loads, 24 shuffles in registers and eight stores, where an
    /// element-by-element copy makes 64 loads and 64 stores to as many cache lines.
    /// </summary>
    public static void Transpose8x8(float** rows, long column, float* target, long targetRow)
    {
        var r0 = Vector256.Load(rows[0] + column); var r1 = Vector256.Load(rows[1] + column);
        var r2 = Vector256.Load(rows[2] + column); var r3 = Vector256.Load(rows[3] + column);
        var r4 = Vector256.Load(rows[4] + column); var r5 = Vector256.Load(rows[5] + column);
        var r6 = Vector256.Load(rows[6] + column); var r7 = Vector256.Load(rows[7] + column);
        // pairs of rows interleaved, then pairs of pairs: within each 128-bit half, lane j holds column j's four rows
        var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1); var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5); var t5 = Avx.UnpackHigh(r4, r5); var t6 = Avx.UnpackLow(r6, r7); var t7 = Avx.UnpackHigh(r6, r7);
        var u0 = Avx.Shuffle(t0, t2, 0x44); var u1 = Avx.Shuffle(t0, t2, 0xEE); var u2 = Avx.Shuffle(t1, t3, 0x44); var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var u4 = Avx.Shuffle(t4, t6, 0x44); var u5 = Avx.Shuffle(t4, t6, 0xEE); var u6 = Avx.Shuffle(t5, t7, 0x44); var u7 = Avx.Shuffle(t5, t7, 0xEE);
        // rows 0–3 from the first operand's half, rows 4–7 from the second's
        Avx.Permute2x128(u0, u4, 0x20).Store(target); Avx.Permute2x128(u1, u5, 0x20).Store(target + targetRow);
        Avx.Permute2x128(u2, u6, 0x20).Store(target + 2 * targetRow); Avx.Permute2x128(u3, u7, 0x20).Store(target + 3 * targetRow);
        Avx.Permute2x128(u0, u4, 0x31).Store(target + 4 * targetRow); Avx.Permute2x128(u1, u5, 0x31).Store(target + 5 * targetRow);
        Avx.Permute2x128(u2, u6, 0x31).Store(target + 6 * targetRow); Avx.Permute2x128(u3, u7, 0x31).Store(target + 7 * targetRow);
    }
}
