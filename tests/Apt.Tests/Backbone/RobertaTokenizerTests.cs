using Apt.Backbone;

namespace Apt.Tests.Backbone;

/// <summary>
/// RoBERTa's tokenizer on the real GPT-2/fairseq files shipped in Microsoft.ML.TorchSharp 0.23.1.
/// Expected ids are derived by hand from those files: a pre-token's byte-level BPE pieces give GPT-2
/// ids (encoder.json), and the GPT-2 id on dict.txt's 1-based line n is RoBERTa's id n + 3 (after
/// &lt;s&gt;=0, &lt;pad&gt;=1, &lt;/s&gt;=2, &lt;unk&gt;=3). The pieces used below:
///   "Hello" = GPT-2 15496, dict line 31411 → 31414;   " world" = "Ġworld" 995, line 229 → 232;
///   "!" = 0, line 325 → 328;                          " Hello" = "ĠHello" 18435, line 20917 → 20920;
///   " tokenization" = "Ġtoken" 11241 (line 19230 → 19233) + "ization" 1634 (line 1935 → 1938);
///   " naïve" = "ĠnaÃ¯ve" 41492, line 39297 → 39300;  "naïve" = "na" 2616 (→ 2133) + "Ã¯ve" 38776 (→ 48350);
///   " café" = "ĠcafÃ©" 40304 → 26059;                 " 😀" = "ĠðŁĺ" 30325 (→ 17841) + "Ģ" 222 (→ 7471);
///   "Prefix" = "Pref" 36698 (→ 48670) + "ix" 844 (→ 3181); " tuning" = "Ġtuning" 24549 → 28927.
/// </summary>
public sealed class RobertaTokenizerTests
{
    static readonly Lazy<RobertaTextTokenizer> Packaged = new(RobertaTextTokenizer.FromPackage);

    [Fact]
    public void HelloWorldEncodesToRobertaIdsFromBothLayouts()
    {
        using var folder = new RobertaTestFolder();
        folder.WriteHuggingFaceTokenizer();
        var huggingFace = RobertaTextTokenizer.FromFolder(folder.Path);

        foreach (var tokenizer in new[] { Packaged.Value, huggingFace })
        {
            var encoded = tokenizer.Encode("Hello world");
            Assert.Equal([0, 31414, 232, 2], encoded.Ids);
            Assert.Equal([0, 0, 0, 0], encoded.TypeIds);
            Assert.Equal(1, tokenizer.PadId);
            Assert.Equal(["<s>", "Hello", "Ġworld", "</s>"], tokenizer.Tokens(encoded.Ids));
        }
    }

    [Fact]
    public void PairIsJoinedByTwoSeparatorsWithOneTokenType()
    {
        var tokenizer = Packaged.Value;
        // <s> "Hello world" </s></s> "Hello world!" </s>: the single texts' pieces joined by RoBERTa's scheme.
        var pair = tokenizer.Encode("Hello world", "Hello world!");
        Assert.Equal([0, 31414, 232, 2, 2, 31414, 232, 328, 2], pair.Ids);
        Assert.All(pair.TypeIds, t => Assert.Equal(0, t));

        // "Prefix tuning tokenization" = Pref ix Ġtuning Ġtoken ization (5 pieces); 8 tokens leave 4 for the texts,
        // and longest-first trims the second text (5 → 2 pieces) while it is at least as long as the first (2).
        var truncated = tokenizer.Encode("Hello world", "Prefix tuning tokenization", maxLength: 8);
        Assert.Equal([0, 31414, 232, 2, 2, 48670, 3181, 2], truncated.Ids);
    }

    [Fact]
    public void WordsAreEncodedWithALeadingSpace()
    {
        var tokenizer = Packaged.Value;
        string[] words = ["Hello", "world", "tokenization", "naïve"];
        // Each word as " word" (add_prefix_space): ĠHello, Ġworld, Ġtoken+ization, ĠnaÃ¯ve.
        var encoded = tokenizer.EncodeWords(words);
        Assert.Equal([0, 20920, 232, 19233, 1938, 39300, 2], encoded.Ids);
        Assert.Equal([1, 2, 3, 5], encoded.WordStarts);
        Assert.All(encoded.TypeIds, t => Assert.Equal(0, t));

        // Five tokens: <s>, ĠHello, Ġworld, Ġtoken (the word's first piece), </s>; the last word is cut off.
        var truncated = tokenizer.EncodeWords(words, maxLength: 5);
        Assert.Equal([0, 20920, 232, 19233, 2], truncated.Ids);
        Assert.Equal([1, 2, 3, -1], truncated.WordStarts);
    }

    [Fact]
    public void HuggingFaceLayoutEncodesAsTheFairseqFiles()
    {
        using var folder = new RobertaTestFolder();
        folder.WriteHuggingFaceTokenizer();
        var huggingFace = RobertaTextTokenizer.FromFolder(folder.Path);
        using var saved = new RobertaTestFolder();
        Packaged.Value.SaveHuggingFace(saved.Path);
        var roundTrip = RobertaTextTokenizer.FromFolder(saved.Path);

        // Byte-level: non-Latin-1 text is encoded through its UTF-8 bytes, nothing is dropped.
        Assert.Equal([0, 2133, 48350, 26059, 17841, 7471, 2], Packaged.Value.Encode("naïve café 😀").Ids);
        string[] texts =
        [
            "naïve café 😀", "Hello  world!\nSecond line\twith a tab.", "Don't stop: it's 3.5x faster (2023)!",
            "日本語のテキスト", "   leading and trailing   ", "Prefix tuning trains a few vectors per layer.",
        ];
        foreach (string text in texts)
        {
            int[] expected = Packaged.Value.Encode(text, "a second text").Ids;
            Assert.Equal(expected, huggingFace.Encode(text, "a second text").Ids);
            Assert.Equal(expected, roundTrip.Encode(text, "a second text").Ids);
            Assert.DoesNotContain(3, expected); // no <unk>: every byte has a token
        }
        Assert.Equal(50265, huggingFace.VocabularySize);
    }

    [Fact]
    public void MalformedFilesAreReportedWithFileAndLine()
    {
        using var folder = new RobertaTestFolder();
        folder.WriteFairseqTokenizer();
        string dict = folder.File("dict.txt");
        var lines = File.ReadAllLines(dict);
        lines[2] = "13";
        File.WriteAllLines(dict, lines);
        var badDict = Assert.Throws<InvalidDataException>(() => RobertaTextTokenizer.FromFolder(folder.Path));
        Assert.Contains($"{dict}: line 3: expected '<symbol> <count>'", badDict.Message);

        folder.WriteHuggingFaceTokenizer();
        File.AppendAllText(folder.File("merges.txt"), "Ġ t h\n");
        var badMerges = Assert.Throws<InvalidDataException>(() => RobertaTextTokenizer.FromFolder(folder.Path));
        Assert.Contains($"{folder.File("merges.txt")}: line 50002: expected a merge", badMerges.Message);

        folder.WriteHuggingFaceTokenizer();
        File.WriteAllText(folder.File("vocab.json"), """{"hello": 0, "world": 1}""");
        var noSpecials = Assert.Throws<InvalidDataException>(() => RobertaTextTokenizer.FromFolder(folder.Path));
        Assert.Contains($"{folder.File("vocab.json")}: the vocabulary has no <s> token", noSpecials.Message);

        using var empty = new RobertaTestFolder();
        var missing = Assert.Throws<FileNotFoundException>(() => RobertaTextTokenizer.FromFolder(empty.Path));
        Assert.Contains("vocab.json and merges.txt", missing.Message);
    }
}
