using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.autograd;

namespace Apt.Backbone.Cpu;

/// <summary>
/// Training-mode attention, softmax(q·kᵀ/√hd, masked) → dropout → ·v, as one autograd node with its backward
/// written out, from the layer's stacked Q/K/V projection (B, T, 3d) and the prefix's keys and values (B, P, 2, d)
/// to the heads side by side (B, T, d). Composed from libtorch operations (<see cref="BertSelfAttention.ComposedAttention"/>,
/// the reference the tests hold this to) autograd keeps the probabilities, the dropped probabilities and the mask,
/// and masking, softmax, dropout and their gradients are separate passes over the (B, H, T, S) tensors. Here
/// one pass turns the scores into probabilities (kept for backward) and dropped probabilities (only for ·v),
/// and one pass in backward yields the score gradient and, again, the dropped probabilities. Measured on
/// MiniLM's APT step at 32 × 128 with a prefix of 16: 758 MiB allocated after the forward instead of 914;
/// per layer, forward 14.5 ms and backward 23.8 ms, against 13.4 and 30.9 ms for libtorch's fused kernel
/// without dropout and 72.3 and 29.5 ms for libtorch's with dropout (with <see cref="MklDispatch"/>'s kernels: 13.0 and
/// 17.2 ms against 8.2 and 20.1, and 62.9 and 19.9 ms). Where <see cref="SmallGemm"/>'s kernels run (512-bit lanes, or
/// AVX2 with FMA) and the head size is a multiple of 16 (<see cref="PerHead"/>) it goes further: one head at a time,
/// its scores in a buffer that stays in cache and its products on <see cref="SmallGemm"/>'s kernels instead of
/// libtorch's batched ones over the whole tensors.
/// Measured per layer at 32 × 12 heads × 128 queries, keys and values as the model's views, per head against
/// batched: S = 144 forward 13.6 / backward 14.1 ms against 16.0 / 16.8; S = 256 24.0 / 24.5 against 27.3 / 30.2;
/// MiniLM's APT step (own processes) 1,112 against 1,158 ms. On that path the node also reads q, k and v where the
/// projection and the prefix hold them and writes the output and the gradients where they belong: no joined keys
/// and values, no merge-heads copy, and one (B, T, 3d) and one (B, P, 2, d) gradient instead of zero-padded slices
/// summed by autograd (per layer at 32 × 128, forward and backward, those cost 8.2 ms with a prefix of 16 — 35.2 ms
/// with them, 27.0 for the node alone on ready tensors — and 15.1 ms with 128: 58.2 against 43.2). On a Zen 3 core
/// without AVX-512 (256-bit kernels), forward and backward per layer at 32 × 12 heads × 128 queries, S = 144, median of
/// 20 in alternating processes: per head 35.5, 39.3, 41.5 ms against batched 65.1, 55.9, 67.4 ms.
/// CPU and float32 only (<see cref="Supports"/>); elsewhere the composed form runs.
/// </summary>
public sealed class DropoutAttention : SingleTensorFunction<DropoutAttention>
{
    public override string Name => nameof(DropoutAttention);

