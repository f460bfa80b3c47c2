using Microsoft.ML.Tokenizers;

namespace Apt.Backbone;

/// <summary>One encoded input: token ids and segment (token type) ids, special tokens included.</summary>
public sealed record EncodedText(int[] Ids, int[] TypeIds)
{
    public int Length => Ids.Length;

    /// <summary>How many tokens the truncation to the maximum length removed (0 when the text fit).</summary>
    public int Dropped { get; init; }
}

/// <summary>
/// A pre-split sentence encoded for tagging: <see cref="WordStarts"/>[w] is the position of word w's
/// first sub-token (the only one that carries its label), or -1 when truncation cut the word off.
/// </summary>
public sealed record EncodedWords(int[] Ids, int[] TypeIds, int[] WordStarts)
{
    public EncodedText Text => new(Ids, TypeIds);
}

/// <summary>What the tasks need of a tokenizer, whatever the backbone family.</summary>
public interface ITextTokenizer
{
    int PadId { get; }

    /// <summary>A single text or a pair, with special tokens, truncated longest-first to <paramref name="maxLength"/> tokens.</summary>
    EncodedText Encode(string text, string? pair = null, int maxLength = 512);

    /// <summary>Words encoded one by one (as P-tuning v2's NER casting does), truncated to <paramref name="maxLength"/>.</summary>
    EncodedWords EncodeWords(IReadOnlyList<string> words, int maxLength = 512);

    /// <summary>The vocabulary strings of <paramref name="ids"/>, for inspection.</summary>
    IReadOnlyList<string> Tokens(IEnumerable<int> ids);
}

/// <summary>
/// BERT's WordPiece tokenizer (Microsoft.ML.Tokenizers) with Hugging Face's conventions:
/// <c>[CLS] A [SEP]</c> and <c>[CLS] A [SEP] B [SEP]</c> with type ids 0…0 1…1, and
/// longest-first truncation (a token at a time from the longer sequence; the second on a tie).
/// </summary>
public sealed class BertTextTokenizer : ITextTokenizer
{
    readonly BertTokenizer _tokenizer;
    readonly Dictionary<int, string> _vocabulary;

    BertTextTokenizer(BertTokenizer tokenizer, Dictionary<int, string> vocabulary)
    {
        _tokenizer = tokenizer;
        _vocabulary = vocabulary;
    }

    /// <summary>Reads a one-token-per-line vocab.txt; <paramref name="lowerCase"/> for uncased models.</summary>
    public static BertTextTokenizer FromVocab(byte[] vocab, bool lowerCase, string source)
    {
        var lines = new StreamReader(new MemoryStream(vocab)).ReadToEnd().Split('\n');
        var vocabulary = new Dictionary<int, string>();
        for (int i = 0; i < lines.Length; i++)
        {
            string token = lines[i].TrimEnd('\r');
            if (token.Length > 0 || i < lines.Length - 1) vocabulary[i] = token;
        }
        foreach (string special in new[] { "[CLS]", "[SEP]", "[PAD]", "[UNK]" })
            if (!vocabulary.ContainsValue(special))
                throw new InvalidDataException($"{source}: the vocabulary has no {special} token (is it a BERT vocab.txt?)");
        var options = new BertOptions { LowerCaseBeforeTokenization = lowerCase };
        return new BertTextTokenizer(BertTokenizer.Create(new MemoryStream(vocab), options), vocabulary);
    }

    public int PadId => _tokenizer.PaddingTokenId;

    /// <summary>Lines of vocab.txt (ids 0 … VocabularySize − 1).</summary>
    public int VocabularySize => _vocabulary.Count;

    int Cls => _tokenizer.ClassificationTokenId;
    int Sep => _tokenizer.SeparatorTokenId;

    int[] Pieces(string text) => [.. _tokenizer.EncodeToIds(text, addSpecialTokens: false)];

    public EncodedText Encode(string text, string? pair = null, int maxLength = 512)
    {
        var first = new List<int>(Pieces(text));
        if (pair is null)
        {
            int cut = Truncate(first, null, maxLength - 2);
            return new EncodedText([Cls, .. first, Sep], new int[first.Count + 2]) { Dropped = cut };
        }
        var second = new List<int>(Pieces(pair));
        int dropped = Truncate(first, second, maxLength - 3);
        int[] ids = [Cls, .. first, Sep, .. second, Sep];
        int[] types = new int[ids.Length];
        Array.Fill(types, 1, first.Count + 2, second.Count + 1);
        return new EncodedText(ids, types) { Dropped = dropped };
    }

    /// <summary>
    /// Hugging Face's "longest_first": drop the last token of the longer sequence until both fit. Returns how many
    /// tokens it dropped.
    /// </summary>
    internal static int Truncate(List<int> first, List<int>? second, int budget)
    {
        if (budget < 0) throw new ArgumentOutOfRangeException(nameof(budget), "maximum length leaves no room for the special tokens");
        int dropped = 0;
        for (; first.Count + (second?.Count ?? 0) > budget; dropped++)
        {
            var longer = second is not null && second.Count >= first.Count ? second : first;
            longer.RemoveAt(longer.Count - 1);
        }
        return dropped;
    }

    public EncodedWords EncodeWords(IReadOnlyList<string> words, int maxLength = 512)
    {
        var ids = new List<int> { Cls };
        var starts = new int[words.Count];
        Array.Fill(starts, -1);
        for (int w = 0; w < words.Count; w++)
        {
            int[] pieces = Pieces(words[w]);
            if (pieces.Length == 0) pieces = [_tokenizer.UnknownTokenId]; // a word the normaliser erases entirely
            if (ids.Count + 1 >= maxLength) break; // room for at least the first piece and [SEP]
            starts[w] = ids.Count;
            ids.AddRange(pieces.Take(maxLength - 1 - ids.Count));
        }
        ids.Add(Sep);
        return new EncodedWords([.. ids], new int[ids.Count], starts);
    }

    public IReadOnlyList<string> Tokens(IEnumerable<int> ids) =>
        [.. ids.Select(id => _vocabulary.TryGetValue(id, out var token) ? token : $"<{id}>")];
}
