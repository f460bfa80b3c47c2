using System.Globalization;
using System.Text.Json.Serialization;
using Apt.Backbone;
using Apt.Lora;
using Apt.Prefix;
using Apt.Tasks;
using Apt.Training;

namespace Apt.Runs;

/// <summary>
/// Everything that shapes a run beside its task, method, backbone and grid point. `aptnb train` reads it from its
/// options, a sweep from each task's entry (<see cref="SweepTask"/> extends it, so the JSON names are the sweep
/// file's). Defaults are P-tuning v2's recipe (../shared/reference/ptuning-v2.md).
/// </summary>
public record RunSettings
{
    /// <summary>Folder of the task's files; default &lt;data root&gt;/&lt;task&gt;.</summary>
    [JsonPropertyName("data")] public string? Data { get; init; }
    [JsonPropertyName("epochs")] public int Epochs { get; init; } = 3;
    [JsonPropertyName("batch_size")] public int BatchSize { get; init; } = 32;
    /// <summary>
    /// The run's dropout: the prefix's, the head's and (see <see cref="DropoutInBackbone"/>) the backbone's hidden
    /// dropout.
    /// </summary>
    [JsonPropertyName("dropout")] public double Dropout { get; init; } = 0.1;
    /// <summary>
    /// Whether <see cref="Dropout"/> is also the frozen backbone's hidden dropout (P-tuning v2's one value); default
    /// true.
    /// </summary>
    [JsonPropertyName("dropout_in_backbone")] public bool DropoutInBackbone { get; init; } = true;
    /// <summary>AdamW's weight decay (<see cref="TrainerConfig.WeightDecay"/>); default 0, as P-tuning v2.</summary>
    [JsonPropertyName("weight_decay")] public double WeightDecay { get; init; }
    /// <summary>
    /// P-tuning v2's reparameterised prefix (<see cref="PrefixConfig.Projection"/>); its scripts turn it on for WiC on
    /// BERT only.
    /// </summary>
    [JsonPropertyName("projection")] public bool Projection { get; init; }
    /// <summary>
    /// How the prefix starts (<see cref="PrefixConfig.Init"/>): "InitializerRange" (P-tuning v2's, the default) or
    /// "StandardNormal" (PEFT's).
    /// </summary>
    [JsonPropertyName("prefix_init")] public PrefixInit PrefixInit { get; init; }
    [JsonPropertyName("warmup")] public double Warmup { get; init; }
    /// <summary>
    /// Sort examples by length within groups of this many batches (<see cref="TrainerConfig.LengthGrouping"/>); 0 =
    /// random batches.
    /// </summary>
    [JsonPropertyName("length_grouping")] public int LengthGrouping { get; init; }
    [JsonPropertyName("max_length")] public int? MaxLength { get; init; }
    [JsonPropertyName("train_examples")] public int? TrainExamples { get; init; }
    [JsonPropertyName("eval_examples")] public int? EvalExamples { get; init; }
    /// <summary>
    /// Learning rate of full fine-tuning (FT trains 22M+ weights: P-tuning v2's prefix rates would wreck it).
    /// </summary>
    [JsonPropertyName("ft_learning_rate")] public double FineTuneLearningRate { get; init; } = 2e-5;
    /// <summary>
    /// Stop after this many epochs without a better dev score (<see cref="TrainerConfig.EarlyStoppingPatience"/>);
    /// default none.
    /// </summary>
    [JsonPropertyName("early_stopping_patience")] public int? EarlyStoppingPatience { get; init; }
    /// <summary>LoRA's rank r (<see cref="LoraConfig.Rank"/>).</summary>
    [JsonPropertyName("lora_rank")] public int LoraRank { get; init; } = 8;
    /// <summary>LoRA's α: ΔW is scaled by α / r (<see cref="LoraConfig.Alpha"/>).</summary>
    [JsonPropertyName("lora_alpha")] public double LoraAlpha { get; init; } = 8;
    /// <summary>Dropout on LoRA's input (<see cref="LoraConfig.Dropout"/>); default 0, as PEFT.</summary>
    [JsonPropertyName("lora_dropout")] public double LoraDropout { get; init; }
    /// <summary>
    /// Learning rate of LoRA (Hu et al. train RoBERTa-base's LoRA at 4e-4 to 5e-4; prefix rates would be far too high).
    /// </summary>
    [JsonPropertyName("lora_learning_rate")] public double LoraLearningRate { get; init; } = 5e-4;
    /// <summary>
    /// Checkpoint every N optimizer steps and at each epoch end (<see cref="TrainerConfig.CheckpointEverySteps"/>).
    /// </summary>
    [JsonPropertyName("checkpoint_every")] public int CheckpointEvery { get; init; } = 100;
    /// <summary>
    /// The threads the run computes with (<see cref="ExperimentConfig.Threads"/>); default 1, so that a sweep runs one
    /// run per core side by side and a run's sums add in the same order whatever ran beside it.
    /// </summary>
    [JsonPropertyName("threads")] public int Threads { get; init; } = 1;

