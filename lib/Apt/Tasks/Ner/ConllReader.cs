namespace Apt.Tasks.Ner;

/// <summary>One sentence of a column file: its words and their IOB2 tags.</summary>
public sealed record NerExample(IReadOnlyList<string> Words, IReadOnlyList<string> Tags, SourceLocation Location) : TaskExample(Location)
{
    public override bool HasLabel => true;
}

/// <summary>
/// Which whitespace-separated column holds the word and which the tag, and how many columns every
/// token line must have (CoNLL-2003: 4, word 0, tag 3). <see cref="Iob1"/>: the file uses IOB1
/// (CoNLL-2003's original scheme, where I- opens a span and B- only separates two adjacent spans of a type);
/// it is converted to IOB2 on reading.
/// </summary>
public sealed record ConllColumns
{
    /// <summary>Columns on every token line.</summary>
    public int Count { get; init; } = 2;
    /// <summary>0-based column of the word.</summary>
    public int Word { get; init; } = 0;
    /// <summary>0-based column of the tag.</summary>
    public int Tag { get; init; } = 1;
    /// <summary>Convert IOB1 tags to IOB2 while reading.</summary>
    public bool Iob1 { get; init; } = false;

    public static readonly ConllColumns Conll2003 = new() { Count = 4, Word = 0, Tag = 3, Iob1 = true };
    /// <summary>Word and tag, as "word tag" lines (CoNLL-2004 and OntoNotes 5.0 in their common column release).</summary>
    public static readonly ConllColumns WordTag = new();

    public void Validate()
    {
        if (Count < 2 || Word < 0 || Tag < 0 || Word >= Count || Tag >= Count || Word == Tag)
            throw new ArgumentException($"bad column layout: {Count} columns, word column {Word}, tag column {Tag} (0-based, distinct, below the count)");
    }
}

/// <summary>
/// Reads CoNLL column files: one token per line, a blank line between sentences, <c>-DOCSTART-</c>
/// lines between documents (skipped). Every token line must have the layout's column count and a tag
/// of the label set.
/// </summary>
public static class ConllReader
{
    /// <summary>The sentences of <paramref name="file"/>; <paramref name="labels"/> null accepts any IOB tag (O, B-type, I-type), for scoring files of an unknown set.</summary>
    public static IReadOnlyList<NerExample> Read(string file, ConllColumns columns, IReadOnlyList<string>? labels)
    {
        columns.Validate();
        Func<string, bool> known = labels is null ? Iob.IsTag : new HashSet<string>(labels).Contains;
        string expected = labels is null ? "O, B-<type> or I-<type>" : $"one of {string.Join(", ", labels)}";
        var sentences = new List<NerExample>();
        var words = new List<string>();
        var tags = new List<string>();
        var lineNumbers = new List<int>();
        int firstLine = 0;

        void Flush()
        {
            if (words.Count == 0) return;
            var location = new SourceLocation(file, firstLine);
            var converted = columns.Iob1 ? Iob.Iob1ToIob2(tags) : [.. tags];
            for (int i = 0; i < converted.Count; i++)
                if (!known(converted[i]))
                    throw TextLines.Error(new SourceLocation(file, lineNumbers[i]), $"unknown tag '{tags[i]}' (expected {expected})");
            sentences.Add(new NerExample([.. words], converted, location));
            words.Clear();
            tags.Clear();
            lineNumbers.Clear();
        }

        foreach (var (number, text) in TextLines.Read(file))
        {
            string[] fields = text.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length == 0) { Flush(); continue; }
            if (fields[0] == "-DOCSTART-") { Flush(); continue; }
            if (fields.Length != columns.Count)
                throw TextLines.Error(new SourceLocation(file, number), $"{fields.Length} columns, expected {columns.Count} (word in column {columns.Word + 1}, tag in column {columns.Tag + 1})");
            if (words.Count == 0) firstLine = number;
            lineNumbers.Add(number);
            words.Add(fields[columns.Word]);
            tags.Add(fields[columns.Tag]);
        }
        Flush();
        if (sentences.Count == 0) throw TextLines.Error(new SourceLocation(file, 1), "no sentences (only -DOCSTART- or blank lines)");
        return sentences;
    }
}

/// <summary>Tagging-scheme helpers.</summary>
public static class Iob
{
    /// <summary>The type of a tag ("B-PER" → "PER"), or null for "O".</summary>
    public static string? TypeOf(string tag) => tag == "O" ? null : tag.Length > 2 && tag[1] == '-' ? tag[2..] : tag;

    /// <summary>O, or B-/I- followed by a type.</summary>
    public static bool IsTag(string tag) => tag == "O" || (tag.Length > 2 && tag[1] == '-' && tag[0] is 'B' or 'I');

    /// <summary>IOB1 → IOB2: an I-X that does not continue a span of type X becomes B-X. Other tags are kept.</summary>
    public static IReadOnlyList<string> Iob1ToIob2(IReadOnlyList<string> tags)
    {
        var result = new string[tags.Count];
        for (int i = 0; i < tags.Count; i++)
        {
            string tag = tags[i];
            bool continues = i > 0 && tags[i - 1] != "O" && TypeOf(tags[i - 1]) == TypeOf(tag);
            result[i] = tag.StartsWith("I-", StringComparison.Ordinal) && !continues ? "B-" + tag[2..] : tag;
        }
        return result;
    }

    /// <summary>O plus B-/I- for each type, in the given type order (the reference's label sets).</summary>
    public static IReadOnlyList<string> Labels(params string[] types) => ["O", .. types.SelectMany(t => new[] { "B-" + t, "I-" + t })];
}
