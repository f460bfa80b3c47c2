using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.autograd;

namespace Apt.Backbone;

/// <summary>
/// Training-mode attention, softmax(q·kᵀ/√hd, masked) → dropout → ·v, as one autograd node with its backward
/// written out. Composed from libtorch operations (<see cref="BertSelfAttention.ComposedAttention"/>, the
/// reference the tests hold this to) autograd keeps the probabilities, the dropped probabilities and the mask,
/// and masking, softmax, dropout and their gradients are separate passes over the (B, H, T, S) tensors. Here
/// one pass turns the scores into probabilities (kept for backward) and dropped probabilities (only for ·v),
/// and one pass in backward yields the score gradient and, again, the dropped probabilities. Measured on
/// MiniLM's APT step at 32 × 128 with a prefix of 16: 758 MiB allocated after the forward instead of 914;
/// per layer, forward 14.5 ms and backward 23.8 ms, against 13.4 and 30.9 ms for libtorch's fused kernel
/// without dropout and 72.3 and 29.5 ms for libtorch's with dropout (with <see cref="MklDispatch"/>'s kernels: 13.0 and
/// 17.2 ms against 8.2 and 20.1, and 62.9 and 19.9 ms). Where 512-bit lanes run and the head size is a multiple
/// of 16 (<see cref="PerHead"/>) it goes further: one head at a time, its scores in a buffer that stays in cache and
/// its products on <see cref="SmallGemm"/>'s kernels instead of libtorch's batched ones over the whole tensors.
/// Measured per layer at 32 × 12 heads × 128 queries, keys and values as the model's views, per head against
/// batched: S = 144 forward 13.6 / backward 14.1 ms against 16.0 / 16.8; S = 256 24.0 / 24.5 against 27.3 / 30.2;
/// MiniLM's APT step (own processes) 1,112 against 1,158 ms. CPU and float32 only (<see cref="Supports"/>);
/// elsewhere the composed form runs.
/// </summary>
public sealed class DropoutAttention : SingleTensorFunction<DropoutAttention>
{
    public override string Name => nameof(DropoutAttention);

    /// <summary>Whether the fused node handles these inputs: float32 on the CPU, the score tensor under 2 GiB.</summary>
    public static bool Supports(Tensor q, Tensor k) =>
        q.device_type == DeviceType.CPU && q.dtype == ScalarType.Float32 && k.dtype == ScalarType.Float32 && q.dim() == 4
        && q.shape[0] * q.shape[1] * q.shape[2] * k.shape[2] * sizeof(float) <= int.MaxValue;

    /// <summary>
    /// q (B, H, T, hd), k and v (B, H, S, hd), keyMask (B, 1, 1, S) bool (true where a key may be attended) or
    /// null (or broadcastable to that), keep (B, H, T, S) bool from <see cref="FastDropout.KeepMask"/>, p the drop probability; returns (B, H, T, hd).
    /// </summary>
    public static Tensor Apply(Tensor q, Tensor k, Tensor v, Tensor? keyMask, Tensor keep, double p)
    {
        if (is_grad_enabled() && (q.requires_grad || k.requires_grad || v.requires_grad)) return apply(q, k, v, keyMask, keep, p);
        using var scope = NewDisposeScope(); // nothing to differentiate: no node, nothing kept
        return Attend(q, k, v, keyMask, keep, p).Attended.MoveToOuterDisposeScope();
    }

    public override Tensor forward(AutogradContext ctx, params object[] vars)
    {
        var (q, k, v, keyMask, keep, p) = ((Tensor)vars[0], (Tensor)vars[1], (Tensor)vars[2], vars[3] as Tensor, (Tensor)vars[4], (double)vars[5]);
        bool[] needsGradient = [q.requires_grad, k.requires_grad, v.requires_grad];
        using var scope = NewDisposeScope();
        var (attended, probabilities, contiguousQ, keepBytes, scale, keepScale) = Attend(q, k, v, keyMask, keep, p);
        ctx.save_data(nameof(Saved), new Saved(Retain(contiguousQ), Retain(k), Retain(v), Retain(probabilities), Retain(keepBytes), scale, keepScale, needsGradient));
        return attended.MoveToOuterDisposeScope();
    }

