using Apt.Runs;
using Apt.Tasks;
using Apt.Training;

namespace Apt.Tests.Training;

/// <summary>Sweeps and their presets: parsing, a one-step dry run of every real-data preset, and resumability.</summary>
public sealed class SweepTests : IDisposable
{
    readonly string _root = Directory.CreateTempSubdirectory("apt-sweep-").FullName;

    [Fact]
    public void EveryPresetParsesAndNamesKnownTasksAndMethods()
    {
        Assert.Equal(["bert-large-cased", "bert-large-uncased", "full-grid", "quickstart", "roberta-large", "study"], SweepSpec.Presets);
        foreach (string name in SweepSpec.Presets)
        {
            var spec = SweepSpec.Load(name);
            Assert.NotEmpty(spec.Expand("runs"));
            Assert.All(spec.Tasks, t => Assert.Contains(t.Task, TaskRegistry.Names));
        }
        // P-tuning v2's released settings (reference/ptuning-v2.md), spot-checked row by row.
        var boolq = SweepSpec.Load("bert-large-cased").Tasks.Single(t => t.Task == "boolq");
        Assert.Equal((32, 5e-3, 40, 100, 11), (boolq.BatchSize, boolq.LearningRates[0], boolq.PrefixLengths[0], boolq.Epochs, boolq.Seeds![0]));
        var conll04 = SweepSpec.Load("roberta-large").Tasks.Single(t => t.Task == "conll04");
        Assert.Equal((32, 6e-2, 144, 80, 0.1), (conll04.BatchSize, conll04.LearningRates[0], conll04.PrefixLengths[0], conll04.Epochs, conll04.Dropout));
        var ontonotes = SweepSpec.Load("bert-large-uncased").Tasks.Single(t => t.Task == "ontonotes");
        Assert.Equal((16, 1e-2, 16, 30), (ontonotes.BatchSize, ontonotes.LearningRates[0], ontonotes.PrefixLengths[0], ontonotes.Epochs));
        Assert.Equal(["head", "ft", "pt2", "apt", "token", "layer", "pt2plus", "pt2star"], SweepSpec.Load("full-grid").Methods);
        var study = StudyPlan.Of(SweepSpec.Load("study"), "study")!;
        Assert.True(study.Block.Seeds.Length >= 6 && !study.Block.Seeds.Intersect(study.Block.SearchSeeds).Any()); // power, and no winner's curse
    }

    [Fact]
    public void BadSweepFilesAreRefusedWithTheSourceAndTheReason()
    {
        Assert.Contains("line 1", Assert.Throws<InvalidDataException>(() => SweepSpec.Parse("{ \"tasks\": [", "grid.json")).Message);
        Assert.Contains("unknown task 'nope'", Assert.Throws<InvalidDataException>(() => SweepSpec.Parse("{ \"tasks\": [ { \"task\": \"nope\" } ] }", "grid.json")).Message);
        Assert.Contains("unknown method 'xyz'", Assert.Throws<InvalidDataException>(() => SweepSpec.Parse("{ \"methods\": [\"xyz\"], \"tasks\": [ { \"task\": \"rte\" } ] }", "grid.json")).Message);
        Assert.Contains("must also run apt", Assert.Throws<InvalidDataException>(() => SweepSpec.Parse("{ \"methods\": [\"pt2star\"], \"tasks\": [ { \"task\": \"rte\" } ] }", "grid.json")).Message);
        Assert.Contains("neither a sweep file nor a preset", Assert.Throws<FileNotFoundException>(() => SweepSpec.Load("no-such-preset")).Message);
    }

    /// <summary>A shared sweep file's name becomes runs/&lt;name&gt; and sbatch script text: it may not climb out or inject lines.</summary>
    [Theory]
    [InlineData("../../etc")]
    [InlineData("x\n#!/bin/sh\nrm -rf ~")]
    [InlineData("a/b")]
    [InlineData(".hidden")]
    [InlineData("")]
    [InlineData("it's")]
    public void AHostileSweepNameIsRefusedBeforeAnythingRuns(string name)
    {
        string json = $$"""{ "name": {{System.Text.Json.JsonSerializer.Serialize(name)}}, "tasks": [ { "task": "rte" } ] }""";
        var error = Assert.Throws<InvalidDataException>(() => SweepSpec.Parse(json, "shared.json"));
        Assert.StartsWith("shared.json: name '", error.Message);
        Assert.DoesNotContain("\n", error.Message);
        Assert.Equal("bert-large_2.v1", SweepSpec.Parse("""{ "name": "bert-large_2.v1", "tasks": [ { "task": "rte" } ] }""", "ok.json").Name);
    }

