using System.Globalization;
using Apt.Prefix;
using Apt.Runs;
using Apt.Training;

namespace Apt.Reporting;

/// <summary>
/// The gate probes of one method's runs on a task, one per seed, summarised so that nothing depends on which prefix
/// token has which index: the prefix tokens are interchangeable (each seed initialises them at random, and no
/// index means the same thing in two runs), so α is never averaged per index across seeds. Per seed, α is shown
/// sorted within each layer (token rank, not index); across seeds, the summary is per layer: the mean and spread
/// over seeds of |λᵢ|·mean_j(αᵢⱼ), the weight PT-2* turns into prefix lengths (<see cref="GateProbeResult.LayerWeights"/>),
/// and of λᵢ.
/// </summary>
/// <param name="Task">The task probed.</param>
/// <param name="Probes">One probe per seed, by seed.</param>
public sealed record ProbeAcrossSeeds(string Task, IReadOnlyList<(int Seed, GateProbeResult Probe)> Probes)
{
    public int Layers => Probes[0].Probe.Layers;

    /// <summary>Per layer, mean over seeds of |λᵢ|·mean_j(αᵢⱼ).</summary>
    public double[] LayerWeightMean => Mean(p => p.LayerWeights);
    /// <summary>Per layer, sample standard deviation over seeds of |λᵢ|·mean_j(αᵢⱼ) (0 for one seed).</summary>
    public double[] LayerWeightStd => Std(p => p.LayerWeights);
    /// <summary>Per layer, mean over seeds of λᵢ (one scalar per layer: the same parameter in every seed).</summary>
    public double[] LambdaMean => Mean(p => p.LambdaMean);
    public double[] LambdaStd => Std(p => p.LambdaMean);

    /// <summary>
    /// One line for reports: per layer (from 1, the bottom), |λ|·mean α and λ as mean ± std over the seeds, e.g.
    /// "brown-ner, APT's gate probe over 6 seeds (2, 3, 4, 5, 6, 7), per layer from the bottom, |λ|·mean α: 1 0.776 ± 0.084, …; λ: 1 0.91 ± 0.05, …".
    /// </summary>
    public string Summary()
    {
        static string PerLayer(double[] mean, double[] std, string format) =>
            string.Join(", ", mean.Select((m, i) => $"{i + 1} {m.ToString(format, CultureInfo.InvariantCulture)} ± {std[i].ToString(format, CultureInfo.InvariantCulture)}"));
        int[] seeds = [.. Probes.Select(p => p.Seed)];
        return $"{Task}, APT's gate probe over {seeds.Length} seed{(seeds.Length == 1 ? "" : "s")} ({string.Join(", ", seeds)}), per layer from the bottom, "
            + $"|λ|·mean α: {PerLayer(LayerWeightMean, LayerWeightStd, "F3")}; λ: {PerLayer(LambdaMean, LambdaStd, "F2")}";
    }

    /// <summary>α of one probe with each layer's tokens sorted from the most open gate to the least (layers × rank).</summary>
    public static double[,] SortedAlpha(GateProbeResult probe)
    {
        if (probe.Tokens.Distinct().Count() != 1)
            throw new ArgumentException($"a gated prefix has one length for every layer; this probe has {string.Join(", ", probe.Tokens)}", nameof(probe));
        var sorted = new double[probe.Layers, probe.Tokens[0]];
        for (int i = 0; i < probe.Layers; i++)
        {
            double[] row = [.. probe.AlphaMean[i].OrderDescending()];
            for (int j = 0; j < row.Length; j++) sorted[i, j] = row[j];
        }
        return sorted;
    }

    /// <summary>The probes of <paramref name="method"/>'s (default APT's) runs on <paramref name="task"/> under <paramref name="runsFolder"/>, by seed; null when there are none.</summary>
    public static ProbeAcrossSeeds? Read(string runsFolder, string task, string? method = null)
    {
        string folder = Path.Combine(runsFolder, task);
        if (!Directory.Exists(folder)) return null;
        var probes = RunFolder.FindFinished(folder)
            .Where(r => File.Exists(Path.Combine(r.Path, Experiment.ProbeFileName)))
            .Select(r => (Config: ExperimentConfig.Read(r), Path: Path.Combine(r.Path, Experiment.ProbeFileName)))
            .Where(run => run.Config.Method == (method ?? MethodCatalogue.Apt.Name))
            .Select(run => (run.Config.Trainer.Seed, Probe: GateProbeResult.Load(run.Path)))
            .OrderBy(p => p.Seed)
            .ToList();
        return probes.Count == 0 ? null : new ProbeAcrossSeeds(task, probes);
    }

    double[] Mean(Func<GateProbeResult, double[]> perLayer) =>
        [.. Enumerable.Range(0, Layers).Select(i => Probes.Average(p => perLayer(p.Probe)[i]))];

    double[] Std(Func<GateProbeResult, double[]> perLayer) =>
        [.. Enumerable.Range(0, Layers).Select(i => RunIndex.MeanAndStd([.. Probes.Select(p => perLayer(p.Probe)[i])]).Std ?? 0)];
}
