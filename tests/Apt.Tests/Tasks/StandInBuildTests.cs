using Apt.Tasks;
using Apt.Tasks.Data;
using Apt.Tasks.Ner;
using Apt.Tasks.SuperGlue;

namespace Apt.Tests.Tasks;

/// <summary>
/// The stand-ins built from the real npm packages (npm must reach its registry: a failure says so, it is
/// never skipped): twice with the same options gives byte-identical files, the splits are balanced and
/// disjoint, and the task readers read the output unchanged.
/// </summary>
public sealed class StandInBuildTests
{
    static readonly WordNetWicOptions SmallWic = new() { Train = 400, Validation = 100, Test = 100 };
    static readonly BrownNerOptions SmallNer = new() { TrainSentences = 200, DevSentences = 50, TestSentences = 50 };

    /// <summary>A study preset that changes its split sizes gets its stand-ins rebuilt, not the old splits under the new name.</summary>
    [Fact]
    public void EnsureBuiltRebuildsAStandInWhoseManifestHasOtherSizes()
    {
        using var root = new FixtureFiles.Scratch();
        Assert.Equal(2, StandInBuilder.EnsureBuilt(root.Folder, SmallWic, SmallNer).Count);
        Assert.Empty(StandInBuilder.EnsureBuilt(root.Folder, SmallWic, SmallNer)); // same sizes: left as built
        Assert.Empty(StandInBuilder.EnsureBuilt(root.Folder)); // no sizes asked: whatever is built serves

        var rebuilt = StandInBuilder.EnsureBuilt(root.Folder, SmallWic with { Validation = 60 }, SmallNer);
        Assert.Equal(["wordnet-wic"], rebuilt.Select(b => b.Name));
        var validation = TaskRegistry.Get("wordnet-wic").Load(DataSplit.Validation, Path.Combine(root.Folder, "wordnet-wic"));
        Assert.Equal(60, validation.Count);
    }

    [Fact]
    public void TwoBuildsGiveIdenticalFilesThatTheReadersServe()
    {
        using var first = new FixtureFiles.Scratch();
        using var second = new FixtureFiles.Scratch();
        var wicA = StandInBuilder.BuildWordNetWic(first.Folder, SmallWic);
        var wicB = StandInBuilder.BuildWordNetWic(second.Folder, SmallWic);
        var nerA = StandInBuilder.BuildBrownNer(first.Folder, SmallNer);
        var nerB = StandInBuilder.BuildBrownNer(second.Folder, SmallNer);
        Assert.Equal(wicA.Files.Select(f => f.Sha256), wicB.Files.Select(f => f.Sha256));
        Assert.Equal(nerA.Files.Select(f => f.Sha256), nerB.Files.Select(f => f.Sha256));
        foreach (string name in new[] { "wordnet-wic", "brown-ner" })
            Assert.Equal(File.ReadAllBytes(Path.Combine(first.Folder, name, "manifest.json")), File.ReadAllBytes(Path.Combine(second.Folder, name, "manifest.json")));

        // A different seed gives different data: the checksums are not constant.
        using var third = new FixtureFiles.Scratch();
        var reseeded = StandInBuilder.BuildBrownNer(third.Folder, SmallNer with { Seed = 14 });
        Assert.NotEqual(nerA.Files[0].Sha256, reseeded.Files[0].Sha256);

        var wic = TaskRegistry.Get("wordnet-wic");
        string wicFolder = Path.Combine(first.Folder, "wordnet-wic");
        var splits = Enum.GetValues<DataSplit>().Select(s => wic.Load(s, wicFolder).Cast<WicExample>().ToList()).ToList();
        Assert.Equal([400, 100, 100], splits.Select(s => s.Count));
        Assert.All(splits, s => Assert.Equal(s.Count / 2, s.Count(e => e.Label == 1)));
        // The offsets mark the target word (or its inflection) in both sentences.
        string Stem(string word) => word.Length > 2 ? word[..^1] : word;
        Assert.All(splits.SelectMany(s => s), e =>
        {
            Assert.StartsWith(Stem(e.Word), e.Sentence1[e.Start1..e.End1].ToLowerInvariant());
            Assert.StartsWith(Stem(e.Word), e.Sentence2[e.Start2..e.End2].ToLowerInvariant());
        });
        var sentences = splits.Select(s => s.SelectMany(e => new[] { e.Sentence1, e.Sentence2 }).ToHashSet()).ToList();
        Assert.Empty(sentences[0].Intersect(sentences[1]));
        Assert.Empty(sentences[0].Intersect(sentences[2]));
        Assert.Empty(sentences[1].Intersect(sentences[2]));

        var ner = TaskRegistry.Get("brown-ner");
        string nerFolder = Path.Combine(first.Folder, "brown-ner");
        var nerSplits = Enum.GetValues<DataSplit>().Select(s => ner.Load(s, nerFolder).Cast<NerExample>().ToList()).ToList();
        Assert.Equal([200, 50, 50], nerSplits.Select(s => s.Count));
        Assert.All(nerSplits, s => Assert.Contains(s, e => e.Tags.Contains("B-NP")));
        Assert.Equal(nerA.Files.Sum(f => f.Labels.GetValueOrDefault("B-NP")), nerSplits.Sum(s => s.Sum(e => e.Tags.Count(t => t == "B-NP"))));
    }

    [Theory]
    [InlineData("np", true)]
    [InlineData("np$", true)]
    [InlineData("nps-tl", true)]
    [InlineData("np+bez", true)]
    [InlineData("fw-np-tl", true)]
    [InlineData("nn-tl", false)]
    [InlineData("nps$-hl", true)]
    [InlineData("nr", false)]
    public void ProperNounTagsAreRecognised(string tag, bool proper) => Assert.Equal(proper, BrownNer.IsProperNoun(tag));

    [Fact]
    public void BrownRunsOfProperNounsAreOneSpan()
    {
        var sentence = BrownNer.ReadDocument("ca01", "\n\tMayor/nn-tl Ivan/np Allen/np Jr./np of/in Atlanta's/np$ city/nn ./.\n"u8.ToArray()).Single();
        Assert.Equal(["Mayor", "Ivan", "Allen", "Jr.", "of", "Atlanta's", "city", "."], sentence.Words);
        Assert.Equal(["O", "B-NP", "I-NP", "I-NP", "O", "B-NP", "O", "O"], sentence.Tags);
    }

    [Theory]
    [InlineData("She sat on the bank.", "bank", 15, 19)]
    [InlineData("Banks closed early.", "bank", 0, 5)]
    [InlineData("He was running late.", "run", 7, 14)]
    [InlineData("They carried it home.", "carry", 5, 12)]
    [InlineData("The embankment held.", "bank", -1, -1)]
    [InlineData("an ice cream cone", "ice cream", 3, 12)]
    public void WordUsesAreFoundWithRegularInflections(string sentence, string lemma, int start, int end)
    {
        var found = WordNetWic.Find(sentence, lemma);
        Assert.Equal(start < 0 ? null : (start, end), found);
    }
}
