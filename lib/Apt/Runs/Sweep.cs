using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using Apt.Backbone;
using Apt.Tasks;
using Apt.Training;

namespace Apt.Runs;

/// <summary>
/// Per-task entry of a sweep: the run settings (<see cref="RunSettings"/>, the same fields `aptnb train` takes as
/// options) and the grid axes (every combination runs).
/// </summary>
public sealed record SweepTask : RunSettings
{
    /// <summary>Task registry key.</summary>
    [JsonPropertyName("task")] public string Task { get; init; } = "";
    /// <summary>Grid axis: peak learning rates.</summary>
    [JsonPropertyName("learning_rates")] public double[] LearningRates { get; init; } = [1e-2];
    /// <summary>Grid axis: prefix lengths (the base length for PT-2+ and PT-2*).</summary>
    [JsonPropertyName("prefix_lengths")] public int[] PrefixLengths { get; init; } = [16];
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
    [JsonPropertyName("methods")] public string[] Methods { get; init; } = [MethodCatalogue.PTuningV2.Name, MethodCatalogue.Apt.Name];
    [JsonPropertyName("seeds")] public int[] Seeds { get; init; } = [11];
    [JsonPropertyName("tasks")] public SweepTask[] Tasks { get; init; } = [];
    /// <summary>When present, the sweep is a study (<see cref="StudyPlan"/>): a search on dev, then these seeds at each method's best setting.</summary>
    [JsonPropertyName("study")] public StudyBlock? Study { get; init; }

    static readonly JsonSerializerOptions Json = new()
    {
        ReadCommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true, Converters = { new JsonStringEnumConverter() },
        RespectNullableAnnotations = true,
    };

    /// <summary>Built-in sweeps (lib/Apt/Runs/Presets/*.json): quickstart, full-grid and P-tuning v2's settings per backbone.</summary>
    public static IReadOnlyList<string> Presets =>
        [.. typeof(SweepSpec).Assembly.GetManifestResourceNames().Where(n => n.StartsWith(PresetPrefix, StringComparison.Ordinal)).Select(n => n[PresetPrefix.Length..^".json".Length]).Order()];

    const string PresetPrefix = "Apt.Presets.";

    /// <summary>The grid a sweep leaves in its runs folder: what `aptnb sweep --status` and `aptnb report` compare the
    /// run folders with, and what an array's tasks run.</summary>
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
        return File.Exists(path) ? Parse(InputFile.ReadAllText(path), path) : null;
    }

    /// <summary>A built-in preset by name, or a JSON file.</summary>
    public static SweepSpec Load(string presetOrFile)
    {
        if (File.Exists(presetOrFile)) return Parse(InputFile.ReadAllText(presetOrFile), presetOrFile);
        using var stream = typeof(SweepSpec).Assembly.GetManifestResourceStream(PresetPrefix + presetOrFile + ".json")
            ?? throw new FileNotFoundException($"'{presetOrFile}' is neither a sweep file nor a preset ({string.Join(", ", Presets)})");
        return Parse(new StreamReader(stream).ReadToEnd(), $"preset {presetOrFile}");
    }

    /// <summary>Parses and checks a sweep; errors name the source, the line and the field.</summary>
    public static SweepSpec Parse(string json, string source)
    {
        SweepSpec? spec;
        try { spec = JsonSerializer.Deserialize<SweepSpec>(json, Json); }
        catch (JsonException e) { throw new InvalidDataException($"{source}: line {e.LineNumber + 1}: " +
            $"{TrainingJson.Reason(e)}", e); }
        if (spec is null || spec.Tasks.Length == 0) throw new InvalidDataException($"{source}: a sweep needs at least one entry in \"tasks\"");
        if (!IsSafeName(spec.Name))
            throw new InvalidDataException($"{source}: name '{spec.Name.ReplaceLineEndings("\\n")}' is not a plain name: it becomes the runs " +
                "folder runs/<name> and the Slurm job's name, so it may hold only letters, digits, '.', '_' and '-' (at most 64, " +
                "not starting with '.' or '-')");
        spec.Check(source);
        if (spec.Methods.FirstOrDefault(m => MethodCatalogue.Get(m).NeedsProbe) is { } probed && !spec.Methods.Contains(MethodCatalogue.Apt.Name))
            throw new InvalidDataException($"{source}: {probed} derives its prefix lengths from APT's gate probe, so the sweep must also run {MethodCatalogue.Apt.Name}");
        StudyPlan.Of(spec, source); // checks the study block, if any
        return spec;
    }

    /// <summary>
    /// Checks the whole grid (methods, seeds, every task's settings and axes) so that a bad value is refused before the
    /// first cell trains; each error names <paramref name="source"/> and the field.
    /// </summary>
    void Check(string source)
    {
        InvalidDataException Error(string field, string message) => new($"{source}: {field}: {message}");
        if (Methods.Length == 0) throw Error("methods", "expected at least one method");
        if (Array.FindIndex(Methods, m => MethodCatalogue.Find(m) is null) is var unknown and >= 0)
            throw Error("methods",
                $"unknown method '{Methods[unknown]}' (expected {string.Join(", ", MethodCatalogue.Names)})");
        if (Seeds.Length == 0) throw Error("seeds", "expected at least one seed");
        var prefixMethods = Methods.Where(m => MethodCatalogue.Get(m).UsesPrefixLength).ToList();
        for (int i = 0; i < Tasks.Length; i++)
        {
            var task = Tasks[i] ?? throw Error($"tasks[{i}]", "expected a task entry, not null");
            string at = $"tasks[{i}] ({task.Task})";
            if (!TaskRegistry.Names.Contains(task.Task))
                throw Error($"tasks[{i}].task",
                    $"unknown task '{task.Task}' (expected {string.Join(", ", TaskRegistry.Names)})");
            if (task.Problems().FirstOrDefault() is { Field: not null } problem)
                throw Error($"{at}.{problem.Field}", $"expected {problem.Expected}, got {problem.Value}");
            if (task.LearningRates is not { Length: > 0 } rates || rates.Any(r => !(r > 0 && double.IsFinite(r))))
                throw Error($"{at}.learning_rates",
                    $"expected a non-empty list of rates > 0, got [{string.Join(", ", task.LearningRates ?? [])}]");
            if (task.PrefixLengths is not { Length: > 0 } lengths || lengths.Any(l => l < 0))
                throw Error($"{at}.prefix_lengths",
                    $"expected a non-empty list of lengths ≥ 0, got [{string.Join(", ", task.PrefixLengths ?? [])}]");
            if (prefixMethods.Count > 0 && lengths.Contains(0))
                throw Error($"{at}.prefix_lengths",
                    $"0 with method '{prefixMethods[0]}', which trains a prefix: a length of 0 " +
                    $"trains only the head and would be recorded as {MethodCatalogue.Label(prefixMethods[0])}; " +
                        $"use lengths ≥ 1, " +
                    $"and method '{MethodCatalogue.HeadOnly.Name}' for head-only training");
            if (task.Seeds is { Length: 0 }) throw Error($"{at}.seeds",
                "expected at least one seed (or no \"seeds\" for the sweep's)");
        }
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
        var order = Methods.OrderBy(m => MethodCatalogue.Get(m).NeedsProbe ? 1 : 0).ToList();
        foreach (var task in Tasks)
            foreach (double lr in task.LearningRates)
                foreach (int length in task.PrefixLengths)
                    foreach (string method in order)
                        foreach (int seed in task.Seeds ?? Seeds)
                            runs.Add(SweepRun.At(runsRoot, task, method, new RunPoint(lr, length, seed), backbone ?? Backbone));
        return runs;
    }
}