    /// <summary>
    /// Every real-data preset, one optimizer step per run on the hand-written fixtures (each split a copy of the
    /// fixture's train file) with the embedded MiniLM standing in for the large backbone.
    /// </summary>
    [Theory]
    [InlineData("bert-large-cased")]
    [InlineData("bert-large-uncased")]
    [InlineData("roberta-large")]
    public void ARealDataPresetDryRunsOneStepPerRunOnTheFixtures(string preset)
    {
        var spec = DryRun(SweepSpec.Load(preset));
        using var experiment = new Experiment(DataRoot(spec));
        long steps = 0;
        experiment.StepCompleted += (_, _) => steps++;
        var outcomes = SweepRunner.Run(spec, experiment, Path.Combine(_root, "runs"), backbone: "minilm");
        Assert.Equal(spec.Expand("runs").Count, outcomes.Count);
        Assert.Equal(outcomes.Count, steps);
        Assert.All(outcomes, o => Assert.True(File.Exists(o.AdapterPath)));
        Assert.All(outcomes.Where(o => Path.GetFileName(o.RunFolder).StartsWith("apt-")), o => Assert.True(File.Exists(o.ProbePath)));
    }

    [Fact]
    public void ASweepRunTwiceDoesNoWorkTheSecondTime()
    {
        var spec = DryRun(SweepSpec.Load("bert-large-cased")) with { Tasks = [DryRun(SweepSpec.Load("bert-large-cased")).Tasks.Single(t => t.Task == "rte")] };
        string runs = Path.Combine(_root, "twice");
        IReadOnlyList<ExperimentOutcome> first;
        using (var once = new Experiment(DataRoot(spec))) first = SweepRunner.Run(spec, once, runs, "minilm");
        var written = Directory.EnumerateFiles(runs, "*", SearchOption.AllDirectories).ToDictionary(f => f, File.GetLastWriteTimeUtc);

        using var again = new Experiment(DataRoot(spec));
        long steps = 0;
        again.StepCompleted += (_, _) => steps++;
        int skipped = 0;
        var second = SweepRunner.Run(spec, again, runs, "minilm", _ => skipped++);
        Assert.Equal(0, steps);
        Assert.Equal(first.Count, skipped);
        Assert.Equal(first.Select(o => o.Result.SelectedValue), second.Select(o => o.Result.SelectedValue));
        Assert.Equal(written, Directory.EnumerateFiles(runs, "*", SearchOption.AllDirectories).ToDictionary(f => f, File.GetLastWriteTimeUtc));
    }

    /// <summary>
    /// A study on the fixtures, one step per run: every method searches the same grid on dev (PT-2* the learning rate at
    /// APT's length, with APT's probe), the best mean dev setting is chosen, the study's seeds run at it, and a second
    /// run does no work.
    /// </summary>
    [Fact]
    public async Task AStudySearchesOnDevThenRunsItsSeedsAtEachMethodsBestSetting()
    {
        var grid = DryRun(SweepSpec.Load("bert-large-cased")).Tasks.Single(t => t.Task == "rte") with { LearningRates = [1e-2, 3e-2], PrefixLengths = [2, 4] };
        var spec = new SweepSpec { Name = "study", Methods = ["pt2", "apt", "pt2star"], Tasks = [grid], Study = new StudyBlock { SearchSeeds = [1], Seeds = [2, 3] } };
        var plan = StudyPlan.Of(spec, "test")!;
        string root = Path.Combine(_root, "study");
        IReadOnlyList<StudyChoice> choices;
        using (var experiment = new Experiment(DataRoot(spec))) choices = StudyRunner.Run(plan, experiment, root, "minilm");

        string[] Runs(string stage, string method) => [.. Directory.EnumerateDirectories(Path.Combine(root, stage, "rte"), method + "-l*").Select(Path.GetFileName).Order()!];
        Assert.Equal(4, Runs(StudyPlan.SearchFolder, "pt2").Length);
        Assert.Equal(4, Runs(StudyPlan.SearchFolder, "apt").Length);
        var apt = choices.Single(c => c.Method == "apt");
        Assert.Equal([Recipe.FolderName("pt2star", new RunPoint(1e-2, apt.PrefixLength, 1)), Recipe.FolderName("pt2star", new RunPoint(3e-2, apt.PrefixLength, 1))], Runs(StudyPlan.SearchFolder, "pt2star"));
        foreach (var choice in choices)
        {
            // The choice is the best dev score of the method's search runs, read back from their result.json.
            double best = Directory.EnumerateDirectories(Path.Combine(root, StudyPlan.SearchFolder, "rte"), choice.Method + "-l*")
                .Max(d => RunFolder.Open(d).ReadResult().SelectedMetrics["dev.accuracy"]);
            Assert.Equal(best, choice.Dev);
            Assert.Equal([Recipe.FolderName(choice.Method, new RunPoint(choice.LearningRate, choice.PrefixLength, 2)), Recipe.FolderName(choice.Method, new RunPoint(choice.LearningRate, choice.PrefixLength, 3))],
                Runs(StudyPlan.SeedsFolder, choice.Method));
        }
        Assert.True(File.Exists(Path.Combine(root, StudyPlan.ChoicesFile)));

        // Its report: one setting per method, so every claim pairs the two seeds; the dev curve and per-seed probes are drawn.
        var report = await Apt.Reporting.StudyReport.Write(Path.Combine(root, StudyPlan.SeedsFolder), Path.Combine(root, "report"), png: false);
        Assert.Equal([2, 3], report.Comparisons.Single(c => c.Method == "APT" && c.Baseline == "PT-2").Seeds);
        Assert.Empty(report.Charts); // no PNGs asked for
        string page = File.ReadAllText(report.Page);
        Assert.Contains("rte: dev accuracy per epoch", page);
        Assert.Contains("rte: token gate α of APT, seed 3", page);

        using var again = new Experiment(DataRoot(spec));
        long steps = 0;
        again.StepCompleted += (_, _) => steps++;
        Assert.Equal(choices, StudyRunner.Run(plan, again, root, "minilm"));
        Assert.Equal(0, steps);
    }