    /// <summary>
    /// The fast path's training attention (<see cref="BertSelfAttention.Forward"/> with dropout): the keep mask (B, H, T, S)
    /// drawn by <see cref="FastDropout.KeepMask"/>, then this node where it applies (<see cref="Supports"/>), else
    /// <see cref="BertSelfAttention.ComposedAttention"/> with that mask. Projected (B, T, 3d), prefix (B, P, 2, d) → (B, T, d).
    /// </summary>
    internal static Tensor AttentionWithDropout(Tensor projected, int heads, Tensor? prefix, Tensor? keyMask, double p)
    {
        long batch = projected.shape[0], length = projected.shape[1], keys = length + (prefix?.shape[1] ?? 0);
        using var keep = FastDropout.KeepMask([batch, heads, length, keys], p); // (B, H, T, S)
        if (Supports(projected, keep)) return Apply(projected, prefix, keyMask, keep, p);
        using var scope = NewDisposeScope();
        var (q, k, v) = BertSelfAttention.HeadViews(projected, heads, prefix);
        return BertSelfAttention.MergeHeads(BertSelfAttention.ComposedAttention(q, k, v, keyMask?.view(batch, 1, 1, keys), keep, p)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Whether the node handles these inputs: float32 on the CPU, a (B, T, 3d) projection whose d splits into the keep
    /// mask's heads, the score tensor under 2 GiB.
    /// </summary>
    public static bool Supports(Tensor projected, Tensor keep) =>
        projected.device_type == DeviceType.CPU && projected.dtype == ScalarType.Float32 && projected.dim() == 3
        && projected.shape[2] % (3 * keep.shape[1]) == 0 && keep.numel() * sizeof(float) <= int.MaxValue;

    /// <summary>
    /// projected (B, T, 3d): the real tokens' queries, keys and values side by side (what the stacked Q/K/V product
    /// gives); prefix (B, P, 2, d) or null: keys ([:, :, 0]) and values ([:, :, 1]) in front of the tokens' own;
    /// keyMask (B, S) bool, true where a key may be attended, or null; keep (B, H, T, S) bool from
    /// <see cref="FastDropout.KeepMask"/>, whose H is the number of heads; p the drop probability. Returns (B, T, d).
    /// </summary>
    public static Tensor Apply(Tensor projected, Tensor? prefix, Tensor? keyMask, Tensor keep, double p)
    {
        if (is_grad_enabled() && (projected.requires_grad || prefix?.requires_grad == true)) return apply(projected, prefix!, keyMask!, keep, p);
        using var scope = NewDisposeScope(); // nothing to differentiate: no node, nothing kept
        return Attend(new Inputs(projected, prefix), keyMask, keep, p).Attended.MoveToOuterDisposeScope();
    }

    public override Tensor forward(AutogradContext ctx, params object[] vars)
    {
        var inputs = new Inputs((Tensor)vars[0], vars[1] as Tensor);
        var (keyMask, keep, p) = (vars[2] as Tensor, (Tensor)vars[3], (double)vars[4]);
        bool[] needsGradient = [inputs.Projected.requires_grad, inputs.Prefix?.requires_grad == true];
        using var scope = NewDisposeScope();
        var (attended, probabilities, keepBytes, scale, keepScale) = Attend(inputs, keyMask, keep, p);
        var kept = new Inputs(Retain(inputs.Projected), Retain(inputs.Prefix));
        ctx.save_data(nameof(Saved), new Saved(kept, Retain(probabilities), Retain(keepBytes), scale, keepScale, needsGradient));
        return attended.MoveToOuterDisposeScope();
    }

    /// <summary>The layer's queries, keys and values as the node receives them (see <see cref="Apply"/>).</summary>
    sealed record Inputs(Tensor Projected, Tensor? Prefix)
    {
        /// <summary>B, H, T, hd, P and S, and S′: S rounded up to the kernels' 16 columns, and 16 more where that makes a multiple of 128.</summary>
        public Shapes ShapesWith(Tensor keep)
        {
            int heads = (int)keep.shape[1], keys = (int)keep.shape[3], length = (int)Projected.shape[1];
            int padded = (keys + 15) / 16 * 16;
            // Rows a multiple of 512 bytes apart fall into an eighth or fewer of the L1 cache's sets; per layer at 32 × 12 heads ×
            // 128 queries, forward and backward, S = 256 took 49.3–52.2 ms with S′ = 256 and 44.0–46.2 with 272.
            if (padded % 128 == 0) padded += 16;
            return new(Projected.shape[0], heads, length, (int)(Projected.shape[2] / 3 / heads), keys - length, keys, padded);
        }

        /// <summary>q (B, H, T, hd), k and v (B, H, S, hd) as libtorch tensors: what the batched path multiplies.</summary>
        public (Tensor Q, Tensor K, Tensor V) HeadViews(int heads) => BertSelfAttention.HeadViews(Projected, heads, Prefix);
    }

    readonly record struct Shapes(long Batch, int Heads, int Length, int HeadSize, int PrefixLength, int Keys, int Padded)
    {
        public int Width => Heads * HeadSize;
    }

    /// <summary>The forward computation; the tensors it returns besides the output are what backward needs.</summary>
    static (Tensor Attended, Tensor Probabilities, Tensor Keep, float Scale, float KeepScale) Attend(Inputs inputs, Tensor? keyMask, Tensor keep, double p)
    {
        var shapes = inputs.ShapesWith(keep);
        float scale = (float)(1.0 / Math.Sqrt(shapes.HeadSize)), keepScale = (float)(1.0 / (1.0 - p));
        var keepBytes = keep.contiguous();
        var allowed = keyMask?.to(ScalarType.Bool).contiguous(); // (B, S)
        if (PerHead(inputs, shapes))
        {
            var (headAttended, headProbabilities) = AttendPerHead(inputs, shapes, allowed, keepBytes, scale, keepScale);
            return (headAttended, headProbabilities, keepBytes, scale, keepScale);
        }
        var (q, k, v) = inputs.HeadViews(shapes.Heads);
        var scores = q.matmul(k.transpose(-2, -1)).contiguous(); // (B, H, T, S), not yet scaled
        var probabilities = empty_like(scores); // (B, H, T, S)
        long queriesPerExample = (long)shapes.Heads * shapes.Length;
        unsafe
        {
            fixed (byte* s = scores.bytes, pr = probabilities.bytes, kp = keepBytes.bytes)
            fixed (byte* a = allowed is null ? default : allowed.bytes)
            {
                float* scoreRows = (float*)s, probabilityRows = (float*)pr;
                byte* keepRows = kp, allowedRows = allowed is null ? null : a;
                ForEachRow(shapes.Batch * queriesPerExample, shapes.Keys, (row, count) =>
                {
                    float* scoresRow = scoreRows + row * count, probabilitiesRow = probabilityRows + row * count;
                    byte* keepRow = keepRows + row * count;
                    byte* allowedRow = allowedRows is null ? null : allowedRows + row / queriesPerExample * count;
                    Softmax(scoresRow, allowedRow, probabilitiesRow, count, scale);
                    Drop(probabilitiesRow, keepRow, scoresRow, count, keepScale); // the scores' buffer now holds the dropped probabilities
                });
            }
        }
        return (BertSelfAttention.MergeHeads(scores.matmul(v)), probabilities, keepBytes, scale, keepScale); // (B, T, d)
    }

    public override List<Tensor> backward(AutogradContext ctx, Tensor gradient)
    {
        using var saved = ctx.get_data(nameof(Saved)) as Saved
            ?? throw new InvalidOperationException($"{nameof(DropoutAttention)}: backward ran twice over the same graph (retain_graph is not supported)");
        ctx.save_data(nameof(Saved), null!);
        using var scope = NewDisposeScope();
        var shapes = saved.Inputs.ShapesWith(saved.Keep);
        var gradients = PerHead(saved.Inputs, shapes)
            ? BackwardPerHead(gradient.contiguous(), saved, shapes)
            : BackwardBatched(gradient, saved, shapes);
        return [.. gradients.Select(g => g?.MoveToOuterDisposeScope()!), null!, null!, null!]; // null: no gradient (an input that needs none, the masks, p)
    }

    /// <summary>The backward over whole (B, H, T, S) tensors with libtorch's batched products; returns the gradients of the projection and the prefix.</summary>
    static Tensor?[] BackwardBatched(Tensor gradient, Saved saved, Shapes shapes)
    {
        var (q, k, v) = saved.Inputs.HeadViews(shapes.Heads);
        var (probabilities, keep, needsGradient) = (saved.Probabilities, saved.Keep, saved.NeedsGradient);
        var upstream = gradient.view(shapes.Batch, shapes.Length, shapes.Heads, shapes.HeadSize).transpose(1, 2); // (B, H, T, hd)
        var scoreGradient = upstream.matmul(v.transpose(-2, -1)).contiguous(); // (B, H, T, S): first the dropped probabilities' gradient
        var dropped = empty_like(scoreGradient); // (B, H, T, S)
        unsafe
        {
            fixed (byte* g = scoreGradient.bytes, d = dropped.bytes, pr = probabilities.bytes, kp = keep.bytes)
            {
                float* gradientRows = (float*)g, droppedRows = (float*)d, probabilityRows = (float*)pr;
                byte* keepRows = kp;
                var (scale, keepScale) = (saved.Scale, saved.KeepScale);
                ForEachRow(probabilities.numel() / shapes.Keys, shapes.Keys, (row, count) =>
                    SoftmaxDropBackward(gradientRows + row * count, probabilityRows + row * count, keepRows + row * count, droppedRows + row * count, count, scale, keepScale));
            }
        }
        var kGradient = scoreGradient.transpose(-2, -1).matmul(q); // (B, H, S, hd)
        var vGradient = dropped.transpose(-2, -1).matmul(upstream); // (B, H, S, hd)
        int prefix = shapes.PrefixLength, length = shapes.Length;
        var projectedGradient = !needsGradient[0] ? null : cat([
            BertSelfAttention.MergeHeads(scoreGradient.matmul(k)),
            BertSelfAttention.MergeHeads(kGradient.narrow(2, prefix, length)),
            BertSelfAttention.MergeHeads(vGradient.narrow(2, prefix, length))], 2); // (B, T, 3d)
        var prefixGradient = !needsGradient[1] ? null : stack([
            BertSelfAttention.MergeHeads(kGradient.narrow(2, 0, prefix)),
            BertSelfAttention.MergeHeads(vGradient.narrow(2, 0, prefix))], 2); // (B, P, 2, d)
        return [projectedGradient, prefixGradient];
    }

    /// <summary>
    /// Whether the per-head path runs: <see cref="SmallGemm"/>'s kernels are supported, the head size is a
    /// multiple of 16, the projection is contiguous and every prefix key and value is. It does per head, with the head's scores
    /// in a buffer that stays in cache, what the batched path does over the whole (B, H, T, S) tensors with
    /// libtorch's products between the passes.
    /// </summary>
    static bool PerHead(Inputs inputs, Shapes shapes) =>
        SmallGemm.Supported && shapes.HeadSize % 16 == 0 && inputs.Projected.is_contiguous()
        && (inputs.Prefix?.stride(3) ?? 1) == 1;

    /// <summary>
    /// The forward one head at a time: kᵀ gathered into a padded buffer, scores = q·kᵀ into a (T, S′) buffer, each
    /// row softmaxed into the kept probabilities and dropped in place, then ·v straight into the head's columns of
    /// the (B, T, d) output. Returns that and the probabilities (B, H, T, S).
    /// </summary>
    static unsafe (Tensor Attended, Tensor Probabilities) AttendPerHead(Inputs inputs, Shapes shapes, Tensor? allowed, Tensor keep, float scale, float keepScale)
    {
        var (batch, heads, length, headSize, _, keys, padded) = shapes;
        int width = shapes.Width;
        var attended = empty(batch, length, width); // (B, T, d)
        var probabilities = empty(batch, heads, length, keys); // (B, H, T, S)
        fixed (byte* ob = attended.bytes, pb = probabilities.bytes, keepb = keep.bytes)
        fixed (byte* ab = allowed is null ? default : allowed.bytes)
        {
            float* projected = StridedData(inputs.Projected), outAll = (float*)ob, probabilityAll = (float*)pb;
            byte* keepAll = keepb, allowedAll = allowed is null ? null : ab;
            ForEachHead(shapes, KeyRows.Of(inputs, 1, shapes), KeyRows.Of(inputs, 2, shapes), length * padded,
                (b, h, keysTransposed, valueRows, valueRow, scores) => // (hd, S′), (S, hd) by valueRow, (T, S′)
                {
                    long head = b * heads + h;
                    SmallGemm.Multiply(projected + b * length * 3 * width + h * headSize, 3 * width, 1, keysTransposed, padded, scores, padded, length, padded, headSize);
                    for (long t = 0; t < length; t++)
                    {
                        long row = head * length + t;
                        Softmax(scores + t * padded, allowedAll is null ? null : allowedAll + b * keys, probabilityAll + row * keys, keys, scale);
                        Drop(probabilityAll + row * keys, keepAll + row * keys, scores + t * padded, keys, keepScale);
                    }
                    SmallGemm.Multiply(scores, padded, 1, valueRows, valueRow, outAll + b * length * width + h * headSize, width, length, headSize, keys);
                });
        }
        return (attended, probabilities);
    }

    /// <summary>
    /// The backward one head at a time: dP̃ = dO·vᵀ into a (T, S′) buffer, each row through dropout and softmax to
    /// the score gradient (and the dropped probabilities into a second buffer), then dq = dS·k, dk = dSᵀ·q,
    /// dv = P̃ᵀ·dO, the tokens' rows into one (B, T, 3d) gradient of the projection and the prefix's into one
    /// (B, P, 2, d), each only when its input needs it.
    /// </summary>
    static unsafe Tensor?[] BackwardPerHead(Tensor gradient, Saved saved, Shapes shapes)
    {
        var (batch, heads, length, headSize, prefix, keys, padded) = shapes;
        var (inputs, needsGradient, scale, keepScale) = (saved.Inputs, saved.NeedsGradient, saved.Scale, saved.KeepScale);
        int width = shapes.Width;
        Tensor? projectedGradient = needsGradient[0] ? empty(batch, length, 3 * width) : null; // (B, T, 3d)
        Tensor? prefixGradient = needsGradient[1] ? empty(batch, prefix, 2, width) : null; // (B, P, 2, d)
        fixed (byte* gb = gradient.bytes, pb = saved.Probabilities.bytes, keepb = saved.Keep.bytes)
        fixed (byte* dpb = projectedGradient is null ? default : projectedGradient.bytes)
        fixed (byte* dkvb = prefixGradient is null ? default : prefixGradient.bytes)
        {
            float* projected = StridedData(inputs.Projected), gAll = (float*)gb, probabilityAll = (float*)pb;
            float* dProjectedAll = (float*)dpb, dPrefixAll = (float*)dkvb; // keys' row p of example b at (b·P + p)·2d, values' d further
            byte* keepAll = keepb;
            ForEachHead(shapes, KeyRows.Of(inputs, 2, shapes), KeyRows.Of(inputs, 1, shapes), 2 * length * padded,
                (b, h, valuesTransposed, keyRows, keyRow, scratch) => // (hd, S′), (S, hd) by keyRow, two (T, S′)
                {
                    long head = b * heads + h;
                    float* scoreGradient = scratch, dropped = scratch + length * padded; // (T, S′), (T, S′)
                    float* upstream = gAll + b * length * width + h * headSize, q = projected + b * length * 3 * width + h * headSize; // rows by d, by 3d
                    SmallGemm.Multiply(upstream, width, 1, valuesTransposed, padded, scoreGradient, padded, length, padded, headSize);
                    for (long t = 0; t < length; t++)
                    {
                        long row = head * length + t;
                        SoftmaxDropBackward(scoreGradient + t * padded, probabilityAll + row * keys, keepAll + row * keys, dropped + t * padded, keys, scale, keepScale);
                    }
                    if (dProjectedAll is not null)
                    {
                        float* dTokens = dProjectedAll + b * length * 3 * width + h * headSize; // the head's q columns; k's and v's d and 2d on
                        SmallGemm.Multiply(scoreGradient, padded, 1, keyRows, keyRow, dTokens, 3 * width, length, headSize, keys);
                        SmallGemm.Multiply(scoreGradient + prefix, 1, padded, q, 3 * width, dTokens + width, 3 * width, length, headSize, length);
                        SmallGemm.Multiply(dropped + prefix, 1, padded, upstream, width, dTokens + 2 * width, 3 * width, length, headSize, length);
                    }
                    if (dPrefixAll is not null)
                    {
                        float* dKeys = dPrefixAll + b * prefix * 2 * width + h * headSize;
                        SmallGemm.Multiply(scoreGradient, 1, padded, q, 3 * width, dKeys, 2 * width, prefix, headSize, length);
                        SmallGemm.Multiply(dropped, 1, padded, upstream, width, dKeys + width, 2 * width, prefix, headSize, length);
                    }
                });
        }
        return [projectedGradient, prefixGradient];
    }

    /// <summary>
    /// Where one example's keys or values are: P prefix rows of the (B, P, 2, d) prefix by its strides, then T token
    /// rows of the (B, T, 3d) projection. Keys: the prefix's [:, :, 0] and the projection's columns from d; values:
    /// [:, :, 1] and the columns from 2d.
    /// </summary>
    readonly unsafe struct KeyRows(float* prefix, long prefixBatch, long prefixRow, float* tokens, long tokensBatch, long tokensRow, int prefixLength, int length)
    {
        /// <summary>Part 1: the keys; part 2: the values (the projection's second and third d columns).</summary>
        public static KeyRows Of(Inputs inputs, int part, Shapes shapes)
        {
            float* tokens = StridedData(inputs.Projected) + part * shapes.Width;
            long tokensRow = 3L * shapes.Width;
            return inputs.Prefix is not { } prefix
                ? new(null, 0, 0, tokens, shapes.Length * tokensRow, tokensRow, 0, shapes.Length)
                : new(StridedData(prefix) + (part - 1) * prefix.stride(2), prefix.stride(0), prefix.stride(1), tokens, shapes.Length * tokensRow, tokensRow, shapes.PrefixLength, shapes.Length);
        }

        /// <summary>Copies columns [first, first + count) of example b's S rows into <paramref name="target"/>, (S, count).</summary>
        public void Gather(long b, long first, int count, float* target)
        {
            for (int r = 0; r < prefixLength + length; r++) Buffer.MemoryCopy(Row(b, r) + first, target + (long)r * count, count * sizeof(float), count * sizeof(float));
        }

        /// <summary>
        /// Writes columns [first, first + count) of example b's S rows transposed: column c to line c of
        /// <paramref name="target"/> (row stride <paramref name="targetRow"/> ≥ S), zeros from column S on. In 8 × 8
        /// blocks straight from the prefix and the projection (count is a multiple of 8); with heads side by side in
        /// the columns, head h's transpose starts at line h·hd. Instead of a gather and then a transpose element by element:
        /// per layer at 32 × 12 heads × 128 queries, forward and backward, S = 144 27.6–28.4 → 26.5–27.3 ms, S = 256
        /// 45.6–48.8 → 45.1–48.2 ms (alternating processes).
        /// </summary>
        public void GatherTransposed(long b, long first, int count, float* target, int targetRow)
        {
            int keys = prefixLength + length, r = 0;
            float** rows = stackalloc float*[8];
            for (; r + 8 <= keys; r += 8)
            {
                for (int i = 0; i < 8; i++) rows[i] = Row(b, r + i) + first;
                for (int c = 0; c < count; c += 8) SmallGemm.Transpose8x8(rows, c, target + (long)c * targetRow + r, targetRow);
            }
            for (; r < keys; r++)
            {
                float* from = Row(b, r) + first;
                for (int c = 0; c < count; c++) target[(long)c * targetRow + r] = from[c];
            }
            for (long line = 0; line < count; line++) new Span<float>(target + line * targetRow + keys, targetRow - keys).Clear();
        }

        /// <summary>Where example b's key (or value) row r starts: a prefix row, then the tokens' rows.</summary>
        float* Row(long b, int r) => r < prefixLength ? prefix + b * prefixBatch + r * prefixRow : tokens + b * tokensBatch + (r - prefixLength) * tokensRow;
    }

    /// <summary>The address of element (0, …, 0) of a float32 CPU tensor of any strides (TorchSharp's <c>bytes</c> takes only contiguous ones); valid while the tensor lives.</summary>
    static unsafe float* StridedData(Tensor tensor)
    {
        using var storage = tensor.storage<float>();
        return (float*)storage.data_ptr() + tensor.storage_offset();
    }

    unsafe delegate void HeadAction(long example, long head, float* transposed, float* rows, long rowStride, float* scratch);

    /// <summary>
    /// Runs <paramref name="action"/> on every head h of every example b, the heads of one example in one task: first
    /// the example's rows of <paramref name="transposed"/> transposed for all its heads at once
    /// (<see cref="KeyRows.GatherTransposed"/>: the head's (hd, S′), zero-padded), then its rows of
    /// <paramref name="rows"/> gathered ((S, hd) per head), then each head with both and a 64-byte aligned scratch buffer
    /// of <paramref name="scratchFloats"/> floats. With fewer examples than twice the cores, each example's heads are
    /// split into groups, so that a small batch still keeps every core busy.
    /// </summary>
    static unsafe void ForEachHead(Shapes shapes, KeyRows transposed, KeyRows rows, long scratchFloats, HeadAction action)
    {
        var (batch, heads, _, headSize, _, keys, padded) = shapes;
        int groups = (int)Math.Clamp(2L * TorchRuntime.Parallelism.MaxDegreeOfParallelism / batch, 1, heads);
        int headsPerGroup = (heads + groups - 1) / groups;
        groups = (heads + headsPerGroup - 1) / headsPerGroup;
        long transposedFloats = (long)headsPerGroup * headSize * padded, rowFloats = (long)keys * headsPerGroup * headSize;
        Parallel.For(0, batch * groups, TorchRuntime.Parallelism,
            () => (IntPtr)NativeMemory.AlignedAlloc((nuint)((transposedFloats + rowFloats + scratchFloats) * sizeof(float)), 64),
            (task, _, buffer) =>
            {
                long b = task / groups;
                int first = (int)(task % groups) * headsPerGroup, count = Math.Min(heads, first + headsPerGroup) - first, columns = count * headSize;
                float* transposedHeads = (float*)buffer, gathered = transposedHeads + transposedFloats, scratch = gathered + rowFloats;
                transposed.GatherTransposed(b, (long)first * headSize, columns, transposedHeads, padded); // head h's (hd, S′) from line h·hd
                rows.Gather(b, (long)first * headSize, columns, gathered);
                for (int h = 0; h < count; h++) action(b, first + h, transposedHeads + (long)h * headSize * padded, gathered + h * headSize, columns, scratch);
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
    sealed record Saved(Inputs Inputs, Tensor Probabilities, Tensor Keep, float Scale, float KeepScale, bool[] NeedsGradient) : IDisposable
    {
        public void Dispose()
        {
            foreach (var tensor in new[] { Inputs.Projected, Inputs.Prefix, Probabilities, Keep }) tensor?.Dispose();
        }
    }

    /// <summary>A handle of its own on <paramref name="tensor"/>'s data, outside every dispose scope.</summary>
    [return: System.Diagnostics.CodeAnalysis.NotNullIfNotNull(nameof(tensor))]
    static Tensor? Retain(Tensor? tensor) => tensor?.detach().DetachFromDisposeScope();

    const int RowsPerTask = 256;

    delegate void RowAction(long row, int count);

    /// <summary>Runs <paramref name="action"/> on every row, blocks of rows in parallel.</summary>
    static void ForEachRow(long rows, int count, RowAction action) =>
        Parallel.For(0, (rows + RowsPerTask - 1) / RowsPerTask, TorchRuntime.Parallelism, task =>
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
