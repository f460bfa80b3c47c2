using System.Text.Json.Serialization;
using Apt.Backbone;
using Apt.Lora;
using Apt.Prefix;
using Apt.Runs;
using Apt.Tasks;
using TorchSharp;
using static TorchSharp.torch;

namespace Apt.Training;

/// <summary>
/// One run of the paper's grid: a task on a backbone with a method, under a trainer config. Serialised as
/// the run's config.json, so a run folder says exactly what produced it and `aptnb train --resume` rebuilds it.
/// </summary>
public sealed record ExperimentConfig
{
    /// <summary>Task registry key (TaskRegistry.Names), e.g. "wordnet-wic", "brown-ner", "rte", "conll04".</summary>
    [JsonPropertyName("task")] public string Task { get; init; } = "wordnet-wic";

    /// <summary>Folder with the task's split files. Default: data/&lt;task&gt; under the repository's data folder.</summary>
    [JsonPropertyName("data")] public string? Data { get; init; }

    /// <summary>Embedded backbone key ("minilm", "arctic-xs") or a Hugging Face model folder. Default "minilm".</summary>
    [JsonPropertyName("backbone")] public string Backbone { get; init; } = "minilm";

    /// <summary>The method's short name (MethodCatalogue), e.g. "pt2" or "apt".</summary>
    [JsonPropertyName("method")] public string Method { get; init; } = "apt";

    /// <summary>The prefix method's full configuration (what the short name expands to).</summary>
    [JsonPropertyName("prefix")] public PrefixConfig Prefix { get; init; } = PrefixConfig.Apt();

