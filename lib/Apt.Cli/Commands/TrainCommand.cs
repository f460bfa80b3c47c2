using System.ComponentModel;
using System.Text.Json;
using Apt.Backbone;
using Apt.Prefix;
using Apt.Runs;
using Apt.Tasks;
using Apt.Training;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Apt.Cli.Commands;

/// <summary>`aptnb train --task wordnet-wic --method apt`: one run, written to a run folder; `--resume`
/// continues one.</summary>
public sealed class TrainCommand : Command<TrainCommand.Settings>
{
    public sealed class Settings : ComputeSettings
    {
        [CommandOption("--task")]
        [Description("Task: " + "wordnet-wic, brown-ner (stand-ins), boolq, cb, copa, rte, wic, wsc, multirc, record, conll03, conll04, ontonotes.")]
        [DefaultValue("wordnet-wic")]
        public string Task { get; init; } = "wordnet-wic";

        [CommandOption("--method")]
        [Description("A method of the catalogue (listed above; pt2star needs --probe).")]
        [DefaultValue(MethodCatalogue.DefaultName)]
        public string Method { get; init; } = MethodCatalogue.DefaultName;

        [CommandOption("--backbone")]
        [Description("Embedded backbone (minilm, arctic-xs) or a Hugging Face model folder.")]
        [DefaultValue("minilm")]
        public string Backbone { get; init; } = "minilm";

        [CommandOption("--data")]
        [Description("Folder with the task's split files (default: <data-root>/<task>).")]
        public string? Data { get; init; }

        [CommandOption("--data-root")]
        [Description("Folder that holds the data sets.")]
        [DefaultValue("data")]
        public string DataRoot { get; init; } = "data";

        [CommandOption("--prefix-length")]
        [Description("Prefix length l.")]
        [DefaultValue(16)]
        public int PrefixLength { get; init; } = 16;

        [CommandOption("--probe")]
        [Description("Gate probe JSON of a trained APT run (for pt2star).")]
        public string? Probe { get; init; }

        [CommandOption("--epochs")]
        [DefaultValue(3)]
        public int Epochs { get; init; } = 3;

        [CommandOption("--batch-size")]
        [DefaultValue(32)]
        public int BatchSize { get; init; } = 32;

        [CommandOption("--lr")]
        [Description("Peak learning rate (of every method but ft and lora, which have their own).")]
        [DefaultValue(1e-2)]
        public double LearningRate { get; init; } = 1e-2;

        [CommandOption("--ft-lr")]
        [Description("Peak learning rate of full fine-tuning (ft).")]
        [DefaultValue(2e-5)]
        public double FineTuneLearningRate { get; init; } = 2e-5;

        [CommandOption("--lora-rank")]
        [Description("LoRA's rank r (for lora).")]
        [DefaultValue(8)]
        public int LoraRank { get; init; } = 8;

        [CommandOption("--lora-alpha")]
        [Description("LoRA's α: the update B·A is scaled by α / r (for lora).")]
        [DefaultValue(8.0)]
        public double LoraAlpha { get; init; } = 8;

        [CommandOption("--lora-dropout")]
        [Description("Dropout on LoRA's input (for lora).")]
        [DefaultValue(0.0)]
        public double LoraDropout { get; init; }

        [CommandOption("--lora-lr")]
        [Description("Peak learning rate of LoRA (lora).")]
        [DefaultValue(5e-4)]
        public double LoraLearningRate { get; init; } = 5e-4;

        [CommandOption("--dropout")]
        [Description("The run's dropout: on the prefix, in the head and, as P-tuning v2, the frozen backbone's hidden dropout.")]
        [DefaultValue(0.1)]
        public double Dropout { get; init; } = 0.1;

        [CommandOption("--keep-backbone-dropout")]
        [Description("Leave the backbone's hidden dropout at its checkpoint's hidden_dropout_prob instead of --dropout.")]
        public bool KeepBackboneDropout { get; init; }

