using System.Globalization;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using Apt.Backbone;
using Apt.Prefix;
using Apt.Tasks;

namespace Apt.Training;

/// <summary>Per-task settings of a sweep; lists are grid axes (every combination runs).</summary>
public sealed record SweepTask
{
    /// <summary>Task registry key.</summary>
    [JsonPropertyName("task")] public string Task { get; init; } = "";
    /// <summary>Folder of the task's files; default &lt;data root&gt;/&lt;task&gt;.</summary>
    [JsonPropertyName("data")] public string? Data { get; init; }
    [JsonPropertyName("epochs")] public int Epochs { get; init; } = 3;
    [JsonPropertyName("batch_size")] public int BatchSize { get; init; } = 32;
    /// <summary>Grid axis: peak learning rates.</summary>
    [JsonPropertyName("learning_rates")] public double[] LearningRates { get; init; } = [1e-2];
    /// <summary>Grid axis: prefix lengths (the base length for PT-2+ and PT-2*).</summary>
    [JsonPropertyName("prefix_lengths")] public int[] PrefixLengths { get; init; } = [16];
    /// <summary>The run's dropout: the prefix's, the head's and (see <see cref="DropoutInBackbone"/>) the backbone's hidden dropout.</summary>
    [JsonPropertyName("dropout")] public double Dropout { get; init; } = 0.1;
    /// <summary>Whether <see cref="Dropout"/> is also the frozen backbone's hidden dropout (P-tuning v2's one value); default true.</summary>
    [JsonPropertyName("dropout_in_backbone")] public bool DropoutInBackbone { get; init; } = true;
    /// <summary>AdamW's weight decay (<see cref="TrainerConfig.WeightDecay"/>); default 0, as P-tuning v2.</summary>
    [JsonPropertyName("weight_decay")] public double WeightDecay { get; init; }
    /// <summary>P-tuning v2's reparameterised prefix (<see cref="PrefixConfig.Projection"/>); its scripts turn it on for WiC on BERT only.</summary>
    [JsonPropertyName("projection")] public bool Projection { get; init; }
    /// <summary>How the prefix starts (<see cref="PrefixConfig.Init"/>): "InitializerRange" (P-tuning v2's, the default) or "StandardNormal" (PEFT's).</summary>
    [JsonPropertyName("prefix_init")] public PrefixInit PrefixInit { get; init; }
    [JsonPropertyName("warmup")] public double Warmup { get; init; }
    /// <summary>Sort examples by length within groups of this many batches (<see cref="TrainerConfig.LengthGrouping"/>); 0 = random batches.</summary>
    [JsonPropertyName("length_grouping")] public int LengthGrouping { get; init; }
    [JsonPropertyName("max_length")] public int? MaxLength { get; init; }
    [JsonPropertyName("train_examples")] public int? TrainExamples { get; init; }
    [JsonPropertyName("eval_examples")] public int? EvalExamples { get; init; }
    /// <summary>Learning rate of full fine-tuning (FT trains 22M+ weights: P-tuning v2's prefix rates would wreck it).</summary>
    [JsonPropertyName("ft_learning_rate")] public double FineTuneLearningRate { get; init; } = 2e-5;
    /// <summary>Stop after this many epochs without a better dev score (<see cref="TrainerConfig.EarlyStoppingPatience"/>); default none.</summary>
    [JsonPropertyName("early_stopping_patience")] public int? EarlyStoppingPatience { get; init; }
    /// <summary>Seeds for this task; default the sweep's.</summary>
    [JsonPropertyName("seeds")] public int[]? Seeds { get; init; }
}

/// <summary>
/// A grid of tasks × methods × seeds × hyper-parameters (learning rates, prefix lengths), read from JSON.
/// Run folders are named by their coordinates, so a sweep run again skips what is finished and resumes
/// what was interrupted. PT-2* runs after, and from the gate probe of, the APT run with the same coordinates.
/// </summary>
public sealed record SweepSpec
{
    [JsonPropertyName("name")] public string Name { get; init; } = "sweep";
    /// <summary>What the sweep is for, shown before it starts.</summary>
    [JsonPropertyName("description")] public string Description { get; init; } = "";
    /// <summary>Embedded key or Hugging Face folder; `--backbone` overrides it.</summary>
    [JsonPropertyName("backbone")] public string Backbone { get; init; } = "minilm";
    [JsonPropertyName("methods")] public string[] Methods { get; init; } = ["pt2", "apt"];
    [JsonPropertyName("seeds")] public int[] Seeds { get; init; } = [11];
    [JsonPropertyName("tasks")] public SweepTask[] Tasks { get; init; } = [];
    /// <summary>When present, the sweep is a study (<see cref="StudyPlan"/>): a search on dev, then these seeds at each method's best setting.</summary>
    [JsonPropertyName("study")] public StudyBlock? Study { get; init; }

