using Apt.Tasks.Metrics;
using Apt.Tasks.SuperGlue;

namespace Apt.Tasks;

/// <summary>The SuperGLUE tasks' metrics over typed examples and their predictions.</summary>
public static class Scorers
{
    public static MetricReport Accuracy<T>(IReadOnlyList<T> examples, IReadOnlyList<Prediction> predictions, Func<T, int?> label)
    {
        var (gold, predicted) = Pairs(examples, predictions, label);
        return new MetricReport(new Dictionary<string, double> { ["accuracy"] = ClassificationMetrics.Accuracy(gold, predicted) }, "accuracy");
    }

    /// <summary>
    /// CB: accuracy (selects the epoch) and the macro-F1 as P-tuning v2 scores it (the <c>super_glue</c> metric's
    /// scikit-learn <c>f1_score(average="macro")</c>): the mean F1 over the labels that occur in the gold or the predictions.
    /// </summary>
    public static MetricReport AccuracyAndMacroF1<T>(IReadOnlyList<T> examples, IReadOnlyList<Prediction> predictions, Func<T, int?> label)
    {
        var (gold, predicted) = Pairs(examples, predictions, label);
        return new MetricReport(new Dictionary<string, double>
        {
            ["accuracy"] = ClassificationMetrics.Accuracy(gold, predicted),
            ["f1"] = ClassificationMetrics.MacroF1(gold, predicted),
        }, "accuracy");
    }

    /// <summary>
    /// MultiRC: F1a is the F1 of the "true" class over all answer options; EM the fraction of questions whose
    /// answers are all classified correctly. F1a selects the epoch.
    /// </summary>
    public static MetricReport MultiRc(IReadOnlyList<MultiRcExample> examples, IReadOnlyList<Prediction> predictions)
    {
        var (gold, predicted) = Pairs(examples, predictions, e => e.Label);
        var questions = examples.Select((e, i) => (e.QuestionKey, Right: gold[i] == predicted[i])).GroupBy(x => x.QuestionKey).ToList();
        return new MetricReport(new Dictionary<string, double>
        {
            ["f1a"] = ClassificationMetrics.F1(gold, predicted, positive: 1),
            ["em"] = questions.Count == 0 ? 0 : questions.Count(q => q.All(x => x.Right)) / (double)questions.Count,
        }, "f1a");
    }

    /// <summary>
    /// ReCoRD: per query, the candidate with the largest "true" logit is the answer, as P-tuning v2 picks it (its class-1
    /// score alone, not the difference of the two logits; a tie goes to the entity that sorts last, as its descending sort
    /// of (logit, entity) pairs does); F1 and EM are the maxima over the gold answers (SQuAD normalisation), averaged over
    /// queries. F1 selects the epoch.
    /// </summary>
    public static MetricReport Record(IReadOnlyList<RecordExample> examples, IReadOnlyList<Prediction> predictions)
    {
        var queries = examples.Select((e, i) => (Example: e, TrueLogit: predictions[i].Scores[1]))
            .GroupBy(x => x.Example.QueryKey).ToList();
        double f1 = 0, em = 0;
        foreach (var query in queries)
        {
            var best = query.OrderByDescending(x => x.TrueLogit).ThenByDescending(x => x.Example.Entity, StringComparer.Ordinal).First().Example;
            f1 += AnswerMetrics.MaxOverGold(AnswerMetrics.TokenF1, best.Entity, best.Answers);
            em += AnswerMetrics.MaxOverGold(AnswerMetrics.ExactMatch, best.Entity, best.Answers);
        }
        int n = Math.Max(queries.Count, 1);
        return new MetricReport(new Dictionary<string, double> { ["f1"] = f1 / n, ["em"] = em / n }, "f1");
    }

    static (int[] Gold, int[] Predicted) Pairs<T>(IReadOnlyList<T> examples, IReadOnlyList<Prediction> predictions, Func<T, int?> label) =>
        ([.. examples.Select(e => label(e)!.Value)], [.. predictions.Select(p => p.Best)]);
}
