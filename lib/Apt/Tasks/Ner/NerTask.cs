using Apt.Backbone;
using Apt.Tasks.Metrics;
using static TorchSharp.torch;

namespace Apt.Tasks.Ner;

/// <summary>
/// A named-entity task in column format, cast as P-tuning v2 does: each word tokenised on its own, the
/// label on the word's first sub-token, <see cref="TaskLoss.IgnoreIndex"/> on the other sub-tokens, the
/// special tokens and padding. Scored by span-level micro F1 (seqeval's default mode).
/// </summary>
public sealed class NerTask(string name, IReadOnlyList<string> labels, string description, ConllColumns columns,
    int maxLength = 128, bool isStandIn = false, IReadOnlyDictionary<DataSplit, string[]>? fileNames = null)
    : TaskDefinition<NerExample>(name, TaskKind.TokenClassification, labels, description,
        file => ConllReader.Read(file, columns, labels), fileNames ?? SplitFiles.Conll, maxLength, "f1", isStandIn)
{
    public ConllColumns Columns => columns;

    /// <summary>The same task reading another column layout (e.g. an OntoNotes release with more columns).</summary>
    public NerTask WithColumns(ConllColumns layout) => new(Name, Labels, PlainDescription, layout, MaxLength, IsStandIn, FileNames);

    protected override EncodedExample Encode(NerExample example, ITextTokenizer tokenizer, int maxLength)
    {
        var encoded = tokenizer.EncodeWords(example.Words, maxLength);
        int[] labelIds = new int[encoded.Ids.Length];
        Array.Fill(labelIds, TaskLoss.IgnoreIndex);
        for (int w = 0; w < example.Words.Count; w++)
            if (encoded.WordStarts[w] >= 0) labelIds[encoded.WordStarts[w]] = IndexOf(example.Tags[w], example);
        return new EncodedExample(example, [encoded.Text], labelIds, encoded.WordStarts);
    }

    protected override IReadOnlyList<string> GoldLabels(NerExample example) => example.Tags;

    int IndexOf(string tag, NerExample example)
    {
        for (int i = 0; i < Labels.Count; i++) if (Labels[i] == tag) return i;
        throw new ArgumentException($"{example.Location}: tag '{tag}' is not in {Name}'s label set");
    }

    /// <summary>Labels (B, T) int64, padded with -100.</summary>
    public override TaskBatch Collate(IReadOnlyList<EncodedExample> items, int padId, Device? device = null)
    {
        var inputs = TokenBatch.Collate([.. items.Select(i => i.Inputs[0])], padId, device);
        int length = (int)inputs.Length;
        var labels = new long[items.Count * length];
        Array.Fill(labels, TaskLoss.IgnoreIndex);
        for (int b = 0; b < items.Count; b++)
            for (int t = 0; t < items[b].Labels!.Length; t++) labels[b * length + t] = items[b].Labels![t];
        return new TaskBatch(inputs, tensor(labels, [items.Count, length], device: device), 1, items); // (B, T)
    }

    public override TaskHead CreateHead(BertConfig backbone, double dropout) =>
        new TokenClassificationHead(backbone.HiddenSize, Labels.Count, dropout, backbone.InitializerRange);

    /// <summary>Argmax at each word's first sub-token; a word cut off by truncation is predicted "O".</summary>
    public override IReadOnlyList<Prediction> Decode(TaskBatch batch, Tensor logits)
    {
        using var best = logits.detach().argmax(-1).to(CPU).contiguous(); // (B, T)
        long length = best.shape[1];
        long[] ids = best.data<long>().ToArray();
        return [.. batch.Items.Select((item, b) => new Prediction([],
            [.. item.WordStarts!.Select(start => start < 0 ? 0 : (int)ids[b * length + start])]))];
    }

    protected override MetricReport Score(IReadOnlyList<NerExample> examples, IReadOnlyList<Prediction> predictions)
    {
        var report = SpanMetric.Score(examples.Select((e, i) =>
            (e.Tags, (IReadOnlyList<string>)[.. predictions[i].WordLabels!.Select(id => Labels[id])])));
        return new MetricReport(new Dictionary<string, double>
        {
            ["precision"] = report.Overall.Precision,
            ["recall"] = report.Overall.Recall,
            ["f1"] = report.Overall.F1,
        }, "f1", report.PerType);
    }
}
