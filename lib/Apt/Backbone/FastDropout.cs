using System.Runtime.Intrinsics;
using TorchSharp;
using static TorchSharp.torch;

namespace Apt.Backbone;

/// <summary>
/// Inverted dropout, as <c>nn.Dropout</c>: in training each element is kept with probability 1 − p and scaled
/// by 1 / (1 − p), otherwise zeroed; in evaluation it is the identity. Why not libtorch's: on the CPU its
/// <c>bernoulli_</c> draws every element from one Mersenne Twister in one thread (about 7 ns an element here),
/// which made dropout — above all attention dropout over (B, H, T, S) — a third of a frozen-backbone step,
/// and it keeps a float mask alive for backward. This one hashes a counter (SplitMix64 over a Weyl sequence,
/// both cores, about 1 ns an element), keeps a bool mask (1 byte), and takes its seed from torch's generator,
/// so <c>manual_seed</c> reproduces it exactly. The keep probability is round((1 − p)·2³²) / 2³², within
/// 1.2e-10 of 1 − p.
/// </summary>
public sealed class FastDropout : nn.Module<Tensor, Tensor>
{
    /// <summary>The drop probability.</summary>
    public double P { get; }

    public FastDropout(double p) : base(nameof(FastDropout))
    {
        if (p is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(p), p, "dropout probability must be in [0, 1)");
        P = p;
    }

    public override Tensor forward(Tensor input) => Apply(input, P, training);

    /// <summary>Dropout of <paramref name="input"/> with probability <paramref name="p"/> when <paramref name="training"/>, else an alias of it.</summary>
    public static Tensor Apply(Tensor input, double p, bool training)
    {
        if (!training || p == 0) return input.alias();
        using var keep = KeepMask(input.shape, p, input.device);
        return input.mul(keep).mul_(1.0 / (1.0 - p)); // mul_ scales the product in place and returns it
    }

    /// <summary>A bool tensor of <paramref name="shape"/>, true with probability 1 − <paramref name="p"/>, independently per element.</summary>
    public static Tensor KeepMask(long[] shape, double p, Device? device = null)
    {
        ulong seed = (ulong)randint(long.MinValue, long.MaxValue, [1], dtype: ScalarType.Int64).item<long>(); // from torch's generator
        double keepScaled = Math.Round((1.0 - p) * 4294967296.0); // 2³²
        bool keepAll = keepScaled >= 4294967296.0;
        uint threshold = keepAll ? 0 : (uint)keepScaled;
        var mask = empty(shape, dtype: ScalarType.Bool);
        Fill(mask, seed, threshold, keepAll);
        return device is null || device.type == DeviceType.CPU ? mask : mask.to(device);
    }

    const int PairsPerChunk = 1 << 15;
    const ulong Golden = 0x9E3779B97F4A7C15UL;

    /// <summary>Byte i of entry m is bit i of m: eight comparison bits become eight bool bytes in one store.</summary>
    static readonly ulong[] Spread = [.. Enumerable.Range(0, 256).Select(m => Enumerable.Range(0, 8).Aggregate(0UL, (bytes, bit) => bytes | (ulong)((m >> bit) & 1) << (8 * bit)))];

    /// <summary>
    /// Element 2i and 2i + 1 are kept when the low and the high 32 bits of Mix(seed + (i + 1)·γ) are below the
    /// threshold. Counter-based, so any split of the work gives the same mask; four pairs at a time in 256-bit lanes.
    /// </summary>
    static unsafe void Fill(Tensor mask, ulong seed, uint threshold, bool keepAll)
    {
        long count = mask.numel();
        fixed (byte* start = mask.bytes)
        {
            byte* bytes = start;
            long pairs = (count + 1) / 2, chunks = (pairs + PairsPerChunk - 1) / PairsPerChunk;
            Parallel.For(0, chunks, chunk =>
            {
                long first = chunk * PairsPerChunk, last = Math.Min(pairs, first + PairsPerChunk);
                long i = first;
                if (!keepAll)
                {
                    var limit = Vector256.Create(threshold);
                    var step = Vector256.Create(unchecked(4 * Golden));
                    var counter = Vector256.Create(seed) + Vector256.Create((ulong)(i + 1), (ulong)(i + 2), (ulong)(i + 3), (ulong)(i + 4)) * Vector256.Create(Golden);
                    for (; i + 4 <= last && 2 * (i + 4) <= count; i += 4, counter += step)
                    {
                        var z = counter;
                        z = (z ^ (z >>> 30)) * Vector256.Create(0xBF58476D1CE4E5B9UL);
                        z = (z ^ (z >>> 27)) * Vector256.Create(0x94D049BB133111EBUL);
                        z ^= z >>> 31;
                        var below = Vector256.LessThan(z.AsUInt32(), limit); // lanes lo₀, hi₀, lo₁, hi₁, … = elements 2i, 2i + 1, …
                        *(ulong*)(bytes + 2 * i) = Spread[below.ExtractMostSignificantBits()];
                    }
                }
                for (; i < last; i++)
                {
                    ulong z = Mix(seed + (ulong)(i + 1) * Golden);
                    long at = 2 * i;
                    bytes[at] = (byte)(keepAll || (uint)z < threshold ? 1 : 0);
                    if (at + 1 < count) bytes[at + 1] = (byte)(keepAll || (uint)(z >> 32) < threshold ? 1 : 0);
                }
            });
        }
    }

    static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
