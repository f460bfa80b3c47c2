using Apt.Backbone;
using Apt.Tasks;
using static TorchSharp.torch;

namespace Apt.Tests.Tasks;

/// <summary>
/// Each task's first fixture example cast as P-tuning v2's template 0, token by token with the real
/// MiniLM tokenizer: "token/type" for each position, and the label ids.
/// </summary>
public sealed class CastingTests(MiniLmFixture minilm) : IClassFixture<MiniLmFixture>
{
    EncodedExample First(string task, params string[] path)
    {
        var definition = TaskRegistry.Get(task);
        return definition.Encode(definition.Read(FixtureFiles.Path(path))[0], minilm.Tokenizer);
    }

    string Show(EncodedText input) =>
        string.Join(' ', minilm.Tokenizer.Tokens(input.Ids).Zip(input.TypeIds, (token, type) => $"{token}/{type}"));

    static string Pair(string first, string second) =>
        string.Join(' ', ["[CLS]/0", .. first.Split(' ').Select(t => t + "/0"), "[SEP]/0", .. second.Split(' ').Select(t => t + "/1"), "[SEP]/1"]);

    [Theory]
    [InlineData("boolq", "is a tomato a fruit", "botanical ##ly , a tomato is a fruit : it grows from the flower of the plant .", 1)]
    [InlineData("cb", "the kettle was still warm when i came in .", "someone had boiled water .", 2)] // neutral
    [InlineData("rte", "the bridge was opened to traffic in 1932 .", "the bridge opened in 1932 .", 0)]
    [InlineData("wsc", "it : the trophy does not fit in the suitcase because it is too big .", "trophy", 1)]
    [InlineData("multirc", "anna planted tomatoes in may . by august the plants were taller than her .", "when did anna plant tomatoes ? in may", 1)]
    [InlineData("record", "lyon beat nantes 2 - 0 on sunday . - lyon stay top of the table", "lyon remain first after the win over nantes .", 1)]
    public void PairTasksCastAsTemplateZero(string task, string first, string second, int label)
    {
        var encoded = First(task, "superglue", task, "train.jsonl");
        Assert.Equal(Pair(first, second), Show(Assert.Single(encoded.Inputs)));
        Assert.Equal([label], encoded.Labels!);
    }

    [Fact]
    public void WicIsOneTextWithTheQuestion()
    {
        var encoded = First("wic", "superglue", "wic", "train.jsonl");
        string text = "he sat on the bank of the river . she deposited cash at the bank . does bank have the same meaning in both sentences ?";
        Assert.Equal(string.Join(' ', ["[CLS]/0", .. text.Split(' ').Select(t => t + "/0"), "[SEP]/0"]), Show(Assert.Single(encoded.Inputs)));
        Assert.Equal([0], encoded.Labels!); // False
    }

    [Fact]
    public void CopaIsTwoPairsWithTheConnective()
    {
        var encoded = First("copa", "superglue", "copa", "train.jsonl");
        Assert.Equal(2, encoded.Inputs.Count);
        Assert.Equal(Pair("the glass fell off the table . so", "it shattered ."), Show(encoded.Inputs[0])); // effect → " so"
        Assert.Equal(Pair("the glass fell off the table . so", "it melted ."), Show(encoded.Inputs[1]));
        Assert.Equal([0], encoded.Labels!);
        var cause = TaskRegistry.Get("copa").Encode(TaskRegistry.Get("copa").Read(FixtureFiles.Path("superglue", "copa", "train.jsonl"))[1], minilm.Tokenizer);
        Assert.Equal(Pair("the street was wet . because", "it had rained ."), Show(cause.Inputs[1]));
    }

    [Theory]
    [InlineData("conll03", "[CLS]=-100 eu=B-ORG rejects=O german=B-MISC call=O .=O [SEP]=-100")]
    [InlineData("conll04", "[CLS]=-100 john=B-Peop smith=I-Peop visited=O paris=B-Loc .=O [SEP]=-100")]
    [InlineData("ontonotes", "[CLS]=-100 obama=B-PERSON spoke=O on=O monday=B-DATE [SEP]=-100")]
    public void NerLabelsOnlyTheFirstSubToken(string task, string expected)
    {
        var definition = TaskRegistry.Get(task);
        var encoded = First(task, "ner", task, "train.txt");
        var tokens = minilm.Tokenizer.Tokens(encoded.Inputs[0].Ids);
        Assert.Equal(expected, string.Join(' ', tokens.Zip(encoded.Labels!, (t, l) => $"{t}={(l < 0 ? "-100" : definition.Labels[l])}")));
    }

