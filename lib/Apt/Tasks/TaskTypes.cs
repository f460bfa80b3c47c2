using Apt.Backbone;
using Apt.Tasks.Metrics;
using static TorchSharp.torch;

namespace Apt.Tasks;

/// <summary>How a task's examples meet the backbone, which fixes the head and the batch layout.</summary>
public enum TaskKind
{
    /// <summary>One text (or pair) per example, one label per example.</summary>
    SequenceClassification,
    /// <summary>C texts per example, one score per text, softmax over the C choices.</summary>
    MultipleChoice,
    /// <summary>One label per word, carried by the word's first sub-token.</summary>
    TokenClassification,
}

/// <summary>The three splits of a data set.</summary>
public enum DataSplit
{
    Train,
    Validation,
    Test,
}

/// <summary>Where an example came from, so every error and every doubtful prediction can be traced to a line.</summary>
public sealed record SourceLocation(string File, int Line)
{
    public override string ToString() => $"{File}:{Line}";
}

/// <summary>One example as read from a data file; the derived records carry the task's own fields.</summary>
public abstract record TaskExample(SourceLocation Location)
{
    /// <summary>False for the unlabelled test split of SuperGLUE.</summary>
    public abstract bool HasLabel { get; }
}

/// <summary>
/// An example cast to model inputs.
/// <paramref name="Inputs"/>: one encoded text, or one per choice for multiple choice.
/// <paramref name="Labels"/>: the class id (sequence classification), the correct choice (multiple choice),
/// or one label id per input position with <see cref="TaskLoss.IgnoreIndex"/> where no label applies (token
/// classification); null when the example has no label.
/// <paramref name="WordStarts"/>: token classification only, the position of each word's first sub-token (-1 if cut off).
/// </summary>
public sealed record EncodedExample(TaskExample Example, IReadOnlyList<EncodedText> Inputs, int[]? Labels, int[]? WordStarts = null);

/// <summary>
/// A collated batch: <see cref="Inputs"/> holds B rows (or B·C rows for multiple choice, choices of one
/// example adjacent); <see cref="Labels"/> is (B) int64, or (B, T) int64 with -100 for token classification;
/// null when any example of the batch is unlabelled.
/// </summary>
public sealed class TaskBatch(TokenBatch inputs, Tensor? labels, int choices, IReadOnlyList<EncodedExample> items) : IDisposable
{
    public TokenBatch Inputs { get; } = inputs;
    public Tensor? Labels { get; } = labels;
    /// <summary>Texts per example: 1, or C for multiple choice.</summary>
    public int Choices { get; } = choices;
    public IReadOnlyList<EncodedExample> Items { get; } = items;

    public void Dispose()
    {
        Inputs.Dispose();
        Labels?.Dispose();
    }
}

/// <summary>
/// What the model said about one example: <paramref name="Scores"/> are the logits per class (or per
/// choice); <paramref name="WordLabels"/> (token classification) the predicted label id of each word,
/// 0 ("O") for words cut off by truncation.
/// </summary>
public sealed record Prediction(float[] Scores, int[]? WordLabels = null)
{
    /// <summary>The index of the highest score.</summary>
    public int Best
    {
        get
        {
            int best = 0;
            for (int i = 1; i < Scores.Length; i++) if (Scores[i] > Scores[best]) best = i;
            return best;
        }
    }
}

/// <summary>
/// Metric values by name (fractions in [0, 1]); <see cref="Primary"/> names the one used for model
/// selection. <see cref="PerType"/> holds NER's per-entity-type figures.
/// </summary>
public sealed record MetricReport(IReadOnlyDictionary<string, double> Values, string Primary, IReadOnlyDictionary<string, SpanScore>? PerType = null)
{
    public double PrimaryValue => Values[Primary];
}

