using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.ML.Tokenizers;

namespace Apt.Backbone;

/// <summary>
/// RoBERTa's byte-level BPE (GPT-2's merges, Microsoft.ML.Tokenizers' <see cref="BpeTokenizer"/> with
/// RoBERTa's pre-tokenizer) with Hugging Face's conventions: <c>&lt;s&gt; A &lt;/s&gt;</c> and
/// <c>&lt;s&gt; A &lt;/s&gt;&lt;/s&gt; B &lt;/s&gt;</c>, type ids all 0, longest-first truncation as
/// <see cref="BertTextTokenizer"/>. Texts are encoded as given (no leading space, as Hugging Face's
/// default); words for tagging each get a leading space, as P-tuning v2's <c>add_prefix_space=True</c>.
/// </summary>
/// <remarks>
/// Reads either layout of the vocabulary: Hugging Face's <c>vocab.json</c> + <c>merges.txt</c>, whose
/// ids are already RoBERTa's, or fairseq's GPT-2 <c>encoder.json</c> + <c>vocab.bpe</c> + <c>dict.txt</c>,
/// where RoBERTa's id of a GPT-2 token is 4 + its line in dict.txt (after &lt;s&gt;, &lt;pad&gt;, &lt;/s&gt;,
/// &lt;unk&gt;) and &lt;mask&gt; comes last. Microsoft.ML.Tokenizers' own EnglishRobertaTokenizer is not used:
/// it does not encode non-ASCII text as UTF-8 bytes ("ï" becomes the byte token of 0xEF, an emoji is
/// dropped), and its ConvertIdsToOccurrenceRanks maps GPT-2 id 0 ("!") to 0 instead of RoBERTa's 328.
/// </remarks>
public sealed class RobertaTextTokenizer : ITextTokenizer
{
    /// <summary>Real copies of RoBERTa's fairseq files (encoder.json, vocab.bpe, dict.txt), resources of ML.NET's TorchSharp package.</summary>
    public static readonly ResourcePackage PackagedFiles =
        new("Microsoft.ML.TorchSharp", "0.23.1", "The RoBERTa tokenizer files (encoder.json, vocab.bpe, dict.txt)");

    const string Bos = "<s>", Pad = "<pad>", Eos = "</s>", Unknown = "<unk>", Mask = "<mask>";

    readonly BpeTokenizer _bpe;
    readonly Dictionary<string, int> _vocabulary;
    readonly Dictionary<int, string> _tokens;
    readonly string[] _merges;
    readonly int _bos, _eos;

    RobertaTextTokenizer(Dictionary<string, int> vocabulary, string[] merges, string vocabSource, string mergesSource)
    {
        foreach (string special in new[] { Bos, Pad, Eos, Unknown })
            if (!vocabulary.ContainsKey(special))
                throw new InvalidDataException($"{vocabSource}: the vocabulary has no {special} token (is it a RoBERTa vocabulary?)");
        var shared = vocabulary.GroupBy(p => p.Value).FirstOrDefault(g => g.Count() > 1 || g.Key < 0);
        if (shared is not null)
            throw new InvalidDataException($"{vocabSource}: id {shared.Key} is negative or shared by {string.Join(", ", shared.Select(p => $"'{p.Key}'"))}");
        try
        {
            _bpe = BpeTokenizer.Create(new BpeOptions(vocabulary)
            {
                Merges = merges,
                ByteLevel = true,
                PreTokenizer = RobertaPreTokenizer.Instance,
                UnknownToken = Unknown,
            });
        }
        catch (InvalidOperationException e)
        {
            throw new InvalidDataException($"{mergesSource}: the merges do not fit {vocabSource}: {e.Message}", e);
        }
        _vocabulary = vocabulary;
        _tokens = vocabulary.ToDictionary(p => p.Value, p => p.Key);
        _merges = merges;
        _bos = vocabulary[Bos];
        _eos = vocabulary[Eos];
        PadId = vocabulary[Pad];
    }

    public int PadId { get; }