        [CommandOption("--projection")]
        [Description("P-tuning v2's reparameterised prefix: Embedding(l, d) → Linear(d, 512) → tanh → Linear(512, L·2·d).")]
        public bool Projection { get; init; }

        [CommandOption("--prefix-init")]
        [Description("How the prefix starts: InitializerRange (N(0, 0.02) for BERT, as P-tuning v2) or StandardNormal (N(0, 1), as PEFT).")]
        [DefaultValue(PrefixInit.InitializerRange)]
        public PrefixInit PrefixInit { get; init; } = PrefixInit.InitializerRange;

        [CommandOption("--weight-decay")]
        [Description("AdamW's weight decay (biases and LayerNorm exempt); 0 as P-tuning v2.")]
        [DefaultValue(0.0)]
        public double WeightDecay { get; init; }

        [CommandOption("--warmup")]
        [Description("Warm-up as a fraction of the steps (linear schedule).")]
        [DefaultValue(0.0)]
        public double Warmup { get; init; }

        [CommandOption("--length-grouping")]
        [Description("Sort examples by length within groups of this many batches, so batches pad less (0: random batches, as P-tuning v2).")]
        [DefaultValue(0)]
        public int LengthGrouping { get; init; }

        [CommandOption("--seed")]
        [DefaultValue(11)]
        public int Seed { get; init; } = 11;

        [CommandOption("--max-length")]
        [Description("Maximum tokens per input (default: the task's, 128 or 152).")]
        public int? MaxLength { get; init; }

        [CommandOption("--train-examples")]
        [Description("Use only the first N training examples.")]
        public int? TrainExamples { get; init; }

        [CommandOption("--eval-examples")]
        [Description("Use only the first N dev/test examples.")]
        public int? EvalExamples { get; init; }

        [CommandOption("--early-stopping")]
        [Description("Stop after this many epochs without a better dev value.")]
        public int? EarlyStopping { get; init; }

        [CommandOption("--checkpoint-every")]
        [Description("Checkpoint every N steps (and at each epoch end).")]
        [DefaultValue(100)]
        public int CheckpointEvery { get; init; } = 100;

        [CommandOption("--threads <N>")]
        [Description("Threads the run computes with, recorded in config.json (the same count repeats a run bit for " +
            "bit). Default 1, as a sweep's runs.")]
        [DefaultValue(1)]
        public int Threads { get; init; } = 1;

        [CommandOption("--runs")]
        [Description("Folder for run folders.")]
        [DefaultValue("runs")]
        public string Runs { get; init; } = "runs";

        [CommandOption("--run")]
        [Description("This run's folder (default: <runs>/<task>/<method>-l<length>-lr<lr>-seed<seed>, as a sweep names it).")]
        public string? Run { get; init; }

        [CommandOption("--resume")]
        [Description("Continue the run in this folder with its own config.json (other options are ignored).")]
        public string? Resume { get; init; }

        [CommandOption("--json")]
        [Description("Print the result as JSON.")]
        public bool Json { get; init; }