/// <summary>
/// One task as the trainer sees it, whatever its kind: read a split, cast examples, collate, build the
/// head, turn logits into predictions, score.
/// </summary>
public interface ITaskDefinition
{
    /// <summary>The registry key ("boolq", "conll03", "wordnet-wic", …).</summary>
    string Name { get; }
    TaskKind Kind { get; }
    /// <summary>Class names in label-id order (NER: the IOB2 tags; multiple choice: the choice names).</summary>
    IReadOnlyList<string> Labels { get; }
    /// <summary>P-tuning v2's maximum sequence length for the task (128; 152 for CoNLL03).</summary>
    int MaxLength { get; }
    /// <summary>True for the data sets built here from WordNet and Brown: never reported as a benchmark score.</summary>
    bool IsStandIn { get; }
    /// <summary>The metric of <see cref="MetricReport.Primary"/> (best dev value selects the epoch).</summary>
    string SelectionMetric { get; }
    /// <summary>One line for listings.</summary>
    string Description { get; }

    /// <summary>The file of <paramref name="split"/> inside <paramref name="folder"/> (throws naming the expected names if absent).</summary>
    string FileFor(DataSplit split, string folder);
    /// <summary>Reads one file of the task's official format; errors name the file, the line and the reason.</summary>
    IReadOnlyList<TaskExample> Read(string file);
    /// <summary>The gold label names of an example: one (or one per word for NER); empty when unlabelled.</summary>
    IReadOnlyList<string> GoldLabels(TaskExample example);
    /// <summary>Casts one example as P-tuning v2 does, truncated to <paramref name="maxLength"/> (default <see cref="MaxLength"/>).</summary>
    EncodedExample Encode(TaskExample example, ITextTokenizer tokenizer, int? maxLength = null);
    /// <summary>Dynamic padding of encoded examples into one batch.</summary>
    TaskBatch Collate(IReadOnlyList<EncodedExample> items, int padId, Device? device = null);
    /// <summary>The trainable head of this task's kind, sized and initialised for <paramref name="backbone"/>.</summary>
    TaskHead CreateHead(BertConfig backbone, double dropout);
    /// <summary>Logits from the head, (B, K), (B, C) or (B, T, K), into one prediction per example.</summary>
    IReadOnlyList<Prediction> Decode(TaskBatch batch, Tensor logits);
    /// <summary>The task's metrics over examples and their predictions (same order).</summary>
    MetricReport Score(IReadOnlyList<TaskExample> examples, IReadOnlyList<Prediction> predictions);
}

/// <summary>Conveniences over <see cref="ITaskDefinition"/>.</summary>
public static class TaskDefinitionExtensions
{
    /// <summary>Reads <paramref name="split"/> from <paramref name="folder"/>.</summary>
    public static IReadOnlyList<TaskExample> Load(this ITaskDefinition task, DataSplit split, string folder) =>
        task.Read(task.FileFor(split, folder));

    /// <summary>
    /// What truncation to <paramref name="maxLength"/> removed from a split, as one warning, or null when every example
    /// fit: the examples cut and the tokens they lost, and for tagging the words cut off whole, which carry no label
    /// and so drop out of the score.
    /// </summary>
    public static string? TruncationNote(this IReadOnlyList<EncodedExample> encoded, string split, int maxLength)
    {
        static int WordsCut(EncodedExample e) => e.WordStarts?.Count(start => start < 0) ?? 0;
        int examples = encoded.Count(e => e.Inputs.Any(input => input.Dropped > 0) || WordsCut(e) > 0);
        if (examples == 0) return null;
        int words = encoded.Sum(WordsCut), tokens = encoded.Sum(e => e.Inputs.Sum(input => input.Dropped));
        string lost = words > 0 ? $"{words} words cut off, left out of the score" : $"{tokens} tokens dropped";
        return $"{split}: {examples} of {encoded.Count} examples truncated to the maximum length {maxLength} ({lost}); " +
            "a larger --max-length (max_length in a sweep) keeps them";
    }

    /// <summary>Encodes every example (in order).</summary>
    public static IReadOnlyList<EncodedExample> EncodeAll(this ITaskDefinition task, IEnumerable<TaskExample> examples, ITextTokenizer tokenizer, int? maxLength = null) =>
        [.. examples.Select(e => task.Encode(e, tokenizer, maxLength))];
}
