using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Apt.Prefix;
using Apt.Runs;
using Apt.Tests.Training;
using Apt.Training;
using Xunit.Abstractions;

namespace Apt.Tests.Reliability;

/// <summary>
/// The mutator of <see cref="ReaderFuzzTests"/> over sweep files (the presets and a small grid) and a finished run
/// folder's files (config.json, result.json, metrics.jsonl): every mutated input is read or refused with a user error
/// (an exception the CLI reports as bad input) that names the file; nothing else escapes and no input hangs. Bounded in
/// time as the reader fuzzer is, by the same variables.
/// </summary>
public sealed class RunFileFuzzTests(ITestOutputHelper output)
{
    const double DefaultSeconds = 10;
    const int DefaultSeed = 33;
    static readonly TimeSpan PerInput = TimeSpan.FromSeconds(20);

    /// <summary>One file to mutate: its name in the folder, its intact bytes, and what reads it from
    /// the folder.</summary>
    sealed record Target(string FileName, byte[] Seed, Action<string> Read);

    static IEnumerable<Target> Targets(string runFolder)
    {
        foreach (string preset in new[] { "quickstart", "study" })
            yield return Sweep($"{preset}.json", JsonSerializer.Serialize(SweepSpec.Load(preset)));
        yield return Sweep("grid.json", """
            { "name": "g", "methods": ["head", "pt2", "apt", "pt2star"], "seeds": [1, 2],
              "tasks": [ { "task": "rte", "epochs": 2, "learning_rates": [0.01], "prefix_lengths": [4], "max_length": 64 },
                         { "task": "brown-ner", "seeds": [3], "prefix_lengths": [8, 16], "lora_rank": 4 } ] }
            """);
        var run = RunFolder.Open(runFolder);
        void ReadRun(string folder)
        {
            var copy = RunFolder.Open(folder);
            ExperimentConfig.Read(copy);
            copy.ReadResult();
            copy.ReadMetrics();
            RunIndex.Load(folder);
            using (copy.OpenMetricsLog(3)) { }
        }
        foreach (string file in new[] { run.ConfigPath, run.ResultPath, run.MetricsPath })
            yield return new Target(Path.GetFileName(file), File.ReadAllBytes(file), ReadRun);
    }

    static Target Sweep(string name, string json) =>
        new(name, Encoding.UTF8.GetBytes(json), folder => SweepSpec.Load(Path.Combine(folder, name)).Expand("runs"));

    /// <summary>A finished run folder of the kit's config with three metrics lines.</summary>
    static string FinishedRun(string folder)
    {
        var run = RunFolder.OpenOrCreate(folder, new ExperimentConfig
        {
            Task = "rte", Method = "apt", Prefix = PrefixConfig.Apt(4), Trainer = new TrainerConfig { Seed = 1 },
        });
        var metrics = new Dictionary<string, double> { ["dev.accuracy"] = 0.5, ["train.loss"] = 0.7 };
        File.WriteAllText(run.ResultPath, JsonSerializer.Serialize(new RunResult(1, SelectionRule.BestDev,
            "accuracy", 0.5, metrics,
            [new EpochMetrics(1, metrics)], false, 1, new Dictionary<string, long> { ["trainable"] = 10 }),
                TrainingJson.Indented));
        File.WriteAllText(run.MetricsPath, """
            {"kind":"step","epoch":1,"step":2,"loss":0.7,"learningRate":0.01}
            {"kind":"step","epoch":1,"step":4,"loss":0.6,"learningRate":0.005}
            {"kind":"epoch","epoch":1,"step":4,"metrics":{"dev.accuracy":0.5}}

            """.ReplaceLineEndings("\n"));
        return run.Path;
    }

    [Fact]
    public async Task EveryMutatedSweepFileAndRunFileIsReadOrRefusedNamingTheFile()
    {
        double seconds = double.TryParse(Environment.GetEnvironmentVariable(ReaderFuzzTests.SecondsVariable),
            out double s) ? s : DefaultSeconds;
        int seed = int.TryParse(Environment.GetEnvironmentVariable(ReaderFuzzTests.SeedVariable), out int v)
            ? v : DefaultSeed;
        using var scratch = new TempFolder();
        string intact = FinishedRun(scratch.Sub("intact"));
        var targets = Targets(intact).ToList();
        var random = new Random(seed);
        var clock = Stopwatch.StartNew();
        int inputs = 0, read = 0;
        var refused = targets.ToDictionary(t => t.FileName, _ => 0);
        while (clock.Elapsed.TotalSeconds < seconds || inputs < targets.Count)
        {
            var target = targets[inputs % targets.Count];
            string folder = scratch.Sub($"input-{inputs % 8}");
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
            Directory.CreateDirectory(folder);
            foreach (string file in Directory.GetFiles(intact)) File.Copy(file,
                Path.Combine(folder, Path.GetFileName(file)));
            byte[] mutated = ReaderFuzzTests.Mutate(target.Seed, random);
            string path = Path.Combine(folder, target.FileName);
            File.WriteAllBytes(path, mutated);
            inputs++;
            try
            {
                await Task.Run(() => target.Read(folder)).WaitAsync(PerInput);
                read++;
            }
            catch (Exception e) when (e is InvalidDataException or IOException or ArgumentException or FormatException
                && e is not DirectoryNotFoundException && e.Message.Contains(path) && !e.Message.Contains('\n'))
            {
                refused[target.FileName]++;
            }
            catch (Exception e)
            {
                string kept = Path.Combine(Path.GetTempPath(), $"apt-run-fuzz-{seed}-{inputs}-{target.FileName}");
                File.WriteAllBytes(kept, mutated);
                Assert.Fail($"{target.FileName}, seed {seed}, input {inputs} (kept as {kept}): {e.GetType().Name} " +
                    $"escaped: {e.Message}\n{e.StackTrace}");
            }
        }
        output.WriteLine($"{inputs} inputs in {clock.Elapsed.TotalSeconds:F1} s (seed {seed}): {read} read, " +
            $"{inputs - read} refused");
        Assert.All(refused, r => Assert.True(r.Value > 0, $"no input to {r.Key} was refused"));
    }
}