    /// <summary>The forward computation; the tensors it returns besides the output are what backward needs.</summary>
    static (Tensor Attended, Tensor Probabilities, Tensor ContiguousQ, Tensor Keep, float Scale, float KeepScale) Attend(
        Tensor q, Tensor k, Tensor v, Tensor? keyMask, Tensor keep, double p)
    {
        long batch = q.shape[0], heads = q.shape[1], length = q.shape[2], keys = k.shape[2];
        float scale = (float)(1.0 / Math.Sqrt(q.shape[3])), keepScale = (float)(1.0 / (1.0 - p));
        q = q.contiguous(); // the copy matmul would make: kept for backward instead of the (B, T, 3d) projection q is a view of
        var keepBytes = keep.contiguous();
        var allowed = keyMask?.expand(batch, 1, 1, keys).reshape(batch, keys).to(ScalarType.Bool).contiguous(); // (B, S)
        if (PerHead(q, k, v))
        {
            var (headAttended, headProbabilities) = AttendPerHead(q, k, v, allowed, keepBytes, scale, keepScale);
            return (headAttended, headProbabilities, q, keepBytes, scale, keepScale);
        }
        var scores = q.matmul(k.transpose(-2, -1)).contiguous(); // (B, H, T, S), not yet scaled
        var probabilities = empty_like(scores); // (B, H, T, S)
        unsafe
        {
            fixed (byte* s = scores.bytes, pr = probabilities.bytes, kp = keepBytes.bytes)
            fixed (byte* a = allowed is null ? default : allowed.bytes)
            {
                float* scoreRows = (float*)s, probabilityRows = (float*)pr;
                byte* keepRows = kp, allowedRows = allowed is null ? null : a;
                ForEachRow(batch * heads * length, (int)keys, (row, count) =>
                {
                    float* scoresRow = scoreRows + row * count, probabilitiesRow = probabilityRows + row * count;
                    byte* keepRow = keepRows + row * count;
                    byte* allowedRow = allowedRows is null ? null : allowedRows + row / (heads * length) * count;
                    Softmax(scoresRow, allowedRow, probabilitiesRow, count, scale);
                    Drop(probabilitiesRow, keepRow, scoresRow, count, keepScale); // the scores' buffer now holds the dropped probabilities
                });
            }
        }
        return (scores.matmul(v), probabilities, q, keepBytes, scale, keepScale); // (B, H, T, hd)
    }

    public override List<Tensor> backward(AutogradContext ctx, Tensor gradient)
    {
        using var saved = ctx.get_data(nameof(Saved)) as Saved
            ?? throw new InvalidOperationException($"{nameof(DropoutAttention)}: backward ran twice over the same graph (retain_graph is not supported)");
        var (q, k, v, probabilities, keep) = (saved.Q, saved.K, saved.V, saved.Probabilities, saved.Keep);
        var (scale, keepScale, needsGradient) = (saved.Scale, saved.KeepScale, saved.NeedsGradient);
        ctx.save_data(nameof(Saved), null!);
        using var scope = NewDisposeScope();
        if (PerHead(q, k, v))
        {
            var perHead = BackwardPerHead(gradient.contiguous(), q, k, v, probabilities, keep, scale, keepScale, needsGradient);
            return [.. perHead.Select(g => g?.MoveToOuterDisposeScope()!), null!, null!, null!];
        }
        var scoreGradient = gradient.matmul(v.transpose(-2, -1)).contiguous(); // (B, H, T, S): first the dropped probabilities' gradient
        var dropped = empty_like(scoreGradient); // (B, H, T, S)
        unsafe
        {
            fixed (byte* g = scoreGradient.bytes, d = dropped.bytes, pr = probabilities.bytes, kp = keep.bytes)
            {
                float* gradientRows = (float*)g, droppedRows = (float*)d, probabilityRows = (float*)pr;
                byte* keepRows = kp;
                ForEachRow(probabilities.numel() / probabilities.shape[^1], (int)probabilities.shape[^1], (row, count) =>
                    SoftmaxDropBackward(gradientRows + row * count, probabilityRows + row * count, keepRows + row * count, droppedRows + row * count, count, scale, keepScale));
            }
        }
        var qGradient = needsGradient[0] ? scoreGradient.matmul(k) : null; // (B, H, T, hd)
        var kGradient = needsGradient[1] ? scoreGradient.transpose(-2, -1).matmul(q) : null; // (B, H, S, hd)
        var vGradient = needsGradient[2] ? dropped.transpose(-2, -1).matmul(gradient) : null; // (B, H, S, hd)
        List<Tensor?> gradients = [qGradient?.MoveToOuterDisposeScope(), kGradient?.MoveToOuterDisposeScope(), vGradient?.MoveToOuterDisposeScope(), null, null, null];
        return gradients!; // null: no gradient (an input that needs none, the masks, p)
    }