    /// <summary>LoRA on the frozen backbone's projections, for the LoRA method; absent (null) otherwise.</summary>
    [JsonPropertyName("lora"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public LoraConfig? Lora { get; init; }

    /// <summary>Optimisation, schedule, seed and selection.</summary>
    [JsonPropertyName("trainer")] public TrainerConfig Trainer { get; init; } = new();

    /// <summary>Maximum sequence length in tokens; default the task's (P-tuning v2: 128, 152 for CoNLL03).</summary>
    [JsonPropertyName("max_length")] public int? MaxLength { get; init; }

    /// <summary>Use only the first N training examples (file order); default all.</summary>
    [JsonPropertyName("train_examples")] public int? TrainExamples { get; init; }

    /// <summary>Use only the first N dev and test examples; default all.</summary>
    [JsonPropertyName("eval_examples")] public int? EvalExamples { get; init; }

    /// <summary>Dropout of the task head (P-tuning v2 uses the backbone's hidden_dropout_prob, 0.1).</summary>
    [JsonPropertyName("head_dropout")] public double HeadDropout { get; init; } = 0.1;

    /// <summary>
    /// The frozen backbone's hidden dropout while this run trains (after the embeddings, each attention output and each
    /// feed-forward output); null keeps the checkpoint's hidden_dropout_prob. P-tuning v2 sets hidden_dropout_prob to its
    /// one --hidden_dropout_prob before building the model, so the run's dropout is also the backbone's: the CLI and
    /// sweeps set it so unless told otherwise. A config.json written before the field existed reads as null, which is
    /// how it trained.
    /// </summary>
    [JsonPropertyName("hidden_dropout")] public double? HiddenDropout { get; init; }

    /// <summary>
    /// The threads this run computes with (<see cref="TorchRuntime.UseThreads"/>). Recorded because libtorch's sums add
    /// in another order with another count, so a run repeats bit for bit only with the same one; null (a config.json
    /// written before the field): one per core.
    /// </summary>
    [JsonPropertyName("threads"),
        JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public int? Threads { get; init; }

    /// <summary>Batch size of evaluation passes (no graph is kept, so it may exceed the training batch).</summary>
    [JsonPropertyName("eval_batch_size")] public int EvalBatchSize { get; init; } = 64;

    /// <summary>The data folder, resolved.</summary>
    public string DataFolder(string dataRoot) => Data ?? Path.Combine(dataRoot, Task);

    /// <summary>
    /// <paramref name="run"/>'s config.json, checked (<see cref="Check"/>): every reader of a run folder that rebuilds
    /// or labels its run reads it here. </summary>
    public static ExperimentConfig Read(RunFolder run)
    {
        var config = run.ReadConfig<ExperimentConfig>();
        config.Check(run.ConfigPath);
        return config;
    }

    /// <summary>
    /// Refuses a method that is not in the catalogue, and a method whose prefix length disagrees with it: a prefix
    /// method with length 0 trains only the head, and would be labelled as what it is not.
    /// </summary>
    public void Check(string source)
    {
        var entry = MethodCatalogue.Find(Method) ?? throw new InvalidDataException(
            $"{source}: unknown method '{Method}' (expected one of {string.Join(", ", MethodCatalogue.Names)})");
        if (entry.UsesPrefixLength && Prefix.MaxLength < 1)
            throw new InvalidDataException($"{source}: method '{Method}' ({entry.Label}) trains a prefix, but its " +
                $"prefix length is " +
                $"{Prefix.MaxLength}, which trains only the head; expected prefix_length ≥ 1, or method " +
                    $"'{MethodCatalogue.HeadOnly.Name}'");
        if (!entry.UsesPrefixLength && Prefix.MaxLength != 0)
            throw new InvalidDataException(
                $"{source}: method '{Method}' ({entry.Label}) trains no prefix, but its prefix length is " +
                    $"{Prefix.MaxLength}; expected 0");
    }

    /// <summary>Refuses a prefix and maximum length that overrun <paramref name="backbone"/>'s positions (the backbone's rule).</summary>
    public void CheckFits(ITaskDefinition task, BertConfig backbone) => backbone.CheckPositions(Prefix.PositionOffset, MaxLength ?? task.MaxLength);
}

/// <summary>Where a finished experiment left its files.</summary>
public sealed record ExperimentOutcome(RunResult Result, string RunFolder, string AdapterPath, string? ProbePath);

/// <summary>
/// Runs experiments: reads and casts the task's data, builds the method's prefix and the task's head on the
/// backbone, trains with <see cref="Trainer"/> (resuming a run folder that has checkpoints), then writes the
/// adapter file and, for gated methods, the gate probe over the dev split.
/// </summary>
public sealed class Experiment : ITrainingEvents, IDisposable
{
    /// <summary>The adapter file in a run folder (with adapter.json beside it).</summary>
    public const string AdapterFileName = "adapter.safetensors";
    /// <summary>A LoRA run's adapter in PEFT's layout (adapter_config.json, adapter_model.safetensors), in a run folder.</summary>
    public const string PeftLoraFolder = "peft-lora";
    /// <summary>The gate probe in a run folder (with gate-probe.csv beside it).</summary>
    public const string ProbeFileName = "gate-probe.json";

    readonly string _dataRoot;
    readonly Dictionary<string, PretrainedBackbone> _frozen = [];
    readonly Dictionary<string, FrozenFeatures> _features = [];

    /// <param name="dataRoot">The data folder that task folders default to (data/ of the repository).</param>
    public Experiment(string dataRoot) => _dataRoot = dataRoot;

    /// <summary>
    /// When cancelled, the run in progress stops at its next safe point (<see cref="Trainer.Stop"/>) and a run not yet
    /// started does not start: both throw <see cref="RunStoppedException"/>. Default never.
    /// </summary>
    public CancellationToken Stop { get; init; }

    /// <summary>Wall time of this experiment's runs per phase (backbone load, data and model build, steps, evaluation, …).</summary>
    public PhaseTimes Profile { get; } = new();

    /// <summary>The backbone passes of this experiment's runs, by shape (what the benchmark's FLOP
    /// model reads).</summary>
    public WorkLog Work { get; } = new();

    /// <summary>After every optimizer step of any run.</summary>
    public event Action<ExperimentConfig, TrainingProgress>? StepCompleted;
    /// <summary>After every epoch of any run.</summary>
    public event Action<ExperimentConfig, EpochSummary>? EpochCompleted;
    /// <summary>Warnings of the trainer (e.g. a damaged checkpoint was skipped).</summary>
    public event Action<string>? Warning;

    /// <summary>Trains (or resumes, or just reads back) the run in <paramref name="runFolder"/>.</summary>
    public ExperimentOutcome Run(ExperimentConfig config, string runFolder)
    {
        TorchRuntime.EnsureLoaded();
        var task = TaskRegistry.Get(config.Task);
        config.Check(Path.Combine(runFolder, "config.json"));
        if (Stop.IsCancellationRequested) throw new RunStoppedException(runFolder,
            $"stopped before {Path.GetFullPath(runFolder)} started");
        var run = RunFolder.OpenOrCreate(runFolder, config);
        if (Finished(run.Path) is { } finished) return finished; // finished earlier: nothing to do
        string adapter = Path.Combine(run.Path, AdapterFileName), probe = Path.Combine(run.Path, ProbeFileName);
        TorchRuntime.UseThreads(config.Threads);
        // FT changes the backbone's weights: it gets a copy of its own; the frozen ones are shared across runs.
        bool fineTune = config.Prefix.Method == PrefixMethod.FineTune;
        var backbone = fineTune ? Profile.Time("backbone load", () => PretrainedBackbone.Load(config.Backbone)) : Frozen(config.Backbone);
        try
        {
            var (built, featuresBefore) = (System.Diagnostics.Stopwatch.StartNew(), FeatureTime());
            using var trainable = Build(config, task, backbone);
            // features have a phase of their own
            Profile.Add("data and model build", built.Elapsed - (FeatureTime() - featuresBefore));
            var trainer = new Trainer(config.Trainer) { Profile = Profile, Stop = Stop };
            trainer.StepCompleted += p => StepCompleted?.Invoke(config, p);
            trainer.EpochCompleted += e => EpochCompleted?.Invoke(config, e);
            trainer.Warning += w => Warning?.Invoke(w);
            foreach (string note in trainable.TruncationNotes) Warning?.Invoke(note);
            var result = trainer.Run(trainable, run, trainable.Model.ParameterCounts());
            var outputs = System.Diagnostics.Stopwatch.StartNew();
            trainable.LoadSelected(run);
            AdapterFile.Save(adapter, trainable.Model, config.Prefix, backbone.Config, backbone.Identity, trainable.Model.Head.GetType().Name, config.Lora);
            if (trainable.Model.Lora is { } lora) PeftLora.Export(lora, Path.Combine(run.Path, PeftLoraFolder), backbone.Identity.Name);
            bool gated = trainable.Model.Prefix is { } prefix && (prefix.Config.HasTokenGate || prefix.Config.HasLayerGate);
            if (gated)
            {
                var gates = trainable.Probe();
                gates.SaveCsv(Path.ChangeExtension(probe, ".csv"));
                gates.SaveJson(probe);
            }
            Profile.Add("adapter and gate probe", outputs.Elapsed);
            return new ExperimentOutcome(result, run.Path, adapter, gated ? probe : null);
        }
        finally
        {
            if (fineTune) backbone.Dispose();
        }
    }

    /// <summary>The outcome of the run in <paramref name="runFolder"/> if it has finished (result and adapter written),
    /// else null.</summary>
    public static ExperimentOutcome? Finished(string runFolder)
    {
        if (!File.Exists(Path.Combine(runFolder, "config.json"))) return null;
        var run = RunFolder.Open(runFolder);
        string adapter = Path.Combine(run.Path, AdapterFileName), probe = Path.Combine(run.Path, ProbeFileName);
        return run.IsFinished && File.Exists(adapter)
            ? new ExperimentOutcome(run.ReadResult(), run.Path, adapter, File.Exists(probe) ? probe : null)
            : null;
    }

    /// <summary>
    /// A finished run's model, rebuilt from its config.json with the selected epoch's tensors, for evaluation,
    /// predictions and probes. Dispose it after use.
    /// </summary>
    public TaskTrainable Open(string runFolder)
    {
        TorchRuntime.EnsureLoaded();
        var run = RunFolder.Open(runFolder);
        if (!run.IsFinished) throw new InvalidDataException($"{runFolder}: the run has not finished (no " +
            $"result.json); resume it with aptnb train --resume {runFolder}");
        var config = ExperimentConfig.Read(run);
        TorchRuntime.UseThreads(config.Threads);
        if (config.Prefix.Method == PrefixMethod.FineTune)
            throw new ArgumentException($"{runFolder}: a full fine-tuning run changes the backbone; open its adapter file with AdapterFile.Load on a fresh backbone instead");
        if (!File.Exists(run.SelectedTrainablePath))
            throw new FileNotFoundException($"{run.SelectedTrainablePath} not found: the finished run's " +
                $"selected weights are " +
                "missing, and the untrained model is not scored in their place; restore the file, or train the run " +
                    "again in a new folder",
                run.SelectedTrainablePath);
        var trainable = Build(config, TaskRegistry.Get(config.Task), Frozen(config.Backbone));
        trainable.LoadSelected(run);
        trainable.SetTraining(false);
        return trainable;
    }

    /// <summary>The task, data and model of <paramref name="config"/>, ready for the trainer (seeded, so a resume rebuilds the same initial tensors).</summary>
    public TaskTrainable Build(ExperimentConfig config, ITaskDefinition task, PretrainedBackbone backbone)
    {
        string folder = config.DataFolder(_dataRoot);
        int maxLength = config.MaxLength ?? task.MaxLength;
        config.CheckFits(task, backbone.Config);
        var train = Limit(task.Load(DataSplit.Train, folder), config.TrainExamples);
        var dev = Limit(task.Load(DataSplit.Validation, folder), config.EvalExamples);
        var test = config.Trainer.Selection == SelectionRule.TestAtBestDev ? Limit(task.Load(DataSplit.Test, folder), config.EvalExamples) : [];

        random.manual_seed(config.Trainer.Seed);
        // A prefix of length 0 (the head-only baseline) is no prefix: no graph is built through the frozen backbone.
        var prefix = config.Prefix.MaxLength == 0 ? null : PrefixModule.Create(config.Prefix, backbone.Config);
        var lora = config.Lora is null ? null : new LoraModule(config.Lora, backbone.Config);
        var head = task.CreateHead(backbone.Config, config.HeadDropout);
        backbone.Model.SetTrainable(config.Prefix.Method == PrefixMethod.FineTune);
        backbone.Model.HiddenDropout = config.HiddenDropout ?? backbone.Config.HiddenDropout; // the frozen backbone is shared by runs
        var model = new TunedModel(backbone.Model, prefix, head, lora);
        model.to(TorchRuntime.Device);
        var trainable = new TaskTrainable(task, model, backbone.Tokenizer, train, dev, test, maxLength,
            config.EvalBatchSize) { Work = Work };
        // Nothing below the head trains and the backbone drops nothing: the backbone's output is a fixed function of
        // each example, computed once per split and shared by the runs of this experiment.
        if (prefix is null && lora is null && config.Prefix.Method != PrefixMethod.FineTune
            && config.HiddenDropout == 0)
        {
            string key = $"{config.Backbone}|{task.Name}|{Path.GetFullPath(folder)}|{maxLength}|"
                + $"{config.TrainExamples}|{config.EvalExamples}";
            trainable.UseFrozenFeatures((split, encoded) => Features($"{key}|{split}",
                () => FrozenFeatures.Compute(task, backbone.Model, head, encoded, backbone.Tokenizer.PadId,
                    config.EvalBatchSize, Work)));
        }
        return trainable;
    }

    /// <summary>The frozen features under <paramref name="key"/> (backbone, task, data, max length, limits, split),
    /// computed once.</summary>
    FrozenFeatures Features(string key, Func<FrozenFeatures> compute)
    {
        if (!_features.TryGetValue(key, out var features))
            _features[key] = features = Profile.Time(FeaturesPhase, compute);
        return features;
    }

    const string FeaturesPhase = "frozen features (head only)";

    TimeSpan FeatureTime() => Profile.Totals.FirstOrDefault(p => p.Phase == FeaturesPhase).Elapsed;

    /// <summary>The frozen backbone <paramref name="key"/>, loaded once and shared by the runs of this experiment.</summary>
    public PretrainedBackbone Frozen(string key)
    {
        if (!_frozen.TryGetValue(key, out var backbone))
            _frozen[key] = backbone = Profile.Time("backbone load", () => PretrainedBackbone.Load(key));
        return backbone;
    }

    /// <summary>Frees the frozen backbones this experiment loaded (native memory that would otherwise wait for finalizers).</summary>
    public void Dispose()
    {
        foreach (var backbone in _frozen.Values) backbone.Dispose();
        _frozen.Clear();
        foreach (var features in _features.Values) features.Dispose();
        _features.Clear();
    }

    static IReadOnlyList<TaskExample> Limit(IReadOnlyList<TaskExample> examples, int? limit) =>
        limit is int n && n < examples.Count ? [.. examples.Take(n)] : examples;
}
