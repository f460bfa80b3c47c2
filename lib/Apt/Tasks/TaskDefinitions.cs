using Apt.Backbone;
using static TorchSharp.torch;

namespace Apt.Tasks;

/// <summary>What every task shares: identity, label names, split files and reading.</summary>
public abstract class TaskDefinition<TExample>(
    string name, TaskKind kind, IReadOnlyList<string> labels, string description,
    Func<string, IReadOnlyList<TExample>> read, IReadOnlyDictionary<DataSplit, string[]> fileNames,
    int maxLength, string selectionMetric, bool isStandIn) : ITaskDefinition where TExample : TaskExample
{
    public string Name => name;
    public TaskKind Kind => kind;
    public IReadOnlyList<string> Labels => labels;
    public int MaxLength => maxLength;
    public bool IsStandIn => isStandIn;
    public string SelectionMetric => selectionMetric;
    public string Description => isStandIn ? $"{description} [stand-in data, not a benchmark]" : description;
    /// <summary>The description without the stand-in mark.</summary>
    protected string PlainDescription => description;
    protected IReadOnlyDictionary<DataSplit, string[]> FileNames => fileNames;

    public string FileFor(DataSplit split, string folder)
    {
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"{folder}: no such folder (expected the {name} files there)");
        string[] candidates = fileNames[split];
        return candidates.Select(f => Path.Combine(folder, f)).FirstOrDefault(File.Exists)
            ?? throw new FileNotFoundException($"{folder}: no {split} file for {name} (expected {string.Join(" or ", candidates)})");
    }

    public IReadOnlyList<TaskExample> Read(string file) => read(file);

    public EncodedExample Encode(TaskExample example, ITextTokenizer tokenizer, int? maxLength = null) =>
        Encode(Typed(example), tokenizer, maxLength ?? MaxLength);

    protected abstract EncodedExample Encode(TExample example, ITextTokenizer tokenizer, int maxLength);

    public IReadOnlyList<string> GoldLabels(TaskExample example) => GoldLabels(Typed(example));

    protected abstract IReadOnlyList<string> GoldLabels(TExample example);

    public abstract TaskBatch Collate(IReadOnlyList<EncodedExample> items, int padId, Device? device = null);
    public abstract TaskHead CreateHead(BertConfig backbone, double dropout);
    public abstract IReadOnlyList<Prediction> Decode(TaskBatch batch, Tensor logits);

    public MetricReport Score(IReadOnlyList<TaskExample> examples, IReadOnlyList<Prediction> predictions)
    {
        if (examples.Count != predictions.Count) throw new ArgumentException($"{examples.Count} examples but {predictions.Count} predictions");
        var unlabelled = examples.FirstOrDefault(e => !e.HasLabel);
        if (unlabelled is not null) throw new ArgumentException($"{unlabelled.Location}: cannot score an unlabelled example (test split?)");
        return Score([.. examples.Select(Typed)], predictions);
    }

    protected abstract MetricReport Score(IReadOnlyList<TExample> examples, IReadOnlyList<Prediction> predictions);

    TExample Typed(TaskExample example) => example as TExample
        ?? throw new ArgumentException($"{example.Location}: a {example.GetType().Name} given to task {name}, which reads {typeof(TExample).Name}");

    /// <summary>Class-id labels of a batch, or null when any is missing.</summary>
    protected static Tensor? ClassLabels(IReadOnlyList<EncodedExample> items, Device? device) =>
        items.All(i => i.Labels is not null) ? tensor(items.Select(i => (long)i.Labels![0]).ToArray(), device: device) : null; // (B)

    /// <summary>Rows of a (B, K) logits tensor as float arrays.</summary>
    protected static IReadOnlyList<Prediction> Rows(Tensor logits)
    {
        using var cpu = logits.detach().to(CPU).to_type(ScalarType.Float32).contiguous();
        long rows = cpu.shape[0], columns = cpu.shape[1];
        float[] all = cpu.data<float>().ToArray();
        return [.. Enumerable.Range(0, (int)rows).Select(r => new Prediction(all[(int)(r * columns)..(int)((r + 1) * columns)]))];
    }
}

/// <summary>Standard file names of the splits.</summary>
public static class SplitFiles
{
    public static readonly IReadOnlyDictionary<DataSplit, string[]> SuperGlue = new Dictionary<DataSplit, string[]>
    {
        [DataSplit.Train] = ["train.jsonl"],
        [DataSplit.Validation] = ["val.jsonl"],
        [DataSplit.Test] = ["test.jsonl"],
    };

    /// <summary>Column files: the common names, and CoNLL-2003's original eng.train / eng.testa / eng.testb.</summary>
    public static readonly IReadOnlyDictionary<DataSplit, string[]> Conll = new Dictionary<DataSplit, string[]>
    {
        [DataSplit.Train] = ["train.txt", "eng.train"],
        [DataSplit.Validation] = ["dev.txt", "valid.txt", "validation.txt", "eng.testa"],
        [DataSplit.Test] = ["test.txt", "eng.testb"],
    };
}

