using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Apt.Tasks.Data;
using Apt.Training;

namespace Apt.Runs;

/// <summary>
/// The "study" block of a sweep file (see the preset <c>study.json</c>): instead of running the whole grid for every
/// seed, each method gets the same small search on dev (the task's learning rates × prefix lengths, over
/// <see cref="SearchSeeds"/>), and then <see cref="Seeds"/> at its best setting. The reported seeds are not the search
/// seeds, so choosing a setting on a seed does not inflate that seed's reported score (the winner's curse).
/// </summary>
public sealed record StudyBlock
{
    /// <summary>Seeds of the search; a setting's dev score is their mean.</summary>
    [JsonPropertyName("search_seeds")] public int[] SearchSeeds { get; init; } = [1];

    /// <summary>Seeds trained at each method's best setting and reported; at least 6, so that a paired sign-flip test can reach p &lt; 0.05.</summary>
    [JsonPropertyName("seeds")] public int[] Seeds { get; init; } = [2, 3, 4, 5, 6, 7];

    /// <summary>Stand-in sizes of the study, built into &lt;data root&gt;/&lt;folder&gt;; null: the tasks' own data folders.</summary>
    [JsonPropertyName("stand_ins")] public StudyStandIns? StandIns { get; init; }
}

/// <summary>
/// The study's own stand-in splits: larger dev and test sets than the quickstart's default (1,000 WiC pairs, 300 Brown
/// sentences), so that one example moves a score by a tenth of a point or less.
/// </summary>
public sealed record StudyStandIns
{
    /// <summary>Folder under the data root.</summary>
    [JsonPropertyName("folder")] public string Folder { get; init; } = "study";
    /// <summary>WiC pairs for train, validation and test (even numbers).</summary>
    [JsonPropertyName("wic_pairs")] public int[] WicPairs { get; init; } = [4000, 2000, 2000];
    /// <summary>Brown sentences for train, dev and test.</summary>
    [JsonPropertyName("ner_sentences")] public int[] NerSentences { get; init; } = [3000, 1500, 1500];
}

/// <summary>A method's chosen setting on a task: its prefix length and learning rate, with the mean dev score that chose it.</summary>
public sealed record StudyChoice(
    [property: JsonPropertyName("task")] string Task,
    [property: JsonPropertyName("method")] string Method,
    [property: JsonPropertyName("prefix_length")] int PrefixLength,
    [property: JsonPropertyName("learning_rate")] double LearningRate,
    [property: JsonPropertyName("dev")] double Dev,
    [property: JsonPropertyName("metric")] string Metric);

/// <summary>
/// A study: a sweep spec with a <see cref="StudyBlock"/>. Its runs live under two roots: <c>search/</c> (every
/// setting over the search seeds) and <c>seeds/</c> (each method at its best setting over the study's seeds), and
/// <c>choices.json</c> records what the search chose. <c>aptnb report --runs &lt;root&gt;/seeds</c> reports the study.
/// PT-2+ and PT-2* are defined from APT (its parameter count, its gate probe), so they search the learning rate at
/// APT's chosen prefix length, and each PT-2* run takes the probe of the APT run of its own seed at APT's setting.
/// </summary>
public sealed record StudyPlan(SweepSpec Spec, StudyBlock Block)
{
    public const string SearchFolder = "search", SeedsFolder = "seeds", ChoicesFile = "choices.json";

    static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    /// <summary>The study of <paramref name="spec"/>, or null when the sweep is a plain grid; errors name <paramref name="source"/>.</summary>
    public static StudyPlan? Of(SweepSpec spec, string source)
    {
        if (spec.Study is not { } block) return null;
        if (block.SearchSeeds.Length == 0 || block.Seeds.Length == 0)
            throw new InvalidDataException($"{source}: a study needs non-empty \"search_seeds\" and \"seeds\"");
        if (spec.Methods.Any(FollowsApt) && !spec.Methods.Contains(MethodCatalogue.Apt.Name))
            throw new InvalidDataException(
                $"{source}: {string.Join(" and ", spec.Methods.Where(FollowsApt))} take APT's chosen prefix length, so the study must also run {MethodCatalogue.Apt.Name}");
        return new StudyPlan(spec, block);
    }