    static readonly JsonSerializerOptions Json = new()
    {
        ReadCommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true, Converters = { new JsonStringEnumConverter() },
    };

    /// <summary>Built-in sweeps (lib/Apt/Training/Presets/*.json): quickstart, full-grid and P-tuning v2's settings per backbone.</summary>
    public static IReadOnlyList<string> Presets =>
        [.. typeof(SweepSpec).Assembly.GetManifestResourceNames().Where(n => n.StartsWith(PresetPrefix, StringComparison.Ordinal)).Select(n => n[PresetPrefix.Length..^".json".Length]).Order()];

    const string PresetPrefix = "Apt.Presets.";

    /// <summary>The grid a sweep leaves in its runs folder: what `apt sweep --status` and `apt report` compare the run folders with, and what an array's tasks run.</summary>
    public const string FileName = "sweep.json";

    /// <summary>Writes this grid to <paramref name="runsRoot"/>/sweep.json (atomically); returns the file.</summary>
    public string SaveIn(string runsRoot)
    {
        string path = Path.Combine(runsRoot, FileName);
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(this, new JsonSerializerOptions { WriteIndented = true }));
        return path;
    }

    /// <summary>The grid saved in <paramref name="runsRoot"/> (see <see cref="SaveIn"/>), or null when there is none.</summary>
    public static SweepSpec? SavedIn(string runsRoot)
    {
        string path = Path.Combine(runsRoot, FileName);
        return File.Exists(path) ? Parse(File.ReadAllText(path), path) : null;
    }

    /// <summary>A built-in preset by name, or a JSON file.</summary>
    public static SweepSpec Load(string presetOrFile)
    {
        if (File.Exists(presetOrFile)) return Parse(File.ReadAllText(presetOrFile), presetOrFile);
        using var stream = typeof(SweepSpec).Assembly.GetManifestResourceStream(PresetPrefix + presetOrFile + ".json")
            ?? throw new FileNotFoundException($"'{presetOrFile}' is neither a sweep file nor a preset ({string.Join(", ", Presets)})");
        return Parse(new StreamReader(stream).ReadToEnd(), $"preset {presetOrFile}");
    }

    /// <summary>Parses and checks a sweep; errors name the source, the line and the field.</summary>
    public static SweepSpec Parse(string json, string source)
    {
        SweepSpec? spec;
        try { spec = JsonSerializer.Deserialize<SweepSpec>(json, Json); }
        catch (JsonException e) { throw new InvalidDataException($"{source}: line {e.LineNumber + 1}: {e.Message}", e); }
        if (spec is null || spec.Tasks.Length == 0) throw new InvalidDataException($"{source}: a sweep needs at least one entry in \"tasks\"");
        if (!IsSafeName(spec.Name))
            throw new InvalidDataException($"{source}: name '{spec.Name.ReplaceLineEndings("\\n")}' is not a plain name: it becomes the runs " +
                "folder runs/<name> and the Slurm job's name, so it may hold only letters, digits, '.', '_' and '-' (at most 64, " +
                "not starting with '.' or '-')");
        foreach (string method in spec.Methods)
            if (!Training.Methods.Names.Contains(method))
                throw new InvalidDataException($"{source}: unknown method '{method}' (expected {string.Join(", ", Training.Methods.Names)})");
        foreach (var task in spec.Tasks)
        {
            if (!TaskRegistry.Names.Contains(task.Task))
                throw new InvalidDataException($"{source}: unknown task '{task.Task}' (expected {string.Join(", ", TaskRegistry.Names)})");
            if (task.LearningRates.Length == 0 || task.PrefixLengths.Length == 0 || task.Epochs < 1 || task.BatchSize < 1)
                throw new InvalidDataException($"{source}: task '{task.Task}' needs epochs ≥ 1, batch_size ≥ 1, and non-empty learning_rates and prefix_lengths");
            if (task.Dropout is not (>= 0 and < 1) || !(task.WeightDecay >= 0 && double.IsFinite(task.WeightDecay)))
                throw new InvalidDataException($"{source}: task '{task.Task}' needs dropout in [0, 1) and weight_decay ≥ 0 (got {task.Dropout}, {task.WeightDecay})");
        }
        if (spec.Methods.Contains("pt2star") && !spec.Methods.Contains("apt"))
            throw new InvalidDataException($"{source}: pt2star derives its prefix lengths from APT's gate probe, so the sweep must also run apt");
        StudyPlan.Of(spec, source); // checks the study block, if any
        return spec;
    }

    /// <summary>
    /// Whether <paramref name="name"/> is safe as one path segment and as script text: a sweep file is shared between
    /// people, so its name must not climb out of the runs folder ("../x") or carry a newline into the sbatch script.
    /// </summary>
    public static bool IsSafeName(string name) =>
        name.Length is > 0 and <= 64 && name[0] is not ('.' or '-') && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');

    /// <summary>Every run of the grid in execution order (APT before PT-2*), with its folder under <paramref name="runsRoot"/>.</summary>
    public IReadOnlyList<SweepRun> Expand(string runsRoot, string? backbone = null)
    {
        var runs = new List<SweepRun>();
        var order = Methods.OrderBy(m => m == "pt2star" ? 1 : 0).ToList();
        foreach (var task in Tasks)
            foreach (double lr in task.LearningRates)
                foreach (int length in task.PrefixLengths)
                    foreach (string method in order)
                        foreach (int seed in task.Seeds ?? Seeds)
                        {
                            string folder = Path.Combine(runsRoot, task.Task, SweepRun.FolderName(method, length, lr, seed));
                            string? probeFrom = method == "pt2star" ? Path.Combine(runsRoot, task.Task, SweepRun.FolderName("apt", length, lr, seed), Experiment.ProbeFileName) : null;
                            runs.Add(new SweepRun(task, method, seed, lr, length, backbone ?? Backbone, folder, probeFrom));
                        }
        return runs;
    }
}

