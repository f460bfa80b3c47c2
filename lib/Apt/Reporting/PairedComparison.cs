using System.Globalization;
using Apt.Runs;
using Apt.Training;
using Microsoft.Data.Analysis;

namespace Apt.Reporting;

/// <summary>
/// One finished run as a comparison sees it: its seed, its reported score (in %), which epoch was selected, the epoch
/// cap and whether early stopping ended it before the cap.
/// </summary>
public sealed record SeedScore(string Task, string Method, int Seed, double Score, int SelectedEpoch, int Epochs, bool StoppedEarly = false);

/// <summary>
/// A method against a baseline on one task, paired by seed (the same seed draws the same data order and the same
/// dropout stream, so seed-to-seed luck cancels): the mean paired difference with its 95 % confidence interval
/// (Student's t), and the two-sided sign-flip test's p-value, which the verdict uses (<see cref="SeedStatistics.Alpha"/>).
/// </summary>
/// <param name="Task">The task.</param>
/// <param name="Method">The method's label (e.g. APT).</param>
/// <param name="Baseline">The baseline's label (e.g. PT-2).</param>
/// <param name="Seeds">The seeds that ran both, ascending.</param>
/// <param name="MethodScores">The method's score per seed (in %), in <paramref name="Seeds"/> order.</param>
/// <param name="BaselineScores">The baseline's score per seed (in %), in <paramref name="Seeds"/> order.</param>
/// <param name="Training">How the runs' selected epochs read (<see cref="TrainingLengthCaution"/>); null when nothing is amiss.</param>
public sealed record PairedComparison(string Task, string Method, string Baseline, IReadOnlyList<int> Seeds,
    IReadOnlyList<double> MethodScores, IReadOnlyList<double> BaselineScores, string? Training)
{
    public IReadOnlyList<double> Differences => [.. MethodScores.Zip(BaselineScores, (m, b) => m - b)];
    public double MeanDifference => Differences.Count == 0 ? double.NaN : Differences.Average();
    /// <summary>Half-width of the 95 % confidence interval of <see cref="MeanDifference"/>; null below two seeds.</summary>
    public double? DifferenceHalfWidth => SeedStatistics.ConfidenceHalfWidth(RunIndex.MeanAndStd(Differences).Std, Differences.Count);
    public double PValue => SeedStatistics.SignFlipPValue(Differences);
    public ResultCell MethodCell => Cell(MethodScores);
    public ResultCell BaselineCell => Cell(BaselineScores);

    /// <summary>"better", "worse", "no difference detected", "undecided" (too few seeds for the test to reach the level) or "not judged".</summary>
    public string Verdict =>
        Seeds.Count < 2 ? "not judged"
        : SeedStatistics.SmallestSignFlipPValue(Seeds.Count) >= SeedStatistics.Alpha ? "undecided"
        : PValue >= SeedStatistics.Alpha ? "no difference detected"
        : MeanDifference > 0 ? "better" : "worse";

    /// <summary>The verdict as a sentence, with the numbers it rests on.</summary>
    public string Sentence
    {
        get
        {
            string scores = $"{Task}: {Method} {MethodCell} vs {Baseline} {BaselineCell}";
            if (Seeds.Count < 2) return $"{scores} → not judged: fewer than two seeds ran both methods.";
            string difference = string.Create(CultureInfo.InvariantCulture,
                $"{Method} − {Baseline} = {MeanDifference:+0.0;−0.0;0.0} (95 % CI {MeanDifference - DifferenceHalfWidth!.Value:+0.0;−0.0;0.0} to {MeanDifference + DifferenceHalfWidth.Value:+0.0;−0.0;0.0}) over {Seeds.Count} paired seeds, sign-flip p = {PValue:0.000}");
            string verdict = Verdict switch
            {
                "undecided" => string.Create(CultureInfo.InvariantCulture,
                    $"undecided: {Seeds.Count} paired seeds cannot reach p < {SeedStatistics.Alpha} (the smallest attainable p is {SeedStatistics.SmallestSignFlipPValue(Seeds.Count):0.000}); a test needs at least 6 seeds"),
                "no difference detected" => string.Create(CultureInfo.InvariantCulture, $"no difference detected at p < {SeedStatistics.Alpha}"),
                _ => string.Create(CultureInfo.InvariantCulture, $"{Method} is {Verdict} than {Baseline} (p < {SeedStatistics.Alpha})"),
            };
            return Training is null ? $"{scores}; {difference} → {verdict}." : $"{scores}; {difference} → {verdict}. {Training}.";
        }
    }

    public override string ToString() => Sentence;

    /// <summary>
    /// Pairs <paramref name="method"/>'s runs with <paramref name="baseline"/>'s on <paramref name="task"/> by seed.
    /// Null when either has no run there; throws when a method has several runs of one seed (a grid over
    /// hyper-parameters: compare one setting each).
    /// </summary>
    public static PairedComparison? Pair(IReadOnlyList<SeedScore> runs, string task, string method, string baseline)
    {
        var ofMethod = BySeed(runs, task, method);
        var ofBaseline = BySeed(runs, task, baseline);
        if (ofMethod.Count == 0 || ofBaseline.Count == 0) return null;
        int[] seeds = [.. ofMethod.Keys.Intersect(ofBaseline.Keys).Order()];
        var paired = seeds.SelectMany(s => new[] { ofMethod[s], ofBaseline[s] }).ToList();
        return new PairedComparison(task, MethodCatalogue.Label(method), MethodCatalogue.Label(baseline), seeds,
            [.. seeds.Select(s => ofMethod[s].Score)], [.. seeds.Select(s => ofBaseline[s].Score)], TrainingLengthCaution(paired));
    }

    /// <summary>
    /// Says when the runs were too short to compare methods: a run that selected its first epoch and was then cut by
    /// the epoch cap learned nothing that dev rewarded in the epochs it had, and one that selected its last had not
    /// plateaued. A run that early stopping ended after its first epoch had its chance (dev did not improve for the
    /// patience's epochs), so it does not count. Null when every run selected an epoch in between (dev rose, then stopped rising).
    /// </summary>
    public static string? TrainingLengthCaution(IReadOnlyList<SeedScore> runs)
    {
        int first = runs.Count(r => r.SelectedEpoch <= 1 && !r.StoppedEarly), last = runs.Count(r => r.Epochs > 1 && r.SelectedEpoch >= r.Epochs);
        if (first == 0 && last == 0) return null;
        int epochs = runs.Max(r => r.Epochs);
        var parts = new List<string>();
        if (first > 0) parts.Add($"{first} selected the first epoch");
        if (last > 0) parts.Add(first > 0 ? $"{last} the last (dev still rising)" : $"{last} selected the last epoch (dev still rising)");
        return $"Training too short to decide: of the {runs.Count} runs ({(runs.Select(r => r.Epochs).Distinct().Count() == 1 ? $"{epochs} epoch{(epochs == 1 ? "" : "s")} each" : $"up to {epochs} epochs")}), {string.Join(" and ", parts)}";
    }

    /// <summary>Every finished run under <paramref name="runsFolder"/> as a <see cref="SeedScore"/> (see <see cref="RunIndex"/>).</summary>
    public static IReadOnlyList<SeedScore> ReadRuns(string runsFolder) => FromIndex(RunIndex.Load(runsFolder));

    /// <summary>The runs of a <see cref="RunIndex.Load"/> frame as <see cref="SeedScore"/>s.</summary>
    public static IReadOnlyList<SeedScore> FromIndex(DataFrame runs)
    {
        if (runs.Rows.Count == 0) return [];
        return [.. Enumerable.Range(0, (int)runs.Rows.Count).Select(r => new SeedScore(
            (string)runs.Columns["task"][r], (string)runs.Columns["method"][r],
            int.Parse((string)runs.Columns["trainer.seed"][r], CultureInfo.InvariantCulture),
            100 * (double)runs.Columns["selectedValue"][r],
            (int)(double)runs.Columns["selectedEpoch"][r],
            int.Parse((string)runs.Columns["trainer.epochs"][r], CultureInfo.InvariantCulture),
            (double)runs.Columns["stoppedEarly"][r] == 1))];
    }

    static Dictionary<int, SeedScore> BySeed(IReadOnlyList<SeedScore> runs, string task, string method)
    {
        var bySeed = new Dictionary<int, SeedScore>();
        foreach (var run in runs.Where(r => r.Task == task && r.Method == method))
            if (!bySeed.TryAdd(run.Seed, run))
                throw new InvalidOperationException($"{task}: {MethodCatalogue.Label(method)} has several runs with seed {run.Seed} (a hyper-parameter grid); pair one setting per method");
        return bySeed;
    }

    static ResultCell Cell(IReadOnlyList<double> scores)
    {
        var (mean, std) = RunIndex.MeanAndStd(scores);
        return new ResultCell(mean ?? double.NaN, std, scores.Count);
    }
}
