using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Apt.Runs;
using Apt.Training;

namespace Apt.Tests.Training;

/// <summary>
/// A sweep small enough to run through the real `apt` command in tests: RTE's fixture as every split, MiniLM, a few
/// methods and seeds, in a temporary folder (deleted on dispose) that is also the working folder of the commands.
/// </summary>
sealed class TinyGrid : IDisposable
{
    public string Root { get; } = Directory.CreateTempSubdirectory("apt-grid-").FullName;
    public string DataRoot => Path.Combine(Root, "data");
    public string File => Path.Combine(Root, "grid.json");
    public SweepSpec Spec { get; }

    /// <param name="methods">Grid axis of methods (pt2star needs apt).</param>
    /// <param name="seeds">Grid axis of seeds.</param>
    /// <param name="epochs">Epochs per run; with <paramref name="batchSize"/> 2 on the two fixture pairs, one step each.</param>
    /// <param name="batchSize">Batch size of every run.</param>
    public TinyGrid(string[] methods, int[] seeds, int epochs = 1, int batchSize = 2)
    {
        string fixture = Path.Combine(TestPaths.RepoRoot, "tests", "Apt.Tests", "Fixtures", "superglue", "rte", "train.jsonl");
        Directory.CreateDirectory(Path.Combine(DataRoot, "rte"));
        foreach (string split in new[] { "train", "val", "test" }) System.IO.File.Copy(fixture, Path.Combine(DataRoot, "rte", split + ".jsonl"));
        Spec = new SweepSpec
        {
            Name = "tiny", Backbone = "minilm", Methods = methods, Seeds = seeds,
            Tasks = [new SweepTask { Task = "rte", Epochs = epochs, BatchSize = batchSize, LearningRates = [1e-2], PrefixLengths = [4] }],
        };
        System.IO.File.WriteAllText(File, JsonSerializer.Serialize(Spec));
    }

    public string Runs(string name) => Path.Combine(Root, name);

    /// <summary>The built `apt` command of the configuration the tests run in.</summary>
    public static string CliDll
    {
        get
        {
            string configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}") ? "Release" : "Debug";
            return Path.Combine(TestPaths.RepoRoot, "lib", "Apt.Cli", "bin", configuration, "net10.0", "Apt.Cli.dll");
        }
    }

    /// <summary>Starts `apt <paramref name="args"/>` in <see cref="Root"/> with its output collected.</summary>
    public AptProcess Start(IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Root };
        start.ArgumentList.Add(CliDll);
        foreach (string arg in args) start.ArgumentList.Add(arg);
        start.Environment["COLUMNS"] = "400";
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) start.Environment[name] = value;
        return new AptProcess(Process.Start(start)!);
    }

    /// <summary>Runs `apt <paramref name="args"/>` to its end; asserts it succeeded and returns its output.</summary>
    public string Run(IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        using var process = Start(environment, args);
        return process.WaitForSuccess(TimeSpan.FromMinutes(3));
    }

    /// <summary>The run folders this output says its process trained ("trained &lt;folder&gt;" lines).</summary>
    public static IEnumerable<string> Trained(string output) =>
        output.Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith("trained /", StringComparison.Ordinal)).Select(l => l["trained ".Length..]);

    /// <summary>
    /// Asserts two run folders hold the same run: equal result.json but for the wall time, byte-equal metrics.jsonl and
    /// selected tensors, and each step and epoch line of metrics.jsonl written once.
    /// </summary>
    public static void AssertSameRun(string expected, string actual)
    {
        static JsonObject Result(string folder)
        {
            var result = JsonNode.Parse(System.IO.File.ReadAllText(Path.Combine(folder, "result.json")))!.AsObject();
            result.Remove("wallSeconds");
            return result;
        }
        Assert.True(JsonNode.DeepEquals(Result(expected), Result(actual)), $"{actual}/result.json differs from {expected}'s");
        Assert.Equal(System.IO.File.ReadAllText(Path.Combine(expected, "metrics.jsonl")), System.IO.File.ReadAllText(Path.Combine(actual, "metrics.jsonl")));
        Assert.Equal(System.IO.File.ReadAllBytes(Path.Combine(expected, "selected.safetensors")), System.IO.File.ReadAllBytes(Path.Combine(actual, "selected.safetensors")));
        var lines = RunFolder.Open(actual).ReadMetrics().Select(l => ((string)l["kind"]!, (long)l["step"]!)).ToList();
        Assert.Equal(lines.Count, lines.Distinct().Count());
    }

    public void Dispose() => Directory.Delete(Root, recursive: true);
}

/// <summary>A running `apt` process whose output is read as it comes (so a full pipe never blocks it).</summary>
sealed class AptProcess(Process process) : IDisposable
{
    readonly Task<string> _stdout = process.StandardOutput.ReadToEndAsync(), _stderr = process.StandardError.ReadToEndAsync();

    public string WaitForSuccess(TimeSpan timeout)
    {
        var (exitCode, output) = WaitForExit(timeout);
        Assert.True(exitCode == 0, $"apt failed ({exitCode}): {output}");
        return output;
    }

    /// <summary>Waits for the process to end; its exit code and all it printed.</summary>
    public (int ExitCode, string Output) WaitForExit(TimeSpan timeout)
    {
        Assert.True(process.WaitForExit(timeout), $"apt did not finish within {timeout}");
        return (process.ExitCode, _stdout.Result + _stderr.Result);
    }

    public void Dispose()
    {
        if (!process.HasExited) process.Kill(entireProcessTree: true);
        process.Dispose();
    }
}