    /// <summary>
    /// Whether the per-head path runs: <see cref="SmallGemm"/>'s 512-bit kernels are supported, the head size is a
    /// multiple of 16, q is contiguous and every key and value row is. It does per head, with the head's scores in a
    /// buffer that stays in cache, what the batched path does over the whole (B, H, T, S) tensors with libtorch's
    /// products between the passes.
    /// </summary>
    static bool PerHead(Tensor q, Tensor k, Tensor v) =>
        SmallGemm.Supported && q.shape[3] % 16 == 0 && q.is_contiguous() && k.stride(3) == 1 && v.stride(3) == 1;

    /// <summary>
    /// The forward one head at a time: kᵀ copied into a padded buffer, scores = q·kᵀ into a (T, S′) buffer (S′ = S
    /// rounded up to 16), each row softmaxed into the kept probabilities and dropped in place, then ·v. Returns
    /// (B, H, T, hd) and the probabilities (B, H, T, S).
    /// </summary>
    static unsafe (Tensor Attended, Tensor Probabilities) AttendPerHead(Tensor q, Tensor k, Tensor v, Tensor? allowed, Tensor keep, float scale, float keepScale)
    {
        var (batch, heads, length, headSize, keys, padded) = HeadShapes(q, k);
        long[] kStride = k.stride(), vStride = v.stride();
        var attended = empty_like(q); // (B, H, T, hd)
        var probabilities = empty(batch, heads, length, keys); // (B, H, T, S)
        fixed (byte* qb = q.bytes, ob = attended.bytes, pb = probabilities.bytes, keepb = keep.bytes)
        fixed (byte* ab = allowed is null ? default : allowed.bytes)
        {
            float* qAll = (float*)qb, kAll = StridedData(k), vAll = StridedData(v), outAll = (float*)ob, probabilityAll = (float*)pb;
            byte* keepAll = keepb, allowedAll = allowed is null ? null : ab;
            ForEachHead(kAll, kStride, batch, heads, keys, headSize, padded, length * padded, (head, keysTransposed, scores) => // (hd, S′), (T, S′)
            {
                long b = head / heads, h = head % heads;
                SmallGemm.Multiply(qAll + head * length * headSize, headSize, 1, keysTransposed, padded, scores, padded, length, padded, headSize);
                for (long t = 0; t < length; t++)
                {
                    long row = head * length + t;
                    Softmax(scores + t * padded, allowedAll is null ? null : allowedAll + b * keys, probabilityAll + row * keys, keys, scale);
                    Drop(probabilityAll + row * keys, keepAll + row * keys, scores + t * padded, keys, keepScale);
                }
                SmallGemm.Multiply(scores, padded, 1, vAll + b * vStride[0] + h * vStride[1], vStride[2], outAll + head * length * headSize, headSize, length, headSize, keys);
            });
        }
        return (attended, probabilities);
    }

