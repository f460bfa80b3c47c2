namespace Apt.Tasks.Metrics;

/// <summary>Metrics over class ids (gold and predicted, same order).</summary>
public static class ClassificationMetrics
{
    public static double Accuracy(IReadOnlyList<int> gold, IReadOnlyList<int> predicted)
    {
        Check(gold, predicted);
        return gold.Count == 0 ? 0 : gold.Zip(predicted).Count(p => p.First == p.Second) / (double)gold.Count;
    }

    /// <summary>F1 of one class treated as positive (0 when it is neither predicted nor gold, as scikit-learn's zero_division=0).</summary>
    public static double F1(IReadOnlyList<int> gold, IReadOnlyList<int> predicted, int positive)
    {
        Check(gold, predicted);
        int tp = 0, fp = 0, fn = 0;
        for (int i = 0; i < gold.Count; i++)
        {
            if (predicted[i] == positive && gold[i] == positive) tp++;
            else if (predicted[i] == positive) fp++;
            else if (gold[i] == positive) fn++;
        }
        return tp == 0 ? 0 : 2.0 * tp / (2 * tp + fp + fn);
    }

    /// <summary>
    /// The unweighted mean of the per-class F1 over the classes that occur in <paramref name="gold"/> or
    /// <paramref name="predicted"/>, as scikit-learn's <c>f1_score(average="macro")</c> (CB's F1); 0 for no examples.
    /// </summary>
    public static double MacroF1(IReadOnlyList<int> gold, IReadOnlyList<int> predicted)
    {
        Check(gold, predicted);
        var labels = gold.Union(predicted).ToList();
        return labels.Count == 0 ? 0 : labels.Average(c => F1(gold, predicted, c));
    }

    static void Check(IReadOnlyList<int> gold, IReadOnlyList<int> predicted)
    {
        if (gold.Count != predicted.Count) throw new ArgumentException($"{gold.Count} gold labels but {predicted.Count} predictions");
    }
}

/// <summary>SQuAD-style answer comparison, as ReCoRD's official scorer does it.</summary>
public static class AnswerMetrics
{
    static readonly HashSet<string> Articles = ["a", "an", "the"];
    /// <summary>Python's string.punctuation, which the official scorer removes.</summary>
    const string Punctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

    /// <summary>Lower case, ASCII punctuation removed, articles (a, an, the) removed, whitespace collapsed.</summary>
    public static string Normalize(string text)
    {
        string lower = new([.. text.ToLowerInvariant().Where(c => !Punctuation.Contains(c))]);
        return string.Join(' ', lower.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Where(w => !Articles.Contains(w)));
    }

    public static double ExactMatch(string predicted, string gold) => Normalize(predicted) == Normalize(gold) ? 1 : 0;

    /// <summary>F1 over the bags of normalised tokens.</summary>
    public static double TokenF1(string predicted, string gold)
    {
        var p = Normalize(predicted).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var g = Normalize(gold).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var remaining = g.GroupBy(t => t).ToDictionary(x => x.Key, x => x.Count());
        int common = 0;
        foreach (string token in p)
            if (remaining.TryGetValue(token, out int n) && n > 0) { remaining[token] = n - 1; common++; }
        if (common == 0) return 0;
        double precision = (double)common / p.Length, recall = (double)common / g.Length;
        return 2 * precision * recall / (precision + recall);
    }

    /// <summary>The best score of <paramref name="predicted"/> against any of the gold answers.</summary>
    public static double MaxOverGold(Func<string, string, double> metric, string predicted, IEnumerable<string> gold) =>
        gold.Select(g => metric(predicted, g)).DefaultIfEmpty(0).Max();
}