        /// <summary>The options' ranges; the prefix and maximum length against the position table are checked once the backbone is known.</summary>
        public override ValidationResult Validate() => SettingRanges.First(
            SettingRanges.OneOf("--task", Task, TaskRegistry.Names, StringComparison.OrdinalIgnoreCase),
            SettingRanges.OneOf("--method", Method, MethodCatalogue.Names),
            SettingRanges.Backbone("--backbone", Backbone),
            SettingRanges.AtLeast("--prefix-length", PrefixLength, 1),
            SettingRanges.AtLeast("--epochs", Epochs, 1),
            SettingRanges.AtLeast("--batch-size", BatchSize, 1),
            SettingRanges.Positive("--lr", LearningRate),
            SettingRanges.Positive("--ft-lr", FineTuneLearningRate),
            SettingRanges.AtLeast("--lora-rank", LoraRank, 1),
            SettingRanges.Positive("--lora-alpha", LoraAlpha),
            SettingRanges.Fraction("--lora-dropout", LoraDropout),
            SettingRanges.Positive("--lora-lr", LoraLearningRate),
            SettingRanges.Fraction("--dropout", Dropout),
            SettingRanges.NonNegative("--weight-decay", WeightDecay),
            SettingRanges.Fraction("--warmup", Warmup),
            SettingRanges.AtLeast("--length-grouping", LengthGrouping, 0),
            SettingRanges.AtLeast("--max-length", MaxLength, RunSettings.MinimumMaxLength),
            SettingRanges.AtLeast("--train-examples", TrainExamples, 1),
            SettingRanges.AtLeast("--eval-examples", EvalExamples, 1),
            SettingRanges.AtLeast("--early-stopping", EarlyStopping, 1),
            SettingRanges.AtLeast("--checkpoint-every", CheckpointEvery, 0),
            SettingRanges.AtLeast("--threads", Threads, 1));
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellation)
    {
        TorchRuntime.EnsureLoaded();
        using var experiment = new Experiment(settings.DataRoot) { Stop = cancellation };
        var (config, folder) = settings.Resume is { } resume
            ? (ExperimentConfig.Read(RunFolder.Open(resume)), resume)
            : Configure(settings, experiment.Frozen(settings.Backbone).Config);
        // One process trains a run folder at a time, as in sweeps: a second `aptnb train` into it is refused at once.
        using var claim = RunFolderLock.Acquire(folder, new RunLockOptions { Wait = TimeSpan.Zero, Notice = Console.Error.WriteLine });
        var outcome = TrainingConsole.Show(experiment, () => experiment.Run(config, folder));
        if (settings.Json)
        {
            Console.WriteLine(JsonSerializer.Serialize(new { run = outcome.RunFolder, adapter = outcome.AdapterPath, probe = outcome.ProbePath, result = outcome.Result }, TrainingJson.Indented));
            return 0;
        }
        var result = outcome.Result;
        AnsiConsole.MarkupLineInterpolated($"""
            [bold]{config.Task}[/] {MethodCatalogue.Label(config.Method)}: {result.SelectionMetric} {result.SelectedValue:F4} at epoch {
                result.SelectedEpoch} ({result.Selection}), {result.WallSeconds:F0} s, {result.ParameterCounts["trainable"]:N0} trainable parameters
            """);
        AnsiConsole.MarkupLineInterpolated($"run folder: {outcome.RunFolder}");
        if (TaskRegistry.Get(config.Task).IsStandIn)
            AnsiConsole.MarkupLine("[grey]stand-in data built here: not a benchmark score[/]");
        return 0;
    }

    /// <summary>The run the options describe, built by the recipe every sweep cell is built by.</summary>
    static (ExperimentConfig, string) Configure(Settings s, BertConfig backbone)
    {
        var settings = new RunSettings
        {
            Data = s.Data, Epochs = s.Epochs, BatchSize = s.BatchSize, Dropout = s.Dropout, DropoutInBackbone = !s.KeepBackboneDropout,
            WeightDecay = s.WeightDecay, Projection = s.Projection, PrefixInit = s.PrefixInit, Warmup = s.Warmup, LengthGrouping = s.LengthGrouping,
            MaxLength = s.MaxLength, TrainExamples = s.TrainExamples, EvalExamples = s.EvalExamples, FineTuneLearningRate = s.FineTuneLearningRate,
            EarlyStoppingPatience = s.EarlyStopping, CheckpointEvery = s.CheckpointEvery, Threads = s.Threads,
            LoraRank = s.LoraRank, LoraAlpha = s.LoraAlpha, LoraDropout = s.LoraDropout, LoraLearningRate = s.LoraLearningRate,
        };
        var point = new RunPoint(s.LearningRate, s.PrefixLength, s.Seed);
        var config = Recipe.Configure(s.Task, s.Method, s.Backbone, settings, point, backbone, s.Probe);
        return (config, s.Run ?? Recipe.Folder(s.Runs, s.Task, s.Method, point));
    }
}