    /// <summary>
    /// The backward one head at a time: dP̃ = dO·vᵀ into a (T, S′) buffer, each row through dropout and softmax to
    /// the score gradient (and the dropped probabilities into a second buffer), then dq = dS·k, dk = dSᵀ·q,
    /// dv = P̃ᵀ·dO, each only when its input needs it.
    /// </summary>
    static unsafe Tensor?[] BackwardPerHead(Tensor gradient, Tensor q, Tensor k, Tensor v, Tensor probabilities, Tensor keep, float scale, float keepScale, bool[] needsGradient)
    {
        var (batch, heads, length, headSize, keys, padded) = HeadShapes(q, k);
        long[] kStride = k.stride(), vStride = v.stride();
        Tensor? qGradient = needsGradient[0] ? empty_like(q) : null; // (B, H, T, hd)
        Tensor? kGradient = needsGradient[1] ? empty(batch, heads, keys, headSize) : null; // (B, H, S, hd)
        Tensor? vGradient = needsGradient[2] ? empty(batch, heads, keys, headSize) : null; // (B, H, S, hd)
        fixed (byte* gb = gradient.bytes, qb = q.bytes, pb = probabilities.bytes, keepb = keep.bytes)
        fixed (byte* dqb = qGradient is null ? default : qGradient.bytes, dkb = kGradient is null ? default : kGradient.bytes, dvb = vGradient is null ? default : vGradient.bytes)
        {
            float* gAll = (float*)gb, qAll = (float*)qb, kAll = StridedData(k), vAll = StridedData(v), probabilityAll = (float*)pb;
            float* dqAll = (float*)dqb, dkAll = (float*)dkb, dvAll = (float*)dvb;
            byte* keepAll = keepb;
            ForEachHead(vAll, vStride, batch, heads, keys, headSize, padded, 2 * length * padded, (head, valuesTransposed, scratch) => // (hd, S′), scratch for two (T, S′)
            {
                long b = head / heads;
                float* scoreGradient = scratch, dropped = scratch + length * padded; // (T, S′), (T, S′)
                float* upstream = gAll + head * length * headSize, kHead = kAll + b * kStride[0] + head % heads * kStride[1];
                SmallGemm.Multiply(upstream, headSize, 1, valuesTransposed, padded, scoreGradient, padded, length, padded, headSize);
                for (long t = 0; t < length; t++)
                {
                    long row = head * length + t;
                    SoftmaxDropBackward(scoreGradient + t * padded, probabilityAll + row * keys, keepAll + row * keys, dropped + t * padded, keys, scale, keepScale);
                }
                if (dqAll is not null) SmallGemm.Multiply(scoreGradient, padded, 1, kHead, kStride[2], dqAll + head * length * headSize, headSize, length, headSize, keys);
                if (dkAll is not null) SmallGemm.Multiply(scoreGradient, 1, padded, qAll + head * length * headSize, headSize, dkAll + head * keys * headSize, headSize, keys, headSize, length);
                if (dvAll is not null) SmallGemm.Multiply(dropped, 1, padded, upstream, headSize, dvAll + head * keys * headSize, headSize, keys, headSize, length);
            });
        }
        return [qGradient, kGradient, vGradient];
    }

    /// <summary>B, H, T, hd and S from q (B, H, T, hd) and k (B, H, S, hd), and S′: S rounded up to the kernels' 16 columns.</summary>
    static (long Batch, long Heads, int Length, int HeadSize, int Keys, int Padded) HeadShapes(Tensor q, Tensor k)
    {
        int keys = (int)k.shape[2];
        return (q.shape[0], q.shape[1], (int)q.shape[2], (int)q.shape[3], keys, (keys + 15) / 16 * 16);
    }

    /// <summary>The address of element (0, …, 0) of a float32 CPU tensor of any strides (TorchSharp's <c>bytes</c> takes only contiguous ones); valid while the tensor lives.</summary>
    static unsafe float* StridedData(Tensor tensor)
    {
        using var storage = tensor.storage<float>();
        return (float*)storage.data_ptr() + tensor.storage_offset();
    }

    unsafe delegate void HeadAction(long head, float* transposed, float* scratch);

    /// <summary>
    /// Runs <paramref name="action"/> on every head (b·H + h), the heads of one example in one task: first all their
    /// rows of <paramref name="rows"/> ((B, H, S, hd) by <paramref name="stride"/>) transposed at once
    /// (<see cref="SmallGemm.TransposeHeads"/>), then each head with its transpose (hd, S′) and a 64-byte aligned
    /// scratch buffer of <paramref name="scratchFloats"/> floats. With fewer examples than twice the cores, each
    /// example's heads are split into groups, so that a small batch still keeps every core busy.
    /// </summary>
    static unsafe void ForEachHead(float* rows, long[] stride, long batch, long heads, int keys, int headSize, int padded, long scratchFloats, HeadAction action)
    {
        long groups = Math.Clamp(2L * Environment.ProcessorCount / batch, 1, heads);
        long headsPerGroup = (heads + groups - 1) / groups;
        groups = (heads + headsPerGroup - 1) / headsPerGroup;
        long transposedFloats = headsPerGroup * headSize * padded;
        Parallel.For(0, batch * groups,
            () => (IntPtr)NativeMemory.AlignedAlloc((nuint)((transposedFloats + scratchFloats) * sizeof(float)), 64),
            (task, _, buffer) =>
            {
                long b = task / groups, first = task % groups * headsPerGroup, count = Math.Min(heads, first + headsPerGroup) - first;
                float* transposed = (float*)buffer;
                SmallGemm.TransposeHeads(rows + b * stride[0] + first * stride[1], stride[2], stride[1], keys, (int)count, headSize, transposed, padded);
                for (long h = 0; h < count; h++) action(b * heads + first + h, transposed + h * headSize * padded, transposed + transposedFloats);
                return buffer;
            },
            buffer => NativeMemory.AlignedFree((void*)buffer));
    }

