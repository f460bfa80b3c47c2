using Apt.Tasks;
using Apt.Tasks.Metrics;
using Apt.Tasks.SuperGlue;

namespace Apt.Tests.Tasks;

/// <summary>Metrics against figures computed by hand.</summary>
public sealed class MetricTests
{
    static string[] Tags(string text) => text.Split(' ');

    [Theory]
    // I- after O opens a span (seqeval default mode, like conlleval)
    [InlineData("O I-PER I-PER O", "PER:1-2")]
    // B- of another type inside a span ends it and opens a new one
    [InlineData("B-PER I-PER B-LOC I-LOC", "PER:0-1 LOC:2-3")]
    // I- of another type inside a span: a type change ends the span and opens one
    [InlineData("B-PER I-LOC I-LOC", "PER:0-0 LOC:1-2")]
    // B- after B- of the same type: two spans
    [InlineData("B-ORG B-ORG I-ORG", "ORG:0-0 ORG:1-2")]
    // a span at the sentence end is closed
    [InlineData("O O B-MISC I-MISC", "MISC:2-3")]
    // I- at the very start opens a span
    [InlineData("I-LOC O", "LOC:0-0")]
    [InlineData("O O O", "")]
    public void SpansFollowSeqevalDefaultMode(string tags, string expected)
    {
        string actual = string.Join(' ', SpanMetric.Extract(Tags(tags)).Select(s => $"{s.Type}:{s.Start}-{s.End}"));
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void MicroAndPerTypeScoresOnTrickySequences()
    {
        // Gold spans: s1 PER(0-1) LOC(3); s2 ORG(0-2); s3 none; s4 MISC(1) at the end.  → 4 gold.
        // Pred spans: s1 PER(0-1) (correct, opened by I-), LOC(3) (correct); s2 ORG(0-0), PER(1-2) (type change inside); s3 LOC(0) spurious; s4 MISC(1) correct. → 6 predicted, 3 correct.
        var report = SpanMetric.Score(new (IReadOnlyList<string>, IReadOnlyList<string>)[]
        {
            (Tags("B-PER I-PER O B-LOC"), Tags("I-PER I-PER O I-LOC")),
            (Tags("B-ORG I-ORG I-ORG"), Tags("B-ORG B-PER I-PER")),
            (Tags("O O"), Tags("B-LOC O")),
            (Tags("O B-MISC"), Tags("O B-MISC")),
        });
        Assert.Equal((4, 6, 4 - 1), (report.Overall.Gold, report.Overall.Predicted, report.Overall.Correct));
        Assert.Equal(3.0 / 6, report.Overall.Precision, 12);
        Assert.Equal(3.0 / 4, report.Overall.Recall, 12);
        Assert.Equal(2 * 0.5 * 0.75 / 1.25, report.Overall.F1, 12);
        Assert.Equal(["LOC", "MISC", "ORG", "PER"], report.PerType.Keys);
        Assert.Equal((1, 2, 1), (report.PerType["LOC"].Gold, report.PerType["LOC"].Predicted, report.PerType["LOC"].Correct));
        Assert.Equal(0.0, report.PerType["ORG"].F1);
        Assert.Equal((1, 2, 1), (report.PerType["PER"].Gold, report.PerType["PER"].Predicted, report.PerType["PER"].Correct));
        Assert.Equal(2.0 / 3, report.PerType["PER"].F1, 12);
        Assert.Equal(1.0, report.PerType["MISC"].F1);
    }

    [Fact]
    public void NoGoldSpansGiveZeroNotNaN()
    {
        var none = SpanMetric.Score([(Tags("O O"), Tags("O O"))]);
        Assert.Equal((0, 0, 0.0), (none.Overall.Gold, none.Overall.Predicted, none.Overall.F1));
        var spurious = SpanMetric.Score([(Tags("O O"), Tags("B-PER O"))]);
        Assert.Equal((0.0, 0.0, 0.0), (spurious.Overall.Precision, spurious.Overall.Recall, spurious.Overall.F1));
        Assert.Throws<ArgumentException>(() => SpanMetric.Score([(Tags("O O"), Tags("O"))]));
    }

    [Fact]
    public void CbMacroF1AveragesTheClassesThatOccurAsScikitLearnDoes()
    {
        int[] gold = [0, 0, 1, 1, 2, 2];
        int[] predicted = [0, 1, 1, 1, 0, 0];
        // class 0: tp 1 fp 2 fn 1 → 2/5; class 1: tp 2 fp 1 fn 0 → 4/5; class 2 (gold, never predicted): tp 0 → 0.
        Assert.Equal((0.4 + 0.8 + 0) / 3, ClassificationMetrics.MacroF1(gold, predicted), 12);
        Assert.Equal(0.5, ClassificationMetrics.Accuracy(gold, predicted), 12);

        // A dev subset where "neutral" (2) is neither gold nor predicted: f1_score(average="macro") averages over {0, 1}.
        // class 0: tp 1 fp 0 fn 1 → 2/3; class 1: tp 2 fp 1 fn 0 → 4/5; mean 11/15 (over all three classes it would be 22/45).
        var at = new SourceLocation("f", 1);
        var examples = new[] { 0, 0, 1, 1 }.Select(label => new EntailmentExample("p", "h", 0, label, at)).ToArray();
        var report = TaskRegistry.Get("cb").Score(examples, [Says(0), Says(1), Says(1), Says(1)]);
        Assert.Equal(11.0 / 15, report.Values["f1"], 12);
        Assert.Equal(0.75, report.Values["accuracy"], 12);
    }

    static Prediction Says(int label) => new(label == 1 ? [0f, 1f] : [1f, 0f]);

    [Fact]
    public void MultiRcF1aOverAnswersAndExactMatchPerQuestion()
    {
        var at = new SourceLocation("f", 1);
        MultiRcExample Answer(string question, int label) => new("p", "q", "a", question, 0, label, at);
        var examples = new[] { Answer("0/0", 1), Answer("0/0", 0), Answer("0/1", 1), Answer("0/1", 1), Answer("1/0", 0) };
        var predictions = new[] { Says(1), Says(0), Says(1), Says(0), Says(1) };
        var report = TaskRegistry.Get("multirc").Score(examples, predictions);
        // answers: tp 2, fp 1, fn 1 → F1a = 4/6; questions: 0/0 right, 0/1 wrong, 1/0 wrong → EM 1/3.
        Assert.Equal(4.0 / 6, report.Values["f1a"], 12);
        Assert.Equal(1.0 / 3, report.Values["em"], 12);
        Assert.Equal("f1a", report.Primary);
    }

    [Fact]
    public void RecordPicksTheBestCandidatePerQueryAndScoresAgainstAllGoldAnswers()
    {
        var at = new SourceLocation("f", 1);
        RecordExample Candidate(string query, string entity, params string[] answers) => new("p", "@placeholder", entity, query, answers, true, at);
        var examples = new[]
        {
            Candidate("0/0", "the Lyon club", "Lyon", "Olympique Lyon"), Candidate("0/0", "Nantes", "Lyon", "Olympique Lyon"),
            Candidate("0/1", "New York", "New York City"), Candidate("0/1", "Boston", "New York City"),
        };
        var predictions = new[] { new Prediction([0f, 3f]), new Prediction([0f, 1f]), new Prediction([1f, 2f]), new Prediction([0f, 0.5f]) };
        var report = TaskRegistry.Get("record").Score(examples, predictions);
        // q0: "the Lyon club" → normalised "lyon club" vs "lyon": P 1/2, R 1 → 2/3; vs "olympique lyon": P 1/2 R 1/2 → 1/2; max 2/3, EM 0.
        // q1: "New York" vs "New York City": P 1, R 2/3 → 0.8, EM 0.
        Assert.Equal((2.0 / 3 + 0.8) / 2, report.Values["f1"], 12);
        Assert.Equal(0.0, report.Values["em"]);
        Assert.Equal(1.0, AnswerMetrics.ExactMatch("The  Lyon!", "lyon"));
    }

    /// <summary>
    /// P-tuning v2 answers a ReCoRD query with the candidate of the largest class-1 logit. Here the two rules part: the
    /// first candidate has the larger logit₁ (6 > 4), the second the larger logit₁ − logit₀ (4 > 1).
    /// </summary>
    [Fact]
    public void RecordAnswersWithTheLargestTrueLogitNotTheLargestDifference()
    {
        var at = new SourceLocation("f", 1);
        var examples = new[]
        {
            new RecordExample("p", "@placeholder", "Lyon", "0/0", ["Lyon"], true, at),
            new RecordExample("p", "@placeholder", "Nantes", "0/0", ["Lyon"], true, at),
        };
        var report = TaskRegistry.Get("record").Score(examples, [new Prediction([5f, 6f]), new Prediction([0f, 4f])]);
        Assert.Equal((1.0, 1.0), (report.Values["f1"], report.Values["em"]));
        // A tie goes to the entity that sorts last ("Nantes" after "Lyon"), as P-tuning v2's sorted(..., reverse=True).
        var tied = TaskRegistry.Get("record").Score(examples, [new Prediction([0f, 2f]), new Prediction([1f, 2f])]);
        Assert.Equal(0.0, tied.Values["em"]);
    }

    [Fact]
    public void CopaAccuracyComparesChosenChoice()
    {
        var at = new SourceLocation("f", 1);
        var examples = new[] { new CopaExample("p", "a", "b", "cause", 0, 0, at), new CopaExample("p", "a", "b", "effect", 1, 1, at) };
        var report = TaskRegistry.Get("copa").Score(examples, [new Prediction([2f, 1f]), new Prediction([2f, 1f])]);
        Assert.Equal(0.5, report.PrimaryValue);
    }
}
