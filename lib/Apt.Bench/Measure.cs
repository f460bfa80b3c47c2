using System.Diagnostics;
using System.Globalization;

namespace Apt.Bench;

/// <summary>Timing and memory primitives: medians after warm-up, resident memory from /proc.</summary>
public static class Measure
{
    /// <summary>Median wall time in milliseconds of <paramref name="action"/> over <paramref name="repeats"/> runs, after <paramref name="warmup"/> unmeasured ones.</summary>
    public static double MedianMs(Action action, int repeats, int warmup = 1) => AlternatingMedianMs([action], repeats, warmup)[0];

    /// <summary>
    /// Median wall times of several actions run in turn (A, B, A, B, …) so that a change in the machine's
    /// load affects each alike; their ratio is then steadier than that of separate runs.
    /// </summary>
    public static double[] AlternatingMedianMs(IReadOnlyList<Action> actions, int repeats, int warmup = 1)
    {
        for (int i = 0; i < warmup; i++)
            foreach (var action in actions) action();
        var times = actions.Select(_ => new double[repeats]).ToArray();
        for (int i = 0; i < repeats; i++)
            for (int a = 0; a < actions.Count; a++)
            {
                var watch = Stopwatch.StartNew();
                actions[a]();
                times[a][i] = watch.Elapsed.TotalMilliseconds;
            }
        return [.. times.Select(Median)];
    }

    /// <summary>
    /// Median wall times of engines measured in alternating blocks (A's block, B's block, A's, …, for
    /// <paramref name="rounds"/> rounds); a block function runs <paramref name="perBlock"/> timed runs and returns
    /// their times (the benchmark runs each block in a fresh child process, <see cref="TimedBlock"/> there). For engines with thread
    /// pools of their own (libtorch's OpenMP, ONNX Runtime's spinning workers): right after one engine ran, its
    /// workers still spin or hold a core, which slowed the other's next run by half when the two alternated run by run.
    /// </summary>
    public static double[] BlockAlternatingMedianMs(IReadOnlyList<Func<int, IEnumerable<double>>> blocks, int rounds, int perBlock)
    {
        var times = blocks.Select(_ => new List<double>()).ToArray();
        for (int round = 0; round < rounds; round++)
            for (int b = 0; b < blocks.Count; b++) times[b].AddRange(blocks[b](perBlock));
        return [.. times.Select(Median)];
    }

    /// <summary>The wall times in milliseconds of <paramref name="count"/> runs of <paramref name="action"/> (warm it up first).</summary>
    public static IEnumerable<double> TimedBlock(Action action, int count)
    {
        var times = new double[count];
        for (int i = 0; i < count; i++)
        {
            var watch = Stopwatch.StartNew();
            action();
            times[i] = watch.Elapsed.TotalMilliseconds;
        }
        return times;
    }

    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    /// <summary>Resident set size now and its peak (VmHWM), in MiB, from /proc/self/status.</summary>
    public static (double Current, double Peak) ResidentMiB()
    {
        double Field(string name) =>
            File.ReadLines("/proc/self/status").Where(l => l.StartsWith(name + ":")).Select(l => double.Parse(l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024).FirstOrDefault();
        return (Field("VmRSS"), Field("VmHWM"));
    }

    /// <summary>The machine's 1-minute load average (/proc/loadavg): how busy the shared cores were while a figure was taken.</summary>
    public static double LoadAverage() =>
        double.Parse(File.ReadAllText("/proc/loadavg").Split(' ')[0], CultureInfo.InvariantCulture);

    /// <summary>Least-squares slope of log(y) on log(x): the growth exponent (1 = linear).</summary>
    public static double GrowthExponent(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        var lx = x.Select(v => Math.Log(v)).ToArray();
        var ly = y.Select(v => Math.Log(v)).ToArray();
        double mx = lx.Average(), my = ly.Average();
        double covariance = lx.Zip(ly, (a, b) => (a - mx) * (b - my)).Sum();
        double variance = lx.Sum(a => (a - mx) * (a - mx));
        return covariance / variance;
    }
}
