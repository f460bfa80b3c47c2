using Apt.Runs;
using Apt.Training;
using Microsoft.Data.Analysis;

namespace Apt.Tests.Training;

public class RunIndexTests
{
    static void WriteRun(string root, string task, string method, int seed, double devAccuracy, long trainable)
    {
        var run = RunFolder.OpenOrCreate(Path.Combine(root, $"{task}-{method}-{seed}"), new { task, method, trainer = new { seed, learningRate = 0.01 } });
        var metrics = new Dictionary<string, double> { ["dev.accuracy"] = devAccuracy };
        var result = new RunResult(2, SelectionRule.BestDev, "accuracy", devAccuracy, metrics, [new EpochMetrics(2, metrics)], false, 10.0,
            new Dictionary<string, long> { ["trainable"] = trainable });
        run.WriteResult(result);
    }

    [Fact]
    public void SeedsAggregateToMeanAndSampleStandardDeviationPerTaskAndMethod()
    {
        using var folder = new TempFolder();
        WriteRun(folder.Path, "wic", "pt2", 1, 0.56, 1000);
        WriteRun(folder.Path, "wic", "pt2", 2, 0.58, 1000);
        WriteRun(folder.Path, "wic", "pt2", 3, 0.60, 1000);
        WriteRun(folder.Path, "wic", "apt", 1, 0.61, 1500);
        WriteRun(folder.Path, "wic", "apt", 2, 0.65, 1500);
        WriteRun(folder.Path, "ner", "apt", 1, 0.70, 1500);
        Directory.CreateDirectory(folder.Sub("unfinished")); // no result.json: not indexed
        File.WriteAllText(Path.Combine(folder.Sub("unfinished"), "config.json"), "{}");

        var runs = RunIndex.Load(folder.Path);
        Assert.Equal(6, runs.Rows.Count);
        Assert.Contains("trainer.seed", runs.Columns.Select(c => c.Name));
        Assert.Contains("params.trainable", runs.Columns.Select(c => c.Name));

        var table = RunIndex.Aggregate(runs);
        Assert.Equal(["task", "method", "trainer.learningRate", "runs"], table.Columns.Take(4).Select(c => c.Name));
        var rows = Enumerable.Range(0, (int)table.Rows.Count).ToDictionary(r => $"{table["task"][r]}/{table["method"][r]}");
        int pt2 = rows["wic/pt2"], apt = rows["wic/apt"], ner = rows["ner/apt"];
        Assert.Equal(3, table["runs"][pt2]);
        Assert.Equal(0.58, (double)table["dev.accuracy.mean"][pt2]!, 12);
        Assert.Equal(0.02, (double)table["dev.accuracy.std"][pt2]!, 12);   // sqrt((0.02² + 0 + 0.02²) / 2)
        Assert.Equal(0.63, (double)table["dev.accuracy.mean"][apt]!, 12);
        Assert.Equal(Math.Sqrt(0.0008), (double)table["dev.accuracy.std"][apt]!, 12); // sqrt((0.02² + 0.02²) / 1)
        Assert.Equal(1500.0, table["params.trainable.mean"][apt]);
        Assert.Equal(1, table["runs"][ner]);
        Assert.Null(table["dev.accuracy.std"][ner]);
    }

    [Fact]
    public void GroupingByAnUnknownColumnNamesTheColumnsThereAre()
    {
        var runs = new DataFrame(new StringDataFrameColumn("task", ["wic"]), new DoubleDataFrameColumn("selectedValue", [0.5]));
        var error = Assert.Throws<ArgumentException>(() => RunIndex.Aggregate(runs, ["method"]));
        Assert.Contains("'method'", error.Message);
        Assert.Contains("task", error.Message);
    }

    sealed record ProbeConfig(string Task, TrainerConfig Trainer);

    [Fact]
    public void ARunFolderReopensWithItsOwnConfigAndRefusesAnother()
    {
        using var folder = new TempFolder();
        var config = new ProbeConfig("wic", new TrainerConfig { Schedule = LearningRateDecay.Exponential, EarlyStoppingPatience = 3 });
        var run = RunFolder.OpenOrCreate(folder.Sub("run"), config);
        Assert.Equal(config, RunFolder.OpenOrCreate(folder.Sub("run"), config).ReadConfig<ProbeConfig>());
        Assert.Equal("Exponential", run.ReadConfig()["trainer"]!["schedule"]!.GetValue<string>());
        var error = Assert.Throws<ArgumentException>(() => RunFolder.OpenOrCreate(folder.Sub("run"), new { task = "wic", seed = 2 }));
        Assert.Contains("config.json", error.Message);
    }
}