    /// <summary>One more than the largest id: the embedding rows the backbone needs.</summary>
    public int VocabularySize => _tokens.Keys.Max() + 1;

    /// <summary>Hugging Face's layout: vocab.json (token → RoBERTa id) and merges.txt.</summary>
    public static RobertaTextTokenizer FromHuggingFace(byte[] vocabJson, byte[] merges, string vocabSource, string mergesSource) =>
        new(ReadJsonVocabulary(vocabJson, vocabSource), ReadMerges(merges, mergesSource), vocabSource, mergesSource);

    /// <summary>
    /// fairseq's layout: GPT-2's encoder.json (token → GPT-2 id) and vocab.bpe (merges), and dict.txt,
    /// whose lines "GPT-2-id count" give RoBERTa's order.
    /// </summary>
    public static RobertaTextTokenizer FromFairseq(byte[] encoderJson, byte[] vocabBpe, byte[] dictTxt, string encoderSource, string bpeSource, string dictSource)
    {
        var gpt2 = ReadJsonVocabulary(encoderJson, encoderSource).ToDictionary(p => p.Value, p => p.Key);
        var vocabulary = new Dictionary<string, int> { [Bos] = 0, [Pad] = 1, [Eos] = 2, [Unknown] = 3 };
        string[] lines = Lines(dictTxt, dictSource);
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i].TrimEnd();
            if (line.Length == 0) continue;
            if (line.EndsWith(" #fairseq:overwrite", StringComparison.Ordinal)) line = line[..^" #fairseq:overwrite".Length];
            int space = line.LastIndexOf(' ');
            if (space <= 0 || !long.TryParse(line[(space + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out _))
                throw new InvalidDataException($"{dictSource}: line {i + 1}: expected '<symbol> <count>', got '{line}'");
            string symbol = line[..space];
            string token = symbol;
            if (int.TryParse(symbol, NumberStyles.None, CultureInfo.InvariantCulture, out int gpt2Id) && !gpt2.TryGetValue(gpt2Id, out token!))
                throw new InvalidDataException($"{dictSource}: line {i + 1}: GPT-2 id {gpt2Id} is not in {encoderSource}");
            if (!vocabulary.TryAdd(token, vocabulary.Count))
                throw new InvalidDataException($"{dictSource}: line {i + 1}: symbol '{symbol}' appears twice");
        }
        vocabulary.TryAdd(Mask, vocabulary.Count);
        return new RobertaTextTokenizer(vocabulary, ReadMerges(vocabBpe, bpeSource), dictSource, bpeSource);
    }

    /// <summary>
    /// The tokenizer files of a model folder: vocab.json + merges.txt (Hugging Face), else
    /// encoder.json + vocab.bpe + dict.txt (fairseq).
    /// </summary>
    public static RobertaTextTokenizer FromFolder(string folder)
    {
        string Named(string file) => Path.Combine(folder, file);
        if (File.Exists(Named("vocab.json")) && File.Exists(Named("merges.txt")))
            return FromHuggingFace(InputFile.ReadAllBytes(Named("vocab.json")),
                InputFile.ReadAllBytes(Named("merges.txt")),
                Named("vocab.json"), Named("merges.txt"));
        string[] fairseq = ["encoder.json", "vocab.bpe", "dict.txt"];
        if (fairseq.All(f => File.Exists(Named(f))))
            return FromFairseq(
                InputFile.ReadAllBytes(Named(fairseq[0])), InputFile.ReadAllBytes(Named(fairseq[1])),
                InputFile.ReadAllBytes(Named(fairseq[2])),
                Named(fairseq[0]), Named(fairseq[1]), Named(fairseq[2]));
        throw new FileNotFoundException(
            $"{folder}: a RoBERTa model folder needs vocab.json and merges.txt (or fairseq's encoder.json, vocab.bpe and dict.txt)",
            Named("vocab.json"));
    }

