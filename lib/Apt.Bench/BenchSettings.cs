namespace Apt.Bench;

/// <summary>The shapes and repeat counts of one benchmark run.</summary>
public sealed record BenchSettings
{
    /// <summary>Whether this is the smoke-test configuration (<c>--quick</c>): tiny shapes, few repeats.</summary>
    public bool Quick { get; init; }

    /// <summary>Examples per batch of the main figures (a–d). Default 32.</summary>
    public int Batch { get; init; } = 32;

    /// <summary>Tokens per example of the main figures. Default 128.</summary>
    public int Length { get; init; } = 128;

    /// <summary>Prefix length of APT and PT-2 in the main figures. Default 16.</summary>
    public int PrefixLength { get; init; } = 16;

    /// <summary>Unmeasured runs before timing. Default 2.</summary>
    public int Warmup { get; init; } = 2;

    /// <summary>Timed runs per figure (the median is reported). Default 7.</summary>
    public int Repeats { get; init; } = 7;

    /// <summary>Edge of the square matmul that measures the fp32 peak. Default 2048.</summary>
    public int MatmulSize { get; init; } = 2048;

    /// <summary>
    /// Batch and length of the memory-growth run (e). Smaller than the main shape: 500 steps at 32 × 128 take
    /// longer than the whole benchmark may. Default 8 × 64.
    /// </summary>
    public int MemoryBatch { get; init; } = 8;

    /// <inheritdoc cref="MemoryBatch"/>
    public int MemoryLength { get; init; } = 64;

    /// <summary>The steps after which the memory-growth run reads process memory. Default 50 and 500.</summary>
    public int MemoryEarlySteps { get; init; } = 50;

    /// <inheritdoc cref="MemoryEarlySteps"/>
    public int MemoryLateSteps { get; init; } = 500;

    /// <summary>Sequence lengths of the scaling scan (f), at <see cref="PrefixLength"/>. Default 64, 128, 256.</summary>
    public int[] ScanLengths { get; init; } = [64, 128, 256];

    /// <summary>Prefix lengths of the scaling scan, at <see cref="Length"/>. Default 0, 16, 64, 128.</summary>
    public int[] ScanPrefixes { get; init; } = [0, 16, 64, 128];

    /// <summary>Timed runs per point of the scaling scan. Default 3.</summary>
    public int ScanRepeats { get; init; } = 3;

    /// <summary>The full benchmark (<c>--json</c> runs it in under 10 minutes on 2 cores).</summary>
    public static BenchSettings Full => new();

    /// <summary>The smoke test: every figure, on shapes small enough for a unit test.</summary>
    public static BenchSettings Smoke => new()
    {
        Quick = true, Batch = 4, Length = 32, PrefixLength = 4, Warmup = 1, Repeats = 2, MatmulSize = 256,
        MemoryBatch = 2, MemoryLength = 16, MemoryEarlySteps = 3, MemoryLateSteps = 8,
        ScanLengths = [16, 32, 64], ScanPrefixes = [0, 4, 16, 32], ScanRepeats = 1,
    };
}
