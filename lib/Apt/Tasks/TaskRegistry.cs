using Apt.Tasks.Ner;
using Apt.Tasks.SuperGlue;

namespace Apt.Tasks;

/// <summary>
/// Every task of the kit by name, cast as P-tuning v2's template 0 casts it (see
/// shared/reference/ptuning-v2.md): SuperGLUE, the three NER sets of the paper, and the two stand-ins
/// built from WordNet and the Brown corpus (<see cref="ITaskDefinition.IsStandIn"/>).
/// </summary>
public static class TaskRegistry
{
    public static readonly IReadOnlyList<string> Conll2003Types = ["PER", "ORG", "LOC", "MISC"];
    public static readonly IReadOnlyList<string> Conll2004Types = ["Loc", "Peop", "Org", "Other"];
    public static readonly IReadOnlyList<string> OntoNotesTypes =
        ["CARDINAL", "DATE", "EVENT", "FAC", "GPE", "LANGUAGE", "LAW", "LOC", "MONEY", "NORP", "ORDINAL", "ORG", "PERCENT", "PERSON", "PRODUCT", "QUANTITY", "TIME", "WORK_OF_ART"];
    /// <summary>The Brown stand-in's one entity type: a run of proper-noun tokens (np, nps, np$, … in Brown's tag set).</summary>
    public const string BrownNerType = "NP";

    static readonly Dictionary<string, Func<ITaskDefinition>> Factories = new(StringComparer.OrdinalIgnoreCase)
    {
        ["boolq"] = () => new SequenceClassificationTask<BoolQExample>("boolq", SuperGlueReaders.BinaryLabels,
            "BoolQ: pair (question, passage), yes/no", SuperGlueReaders.BoolQ, e => (e.Question, e.Passage), e => e.Label,
            (x, p) => Scorers.Accuracy(x, p, e => e.Label), "accuracy"),
        ["cb"] = () => new SequenceClassificationTask<EntailmentExample>("cb", SuperGlueReaders.CbLabels,
            "CB: pair (premise, hypothesis), 3 classes; accuracy and macro-F1", SuperGlueReaders.Cb, e => (e.Premise, e.Hypothesis), e => e.Label,
            (x, p) => Scorers.AccuracyAndMacroF1(x, p, e => e.Label), "accuracy"),
        ["rte"] = () => new SequenceClassificationTask<EntailmentExample>("rte", SuperGlueReaders.RteLabels,
            "RTE: pair (premise, hypothesis), 2 classes", SuperGlueReaders.Rte, e => (e.Premise, e.Hypothesis), e => e.Label,
            (x, p) => Scorers.Accuracy(x, p, e => e.Label), "accuracy"),
        ["wic"] = () => Wic("wic", "WiC: \"{sentence1} {sentence2} Does {word} have the same meaning in both sentences?\"", isStandIn: false),
        ["wsc"] = () => new SequenceClassificationTask<WscExample>("wsc", SuperGlueReaders.BinaryLabels,
            "WSC: pair (\"{span2_text}: {text}\", span1_text), 2 classes", SuperGlueReaders.Wsc, e => ($"{e.Span2Text}: {e.Text}", e.Span1Text), e => e.Label,
            (x, p) => Scorers.Accuracy(x, p, e => e.Label), "accuracy"),
        ["copa"] = () => new MultipleChoiceTask<CopaExample>("copa", ["choice1", "choice2"],
            "COPA: two pairs (premise + \" because\"/\" so\", choice), softmax over the 2", SuperGlueReaders.Copa, CopaChoices, e => e.Label),
        ["multirc"] = () => new SequenceClassificationTask<MultiRcExample>("multirc", SuperGlueReaders.BinaryLabels,
            "MultiRC: pair (paragraph, \"{question} {answer}\"), binary per answer; F1a and EM per question", SuperGlueReaders.MultiRc,
            e => (e.Paragraph, $"{e.Question} {e.Answer}"), e => e.Label, Scorers.MultiRc, "f1a"),
        ["record"] = () => new SequenceClassificationTask<RecordExample>("record", SuperGlueReaders.BinaryLabels,
            "ReCoRD: pair (passage, query with @placeholder filled), binary per candidate; best entity per query; F1 and EM", SuperGlueReaders.Record,
            e => (e.Passage, e.FilledQuery), e => e.Label, Scorers.Record, "f1"),
        ["conll03"] = () => new NerTask("conll03", Iob.Labels([.. Conll2003Types]), "CoNLL-2003 NER (4 columns, IOB1 read as IOB2), span F1", ConllColumns.Conll2003, maxLength: 152),
        ["conll04"] = () => new NerTask("conll04", Iob.Labels([.. Conll2004Types]), "CoNLL-2004 NER (word and tag columns), span F1", ConllColumns.WordTag),
        ["ontonotes"] = () => new NerTask("ontonotes", Iob.Labels([.. OntoNotesTypes]), "OntoNotes 5.0 NER (word and tag columns), span F1", ConllColumns.WordTag),
        ["wordnet-wic"] = () => Wic("wordnet-wic",
            "WiC-style pairs of WordNet 3.1 example sentences, same synset or not (built by 'aptnb data build')",
            isStandIn: true),
        ["brown-ner"] = () => new NerTask("brown-ner", Iob.Labels(BrownNerType),
            "BIO proper-noun spans from the Brown corpus's tags (built by 'aptnb data build')", ConllColumns.WordTag,
            isStandIn: true),
    };

    /// <summary>All task names, in registry order.</summary>
    public static IReadOnlyList<string> Names => [.. Factories.Keys];

    /// <summary>The task called <paramref name="name"/> (case-insensitive); throws listing the known names otherwise.</summary>
    public static ITaskDefinition Get(string name) =>
        Factories.TryGetValue(name, out var create) ? create()
            : throw new ArgumentException($"unknown task '{name}' (known: {string.Join(", ", Names)})");

    /// <summary>WiC's template 0: one text, the two sentences and the question.</summary>
    public static string WicText(WicExample e) => $"{e.Sentence1} {e.Sentence2} Does {e.Word} have the same meaning in both sentences?";

    /// <summary>COPA's two pairs: the premise joined by " because" (cause) or " so" (effect), and each choice.</summary>
    public static IReadOnlyList<(string Text, string? Pair)> CopaChoices(CopaExample e)
    {
        string premise = e.Premise + (e.Question == "cause" ? " because" : " so");
        return [(premise, e.Choice1), (premise, e.Choice2)];
    }

    static SequenceClassificationTask<WicExample> Wic(string name, string description, bool isStandIn) =>
        new(name, SuperGlueReaders.BinaryLabels, description, SuperGlueReaders.Wic, e => (WicText(e), null), e => e.Label,
            (x, p) => Scorers.Accuracy(x, p, e => e.Label), "accuracy", isStandIn: isStandIn);
}
