using System.Text.Json;
using Apt.Backbone;
using Apt.Runs;
using System.Diagnostics;

namespace Apt.Tests.Cli;

/// <summary>The `apt` command as a user runs it: bad arguments exit non-zero with a message that says what is wrong.</summary>
public sealed class CliTests
{
    internal static (int ExitCode, string Output) Apt(params string[] args) => AptWith(new Dictionary<string, string?>(), args);

    internal static string CliDll
    {
        get
        {
            string configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}") ? "Release" : "Debug";
            return Path.Combine(TestPaths.RepoRoot, "lib", "Apt.Cli", "bin", configuration, "net10.0", "Apt.Cli.dll");
        }
    }

    internal static (int ExitCode, string Output) AptWith(Dictionary<string, string?> environment,
        params string[] args) =>
        AptIn(TestPaths.RepoRoot, environment, args);

    /// <summary>`aptnb <paramref name="args"/>` run in <paramref name="folder"/>.</summary>
    internal static (int ExitCode, string Output) AptIn(string folder, params string[] args) => AptIn(folder, [], args);

    /// <summary>`aptnb <paramref name="args"/>` run in <paramref name="folder"/> with
    /// <paramref name="environment"/> set.</summary>
    internal static (int ExitCode, string Output) AptIn(string folder, Dictionary<string, string?> environment,
        params string[] args)
    {
        string cli = CliDll;
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true,
            WorkingDirectory = folder };
        start.ArgumentList.Add(cli);
        foreach (string arg in args) start.ArgumentList.Add(arg);
        start.Environment.Remove("GLIBC_TUNABLES");
        foreach (var (name, value) in environment) start.Environment[name] = value;
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        Assert.True(process.WaitForExit(120_000), "apt did not finish within 2 minutes");
        return (process.ExitCode, stdout + stderr.Result);
    }

    [Theory]
    [InlineData(new[] { "train", "--task", "nope" }, "unknown task 'nope'")]
    [InlineData(new[] { "train", "--method", "magic" }, "unknown method 'magic'")]
    [InlineData(new[] { "train", "--epochs", "many" }, "many")]
    [InlineData(new[] { "train", "--resume", "/no/such/run" }, "/no/such/run")]
    [InlineData(new[] { "sweep", "--preset", "no-such-preset" }, "neither a sweep file nor a preset")]
    [InlineData(new[] { "eval", "--run", "/no/such/run" }, "/no/such/run")]
    [InlineData(new[] { "no-such-verb" }, "no-such-verb")]
    public void BadArgumentsExitNonZeroWithAMessage(string[] args, string expected)
    {
        var (exitCode, output) = Apt(args);
        Assert.NotEqual(0, exitCode);
        Assert.Contains(expected, output);
        Assert.DoesNotContain("   at ", output); // a message, not a stack trace
    }

    /// <summary>A tag is data: one with a Spectre markup bracket in it is printed as it is, not taken for a style.</summary>
    [Fact]
    public void ScoreNerPrintsATagWithABracketAsText()
    {
        string folder = Directory.CreateTempSubdirectory("apt-score-").FullName;
        try
        {
            string gold = Path.Combine(folder, "gold.txt"), predicted = Path.Combine(folder, "pred.txt");
            File.WriteAllText(gold, "Paris B-[LOC]\nis O\n\n");
            File.WriteAllText(predicted, "Paris B-[LOC]\nis O\n\n");
            var (exitCode, output) = Apt("score", "ner", "--gold", gold, "--pred", predicted);
            Assert.True(exitCode == 0, output);
            Assert.Contains("[LOC]", output);
            Assert.Contains("100.00", output);
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    [Theory]
    [InlineData("train")]
    [InlineData("params")]
    public void TheMethodsTheCliOffersAreTheCatalogues(string verb)
    {
        var (exitCode, help) = Apt(verb, "--help");
        Assert.Equal(0, exitCode);
        string flat = string.Join(' ', help.Split((char[])[' ', '\n', '\r'], StringSplitOptions.RemoveEmptyEntries)); // help wraps lines
        foreach (var method in MethodCatalogue.All)
            Assert.Contains($"{method.Name} ({method.Label}: {method.Trains})", flat);
        var (refused, error) = Apt(verb, "--method", "magic");
        Assert.NotEqual(0, refused);
        Assert.Contains($"unknown method 'magic' (expected one of {string.Join(", ", MethodCatalogue.Names)})", error);
    }

    [Fact]
    public void ParamsPrintsTheMethodsTrainableCountsAsJson()
    {
        var (exitCode, output) = Apt("params", "--backbone", "minilm", "--method", "apt", "--prefix-length", "16", "--json");
        Assert.Equal(0, exitCode);
        Assert.Contains("\"gates\": 36966", output);
        Assert.Contains("\"prefix\": 73728", output);

        var (loraExit, lora) = Apt("params", "--backbone", "minilm", "--method", "lora", "--lora-rank", "12", "--json");
        Assert.Equal(0, loraExit);
        Assert.Contains("\"lora\": 110592", lora); // 6 layers × (query, value) × 2 · 12 · 384, beside APT's 110,694
        Assert.Contains("\"prefix\": 0", lora);
    }

    [Fact]
    public void RunsUnderTheKitsAllocatorTunablesUnlessTheCallerSetsItsOwn()
    {
        var (_, output) = Apt("doctor", "--json");
        Assert.Contains($"GLIBC_TUNABLES={TorchRuntime.AllocatorTunables}", output);

        var (_, own) = AptWith(new() { ["GLIBC_TUNABLES"] = "glibc.malloc.arena_max=2" }, "doctor", "--json");
        Assert.Contains("GLIBC_TUNABLES=glibc.malloc.arena_max=2", own);
        Assert.DoesNotContain(TorchRuntime.AllocatorTunables, own);
    }

    [Fact]
    public void DoctorSaysHowMklPicksItsKernelsAndTheOptOutKeepsMklAsShipped()
    {
        static string MklRow(string json) => JsonDocument.Parse(json).RootElement.GetProperty("findings").EnumerateArray()
            .Single(f => f.GetProperty("check").GetString() == "MKL kernels").GetProperty("value").GetString()!;

        var (_, output) = Apt("doctor", "--json");
        Assert.Equal(TorchRuntime.MklKernels, MklRow(output)); // the test host loaded libtorch the same way

        var (_, kept) = AptWith(new() { ["APT_KEEP_MKL_VENDOR_TEST"] = "1" }, "doctor", "--json");
        Assert.Equal("MKL's own dispatch (APT_KEEP_MKL_VENDOR_TEST is set)", MklRow(kept));
    }

    [Fact]
    public void AnErrorAboutABadFileStaysOneLineWhenOutputGoesToAFile()
    {
        // A path longer than the 80 columns Spectre.Console assumes when it is not writing to a terminal.
        string folder = Directory.CreateTempSubdirectory("apt-cli-").FullName;
        try
        {
            string data = Path.Combine(folder, "a-folder-with-a-rather-long-name", "and-another-one-below-it-that-is-long", "boolq");
            Directory.CreateDirectory(data);
            string bad = Path.Combine(data, "train.jsonl");
            string good = File.ReadLines(Path.Combine(TestPaths.RepoRoot, "tests", "Apt.Tests", "Fixtures", "superglue", "boolq", "train.jsonl")).First();
            File.WriteAllLines(bad, [good, "this line is not JSON"]);
            string log = Path.Combine(folder, "apt.log");

            // As a user types it: `aptnb data inspect ... > apt.log 2>&1`, with no terminal width in the environment.
            var start = new ProcessStartInfo("bash") { WorkingDirectory = TestPaths.RepoRoot };
            foreach (string arg in new[] { "-c", "dotnet \"$0\" data inspect --task boolq --path \"$1\" > \"$2\" 2>&1", CliDll, bad, log })
                start.ArgumentList.Add(arg);
            start.Environment.Remove("COLUMNS");
            start.Environment.Remove("GLIBC_TUNABLES");
            using var process = Process.Start(start)!;
            Assert.True(process.WaitForExit(120_000), "apt did not finish within 2 minutes");

            Assert.True(bad.Length > 80, "the path must be longer than a default console line");
            Assert.Equal(2, process.ExitCode);
            string[] lines = File.ReadAllLines(log).Where(line => line.Trim().Length > 0).ToArray();
            string error = Assert.Single(lines);
            Assert.StartsWith($"error: {bad}:2: ", error);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>
    /// `aptnb sweep` on a study file: the search, the seeds at each method's choice, then the study's report printed
    /// with the paired comparison and APT's probe across seeds (here on the RTE fixture, one step per run).
    /// </summary>
    [Fact]
    public void AStudyEndsWithItsReport()
    {
        string folder = Directory.CreateTempSubdirectory("apt-cli-").FullName;
        try
        {
            string data = Path.Combine(folder, "data", "rte");
            Directory.CreateDirectory(data);
            foreach (string split in new[] { "train.jsonl", "val.jsonl", "test.jsonl" })
                File.Copy(Path.Combine(TestPaths.RepoRoot, "tests", "Apt.Tests", "Fixtures", "superglue", "rte", "train.jsonl"), Path.Combine(data, split));
            string grid = Path.Combine(folder, "study.json");
            File.WriteAllText(grid, """
                { "name": "tiny-study", "methods": ["pt2", "apt"], "study": { "search_seeds": [1], "seeds": [2, 3] },
                  "tasks": [{ "task": "rte", "epochs": 1, "batch_size": 4, "learning_rates": [0.01], "prefix_lengths": [2], "train_examples": 4, "eval_examples": 4 }] }
                """);
            string runs = Path.Combine(folder, "runs");

            var (exitCode, output) = Apt("sweep", grid, "--runs", runs, "--data-root", Path.Combine(folder, "data"));

            Assert.True(exitCode == 0, output);
            Assert.Contains("APT − PT-2 =", output);
            Assert.Contains("rte, APT's gate probe over 2 seeds (2, 3), per layer from the bottom", output);
            Assert.Contains("The same report again: aptnb report --runs", output);
            Assert.True(File.Exists(Path.Combine(runs, "seeds", "results.md")));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