    /// <summary>
    /// Builds the study's stand-ins under <paramref name="dataRoot"/> when missing (returning what was built) and points
    /// the stand-in tasks without a data folder of their own at them.
    /// </summary>
    public (StudyPlan Plan, IReadOnlyList<(string Name, TimeSpan Elapsed)> Built) Prepare(string dataRoot)
    {
        if (Block.StandIns is not { } sizes) return (this, []);
        if (sizes.WicPairs.Length != 3 || sizes.NerSentences.Length != 3)
            throw new InvalidDataException("study.stand_ins: wic_pairs and ner_sentences need three sizes each (train, dev, test)");
        string root = DataRoot(dataRoot);
        var built = StandInBuilder.EnsureBuilt(root,
            new() { Train = sizes.WicPairs[0], Validation = sizes.WicPairs[1], Test = sizes.WicPairs[2] },
            new() { TrainSentences = sizes.NerSentences[0], DevSentences = sizes.NerSentences[1], TestSentences = sizes.NerSentences[2] });
        var tasks = Spec.Tasks.Select(t => t.Data is null && StandInBuilder.Names.Contains(t.Task) ? t with { Data = Path.Combine(root, t.Task) } : t);
        return (this with { Spec = Spec with { Tasks = [.. tasks] } }, built);
    }

    /// <summary>Where the study's tasks read their data under <paramref name="dataRoot"/>: its stand-ins' folder, or the root itself.</summary>
    public string DataRoot(string dataRoot) => Block.StandIns is { } sizes ? Path.Combine(dataRoot, sizes.Folder) : dataRoot;

    /// <summary>Methods defined relative to APT's setting (they search only the learning rate, at APT's prefix length).</summary>
    internal static bool FollowsApt(string method) => MethodCatalogue.Get(method).FollowsApt;

    /// <summary>Every run of the search over the grid (PT-2+ and PT-2* need <paramref name="aptChoice"/> for their task; before it is known they are left out).</summary>
    public IReadOnlyList<SweepRun> SearchRuns(string root, string backbone, IReadOnlyDictionary<string, StudyChoice> aptChoice)
    {
        string searchRoot = Path.Combine(root, SearchFolder);
        var runs = new List<SweepRun>();
        foreach (var task in Spec.Tasks)
            foreach (double lr in task.LearningRates)
                foreach (string method in Spec.Methods)
                {
                    if (MethodCatalogue.Get(method).OwnLearningRate is not null && lr != task.LearningRates[0]) continue; // the axis does not apply
                    int[] lengths = !MethodCatalogue.Get(method).UsesPrefixLength ? [task.PrefixLengths[0]] // the length axis does not apply
                        : FollowsApt(method) ? aptChoice.TryGetValue(task.Task, out var apt) ? [apt.PrefixLength] : []
                        : task.PrefixLengths;
                    foreach (int length in lengths)
                        foreach (int seed in Block.SearchSeeds)
                            runs.Add(Point(searchRoot, task, method, seed, lr, length, backbone, FollowsApt(method) ? aptChoice[task.Task] : null));
                }
        return runs;
    }

    /// <summary>The runs at each method's chosen setting over the study's seeds (APT before PT-2*, whose probes they give).</summary>
    public IReadOnlyList<SweepRun> SeedRuns(string root, string backbone, IReadOnlyList<StudyChoice> choices)
    {
        string seedsRoot = Path.Combine(root, SeedsFolder);
        var runs = new List<SweepRun>();
        foreach (var task in Spec.Tasks)
            foreach (string method in Spec.Methods.OrderBy(m => MethodCatalogue.Get(m).NeedsProbe ? 1 : 0))
            {
                var choice = choices.Single(c => c.Task == task.Task && c.Method == method);
                var apt = FollowsApt(method) ? choices.Single(c => c.Task == task.Task && c.Method == MethodCatalogue.Apt.Name) : null;
                foreach (int seed in Block.Seeds)
                    runs.Add(Point(seedsRoot, task, method, seed, choice.LearningRate, choice.PrefixLength, backbone, apt));
            }
        return runs;
    }

