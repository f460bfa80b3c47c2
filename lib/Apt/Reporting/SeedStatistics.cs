namespace Apt.Reporting;

/// <summary>
/// Statistics for a handful of seeds: the 95 % confidence interval of a mean (Student's t) and the exact
/// two-sided sign-flip test of a paired difference. Both are chosen for small n: the t interval is exact for
/// normal scores, and the sign-flip test assumes only that, under "no difference", each seed's difference is as
/// likely to be positive as negative.
/// </summary>
public static class SeedStatistics
{
    /// <summary>The two-sided level the verdicts use.</summary>
    public const double Alpha = 0.05;

    // t_{0.975, df} for df = 1..30 (the standard table, 3 decimals).
    static readonly double[] T975 =
    [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
        2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
        2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
    ];

    /// <summary>
    /// The 0.975 quantile of Student's t with <paramref name="degreesOfFreedom"/>: the table up to 30, beyond it
    /// the Cornish–Fisher expansion around the normal quantile (off by less than 10⁻³ there).
    /// </summary>
    public static double StudentT975(int degreesOfFreedom)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(degreesOfFreedom, 1);
        if (degreesOfFreedom <= T975.Length) return T975[degreesOfFreedom - 1];
        const double z = 1.959964;
        double n = degreesOfFreedom;
        return z + (z * z * z + z) / (4 * n) + (5 * Math.Pow(z, 5) + 16 * z * z * z + 3 * z) / (96 * n * n);
    }

    /// <summary>Half the width of the 95 % confidence interval of a mean of <paramref name="count"/> values with sample standard deviation <paramref name="std"/>; null below two values.</summary>
    public static double? ConfidenceHalfWidth(double? std, int count) =>
        std is double s && count >= 2 ? StudentT975(count - 1) * s / Math.Sqrt(count) : null;

    /// <summary>
    /// Two-sided p-value of the sign-flip (paired permutation) test that the mean of <paramref name="differences"/>
    /// is zero: the share of the 2ⁿ sign assignments whose |Σ ± dᵢ| reaches the observed |Σ dᵢ|. Exact enumeration up to
    /// 20 differences; beyond, a Monte-Carlo estimate from <paramref name="samples"/> seeded draws (plus the observed one).
    /// </summary>
    public static double SignFlipPValue(IReadOnlyList<double> differences, int samples = 200_000, int seed = 1)
    {
        int n = differences.Count;
        if (n == 0) return 1;
        double observed = Math.Abs(differences.Sum());
        double tolerance = 1e-9 * Math.Max(1, differences.Sum(Math.Abs)); // sums of the same numbers in another order
        bool AtLeastObserved(Func<int, bool> flipped)
        {
            double sum = 0;
            for (int i = 0; i < n; i++) sum += flipped(i) ? -differences[i] : differences[i];
            return Math.Abs(sum) >= observed - tolerance;
        }
        if (n <= 20)
        {
            long hits = 0, assignments = 1L << n;
            for (long mask = 0; mask < assignments; mask++)
                if (AtLeastObserved(i => (mask >> i & 1) == 1)) hits++;
            return (double)hits / assignments;
        }
        var random = new Random(seed);
        long drawn = 1; // the observed assignment counts once (an unbiased-at-worst estimate)
        for (int s = 0; s < samples; s++)
            if (AtLeastObserved(_ => random.Next(2) == 1)) drawn++;
        return (double)drawn / (samples + 1);
    }

    /// <summary>The smallest two-sided p-value a sign-flip test over <paramref name="pairs"/> can give (2/2ⁿ): below 6 pairs it cannot reach 0.05.</summary>
    public static double SmallestSignFlipPValue(int pairs) => pairs <= 0 ? 1 : Math.Min(1, 2 / Math.Pow(2, pairs));
}
