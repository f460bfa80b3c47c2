using Apt.Backbone.Cpu;
using TorchSharp;
using static TorchSharp.torch;

namespace Apt.Backbone;

/// <summary>
/// Inverted dropout, as <c>nn.Dropout</c>: in training each element is kept with probability 1 − p and scaled by
/// 1 / (1 − p), otherwise zeroed; in evaluation it is the identity. The mask is a counter hash rather than libtorch's
/// Bernoulli draw: each dropout takes one 64-bit seed from torch's default generator (so <c>manual_seed</c> reproduces
/// it), and element e is kept when half e mod 2 of SplitMix64(seed + (⌊e/2⌋ + 1)·γ) is below round((1 − p)·2³²)
/// (within 1.2e-10 of 1 − p). Why not <c>torch.nn.functional.dropout</c>: the fast CPU kernel
/// (<see cref="FastDropout"/>, about 7× faster than libtorch's one-thread Mersenne Twister) draws its masks this way,
/// and the reference path must draw the same masks from the same generator state for the two paths to be
/// compared step by step. Here the hash is written in libtorch integer operations (int64 arithmetic wraps), on the
/// input's device.
/// </summary>
public sealed class CounterDropout : nn.Module<Tensor, Tensor>
{
    /// <summary>The drop probability, in [0, 1); settable so that a run can give a shared frozen backbone its dropout.</summary>
    public double P
    {
        get => _p;
        set => _p = value is >= 0 and < 1 ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "dropout probability must be in [0, 1)");
    }
    double _p;

    public CounterDropout(double p) : base(nameof(CounterDropout)) => P = p;

    public override Tensor forward(Tensor input) => Apply(input, P, training);

    /// <summary>Dropout of <paramref name="input"/> with probability <paramref name="p"/> when <paramref name="training"/>, else an alias of it.</summary>
    public static Tensor Apply(Tensor input, double p, bool training)
    {
        if (!training || p == 0) return input.alias();
        if (ComputePath.UsesFastCpu(input)) return FastDropout.Apply(input, p);
        using var keep = ReferenceKeepMask(input.shape, p, input.device);
        return input.mul(keep).mul_(1.0 / (1.0 - p)); // mul_ scales the product in place and returns it
    }

    /// <summary>
    /// A bool keep mask of <paramref name="shape"/> on <paramref name="like"/>'s device, for dropout applied to (or
    /// beside) <paramref name="like"/>: the fast kernel's where the compute path takes it, else the reference one; the same bits.
    /// </summary>
    public static Tensor KeepMask(long[] shape, double p, Tensor like) =>
        ComputePath.UsesFastCpu(like) ? FastDropout.KeepMask(shape, p) : ReferenceKeepMask(shape, p, like.device);

    /// <summary>The keep mask from libtorch operations on <paramref name="device"/>.</summary>
    public static Tensor ReferenceKeepMask(long[] shape, double p, Device device)
    {
        var draw = new DropoutDraw(p);
        if (draw.KeepAll) return ones(shape, dtype: ScalarType.Bool, device: device);
        long count = shape.Aggregate(1L, (n, s) => n * s), pairs = (count + 1) / 2;
        using var scope = NewDisposeScope();
        var z = arange(1, pairs + 1, dtype: ScalarType.Int64, device: device).mul_(unchecked((long)DropoutDraw.Golden)).add_((long)draw.Seed); // seed + (i + 1)·γ
        z = z.bitwise_xor(ShiftRight(z, 30)).mul_(unchecked((long)DropoutDraw.MixFirst));
        z = z.bitwise_xor(ShiftRight(z, 27)).mul_(unchecked((long)DropoutDraw.MixSecond));
        z = z.bitwise_xor(ShiftRight(z, 31)); // SplitMix64's finaliser
        var halves = stack([z.bitwise_and(LowHalf(device)), ShiftRight(z, 32)], 1).view(-1).narrow(0, 0, count); // (count): low half for even elements, high for odd
        return halves.lt((long)draw.Threshold).view(shape).MoveToOuterDisposeScope();
    }

    /// <summary>z ≫ bits as an unsigned (logical) shift: libtorch shifts int64 arithmetically, so the sign's copies are masked off.</summary>
    static Tensor ShiftRight(Tensor z, int bits)
    {
        using var mask = full([], (1L << (64 - bits)) - 1, dtype: ScalarType.Int64, device: z.device);
        return z.bitwise_right_shift(bits).bitwise_and_(mask);
    }

    static Tensor LowHalf(Device device) => full([], 0xFFFFFFFFL, dtype: ScalarType.Int64, device: device);
}

/// <summary>
/// One dropout's draw, shared by <see cref="CounterDropout"/>'s reference mask and <see cref="FastDropout"/>'s kernel:
/// the seed taken from torch's default generator (one int64, drawn on the CPU whatever the model's device, as both paths
/// must consume the generator alike), the 32-bit keep threshold, and the scale of kept elements.
/// </summary>
public readonly struct DropoutDraw
{
    /// <summary>SplitMix64's Weyl increment γ and its two finaliser multipliers.</summary>
    public const ulong Golden = 0x9E3779B97F4A7C15UL, MixFirst = 0xBF58476D1CE4E5B9UL, MixSecond = 0x94D049BB133111EBUL;

    public readonly ulong Seed;
    public readonly uint Threshold;
    public readonly bool KeepAll;
    public readonly float Scale;

    public DropoutDraw(double p)
    {
        Seed = (ulong)randint(long.MinValue, long.MaxValue, [1], dtype: ScalarType.Int64).item<long>(); // CPU-side: the default generator
        double keepScaled = Math.Round((1.0 - p) * 4294967296.0); // 2³²
        KeepAll = keepScaled >= 4294967296.0;
        Threshold = KeepAll ? 0 : (uint)keepScaled;
        Scale = (float)(1.0 / (1.0 - p));
    }

    /// <summary>SplitMix64's finaliser.</summary>
    public static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * MixFirst;
        z = (z ^ (z >> 27)) * MixSecond;
        return z ^ (z >> 31);
    }
}
