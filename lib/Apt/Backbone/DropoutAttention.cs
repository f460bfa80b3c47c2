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
/// 17.2 ms against 8.2 and 20.1, and 62.9 and 19.9 ms). The matrix products stay libtorch's. CPU and float32 only
/// (<see cref="Supports"/>); elsewhere the composed form runs.
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
        var scores = q.matmul(k.transpose(-2, -1)).contiguous(); // (B, H, T, S), not yet scaled
        var probabilities = empty_like(scores); // (B, H, T, S)
        var keepBytes = keep.contiguous();
        var allowed = keyMask?.expand(batch, 1, 1, keys).reshape(batch, keys).to(ScalarType.Bool).contiguous(); // (B, S)
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
        float max = float.NegativeInfinity;
        for (int lane = 0; lane < 8; lane++) max = MathF.Max(max, maxima[lane]);
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
            var e = Vector256.Exp((Vector256.Load(scores + i) - shift) * factor);
            e.Store(probabilities + i);
            sums += e;
        }
        float sum = Vector256.Sum(sums);
        for (; i < count; i++) sum += probabilities[i] = MathF.Exp((scores[i] - max) * scale);
        var inverse = Vector256.Create(1f / sum);
        for (i = 0; i + 8 <= count; i += 8) (Vector256.Load(probabilities + i) * inverse).Store(probabilities + i);
        for (; i < count; i++) probabilities[i] *= 1f / sum;
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