    /// <summary>
    /// The settings out of range, each as (JSON field, what it expects, the value), so a sweep file is refused whole
    /// before its first cell trains rather than when the cell that holds the bad value starts.
    /// </summary>
    public IEnumerable<(string Field, string Expected, object? Value)> Problems()
    {
        static bool Positive(double v) => v > 0 && double.IsFinite(v);
        static bool Fraction(double v) => v is >= 0 and < 1;
        if (Epochs < 1) yield return ("epochs", "≥ 1", Epochs);
        if (BatchSize < 1) yield return ("batch_size", "≥ 1", BatchSize);
        if (!Fraction(Dropout)) yield return ("dropout", "in [0, 1)", Dropout);
        if (!(WeightDecay >= 0 && double.IsFinite(WeightDecay))) yield return ("weight_decay", "≥ 0", WeightDecay);
        if (!Fraction(Warmup)) yield return ("warmup", "in [0, 1)", Warmup);
        if (LengthGrouping < 0) yield return ("length_grouping", "≥ 0", LengthGrouping);
        if (MaxLength < MinimumMaxLength) yield return ("max_length", $"≥ {MinimumMaxLength}", MaxLength);
        if (TrainExamples < 1) yield return ("train_examples", "≥ 1", TrainExamples);
        if (EvalExamples < 1) yield return ("eval_examples", "≥ 1", EvalExamples);
        if (!Positive(FineTuneLearningRate)) yield return ("ft_learning_rate", "> 0", FineTuneLearningRate);
        if (EarlyStoppingPatience < 1) yield return ("early_stopping_patience", "≥ 1", EarlyStoppingPatience);
        if (LoraRank < 1) yield return ("lora_rank", "≥ 1", LoraRank);
        if (!Positive(LoraAlpha)) yield return ("lora_alpha", "> 0", LoraAlpha);
        if (!Fraction(LoraDropout)) yield return ("lora_dropout", "in [0, 1)", LoraDropout);
        if (!Positive(LoraLearningRate)) yield return ("lora_learning_rate", "> 0", LoraLearningRate);
        if (CheckpointEvery < 0) yield return ("checkpoint_every", "≥ 0", CheckpointEvery);
        if (Threads < 1) yield return ("threads", "≥ 1", Threads);
    }

    /// <summary>The shortest maximum length: a pair's three special tokens and one token of text.</summary>
    public const int MinimumMaxLength = 4;
}

/// <summary>A run's coordinates on a grid: the values a sweep varies.</summary>
/// <param name="LearningRate">Peak learning rate of the methods without one of their own
/// (<see cref="MethodEntry.OwnLearningRate"/>).</param>
/// <param name="PrefixLength">l (the base length of PT-2+ and PT-2*).</param>
/// <param name="Seed">The run's seed.</param>
public sealed record RunPoint(double LearningRate, int PrefixLength, int Seed);

