using Apt.Backbone;
using Apt.Training;
using Spectre.Console;

namespace Apt.Bench;

/// <summary>
/// A job's efficiency (the quickstart's, from the work.json it leaves): its FLOPs (<see cref="FlopModel"/>) at the fp32
/// matmul peak measured now, in this run, over the job's wall time; 1 would be a job that did nothing but its
/// arithmetic, at the peak, on every core, from its first second to its last. Measure the peak on the machine, and
/// with the load, the job ran on: the figure reads the same on any machine only so.
/// </summary>
public static class JobEfficiency
{
    /// <param name="FlopCount">The job's FLOPs by the model.</param>
    /// <param name="PeakGflops">The matmul peak of this run.</param>
    /// <param name="WallSeconds">The job's own wall time.</param>
    public sealed record Figure(double FlopCount, double PeakGflops, double WallSeconds)
    {
        /// <summary>Seconds the job's FLOPs take at the peak.</summary>
        public double SecondsAtPeak => FlopCount / (PeakGflops * 1e9);

        public double Efficiency => SecondsAtPeak / WallSeconds;
    }

    /// <summary>Measures the matmul peak and prints the figure of the job recorded in
    /// <paramref name="workFile"/>.</summary>
    public static Figure Run(string workFile, BenchSettings settings, IAnsiConsole console)
    {
        var work = JobWork.Load(workFile);
        TorchRuntime.EnsureLoaded();
        using var backbone = PretrainedBackbone.Load(work.Backbone);
        double peak = Benchmarks.MatmulPeak(settings, backbone.Config);
        var figure = new Figure(FlopModel.Job(backbone.Config, work.Passes), peak, work.WallSeconds);
        console.MarkupLineInterpolated(
            $"{workFile}: {figure.FlopCount / 1e12:F1} TFLOP ({work.Passes.Sum(p => p.Count)} backbone passes) at the matmul peak of {peak:F0} GFLOP/s = {figure.SecondsAtPeak:F0} s");
        console.MarkupLineInterpolated(
            $"(h) efficiency: {figure.SecondsAtPeak:F0} s at the peak ÷ {work.WallSeconds:F0} s wall time ({work.Workers} workers on {work.ProcessorCount} cores) = [bold]{figure.Efficiency:F3}[/]");
        return figure;
    }
}