    /// <summary>
    /// Two processes on one study folder: a seed run the other (live) process holds is not trained here. Told not to wait,
    /// this study trains everything else and then refuses, naming that run; once the holder lets go it trains only that run.
    /// </summary>
    [Fact]
    public void AStudyLeavesARunAnotherProcessHoldsToIt()
    {
        var grid = DryRun(SweepSpec.Load("bert-large-cased")).Tasks.Single(t => t.Task == "rte") with { LearningRates = [1e-2], PrefixLengths = [2] };
        var spec = new SweepSpec { Name = "study", Methods = ["pt2", "apt"], Tasks = [grid], Study = new StudyBlock { SearchSeeds = [1], Seeds = [2] } };
        var plan = StudyPlan.Of(spec, "test")!;
        string root = Path.Combine(_root, "shared-study"), seeds = Path.Combine(root, StudyPlan.SeedsFolder, "rte");
        string held = Path.Combine(seeds, Recipe.FolderName("pt2", new RunPoint(1e-2, 2, 2))), other = Path.Combine(seeds, Recipe.FolderName("apt", new RunPoint(1e-2, 2, 2)));

        using (var otherProcess = RunFolderLock.Acquire(held, new RunLockOptions()))
        using (var experiment = new Experiment(DataRoot(spec)))
        {
            var busy = Assert.Throws<RunFolderBusyException>(() => StudyRunner.Run(plan, experiment, root, "minilm", locks: new RunLockOptions { Wait = TimeSpan.Zero }));
            Assert.Contains(held, busy.Message);
            Assert.True(Finished(other));
            Assert.False(Finished(held));
        }

        using var again = new Experiment(DataRoot(spec));
        long steps = 0;
        again.StepCompleted += (_, _) => steps++;
        StudyRunner.Run(plan, again, root, "minilm");
        Assert.Equal(1, steps);
        Assert.True(Finished(held));
        static bool Finished(string folder) => File.Exists(Path.Combine(folder, "result.json"));
    }

    /// <summary>One step per run: 4 examples, batch 4, one epoch, evaluation on 4.</summary>
    static SweepSpec DryRun(SweepSpec spec) => spec.Shrink(trainExamples: 4, evalExamples: 4, epochs: 1, seeds: 1) with
    {
        Tasks = [.. spec.Tasks.Where(t => FixtureFile(t.Task) is not null).Select(t => t with { BatchSize = 4, TrainExamples = 4, EvalExamples = 4, Epochs = 1 })],
    };

    static string? FixtureFile(string task)
    {
        foreach (string kind in new[] { "superglue", "ner" })
        {
            string folder = Path.Combine(TestPaths.RepoRoot, "tests", "Apt.Tests", "Fixtures", kind, task);
            string? file = new[] { "train.jsonl", "train.txt" }.Select(f => Path.Combine(folder, f)).FirstOrDefault(File.Exists);
            if (file is not null) return file;
        }
        return null;
    }

    /// <summary>A data root where every split of each task is its fixture's train file.</summary>
    string DataRoot(SweepSpec spec)
    {
        string root = Path.Combine(_root, "data");
        foreach (var task in spec.Tasks)
        {
            string source = FixtureFile(task.Task)!, folder = Path.Combine(root, task.Task), extension = Path.GetExtension(source);
            Directory.CreateDirectory(folder);
            foreach (string split in extension == ".jsonl" ? new[] { "train", "val", "test" } : ["train", "dev", "test"])
                File.Copy(source, Path.Combine(folder, split + extension), overwrite: true);
        }
        return root;
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