/// <summary>
/// The one recipe from (task, method, backbone, settings, point) to a run: its <see cref="ExperimentConfig"/> and its
/// run folder. `aptnb train`, a sweep's cell, a study's run and the notebooks all build their runs here, so a sweep's
/// cell trained again with `aptnb train` and the same settings is the same run in the same folder.
/// </summary>
public static class Recipe
{
    /// <summary>A run folder's name: the method and its coordinates, e.g. <c>apt-l16-lr0.02-seed1</c>.</summary>
    public static string FolderName(string method, RunPoint point) =>
        string.Create(CultureInfo.InvariantCulture,
            $"{method}-l{point.PrefixLength}-lr{point.LearningRate:G}-seed{point.Seed}");

    /// <summary>
    /// The run folder under <paramref name="runsRoot"/>: &lt;runs&gt;/&lt;task&gt;/&lt;method&gt;-l…-lr…-seed….
    /// </summary>
    public static string Folder(string runsRoot, string task, string method, RunPoint point) =>
        Path.Combine(runsRoot, TaskRegistry.Get(task).Name, FolderName(method, point));

    /// <summary>
    /// The run's config. <paramref name="probe"/> is the gate probe of a trained APT run, read now (PT-2* only, so
    /// build a PT-2* config after that run finished). Refuses a prefix and maximum length that overrun the backbone's
    /// positions.
    /// </summary>
    public static ExperimentConfig Configure(string task, string method, string backbone, RunSettings settings,
        RunPoint point, BertConfig shape, string? probe = null)
    {
        var definition = TaskRegistry.Get(task);
        var entry = MethodCatalogue.Get(method);
        var probed = probe is null ? null : GateProbeResult.Load(probe);
        var lora = new LoraConfig
        {
            Rank = settings.LoraRank, Alpha = settings.LoraAlpha, Dropout = settings.LoraDropout,
        };
        var inputs = new MethodInputs(shape, point.PrefixLength, settings.Projection, probed, lora);
        var configured = entry.Configure(inputs);
        var prefix = configured.Prefix with { Dropout = settings.Dropout, Init = settings.PrefixInit };
        var trainer = TaskProtocol.For(definition, new TrainerConfig
        {
            Epochs = settings.Epochs, BatchSize = settings.BatchSize, WarmupRatio = settings.Warmup, Seed = point.Seed,
            LearningRate = entry.OwnLearningRate?.Invoke(settings) ?? point.LearningRate,
            LengthGrouping = settings.LengthGrouping, EarlyStoppingPatience = settings.EarlyStoppingPatience,
            WeightDecay = settings.WeightDecay, CheckpointEverySteps = settings.CheckpointEvery,
        });
        var config = new ExperimentConfig
        {
            Task = definition.Name, Data = settings.Data, Backbone = backbone, Method = entry.Name,
            Prefix = prefix, Lora = configured.Lora, Trainer = trainer,
            MaxLength = settings.MaxLength, TrainExamples = settings.TrainExamples,
            EvalExamples = settings.EvalExamples,
            HeadDropout = settings.Dropout,
            HiddenDropout = entry.LinearProbe ? 0 : settings.DropoutInBackbone ? settings.Dropout : null,
            Threads = settings.Threads,
        };
        config.CheckFits(definition, shape);
        return config;
    }
}

/// <summary>
/// Trainer settings that follow from the task, as P-tuning v2 runs them: SuperGLUE with linear decay and the best dev
/// value over epochs; NER with per-epoch exponential decay (γ = 0.95) and the test F1 at the epoch of the best dev F1.
/// </summary>
public static class TaskProtocol
{
    public static TrainerConfig For(ITaskDefinition task, TrainerConfig baseline) =>
        task.Kind == TaskKind.TokenClassification
            ? baseline with
            {
                Schedule = LearningRateDecay.Exponential, Selection = SelectionRule.TestAtBestDev,
                SelectionMetric = task.SelectionMetric,
            }
            : baseline with
            {
                Schedule = LearningRateDecay.Linear, Selection = SelectionRule.BestDev, SelectionMetric = task.SelectionMetric,
            };
}