/// <summary>
/// A task with one text or text pair per example and one label per example (BoolQ, CB, RTE, WiC, WSC,
/// MultiRC and ReCoRD as binary per answer / candidate, and the WordNet stand-in).
/// </summary>
public sealed class SequenceClassificationTask<TExample>(
    string name, IReadOnlyList<string> labels, string description,
    Func<string, IReadOnlyList<TExample>> read,
    Func<TExample, (string Text, string? Pair)> cast, Func<TExample, int?> label,
    Func<IReadOnlyList<TExample>, IReadOnlyList<Prediction>, MetricReport> score, string selectionMetric,
    IReadOnlyDictionary<DataSplit, string[]>? fileNames = null, int maxLength = 128, bool isStandIn = false)
    : TaskDefinition<TExample>(name, TaskKind.SequenceClassification, labels, description, read, fileNames ?? SplitFiles.SuperGlue, maxLength, selectionMetric, isStandIn)
    where TExample : TaskExample
{
    /// <summary>The text (and pair) the example is cast to, before tokenisation.</summary>
    public (string Text, string? Pair) Cast(TExample example) => cast(example);

    protected override EncodedExample Encode(TExample example, ITextTokenizer tokenizer, int maxLength)
    {
        var (text, pair) = cast(example);
        int? gold = label(example);
        return new EncodedExample(example, [tokenizer.Encode(text, pair, maxLength)], gold is null ? null : [gold.Value]);
    }

    protected override IReadOnlyList<string> GoldLabels(TExample example) => label(example) is int id ? [Labels[id]] : [];

    public override TaskBatch Collate(IReadOnlyList<EncodedExample> items, int padId, Device? device = null) =>
        new(TokenBatch.Collate([.. items.Select(i => i.Inputs[0])], padId, device), ClassLabels(items, device), 1, items);

    public override TaskHead CreateHead(BertConfig backbone, double dropout) =>
        new SequenceClassificationHead(backbone.HiddenSize, Labels.Count, dropout, backbone.InitializerRange);

    public override IReadOnlyList<Prediction> Decode(TaskBatch batch, Tensor logits) => Rows(logits);

    protected override MetricReport Score(IReadOnlyList<TExample> examples, IReadOnlyList<Prediction> predictions) => score(examples, predictions);
}

/// <summary>A task whose example offers C candidate texts and names the right one (COPA: C = 2).</summary>
public sealed class MultipleChoiceTask<TExample>(
    string name, IReadOnlyList<string> choiceNames, string description,
    Func<string, IReadOnlyList<TExample>> read,
    Func<TExample, IReadOnlyList<(string Text, string? Pair)>> cast, Func<TExample, int?> label,
    IReadOnlyDictionary<DataSplit, string[]>? fileNames = null, int maxLength = 128)
    : TaskDefinition<TExample>(name, TaskKind.MultipleChoice, choiceNames, description, read, fileNames ?? SplitFiles.SuperGlue, maxLength, "accuracy", false)
    where TExample : TaskExample
{
    public IReadOnlyList<(string Text, string? Pair)> Cast(TExample example) => cast(example);

    protected override EncodedExample Encode(TExample example, ITextTokenizer tokenizer, int maxLength)
    {
        var inputs = cast(example).Select(c => tokenizer.Encode(c.Text, c.Pair, maxLength)).ToList();
        if (inputs.Count != Labels.Count) throw new ArgumentException($"{example.Location}: {inputs.Count} choices, expected {Labels.Count}");
        int? gold = label(example);
        return new EncodedExample(example, inputs, gold is null ? null : [gold.Value]);
    }

    protected override IReadOnlyList<string> GoldLabels(TExample example) => label(example) is int id ? [Labels[id]] : [];

    /// <summary>(B·C) rows, the C choices of an example adjacent; labels (B) hold the correct choice.</summary>
    public override TaskBatch Collate(IReadOnlyList<EncodedExample> items, int padId, Device? device = null) =>
        new(TokenBatch.Collate([.. items.SelectMany(i => i.Inputs)], padId, device), ClassLabels(items, device), Labels.Count, items);

    public override TaskHead CreateHead(BertConfig backbone, double dropout) =>
        new MultipleChoiceHead(backbone.HiddenSize, Labels.Count, dropout, backbone.InitializerRange);

    public override IReadOnlyList<Prediction> Decode(TaskBatch batch, Tensor logits) => Rows(logits);

    protected override MetricReport Score(IReadOnlyList<TExample> examples, IReadOnlyList<Prediction> predictions) =>
        Scorers.Accuracy(examples, predictions, label);
}
