using System.Globalization;
using Apt.Runs;
using Apt.Tests.Training;
using Apt.Training;

namespace Apt.Tests.Runs;

/// <summary>
/// One recipe: `aptnb train` given a sweep cell's settings trains that cell's run, in the folder the sweep names.
/// </summary>
public sealed class OneRecipeTests
{
    [Fact]
    public void TrainWithASweepCellsSettingsWritesTheSweepsRunFolder()
    {
        // APT, PT-2* (from APT's probe), FT and LoRA (own learning rates): every way the two builders used to part.
        using var grid = new TinyGrid(["apt", "pt2star", "ft", "lora"], [1]);
        string sweep = grid.Runs("sweep"), train = grid.Runs("train");
        grid.Run(null, "sweep", grid.File, "--runs", sweep, "--data-root", grid.DataRoot);

        var task = grid.Spec.Tasks[0];
        foreach (var cell in grid.Spec.Expand(sweep))
        {
            string Number(double value) => value.ToString("R", CultureInfo.InvariantCulture);
            List<string> args =
            [
                "train", "--task", task.Task, "--method", cell.Method, "--prefix-length", $"{cell.PrefixLength}",
                "--lr", Number(cell.LearningRate), "--seed", $"{cell.Seed}", "--epochs", $"{task.Epochs}",
                "--batch-size", $"{task.BatchSize}", "--dropout", Number(task.Dropout),
                "--ft-lr", Number(task.FineTuneLearningRate), "--lora-rank", $"{task.LoraRank}", "--lora-lr", Number(task.LoraLearningRate),
                "--data-root", grid.DataRoot, "--runs", train,
            ];
            if (cell.ProbeFrom is { } probe) args.AddRange(["--probe", probe]);
            grid.Run(null, [.. args]);

            string name = Path.GetRelativePath(sweep, cell.Folder), trained = Path.Combine(train, name);
            Assert.True(Directory.Exists(trained), $"aptnb train did not write the sweep's folder name {name}");
            Assert.Equal(File.ReadAllText(RunFolder.Open(cell.Folder).ConfigPath), File.ReadAllText(RunFolder.Open(trained).ConfigPath));
            TinyGrid.AssertSameRun(cell.Folder, trained);
        }
    }

    [Fact]
    public void TheRunFolderNameIsTheSweepsForEveryCaller()
    {
        var point = new RunPoint(0.02, 16, 1);
        Assert.Equal("apt-l16-lr0.02-seed1", Recipe.FolderName("apt", point));
        Assert.Equal(Path.Combine("runs", "rte", "apt-l16-lr0.02-seed1"), Recipe.Folder("runs", "RTE", "apt", point));
    }
}
