using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using TorchSharp;
using static TorchSharp.torch;

namespace Apt.Backbone.Cpu;

/// <summary>
/// <see cref="CounterDropout"/>'s mask and product as one vectorised pass over float32 CPU tensors. Why not libtorch's
/// dropout: on the CPU its <c>bernoulli_</c> draws every element from one Mersenne Twister in one thread (about 7 ns
/// an element here), which made dropout — above all attention dropout over (B, H, T, S) — a third of a frozen-backbone
/// step. This kernel hashes the counter in 256-bit lanes on both cores (about 1 ns an element) with the same seed,
/// threshold and hash as <see cref="CounterDropout.ReferenceKeepMask"/>, so the two draw the same bits.
/// </summary>
static class FastDropout
{
    /// <summary>
    /// Training-mode dropout of a float32 CPU <paramref name="input"/> (<see cref="ComputePath.UsesFastCpu"/>). The mask is
    /// drawn in one pass: without a gradient it is applied in that pass; with one, as floats keep / (1 − p), so that
    /// forward and backward are one mul each. Measured on MiniLM's APT step (the benchmark): a bool mask with mul and mul_ took
    /// 1.89 ms forward and 1.37 ms backward per (32, 128, 384) dropout. A custom autograd node doing both in one pass each
    /// was 1–2 % faster on the step but raised its peak memory by 190–210 MiB (TorchSharp's Function keeps an
    /// uninitialised tensor the size of each output until the graph is released). The float factors keep 4 bytes an
    /// element until backward instead of the bool mask's 1: the APT step in its own process went from 1,119–1,133 to
    /// 1,090–1,118 ms and its peak from 1,290–1,362 to 1,423–1,470 MiB.
    /// </summary>
    public static Tensor Apply(Tensor input, double p)
    {
        if (is_grad_enabled() && input.requires_grad)
        {
            using var factors = Drop(null, input.shape, p); // keep / (1 − p) as floats: one mul forward, one backward
            return input.mul(factors);
        }
        return Drop(input, input.shape, p);
    }

    /// <summary>A bool tensor of <paramref name="shape"/>, true with probability 1 − <paramref name="p"/>, independently per element.</summary>
    public static Tensor KeepMask(long[] shape, double p)
    {
        var mask = empty(shape, dtype: ScalarType.Bool); // CPU: the kernel writes its storage
        unsafe
        {
            fixed (byte* bytes = mask.bytes) Fill(mask.numel(), new DropoutDraw(p), bytes, null, null);
        }
        return mask;
    }

    /// <summary>
    /// input · keep / (1 − p) for a float32 CPU <paramref name="input"/> of <paramref name="shape"/>, or with no input
    /// keep / (1 − p) itself, in one pass, with the mask <see cref="KeepMask"/> draws from the same generator state.
    /// </summary>
    static Tensor Drop(Tensor? input, long[] shape, double p)
    {
        using var contiguous = input?.contiguous();
        var output = empty(shape);
        unsafe
        {
            fixed (byte* source = contiguous is null ? default : contiguous.bytes, target = output.bytes)
                Fill(output.numel(), new DropoutDraw(p), null, contiguous is null ? null : (float*)source, (float*)target);
        }
        return output;
    }

    /// <summary>Eight keep bytes (0 or 1) as floats times <paramref name="factor"/>.</summary>
    internal static unsafe Vector256<float> KeepFactors(byte* keep, Vector256<float> factor) =>
        Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(keep)) * factor;

    const int PairsPerChunk = 1 << 15;
    const ulong Golden = DropoutDraw.Golden;

    /// <summary>Byte i of entry m is bit i of m: eight comparison bits become eight bool bytes in one store.</summary>
    static readonly ulong[] Spread = [.. Enumerable.Range(0, 256).Select(m => Enumerable.Range(0, 8).Aggregate(0UL, (bytes, bit) => bytes | (ulong)((m >> bit) & 1) << (8 * bit)))];

    /// <summary>
    /// Element 2i and 2i + 1 are kept when the low and the high 32 bits of Mix(seed + (i + 1)·γ) are below the
    /// threshold. Counter-based, so any split of the work gives the same mask; four pairs at a time in 256-bit lanes.
    /// Writes the mask to <paramref name="mask"/> when not null, and input · keep · scale (keep · scale without an
    /// input) to <paramref name="output"/> when not null.
    /// </summary>
    static unsafe void Fill(long count, DropoutDraw draw, byte* mask, float* input, float* output)
    {
        long pairs = (count + 1) / 2;
        Parallel.For(0, (pairs + PairsPerChunk - 1) / PairsPerChunk, TorchRuntime.Parallelism, chunk =>
        {
            long i = chunk * PairsPerChunk, last = Math.Min(pairs, i + PairsPerChunk);
            if (!draw.KeepAll)
            {
                var limit = Vector256.Create(draw.Threshold);
                var scale = Vector256.Create(draw.Scale);
                var step = Vector256.Create(unchecked(4 * Golden));
                var counter = Vector256.Create(draw.Seed) + Vector256.Create((ulong)(i + 1), (ulong)(i + 2), (ulong)(i + 3), (ulong)(i + 4)) * Vector256.Create(Golden);
                for (; i + 4 <= last && 2 * (i + 4) <= count; i += 4, counter += step)
                {
                    var z = counter;
                    z = (z ^ (z >>> 30)) * Vector256.Create(DropoutDraw.MixFirst);
                    z = (z ^ (z >>> 27)) * Vector256.Create(DropoutDraw.MixSecond);
                    z ^= z >>> 31;
                    var below = Vector256.LessThan(z.AsUInt32(), limit); // lanes lo₀, hi₀, lo₁, hi₁, … = elements 2i, 2i + 1, …
                    ulong keep = Spread[below.ExtractMostSignificantBits()];
                    if (mask is not null) *(ulong*)(mask + 2 * i) = keep;
                    if (output is not null)
                    {
                        var factors = KeepFactors((byte*)&keep, scale);
                        (input is null ? factors : Vector256.Load(input + 2 * i) * factors).Store(output + 2 * i);
                    }
                }
            }
            for (; i < last; i++)
            {
                ulong z = DropoutDraw.Mix(draw.Seed + (ulong)(i + 1) * Golden);
                for (long at = 2 * i; at < Math.Min(2 * i + 2, count); at++)
                {
                    bool kept = draw.KeepAll || (uint)(at == 2 * i ? z : z >> 32) < draw.Threshold;
                    if (mask is not null) mask[at] = (byte)(kept ? 1 : 0);
                    if (output is not null) output[at] = kept ? (input is null ? draw.Scale : input[at] * draw.Scale) : 0f;
                }
            }
        });
    }
}