    /// <summary>
    /// What backward needs, held as plain tensor references rather than through save_for_backward: backward
    /// disposes them once used, so each layer's probabilities are freed as backward moves down the layers (a
    /// custom function's saved variables live until the whole graph is released; measured on MiniLM at 32 × 128:
    /// 642 MiB still allocated right after backward with those, 322 MiB with these). The tensors are detached:
    /// no autograd history is kept. A graph dropped without backward leaves them to the garbage collector's
    /// finalizers (the trainer collects after every step).
    /// </summary>
    sealed record Saved(Tensor Q, Tensor K, Tensor V, Tensor Probabilities, Tensor Keep, float Scale, float KeepScale, bool[] NeedsGradient) : IDisposable
    {
        public void Dispose()
        {
            foreach (var tensor in new[] { Q, K, V, Probabilities, Keep }) tensor.Dispose();
        }
    }

    /// <summary>A handle of its own on <paramref name="tensor"/>'s data, outside every dispose scope.</summary>
    static Tensor Retain(Tensor tensor) => tensor.detach().DetachFromDisposeScope();

    const int RowsPerTask = 256;

    delegate void RowAction(long row, int count);

    /// <summary>Runs <paramref name="action"/> on every row, blocks of rows in parallel.</summary>
    static void ForEachRow(long rows, int count, RowAction action) =>
        Parallel.For(0, (rows + RowsPerTask - 1) / RowsPerTask, task =>
        {
            for (long row = task * RowsPerTask, last = Math.Min(rows, row + RowsPerTask); row < last; row++) action(row, count);
        });

    /// <summary>probabilities = softmax(scale · scores) over the allowed keys (0 elsewhere; 0 everywhere when none is).</summary>
    static unsafe void Softmax(float* scores, byte* allowed, float* probabilities, int count, float scale)
    {
        if (allowed is not null)
            for (int j = 0; j < count; j++)
                if (allowed[j] == 0) scores[j] = float.NegativeInfinity;
        int i = 0;
        var maxima = Vector256.Create(float.NegativeInfinity);
        for (; i + 8 <= count; i += 8) maxima = Vector256.Max(maxima, Vector256.Load(scores + i));
        var halves = Vector128.Max(maxima.GetLower(), maxima.GetUpper()); // the lanes' maximum by halving: no lane-by-lane loop per row
        halves = Vector128.Max(halves, Vector128.Shuffle(halves, Vector128.Create(2, 3, 0, 1)));
        float max = Vector128.Max(halves, Vector128.Shuffle(halves, Vector128.Create(1, 0, 3, 2))).ToScalar();
        for (; i < count; i++) max = MathF.Max(max, scores[i]);
        if (float.IsNegativeInfinity(max))
        {
            new Span<float>(probabilities, count).Clear();
            return;
        }
        var shift = Vector256.Create(max);
        var factor = Vector256.Create(scale);
        var sums = Vector256<float>.Zero;
        for (i = 0; i + 8 <= count; i += 8)
        {
            var e = ExpOfNonPositive((Vector256.Load(scores + i) - shift) * factor);
            e.Store(probabilities + i);
            sums += e;
        }
        float sum = Vector256.Sum(sums);
        for (; i < count; i++) sum += probabilities[i] = MathF.Exp((scores[i] - max) * scale);
        var inverse = Vector256.Create(1f / sum);
        for (i = 0; i + 8 <= count; i += 8) (Vector256.Load(probabilities + i) * inverse).Store(probabilities + i);
        for (; i < count; i++) probabilities[i] *= 1f / sum;
    }