    [Fact]
    public void NerSubTokensAndTruncatedWordsAreIgnored()
    {
        var task = TaskRegistry.Get("brown-ner");
        using var scratch = new FixtureFiles.Scratch();
        var example = task.Read(scratch.File("train.txt", "The O\nsoybean O\nAtlanta's B-NP\nfarmers O\n"))[0];
        var encoded = task.Encode(example, minilm.Tokenizer);
        var shown = minilm.Tokenizer.Tokens(encoded.Inputs[0].Ids).Zip(encoded.Labels!, (t, l) => $"{t}={(l < 0 ? "-100" : task.Labels[l])}");
        Assert.Equal("[CLS]=-100 the=O soy=O ##be=-100 ##an=-100 atlanta=B-NP '=-100 s=-100 farmers=O [SEP]=-100", string.Join(' ', shown));

        var truncated = task.Encode(example, minilm.Tokenizer, maxLength: 5);
        Assert.Equal(5, truncated.Inputs[0].Length);
        Assert.Equal([1, 2, -1, -1], truncated.WordStarts!);
        Assert.Equal(3, truncated.Labels!.Count(l => l == TaskLoss.IgnoreIndex)); // [CLS], ##be (cut after soy ##be), [SEP]
    }

    [Fact]
    public void TruncationIsReportedWithWhatItCut()
    {
        var rte = TaskRegistry.Get("rte");
        var pairs = rte.Read(FixtureFiles.Path("superglue", "rte", "train.jsonl"));
        Assert.Null(rte.EncodeAll(pairs, minilm.Tokenizer).TruncationNote("rte train", 128));
        var cut = rte.EncodeAll(pairs, minilm.Tokenizer, maxLength: 8);
        var lengths = pairs.Select(p => rte.Encode(p, minilm.Tokenizer).Inputs[0].Length).ToList();
        int longer = lengths.Count(l => l > 8), dropped = lengths.Sum(l => Math.Max(0, l - 8));
        Assert.True(longer > 0);
        Assert.Equal($"rte train: {longer} of {pairs.Count} examples truncated to the maximum length 8 " +
            $"({dropped} tokens dropped); a larger --max-length (max_length in a sweep) keeps them", cut.TruncationNote("rte train", 8));

        var ner = TaskRegistry.Get("brown-ner");
        using var scratch = new FixtureFiles.Scratch();
        var sentence = ner.Read(scratch.File("train.txt", "The O\nsoybean O\nAtlanta's B-NP\nfarmers O\n"));
        Assert.Equal("brown-ner test: 1 of 1 examples truncated to the maximum length 5 (2 words cut off, left out of the " +
            "score); a larger --max-length (max_length in a sweep) keeps them",
            ner.EncodeAll(sentence, minilm.Tokenizer, maxLength: 5).TruncationNote("brown-ner test", 5));
    }

    [Fact]
    public void Conll03UsesLength152AndTheOthers128()
    {
        Assert.Equal(152, TaskRegistry.Get("conll03").MaxLength);
        Assert.All(TaskRegistry.Names.Where(n => n != "conll03"), n => Assert.Equal(128, TaskRegistry.Get(n).MaxLength));
        Assert.True(TaskRegistry.Get("wordnet-wic").IsStandIn);
        Assert.True(TaskRegistry.Get("brown-ner").IsStandIn);
        Assert.Contains("not a benchmark", TaskRegistry.Get("brown-ner").Description);
        Assert.False(TaskRegistry.Get("wic").IsStandIn);
    }

    [Fact]
    public void MultipleChoiceBatchHasChoicesAdjacentAndTokenBatchPadsLabelsWithIgnore()
    {
        var copa = TaskRegistry.Get("copa");
        var items = copa.EncodeAll(copa.Read(FixtureFiles.Path("superglue", "copa", "train.jsonl")), minilm.Tokenizer);
        using var batch = copa.Collate(items, minilm.Tokenizer.PadId);
        Assert.Equal([4L, batch.Inputs.Length], batch.Inputs.Ids.shape); // (B·C, T)
        Assert.Equal([0L, 1L], batch.Labels!.data<long>().ToArray());
        Assert.Equal(items[0].Inputs[1].Ids.Select(i => (long)i), batch.Inputs.Ids[1].data<long>().ToArray().Take(items[0].Inputs[1].Length));

        var ner = TaskRegistry.Get("conll04");
        var sentences = ner.EncodeAll(ner.Read(FixtureFiles.Path("ner", "conll04", "train.txt")), minilm.Tokenizer);
        using var tokens = ner.Collate(sentences, minilm.Tokenizer.PadId);
        Assert.Equal(tokens.Inputs.Ids.shape, tokens.Labels!.shape); // (B, T)
        long[] second = tokens.Labels[1].data<long>().ToArray();
        Assert.Equal([-100L, 0, 5, 0, -100, -100, -100], second); // [CLS] the UN met [SEP] pad pad (B-Org is id 5)
    }
}
