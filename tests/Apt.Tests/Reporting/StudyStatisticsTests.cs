using Apt.Prefix;
using Apt.Reporting;

namespace Apt.Tests.Reporting;

/// <summary>The study's statistics on scripted numbers, against values computed by hand.</summary>
public class StudyStatisticsTests
{
    [Fact]
    public void Sign_flip_p_values_equal_the_hand_counted_ones()
    {
        // d = (1, 2, 3): of the 8 sign assignments, |Σ| reaches 6 only for +++ and −−−: p = 2/8.
        Assert.Equal(0.25, SeedStatistics.SignFlipPValue([1, 2, 3]), 12);
        // Six equal differences: again only the two uniform assignments: p = 2/64.
        Assert.Equal(2.0 / 64, SeedStatistics.SignFlipPValue([1, 1, 1, 1, 1, 1]), 12);
        // d = (3, 1, 2, −1, 4, 2), Σ = 11: flipping a subset of sum x gives |11 − 2x| ≥ 11 iff x ≤ 0 or x ≥ 11;
        // x ≤ 0 for {}, {−1} and {1, −1}, x ≥ 11 for their complements: 6 of 64.
        Assert.Equal(6.0 / 64, SeedStatistics.SignFlipPValue([3, 1, 2, -1, 4, 2]), 12);
        // Differences that cancel: every assignment reaches |Σ| = 0.
        Assert.Equal(1.0, SeedStatistics.SignFlipPValue([2, -2]), 12);
        // The order of the seeds does not matter.
        Assert.Equal(SeedStatistics.SignFlipPValue([3, 1, 2, -1, 4, 2]), SeedStatistics.SignFlipPValue([2, 4, -1, 2, 1, 3]), 12);
    }

    [Fact]
    public void Sign_flip_beyond_twenty_pairs_is_a_seeded_estimate_near_the_exact_value()
    {
        double[] ones = [.. Enumerable.Repeat(1.0, 21)]; // exact p = 2/2^21 ≈ 9.5e-7
        double p = SeedStatistics.SignFlipPValue(ones, samples: 20_000);
        Assert.True(p > 0 && p <= 2.0 / 20_001, $"p = {p}");
        double[] mixed = [.. Enumerable.Range(0, 24).Select(i => i % 2 == 0 ? 1.0 + i : -(1.0 + i))];
        Assert.Equal(SeedStatistics.SignFlipPValue(mixed, samples: 5_000), SeedStatistics.SignFlipPValue(mixed, samples: 5_000));
        Assert.InRange(SeedStatistics.SignFlipPValue(mixed, samples: 20_000), 0.5, 1.0); // Σ = −12 of Σ|d| = 300: no evidence
    }

    [Fact]
    public void Smallest_attainable_p_shows_that_five_seeds_cannot_reach_five_percent()
    {
        Assert.Equal(0.25, SeedStatistics.SmallestSignFlipPValue(3));
        Assert.Equal(0.0625, SeedStatistics.SmallestSignFlipPValue(5));
        Assert.True(SeedStatistics.SmallestSignFlipPValue(6) < SeedStatistics.Alpha);
    }

    [Fact]
    public void Confidence_intervals_use_students_t()
    {
        Assert.Equal(12.706, SeedStatistics.StudentT975(1));
        Assert.Equal(2.021, SeedStatistics.StudentT975(40), 3); // the table's 2.021
        Assert.Equal(2.000, SeedStatistics.StudentT975(60), 3); // and 2.000
        // (1, 2, 3): mean 2, s = 1: 4.303 / √3.
        Assert.Equal(4.303 / Math.Sqrt(3), SeedStatistics.ConfidenceHalfWidth(1, 3)!.Value, 12);
        Assert.Null(SeedStatistics.ConfidenceHalfWidth(null, 1));
        Assert.Equal("2.0 ± 1.0 [-0.5, 4.5]", new ResultCell(2, 1, 3).ToString());
    }

    static SeedScore Run(string method, int seed, double score, int selectedEpoch = 2, int epochs = 3, bool stoppedEarly = false) =>
        new("wordnet-wic", method, seed, score, selectedEpoch, epochs, stoppedEarly);

    [Fact]
    public void Paired_comparison_judges_by_the_test_and_says_when_it_has_no_power()
    {
        var six = Enumerable.Range(1, 6).SelectMany(s => new[] { Run("apt", s, 60 + s), Run("pt2", s, 59 + s) }).ToList();
        var better = PairedComparison.Pair(six, "wordnet-wic", "apt", "pt2")!;
        Assert.Equal([1, 1, 1, 1, 1, 1], better.Differences);
        Assert.Equal(2.0 / 64, better.PValue, 12);
        Assert.Equal("better", better.Verdict);
        Assert.Null(better.Training);
        Assert.Contains("APT is better than PT-2 (p < 0.05)", better.Sentence);
        Assert.Contains("sign-flip p = 0.031", better.Sentence);

        // The same spread of scores without the pairing: the per-seed luck no longer cancels.
        var shuffled = Enumerable.Range(1, 6).SelectMany(s => new[] { Run("apt", s, 60 + s), Run("pt2", s, 66 - s) }).ToList();
        Assert.Equal("no difference detected", PairedComparison.Pair(shuffled, "wordnet-wic", "apt", "pt2")!.Verdict);

        var three = six.Where(r => r.Seed <= 3).ToList();
        var undecided = PairedComparison.Pair(three, "wordnet-wic", "apt", "pt2")!;
        Assert.Equal("undecided", undecided.Verdict);
        Assert.Contains("the smallest attainable p is 0.250", undecided.Sentence);

        Assert.Null(PairedComparison.Pair(six, "wordnet-wic", "apt", "pt2plus"));
        Assert.Equal("not judged", PairedComparison.Pair([Run("apt", 1, 60), Run("pt2", 1, 59), Run("pt2", 2, 58)], "wordnet-wic", "apt", "pt2")!.Verdict);
        Assert.Throws<InvalidOperationException>(() => PairedComparison.Pair([.. six, Run("apt", 1, 50)], "wordnet-wic", "apt", "pt2"));
    }

