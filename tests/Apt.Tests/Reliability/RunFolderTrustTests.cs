using System.Text.Json;
using Apt.Prefix;
using Apt.Reporting;
using Apt.Runs;
using Apt.Tasks.SuperGlue;
using Apt.TrainProbe;
using Apt.Tests.Training;
using Apt.Training;

namespace Apt.Tests.Reliability;

/// <summary>
/// What the kit reads back from run folders and task files is never silently dropped, merged or trusted beyond what
/// it holds: a damaged metrics line stops the resume on its line, leftovers of interrupted writes go, links to folders
/// are not followed, a run without its selected weights is not scored, a method must agree with its prefix length, and
/// MultiRC and ReCoRD keys are unique. Each case asserts the message it prints.
/// </summary>
public sealed class RunFolderTrustTests : IDisposable
{
    readonly TempFolder _folder = new();

    /// <summary>A finished probe run with its result.json removed, so the next <see cref="ProbeRun.Train"/>
    /// resumes it.</summary>
    RunFolder ResumableRun()
    {
        ProbeRun.Train(_folder.Sub("run"));
        var run = RunFolder.Open(_folder.Sub("run"));
        File.Delete(run.ResultPath);
        return run;
    }

    [Fact]
    public void ADamagedMetricsLineStopsTheResumeOnItsLineAndNoLineIsDeleted()
    {
        var run = ResumableRun();
        string[] lines = File.ReadAllLines(run.MetricsPath);
        lines[1] = lines[1].Replace("\"step\":", "\"step\"#");
        File.WriteAllText(run.MetricsPath, string.Join('\n', lines) + "\n");
        string damaged = File.ReadAllText(run.MetricsPath);

        var error = Assert.Throws<InvalidDataException>(() => ProbeRun.Train(run.Path));
        Assert.StartsWith($"{run.MetricsPath}:2: expected a JSON object with a whole-number \"step\" (", error.Message);
        Assert.EndsWith("; the file is left as it is: repair or delete that line (a run that resumes writes " +
            "the lines after " +
            "its checkpoint again)", error.Message);
        Assert.Equal(damaged, File.ReadAllText(run.MetricsPath));

        File.WriteAllText(run.MetricsPath, damaged.Replace(lines[1], lines[1].Replace("\"step\"#",
            "\"step\": \"ten\",\"x\":")));
        Assert.Equal($"{run.MetricsPath}:2: expected a JSON object with a whole-number \"step\"; the file is " +
            $"left as it is: " +
            "repair or delete that line (a run that resumes writes the lines after its checkpoint again)",
            Assert.Throws<InvalidDataException>(() => ProbeRun.Train(run.Path)).Message);
    }

    [Fact]
    public void OnlyATornLastLineIsDroppedOnResume()
    {
        var run = ResumableRun();
        string whole = File.ReadAllText(run.MetricsPath);
        File.AppendAllText(run.MetricsPath, "{\"kind\": \"step\", \"st");
        // a reader reports it; only the resume, which rewrites it, drops it
        Assert.Throws<InvalidDataException>(run.ReadMetrics);
        ProbeRun.Train(run.Path);
        Assert.Equal(whole, File.ReadAllText(run.MetricsPath));
    }

    [Fact]
    public void TheTemporaryFilesOfInterruptedWritesAreRemovedOnResumeAndNoOtherFiles()
    {
        var run = ResumableRun();
        string leftover = $"{run.ResultPath}.4242.{Guid.NewGuid():N}.tmp";
        string inCheckpoints = Path.Combine(run.CheckpointsPath, $"state.json.17.{Guid.NewGuid():N}.tmp");
        string others = _folder.Sub("run/notes.tmp"), alike = _folder.Sub("run/result.json.1.abc.tmp");
        foreach (string file in new[] { leftover, inCheckpoints, others, alike }) File.WriteAllText(file, "half");
        var warnings = new List<string>();

        ProbeRun.Train(run.Path, warning: warnings.Add);
        Assert.Equal($"removed 2 temporary file(s) an interrupted write left: {inCheckpoints}, {leftover}",
            Assert.Single(warnings));
        Assert.False(File.Exists(leftover) || File.Exists(inCheckpoints));
        Assert.True(File.Exists(others) && File.Exists(alike));
    }

    /// <summary>A finished run of the kit's own config, without training: config.json, result.json and, if asked,
    /// selected tensors.</summary>
    string FinishedRun(string folder, string method, int prefixLength, int seed, double accuracy)
    {
        var config = new ExperimentConfig
        {
            Task = "rte", Method = method, Prefix = PrefixConfig.PTuningV2(prefixLength),
            Trainer = new TrainerConfig { Seed = seed },
        };
        var run = RunFolder.OpenOrCreate(folder, config);
        var metrics = new Dictionary<string, double> { ["dev.accuracy"] = accuracy };
        File.WriteAllText(run.ResultPath, JsonSerializer.Serialize(new RunResult(1, SelectionRule.BestDev, "accuracy",
            accuracy, metrics,
            [new EpochMetrics(1, metrics)], false, 1, new Dictionary<string, long> { ["trainable"] = 10 }),
                TrainingJson.Indented));
        return run.Path;
    }

