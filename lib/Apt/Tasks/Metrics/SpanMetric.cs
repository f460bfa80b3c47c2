using Apt.Tasks.Ner;

namespace Apt.Tasks.Metrics;

/// <summary>An entity span: its type and its first and last word (inclusive) in a sentence.</summary>
public readonly record struct Span(string Type, int Start, int End);

/// <summary>Precision, recall and F1 of one entity type (or of all), with the counts behind them.</summary>
public sealed record SpanScore(int Gold, int Predicted, int Correct)
{
    /// <summary>Correct / predicted; 0 when nothing was predicted (seqeval's zero-division default).</summary>
    public double Precision => Predicted == 0 ? 0 : (double)Correct / Predicted;
    /// <summary>Correct / gold; 0 when there is no gold span.</summary>
    public double Recall => Gold == 0 ? 0 : (double)Correct / Gold;
    public double F1 => Precision + Recall == 0 ? 0 : 2 * Precision * Recall / (Precision + Recall);
}

/// <summary>Overall (micro) and per-type span scores.</summary>
public sealed record SpanReport(SpanScore Overall, IReadOnlyDictionary<string, SpanScore> PerType);

/// <summary>
/// Span-level NER scoring as seqeval computes it in its default (non-strict, conlleval-like) mode:
/// a span starts at B-X, at an I-X after O, and at any tag whose type differs from the previous tag's
/// type; it ends before O, before B-, and before a tag of another type. So "O I-PER I-PER" is one PER
/// span and "B-PER I-LOC" is a PER span and a LOC span. Spans never cross sentences. A prediction counts
/// only when type, start and end all equal a gold span's.
/// </summary>
public static class SpanMetric
{
    /// <summary>The spans of one IOB2 (or IOB1) tag sequence.</summary>
    public static IReadOnlyList<Span> Extract(IReadOnlyList<string> tags)
    {
        var spans = new List<Span>();
        string previousPrefix = "O", previousType = "";
        int begin = 0;
        for (int i = 0; i <= tags.Count; i++)
        {
            string tag = i < tags.Count ? tags[i] : "O"; // a closing O ends a span at the sentence end
            string prefix = tag == "O" ? "O" : tag[..1];
            string type = tag == "O" ? "" : Iob.TypeOf(tag)!;
            bool ends = previousPrefix != "O" && (prefix is "B" or "O" || previousType != type);
            if (ends) spans.Add(new Span(previousType, begin, i - 1));
            bool starts = prefix == "B" || (prefix != "O" && (previousPrefix == "O" || previousType != type));
            if (starts) begin = i;
            previousPrefix = prefix;
            previousType = type;
        }
        return spans;
    }

    /// <summary>Scores predicted against gold tag sequences, sentence by sentence (same lengths required).</summary>
    public static SpanReport Score(IEnumerable<(IReadOnlyList<string> Gold, IReadOnlyList<string> Predicted)> sentences)
    {
        var counts = new SortedDictionary<string, int[]>(StringComparer.Ordinal); // type → gold, predicted, correct
        int[] For(string type) => counts.TryGetValue(type, out var c) ? c : counts[type] = new int[3];
        int index = 0;
        foreach (var (gold, predicted) in sentences)
        {
            if (gold.Count != predicted.Count)
                throw new ArgumentException($"sentence {index + 1}: {gold.Count} gold tags but {predicted.Count} predicted tags");
            var goldSpans = Extract(gold).ToHashSet();
            var predictedSpans = Extract(predicted);
            foreach (var span in goldSpans) For(span.Type)[0]++;
            foreach (var span in predictedSpans)
            {
                For(span.Type)[1]++;
                if (goldSpans.Contains(span)) For(span.Type)[2]++;
            }
            index++;
        }
        var perType = counts.ToDictionary(kv => kv.Key, kv => new SpanScore(kv.Value[0], kv.Value[1], kv.Value[2]));
        var overall = new SpanScore(perType.Values.Sum(s => s.Gold), perType.Values.Sum(s => s.Predicted), perType.Values.Sum(s => s.Correct));
        return new SpanReport(overall, perType);
    }
}