    /// <summary>The real RoBERTa files that ship in <see cref="PackagedFiles"/>.</summary>
    public static RobertaTextTokenizer FromPackage()
    {
        string Named(string file) => $"{PackagedFiles.Package} {PackagedFiles.Version} {file}";
        return FromFairseq(PackagedFiles.ReadResource("encoder.json"), PackagedFiles.ReadResource("vocab.bpe"), PackagedFiles.ReadResource("dict.txt"),
            Named("encoder.json"), Named("vocab.bpe"), Named("dict.txt"));
    }

    /// <summary>Writes Hugging Face's vocab.json, merges.txt and tokenizer_config.json.</summary>
    public void SaveHuggingFace(string folder)
    {
        var ordered = _vocabulary.OrderBy(p => p.Value).ToDictionary(p => p.Key, p => p.Value);
        var options = new JsonSerializerOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        AtomicFile.WriteAllText(Path.Combine(folder, "vocab.json"), JsonSerializer.Serialize(ordered, options));
        AtomicFile.WriteAllText(Path.Combine(folder, "merges.txt"), "#version: 0.2\n" + string.Join("\n", _merges) + "\n");
        AtomicFile.WriteAllText(Path.Combine(folder, "tokenizer_config.json"), """{"tokenizer_class": "RobertaTokenizer"}""");
    }

    int[] Pieces(string text) => [.. _bpe.EncodeToIds(text)];

    public EncodedText Encode(string text, string? pair = null, int maxLength = 512)
    {
        var first = new List<int>(Pieces(text));
        if (pair is null)
        {
            int cut = BertTextTokenizer.Truncate(first, null, maxLength - 2);
            return new EncodedText([_bos, .. first, _eos], new int[first.Count + 2]) { Dropped = cut };
        }
        var second = new List<int>(Pieces(pair));
        int dropped = BertTextTokenizer.Truncate(first, second, maxLength - 4);
        int[] ids = [_bos, .. first, _eos, _eos, .. second, _eos];
        return new EncodedText(ids, new int[ids.Length]) { Dropped = dropped };
    }

    public EncodedWords EncodeWords(IReadOnlyList<string> words, int maxLength = 512)
    {
        var ids = new List<int> { _bos };
        var starts = new int[words.Count];
        Array.Fill(starts, -1);
        for (int w = 0; w < words.Count; w++)
        {
            if (ids.Count + 1 >= maxLength) break; // room for at least the first piece and </s>
            int[] pieces = Pieces(" " + words[w]); // never empty: the space is a byte-level token of its own
            starts[w] = ids.Count;
            ids.AddRange(pieces.Take(maxLength - 1 - ids.Count));
        }
        ids.Add(_eos);
        return new EncodedWords([.. ids], new int[ids.Count], starts);
    }

    public IReadOnlyList<string> Tokens(IEnumerable<int> ids) =>
        [.. ids.Select(id => _tokens.TryGetValue(id, out var token) ? token : $"<{id}>")];

    static Dictionary<string, int> ReadJsonVocabulary(byte[] json, string source)
    {
        try
        {
            return JsonSerializer.Deserialize<Dictionary<string, int>>(json)
                ?? throw new InvalidDataException($"{source}: expected a JSON object of token → id, got null");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{source}: line {e.LineNumber + 1}: expected a JSON object of token → id: {e.Message}", e);
        }
    }

    /// <summary>One merge "left right" a line; a first line "#version: …" and blank lines are skipped.</summary>
    static string[] ReadMerges(byte[] merges, string source)
    {
        string[] lines = Lines(merges, source);
        var result = new List<string>(lines.Length);
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i].TrimEnd('\r');
            if (line.Length == 0 || (i == 0 && line.StartsWith("#version", StringComparison.Ordinal))) continue;
            string[] parts = line.Split(' ');
            if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0)
                throw new InvalidDataException($"{source}: line {i + 1}: expected a merge '<left> <right>', got '{line}'");
            result.Add(line);
        }
        return [.. result];
    }

    static string[] Lines(byte[] text, string source)
    {
        try { return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(text).Split('\n'); }
        catch (DecoderFallbackException e) { throw new InvalidDataException($"{source}: not UTF-8 text: {e.Message}", e); }
    }
}