    [Fact]
    public async Task TheReportSkipsLinksToFoldersSaysSoAndCountsEachRunOnce()
    {
        string runs = _folder.Sub("runs");
        FinishedRun(Path.Combine(runs, "rte", "pt2-l4-lr0.01-seed1"), "pt2", 4, 1, 0.5);
        FinishedRun(Path.Combine(runs, "rte", "pt2-l4-lr0.01-seed2"), "pt2", 4, 2, 0.7);
        string latest = Path.Combine(runs, "latest"), loop = Path.Combine(runs, "rte", "up");
        Directory.CreateSymbolicLink(latest, Path.Combine(runs, "rte"));
        Directory.CreateSymbolicLink(loop, runs);

        Assert.Equal(2, RunIndex.Load(runs).Rows.Count);
        var outputs = await StudyReport.Write(runs, _folder.Sub("report"), png: false);
        Assert.Contains($"skipped 2 link(s) to folders, not followed so that no run counts twice: {latest}, {loop}",
            outputs.Notes);
        var cell = outputs.Table[MethodCatalogue.PTuningV2.Label, "rte"]!;
        Assert.Equal(2, cell.Runs);
    }

    [Fact]
    public void AFinishedRunWithoutItsSelectedWeightsIsNotScored()
    {
        string run = FinishedRun(_folder.Sub("run"), "pt2", 4, 1, 0.5);
        using var experiment = new Experiment(_folder.Sub("data"));
        var error = Assert.Throws<FileNotFoundException>(() => experiment.Open(run));
        Assert.Equal($"{Path.Combine(run, "selected.safetensors")} not found: the finished run's selected weights " +
            $"are missing, and " +
            "the untrained model is not scored in their place; restore the file, or train the run again " +
                "in a new folder", error.Message);
    }

    [Theory]
    [InlineData("pt2", 0,
        "method 'pt2' (PT-2) trains a prefix, but its prefix length is 0, which trains only the head; " +
        "expected prefix_length ≥ 1, or method 'head'")]
    [InlineData("head", 4, "method 'head' (head only) trains no prefix, but its prefix length is 4; expected 0")]
    [InlineData("magic", 4,
        "unknown method 'magic' (expected one of head, ft, pt2, apt, token, layer, pt2plus, pt2star, lora)")]
    public void AConfigWhoseMethodDisagreesWithItsPrefixLengthIsRefusedWhenTheRunIsRead(string method, int length,
        string message)
    {
        var run = RunFolder.Open(FinishedRun(_folder.Sub("run"), method, length, 1, 0.5));
        Assert.Equal($"{run.ConfigPath}: {message}",
            Assert.Throws<InvalidDataException>(() => ExperimentConfig.Read(run)).Message);
        using var experiment = new Experiment(_folder.Sub("data"));
        Assert.Equal($"{run.ConfigPath}: {message}",
            Assert.Throws<InvalidDataException>(() => experiment.Open(run.Path)).Message);
    }

    [Fact]
    public void RepeatedMultiRcAndRecordKeysAreRefusedOnTheirLine()
    {
        string fixtures = Path.Combine(TestPaths.RepoRoot, "tests", "Apt.Tests", "Fixtures", "superglue");
        string multirc = _folder.Sub("multirc.jsonl"), record = _folder.Sub("record.jsonl");
        string passage = File.ReadAllLines(Path.Combine(fixtures, "multirc", "train.jsonl"))[0];
        File.WriteAllLines(multirc, [passage, passage.Replace("Anna", "Berta")]);
        Assert.Equal($"{multirc}:2: question 0/0 (passage idx/question idx) repeats the one at line 1; expected each " +
            $"pair once: the " +
            "scorer groups answers by it and would merge the two into one",
            Assert.Throws<InvalidDataException>(() => SuperGlueReaders.MultiRc(multirc)).Message);
        string query = File.ReadAllLines(Path.Combine(fixtures, "record", "train.jsonl"))[0];
        File.WriteAllLines(record, [query, query.Replace("Nantes", "Rennes")]);
        Assert.Equal($"{record}:2: query 0/0 (passage idx/query idx) repeats the one at line 1; expected each " +
            $"pair once: the " +
            "scorer groups answers by it and would merge the two into one",
            Assert.Throws<InvalidDataException>(() => SuperGlueReaders.Record(record)).Message);
    }

    public void Dispose() => _folder.Dispose();
}