/// <summary>One point of a sweep's grid.</summary>
public sealed record SweepRun(SweepTask Settings, string Method, int Seed, double LearningRate, int PrefixLength, string Backbone, string Folder, string? ProbeFrom)
{
    public bool IsFinished => File.Exists(Path.Combine(Folder, "result.json"));

    /// <summary>The grid coordinates.</summary>
    public RunPoint Point => new(LearningRate, PrefixLength, Seed);

    /// <summary>
    /// The cell of <paramref name="method"/> at <paramref name="point"/> under <paramref name="runsRoot"/>, in the recipe's
    /// folder; a method built from a gate probe reads that of the APT cell at <paramref name="aptPoint"/> (default: the same point).
    /// </summary>
    public static SweepRun At(string runsRoot, SweepTask task, string method, RunPoint point, string backbone, RunPoint? aptPoint = null)
    {
        string? probe = MethodCatalogue.Get(method).NeedsProbe
            ? Path.Combine(Recipe.Folder(runsRoot, task.Task, MethodCatalogue.Apt.Name, aptPoint ?? point), Experiment.ProbeFileName) : null;
        return new SweepRun(task, method, point.Seed, point.LearningRate, point.PrefixLength, backbone, Recipe.Folder(runsRoot, task.Task, method, point), probe);
    }

    /// <summary>The run's experiment config by the recipe (PT-2* reads its APT probe now, so call it after that run finished).</summary>
    public ExperimentConfig Configure(BertConfig backbone) => Recipe.Configure(Settings.Task, Method, Backbone, Settings, Point, backbone, ProbeFrom);
}

/// <summary>
/// Runs a sweep's grid with one <see cref="Experiment"/>: finished runs are skipped, interrupted ones resume. Each run
/// trains under its folder's <see cref="RunFolderLock"/>, so sweeps sharing a runs folder (two processes, or the tasks of
/// a batch-job array, one cell each) never train a cell twice: a cell another live process holds is left to it and
/// come back to at the end, when this sweep waits for it (as <see cref="RunLockOptions.Wait"/> says) and reads its result.
/// </summary>
public static class SweepRunner
{
    /// <summary>A run's failure, written to its folder when it throws and removed once it finishes (what
    /// `aptnb sweep --status` shows).</summary>
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

    /// <summary>
    /// Trains, resumes or reads back <paramref name="cell"/> under its lock: waiting for it as <paramref name="locks"/>
    /// say, or, unless <paramref name="wait"/>, returning null at once when another live process holds it.
    /// </summary>
    public static ExperimentOutcome? RunOne(SweepRun cell, Experiment experiment, RunLockOptions locks, bool wait,
        Action<SweepRun>? skipped = null)
    {
        using var claim = wait ? RunFolderLock.Acquire(cell.Folder, locks)
            : RunFolderLock.TryAcquire(cell.Folder, locks, out _);
        return claim is null ? null : Train(cell, experiment, skipped);
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
        catch (Exception e) when (e is not (OutOfMemoryException or RunStoppedException))
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