/// <summary>One point of a sweep's grid.</summary>
public sealed record SweepRun(SweepTask Settings, string Method, int Seed, double LearningRate, int PrefixLength, string Backbone, string Folder, string? ProbeFrom)
{
    public bool IsFinished => File.Exists(Path.Combine(Folder, "result.json"));

    /// <summary>A run folder's name: the method and its coordinates, e.g. <c>apt-l16-lr0.02-seed1</c>.</summary>
    public static string FolderName(string method, int prefixLength, double learningRate, int seed) =>
        string.Create(CultureInfo.InvariantCulture, $"{method}-l{prefixLength}-lr{learningRate:G}-seed{seed}");

    /// <summary>The run's experiment config (PT-2* reads its APT probe now, so call it after that run finished).</summary>
    public ExperimentConfig Configure(BertConfig backbone)
    {
        var task = TaskRegistry.Get(Settings.Task);
        var probe = ProbeFrom is null ? null : GateProbeResult.Load(ProbeFrom);
        var prefix = Methods.Prefix(Method, backbone, PrefixLength, Settings.Dropout, probe, Settings.Projection) with { Init = Settings.PrefixInit };
        double lr = prefix.Method == PrefixMethod.FineTune ? Settings.FineTuneLearningRate : LearningRate;
        var trainer = TaskProtocol.For(task, new TrainerConfig
        {
            Epochs = Settings.Epochs, BatchSize = Settings.BatchSize, LearningRate = lr, WarmupRatio = Settings.Warmup, Seed = Seed,
            LengthGrouping = Settings.LengthGrouping, EarlyStoppingPatience = Settings.EarlyStoppingPatience, WeightDecay = Settings.WeightDecay,
        });
        return new ExperimentConfig
        {
            Task = task.Name, Data = Settings.Data, Backbone = Backbone, Method = Method, Prefix = prefix, Trainer = trainer,
            MaxLength = Settings.MaxLength, TrainExamples = Settings.TrainExamples, EvalExamples = Settings.EvalExamples, HeadDropout = Settings.Dropout,
            HiddenDropout = Settings.DropoutInBackbone ? Settings.Dropout : null,
        };
    }
}

/// <summary>
/// Runs a sweep's grid with one <see cref="Experiment"/>: finished runs are skipped, interrupted ones resume. Each run
/// trains under its folder's <see cref="RunFolderLock"/>, so sweeps sharing a runs folder (two processes, or the tasks of
/// a batch-job array, one cell each) never train a cell twice: a cell another live process holds is left to it and
/// come back to at the end, when this sweep waits for it (as <see cref="RunLockOptions.Wait"/> says) and reads its result.
/// </summary>
public static class SweepRunner
{
    /// <summary>A run's failure, written to its folder when it throws and removed once it finishes (what `apt sweep --status` shows).</summary>
    public const string FailureFileName = "failure.json";

    /// <summary>Runs every point of <paramref name="spec"/>; <paramref name="skipped"/> hears of each finished run left alone.</summary>
    public static IReadOnlyList<ExperimentOutcome> Run(SweepSpec spec, Experiment experiment, string runsRoot, string? backbone = null, Action<SweepRun>? skipped = null, RunLockOptions? locks = null)
        => RunAll(spec.Expand(runsRoot, backbone), experiment, skipped, locks);