    /// <summary>
    /// e^x for x ≤ 0 (softmax's shifted scores), 0 below −87.3 and for −∞ (masked keys), NaN for NaN: Cephes' expf,
    /// a degree-6 polynomial on x − n·ln 2 scaled by 2ⁿ, within 2 ulp. Measured on one core over 7.1 M floats: 3.5 ms
    /// against 4.4 ms for .NET's <c>Vector256.Exp</c>; with it inlined and the row maximum found by halving, a
    /// softmax row of 144 took 126–128 ns instead of 173–183.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> ExpOfNonPositive(Vector256<float> x)
    {
        var underflows = Vector256.LessThan(x, Vector256.Create(-87.3f)); // false for NaN, which stays NaN
        x = Vector256.Max(x, Vector256.Create(-87.3f));
        var n = Vector256.Round(x * Vector256.Create(1.44269504088896341f)); // x / ln 2, to the nearest integer
        var r = Vector256.FusedMultiplyAdd(n, Vector256.Create(-0.693359375f), x); // x − n·ln 2 in two steps (Cody–Waite)
        r = Vector256.FusedMultiplyAdd(n, Vector256.Create(2.12194440e-4f), r);
        var p = Vector256.Create(1.9875691500e-4f);
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.3981999507e-3f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(8.3334519073e-3f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(4.1665795894e-2f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.6666665459e-1f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(5.0000001201e-1f));
        p = Vector256.FusedMultiplyAdd(p * r, r, r) + Vector256<float>.One; // 1 + r + r²·p(r)
        var twoToN = (Vector256.ConvertToInt32(n) + Vector256.Create(127)).AsUInt32() << 23; // 2ⁿ as float bits
        return Vector256.ConditionalSelect(underflows, Vector256<float>.Zero, p * twoToN.AsSingle());
    }

    /// <summary>dropped = probabilities · keep / (1 − p).</summary>
    static unsafe void Drop(float* probabilities, byte* keep, float* dropped, int count, float keepScale)
    {
        int i = 0;
        if (Avx2.IsSupported)
            for (var factor = Vector256.Create(keepScale); i + 8 <= count; i += 8)
                (Vector256.Load(probabilities + i) * FastDropout.KeepFactors(keep + i, factor)).Store(dropped + i);
        for (; i < count; i++) dropped[i] = keep[i] != 0 ? probabilities[i] * keepScale : 0f;
    }

    /// <summary>
    /// With g the gradient of the dropped probabilities (in <paramref name="gradient"/>, overwritten): the gradient of
    /// the dropped probabilities' input, dP = g · keep / (1 − p), through softmax, scaled back to q·kᵀ:
    /// scale · P ⊙ (dP − Σ P·dP). Also writes the dropped probabilities again for the gradient of v.
    /// </summary>
    static unsafe void SoftmaxDropBackward(float* gradient, float* probabilities, byte* keep, float* dropped, int count, float scale, float keepScale)
    {
        int i = 0;
        var sums = Vector256<float>.Zero;
        if (Avx2.IsSupported)
            for (var factor = Vector256.Create(keepScale); i + 8 <= count; i += 8)
            {
                var keepFactors = FastDropout.KeepFactors(keep + i, factor);
                var p = Vector256.Load(probabilities + i);
                var dp = Vector256.Load(gradient + i) * keepFactors;
                dp.Store(gradient + i);
                (p * keepFactors).Store(dropped + i);
                sums += p * dp;
            }
        float sum = Vector256.Sum(sums);
        for (; i < count; i++)
        {
            float keepFactor = keep[i] != 0 ? keepScale : 0f;
            gradient[i] *= keepFactor;
            dropped[i] = probabilities[i] * keepFactor;
            sum += probabilities[i] * gradient[i];
        }
        var total = Vector256.Create(sum);
        var factorScale = Vector256.Create(scale);
        for (i = 0; i + 8 <= count; i += 8)
            (Vector256.Load(probabilities + i) * (Vector256.Load(gradient + i) - total) * factorScale).Store(gradient + i);
        for (; i < count; i++) gradient[i] = probabilities[i] * (gradient[i] - sum) * scale;
    }
}