    /// <summary>
    /// Per task and method, the setting with the best mean dev score over the search seeds (ties: the first in grid
    /// order); <paramref name="methods"/> limits the choice to those methods.
    /// </summary>
    public static IReadOnlyList<StudyChoice> Choose(IEnumerable<(SweepRun Run, RunResult Result)> finished, IReadOnlySet<string>? methods = null)
    {
        var choices = new List<StudyChoice>();
        foreach (var group in finished.Where(f => methods is null || methods.Contains(f.Run.Method)).GroupBy(f => (f.Run.Settings.Task, f.Run.Method)))
        {
            StudyChoice? best = null;
            foreach (var setting in group.GroupBy(f => (f.Run.PrefixLength, f.Run.LearningRate)))
            {
                string metric = setting.First().Result.SelectionMetric, key = Selection.Key("dev", metric);
                double dev = setting.Average(f => f.Result.SelectedMetrics.TryGetValue(key, out double v) ? v
                    : throw new InvalidDataException($"{f.Run.Folder}: result.json has no '{key}' to choose a setting by"));
                if (best is null || dev > best.Dev)
                    best = new StudyChoice(group.Key.Task, group.Key.Method, setting.Key.PrefixLength, setting.Key.LearningRate, dev, metric);
            }
            choices.Add(best!);
        }
        return choices;
    }

    /// <summary>Writes the search's choices beside the two run roots (atomic).</summary>
    public static void SaveChoices(string root, IReadOnlyList<StudyChoice> choices) =>
        AtomicFile.WriteAllText(Path.Combine(root, ChoicesFile), JsonSerializer.Serialize(choices, Json) + "\n");

    /// <summary>A run of the study; a method built from a gate probe reads the APT run of its seed at APT's chosen setting.</summary>
    static SweepRun Point(string runsRoot, SweepTask task, string method, int seed, double lr, int length, string backbone, StudyChoice? apt) =>
        SweepRun.At(runsRoot, task, method, new RunPoint(lr, length, seed), backbone, apt is null ? null : new RunPoint(apt.LearningRate, apt.PrefixLength, seed));
}

/// <summary>
/// Runs a <see cref="StudyPlan"/> with one <see cref="Experiment"/>: finished runs are skipped, interrupted ones resume.
/// Each run trains under its folder's <see cref="RunFolderLock"/>, as a sweep's do, so several processes sharing one
/// study folder split its runs between them and none is trained twice.
/// </summary>
public static class StudyRunner
{
    /// <summary>
    /// The search (APT-relative methods after APT's choice), the choices, then the seeds; returns the choices. With
    /// <paramref name="workers"/>, each stage's runs train side by side in them (their processes claim the locks).
    /// </summary>
    public static IReadOnlyList<StudyChoice> Run(StudyPlan plan, Experiment experiment, string root,
        string? backbone = null,
        Action<string>? log = null, RunLockOptions? locks = null, SweepWorkers? workers = null)
    {
        backbone ??= plan.Spec.Backbone;
        var finished = new List<(SweepRun, RunResult)>();
        void RunAll(IEnumerable<SweepRun> runs)
        {
            var cells = runs.ToList();
            var outcomes = workers?.RunAll(cells) ?? SweepRunner.RunAll(cells, experiment, locks: locks);
            finished.AddRange(cells.Zip(outcomes, (run, outcome) => (run, outcome.Result)));
        }

        var independent = plan.SearchRuns(root, backbone, new Dictionary<string, StudyChoice>());
        RunAll(independent);
        var aptChoice = StudyPlan.Choose(finished, new HashSet<string> { MethodCatalogue.Apt.Name }).ToDictionary(c => c.Task);
        RunAll(plan.SearchRuns(root, backbone, aptChoice).Where(r => StudyPlan.FollowsApt(r.Method)));
        var choices = StudyPlan.Choose(finished);
        StudyPlan.SaveChoices(root, choices);
        foreach (var choice in choices)
            log?.Invoke(string.Create(CultureInfo.InvariantCulture,
                $"{choice.Task} {MethodCatalogue.Label(choice.Method)}: l = {choice.PrefixLength}, lr = {choice.LearningRate:G} " +
                $"(dev {choice.Metric} {100 * choice.Dev:F1})"));
        RunAll(plan.SeedRuns(root, backbone, choices));
        return choices;
    }
}