    [Fact]
    public void A_first_selected_epoch_cut_by_the_cap_or_a_last_one_is_called_too_short()
    {
        var runs = new[] { Run("apt", 1, 52, selectedEpoch: 1, epochs: 2), Run("apt", 2, 59, selectedEpoch: 2, epochs: 2), Run("pt2", 1, 60, selectedEpoch: 2, epochs: 2), Run("pt2", 2, 61, selectedEpoch: 2, epochs: 2) };
        var comparison = PairedComparison.Pair(runs, "wordnet-wic", "apt", "pt2")!;
        Assert.Equal("Training too short to decide: of the 4 runs (2 epochs each), 1 selected the first epoch and 3 the last (dev still rising)", comparison.Training);
        Assert.EndsWith(comparison.Training + ".", comparison.Sentence);
        Assert.Null(PairedComparison.TrainingLengthCaution([Run("apt", 1, 60, selectedEpoch: 5, epochs: 9)]));
        // Early stopping after a first-epoch best: dev had the patience's epochs to improve, so that is not too short.
        Assert.Null(PairedComparison.TrainingLengthCaution([Run("pt2", 3, 50, selectedEpoch: 1, epochs: 5, stoppedEarly: true)]));
        Assert.Equal("Training too short to decide: of the 2 runs (5 epochs each), 1 selected the last epoch (dev still rising)",
            PairedComparison.TrainingLengthCaution([Run("pt2", 3, 50, selectedEpoch: 1, epochs: 5, stoppedEarly: true), Run("apt", 3, 58, selectedEpoch: 5, epochs: 5)]));
    }

    static GateProbeResult Probe(double[][] alpha, double[] lambda) =>
        new("APT", alpha.Length, [.. alpha.Select(a => a.Length)], 10, alpha, [.. alpha.Select(a => new double[a.Length])], lambda, new double[lambda.Length]);

    [Fact]
    public void Probe_summary_is_invariant_to_permuting_prefix_tokens_within_a_seed()
    {
        var seed1 = Probe([[0.9, 0.1, 0.4, 0.6], [0.2, 0.8, 0.5, 0.3]], [1.2, -0.7]);
        var seed2 = Probe([[0.3, 0.7, 0.2, 0.1], [0.6, 0.6, 0.9, 0.4]], [0.9, 1.1]);
        int[] permutation = [2, 0, 3, 1];
        GateProbeResult Permuted(GateProbeResult p) => p with { AlphaMean = [.. p.AlphaMean.Select(row => permutation.Select(j => row[j]).ToArray())] };

        var summary = new ProbeAcrossSeeds("t", [(1, seed1), (2, seed2)]);
        var permuted = new ProbeAcrossSeeds("t", [(1, Permuted(seed1)), (2, Permuted(seed2))]);
        static bool Close(double a, double b) => Math.Abs(a - b) < 1e-12; // the tokens' α summed in another order
        Assert.Equal(summary.LayerWeightMean, permuted.LayerWeightMean, Close);
        Assert.Equal(summary.LayerWeightStd, permuted.LayerWeightStd, Close);
        Assert.Equal(ProbeAcrossSeeds.SortedAlpha(seed1), ProbeAcrossSeeds.SortedAlpha(Permuted(seed1)));

        // By hand: layer 1 is |1.2|·0.5 = 0.6 and |0.9|·0.325 = 0.2925; layer 2 is |−0.7|·0.45 = 0.315 and 1.1·0.625 = 0.6875.
        Assert.Equal([(0.6 + 0.2925) / 2, (0.315 + 0.6875) / 2], summary.LayerWeightMean, Close);
        Assert.Equal(Math.Abs(0.6 - 0.2925) / Math.Sqrt(2), summary.LayerWeightStd[0], 12);
        Assert.Equal(new double[,] { { 0.9, 0.6, 0.4, 0.1 }, { 0.8, 0.5, 0.3, 0.2 } }, ProbeAcrossSeeds.SortedAlpha(seed1));
        // The report's line says the same of both, per layer from the bottom.
        Assert.Equal(summary.Summary(), permuted.Summary());
        Assert.StartsWith("t, APT's gate probe over 2 seeds (1, 2), per layer from the bottom, |λ|·mean α: 1 0.446 ± 0.217, 2 0.501 ± 0.263; ", summary.Summary());
        Assert.EndsWith("λ: 1 1.05 ± 0.21, 2 0.20 ± 1.27", summary.Summary());
        // Averaging α per index across seeds, the old summary, is not invariant: it is what this replaces.
        Assert.NotEqual(seed1.AlphaMean[0][0] + seed2.AlphaMean[0][0], Permuted(seed1).AlphaMean[0][0] + seed2.AlphaMean[0][0]);
    }
}