    /// <summary>
    /// Trains <paramref name="cells"/> in order under their locks; a cell another live process holds (or a PT-2* cell whose
    /// APT probe comes from one) is left to it and waited for at the end. Returns the outcomes in the cells' order.
    /// </summary>
    public static IReadOnlyList<ExperimentOutcome> RunAll(IReadOnlyList<SweepRun> cells, Experiment experiment, Action<SweepRun>? skipped = null, RunLockOptions? locks = null)
    {
        locks ??= new RunLockOptions();
        var outcomes = new ExperimentOutcome?[cells.Count];
        var heldElsewhere = new List<int>();
        for (int i = 0; i < cells.Count; i++)
        {
            var cell = cells[i];
            bool probeHeld = cell.ProbeFrom is { } probe && !File.Exists(probe) && heldElsewhere.Any(h => cells[h].Folder == Path.GetDirectoryName(probe));
            using var claim = probeHeld ? null : RunFolderLock.TryAcquire(cell.Folder, locks, out _);
            if (claim is null) { heldElsewhere.Add(i); continue; }
            outcomes[i] = Train(cell, experiment, skipped);
        }
        var refused = new List<RunFolderBusyException>();
        foreach (int i in heldElsewhere)
        {
            try
            {
                using var claim = RunFolderLock.Acquire(cells[i].Folder, locks);
                outcomes[i] = Train(cells[i], experiment, skipped);
            }
            catch (RunFolderBusyException busy) { refused.Add(busy); }
        }
        if (refused.Count > 0)
            throw new RunFolderBusyException($"{refused.Count} of {cells.Count} runs ({string.Join("; ", refused.Select(r => r.Message))})", null);
        return [.. outcomes.Select(o => o!)];
    }

    /// <summary>
    /// Runs cell <paramref name="index"/> of the grid (its position in <see cref="SweepSpec.Expand"/>) alone, as one task of a
    /// batch-job array does; a PT-2* cell first runs (or waits for) the APT cell its probe comes from, whose outcome comes first.
    /// </summary>
    public static IReadOnlyList<ExperimentOutcome> RunCell(SweepSpec spec, Experiment experiment, string runsRoot, int index, string? backbone = null, Action<SweepRun>? skipped = null, RunLockOptions? locks = null)
    {
        locks ??= new RunLockOptions();
        var cells = spec.Expand(runsRoot, backbone);
        if (index < 0 || index >= cells.Count)
            throw new ArgumentException($"cell {index} is not in the grid '{spec.Name}': it has {cells.Count} cells, 0 to {cells.Count - 1}");
        var cell = cells[index];
        var outcomes = new List<ExperimentOutcome>();
        if (cell.ProbeFrom is { } probe && cells.FirstOrDefault(c => c.Folder == Path.GetDirectoryName(probe)) is { } apt)
        {
            using var prerequisite = RunFolderLock.Acquire(apt.Folder, locks);
            outcomes.Add(Train(apt, experiment, skipped));
        }
        using var claim = RunFolderLock.Acquire(cell.Folder, locks);
        outcomes.Add(Train(cell, experiment, skipped));
        return outcomes;
    }

    /// <summary>Trains, resumes or reads back <paramref name="cell"/> (its lock held); a failure is recorded in the folder before it propagates.</summary>
    static ExperimentOutcome Train(SweepRun cell, Experiment experiment, Action<SweepRun>? skipped)
    {
        if (cell.IsFinished) skipped?.Invoke(cell);
        string failure = Path.Combine(cell.Folder, FailureFileName);
        try
        {
            var outcome = experiment.Run(cell.Configure(experiment.Frozen(cell.Backbone).Config), cell.Folder);
            File.Delete(failure);
            return outcome;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            AtomicFile.WriteAllText(failure, JsonSerializer.Serialize(new RunFailure(e.Message, e.GetType().Name, DateTimeOffset.UtcNow), TrainingJson.Indented));
            throw;
        }
    }
}

/// <summary>What <see cref="SweepRunner.FailureFileName"/> holds.</summary>
public sealed record RunFailure(string Message, string Kind, DateTimeOffset When);

/// <summary>Smaller versions of a sweep, for smoke runs (the notebooks' small mode, tests).</summary>
public static class SweepShrink
{
    /// <summary>
    /// The same grid with at most <paramref name="trainExamples"/> training and <paramref name="evalExamples"/>
    /// evaluation examples per task, <paramref name="epochs"/> epochs and the first <paramref name="seeds"/> seeds.
    /// </summary>
    public static SweepSpec Shrink(this SweepSpec spec, int trainExamples, int evalExamples, int epochs, int seeds) => spec with
    {
        Name = spec.Name + "-small",
        Seeds = [.. spec.Seeds.Take(seeds)],
        Tasks = [.. spec.Tasks.Select(t => t with
        {
            TrainExamples = Math.Min(t.TrainExamples ?? int.MaxValue, trainExamples),
            EvalExamples = Math.Min(t.EvalExamples ?? int.MaxValue, evalExamples),
            Epochs = Math.Min(t.Epochs, epochs),
            Seeds = t.Seeds is null ? null : [.. t.Seeds.Take(seeds)],
        })],
    };
}
