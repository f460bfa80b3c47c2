using System.ComponentModel;
using Apt.Backbone;
using Apt.Cli.Slurm;
using Apt.Reporting;
using Apt.Runs;
using Apt.Training;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Apt.Cli.Commands;

/// <summary>
/// `aptnb sweep --preset full-grid` or `aptnb sweep grid.json`: every run of a grid, one after another (finished runs
/// are skipped); `--slurm` writes (and `--submit` submits) a Slurm job array with one task per cell instead; `--cell N`
/// is
/// what one task runs; `--status` shows every cell. Sweeps sharing a runs folder never train a cell twice (run.lock).
/// </summary>
public sealed class SweepCommand : AsyncCommand<SweepCommand.Settings>
{
    public sealed class Settings : WorkerSettings
    {
        [CommandArgument(0, "[file]")]
        [Description("A sweep JSON file (see lib/Apt/Runs/Presets for the format).")]
        public string? File { get; init; }

        [CommandOption("--preset")]
        [Description("A built-in sweep: quickstart, full-grid, bert-large-cased, bert-large-uncased, roberta-large.")]
        public string? Preset { get; init; }

        [CommandOption("--backbone")]
        [Description("Override the sweep's backbone (embedded key or model folder).")]
        public string? Backbone { get; init; }

        [CommandOption("--runs")]
        [Description("Root of the run folders (default runs/<sweep name>).")]
        public string? Runs { get; init; }

        [CommandOption("--data-root")]
        [DefaultValue("data")]
        public string DataRoot { get; init; } = "data";

        [CommandOption("--list")]
        [Description("Only list the runs and whether each is finished.")]
        public bool List { get; init; }

        [CommandOption("--no-wait")]
        [Description("Refuse, instead of waiting, when another live process trains a cell (its run.lock); the other cells still run.")]
        public bool NoWait { get; init; }

        [CommandOption("--status <RUNS>")]
        [Description("Finished / running / failed / not started for every cell of the grid saved in <RUNS>/sweep.json (or of the grid given).")]
        public string? Status { get; init; }

        [CommandOption("--cell <INDEX>")]
        [Description("Run only cell INDEX of the grid (0-based, in --list order), as one task of a job array does.")]
        public int? Cell { get; init; }

        [CommandOption("--slurm")]
        [Description("Write a Slurm job-array script (one task per unfinished cell) to <runs>/slurm/<name>.sbatch instead of training here.")]
        public bool Slurm { get; init; }

        [CommandOption("--submit")]
        [Description("With --slurm: submit the script with sbatch.")]
        public bool Submit { get; init; }

        [CommandOption("--max-parallel <K>")]
        [Description("With --slurm: at most K array tasks at once (--array=...%K). Default 4.")]
        [DefaultValue(4)]
        public int MaxParallel { get; init; } = 4;

        [CommandOption("--partition <NAME>")]
        [Description("With --slurm: the partition (default: the cluster's).")]
        public string? Partition { get; init; }

        [CommandOption("--gres <GRES>")]
        [Description("With --slurm: generic resources per task, e.g. gpu:1.")]
        public string? Gres { get; init; }

        [CommandOption("--time <LIMIT>")]
        [Description("With --slurm: wall-time limit per task, e.g. 04:00:00 (default: the partition's).")]
        public string? Time { get; init; }

        [CommandOption("--mem <SIZE>")]
        [Description("With --slurm: memory per task, e.g. 16G (default: the partition's).")]
        public string? Mem { get; init; }

        [CommandOption("--cpus-per-task <N>")]
        [Description("With --slurm: CPUs per task. Default 2.")]
        [DefaultValue(2)]
        public int CpusPerTask { get; init; } = 2;

        [CommandOption("--apt-command <COMMAND>")]
        [Description("With --slurm: how a task starts apt (a shell command line). Default: the command running now, with absolute paths.")]
        public string? AptCommand { get; init; }
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellation)
    {
        var locks = Locks(settings.NoWait);
        if (settings.Status is { } statusRuns) return ShowStatus(settings, statusRuns, locks);

        string source = settings.Preset ?? settings.File ?? throw new ArgumentException("give a sweep file or --preset <name> (" + string.Join(", ", SweepSpec.Presets) + ")");
        var spec = SweepSpec.Load(source);
        if (settings.Backbone is { } backbone) spec = spec with { Backbone = backbone };
        string runs = settings.Runs ?? Path.Combine("runs", spec.Name);
        if (StudyPlan.Of(spec, source) is { } study) return await RunStudy(study, settings, runs, locks, cancellation);
        var points = spec.Expand(runs);
        if (settings.Cell is null)
            AnsiConsole.MarkupLineInterpolated($"[bold]{spec.Name}[/]: {spec.Description} — {points.Count} runs, {points.Count(p => p.IsFinished)} finished, in {runs}");
        if (settings.List)
        {
            var table = new Table().AddColumn("cell").AddColumn("run").AddColumn("finished");
            for (int i = 0; i < points.Count; i++) table.AddRow($"{i}", Markup.Escape(points[i].Folder), points[i].IsFinished ? "yes" : "no");
            AnsiConsole.Write(table);
            return 0;
        }
        if (settings.Slurm) return WriteArray(settings, spec, runs, points);

        TorchRuntime.EnsureLoaded();
        using var experiment = new Experiment(settings.DataRoot) { Stop = cancellation };
        var skipped = new HashSet<string>();
        try
        {
            IReadOnlyList<ExperimentOutcome> outcomes;
            if (settings.Cell is int cell)
                outcomes = TrainingConsole.Show(experiment, () => SweepRunner.RunCell(spec, experiment, runs, cell, skipped: run => skipped.Add(Path.GetFullPath(run.Folder)), locks: locks));
            else
            {
                spec.SaveIn(runs);
                void Skipped(SweepRun run) => skipped.Add(Path.GetFullPath(run.Folder));
                outcomes = settings.Pool(spec.Tasks.Max(t => t.Threads), settings.DataRoot, settings.NoWait,
                    experiment.Profile,
                    stop: cancellation) is { } pool
                    ? TrainingConsole.Show(pool, () => pool.RunAll(spec.Expand(runs), Skipped))
                    : TrainingConsole.Show(experiment,
                        () => SweepRunner.Run(spec, experiment, runs, skipped: Skipped, locks: locks));
            }
            // One line per run this process trained: with several sweeps (or array tasks) on one runs folder, who trained what.
            foreach (var outcome in outcomes)
                AnsiConsole.MarkupLineInterpolated($"{(skipped.Contains(outcome.RunFolder) ? "already finished" : "trained")} {outcome.RunFolder}");
            AnsiConsole.MarkupLineInterpolated($"done: {outcomes.Count - skipped.Count} trained here, {skipped.Count} already finished. Report: aptnb report --runs {runs}");
            return 0;
        }
        catch (RunFolderBusyException busy)
        {
            AnsiConsole.MarkupLineInterpolated($"[red]error:[/] {busy.Message}");
            return 1;
        }
    }

    /// <summary>How this process's sweeps claim run folders: as a Slurm task where one runs, waiting unless
    /// <paramref name="noWait"/>.</summary>
    public static RunLockOptions Locks(bool noWait) => new()
    {
        Job = SlurmArray.CurrentJob(),
        Wait = noWait ? TimeSpan.Zero : null,
        HolderGone = holder => SlurmArray.JobIsGone(holder.Job),
        Notice = message => AnsiConsole.MarkupLineInterpolated($"[yellow]{message}[/]"),
    };

    static int ShowStatus(Settings settings, string runs, RunLockOptions locks)
    {
        var spec = (settings.Preset ?? settings.File) is { } source ? SweepSpec.Load(source) : SweepSpec.SavedIn(runs)
            ?? throw new FileNotFoundException($"{Path.Combine(runs, SweepSpec.FileName)} not found: {runs} holds no " +
                $"sweep's grid; give it too: aptnb sweep <grid> --status {runs}");
        if (settings.Backbone is { } backbone) spec = spec with { Backbone = backbone };
        var cells = SweepStatus.Of(spec, runs, locks);
        var table = new Table().AddColumn("cell").AddColumn("run").AddColumn("state").AddColumn("detail");
        foreach (var cell in cells)
            table.AddRow($"{cell.Index}", Markup.Escape(Path.GetRelativePath(runs, cell.Run.Folder)), State(cell.State), Markup.Escape(cell.Detail));
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLineInterpolated($"{spec.Name} in {runs}: {string.Join(", ", Enum.GetValues<CellState>().Select(s => $"{cells.Count(c => c.State == s)} {Name(s)}"))} of {cells.Count} cells");
        return 0;
    }

    /// <summary>A study: the search on dev, its choices, then the seeds at each method's best setting (<see cref="StudyPlan"/>), then its report.</summary>
    static async Task<int> RunStudy(StudyPlan study, Settings settings, string runs, RunLockOptions locks,
        CancellationToken cancellation)
    {
        if (settings.List)
        {
            var search = study.SearchRuns(runs, settings.Backbone ?? study.Spec.Backbone, new Dictionary<string, StudyChoice>());
            AnsiConsole.MarkupLineInterpolated($"[bold]{study.Spec.Name}[/] (a study): {search.Count(r => r.IsFinished)} of {search.Count} search runs finished (PT-2+ and PT-2* search after APT's choice; the seed runs follow the choices)");
            return 0;
        }
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var (plan, built) = study.Prepare(settings.DataRoot);
        foreach (var (name, elapsed) in built)
            AnsiConsole.MarkupLineInterpolated($"built the study's stand-in [bold]{name}[/] in {elapsed.TotalSeconds:F0} s");
        AnsiConsole.MarkupLineInterpolated($"[bold]{plan.Spec.Name}[/] (a study): {plan.Spec.Description}, in {runs}");
        TorchRuntime.EnsureLoaded();
        using var experiment = new Experiment(settings.DataRoot) { Stop = cancellation };
        var pool = settings.Pool(plan.Spec.Tasks.Max(t => t.Threads), settings.DataRoot, settings.NoWait,
            experiment.Profile,
            stop: cancellation);
        TrainingConsole.Show(pool ?? (ITrainingEvents)experiment,
            () => StudyRunner.Run(plan, experiment, runs, settings.Backbone,
            line => AnsiConsole.MarkupLineInterpolated($"chosen on dev: {line}"), locks, pool));
        AnsiConsole.MarkupLineInterpolated($"done in {clock.Elapsed:hh\\:mm\\:ss}. Choices: {Path.Combine(runs, StudyPlan.ChoicesFile)}.");
        string seeds = Path.Combine(runs, StudyPlan.SeedsFolder), data = study.DataRoot(settings.DataRoot);
        StudyConsole.Print(await StudyReport.Write(seeds, seeds, data));
        AnsiConsole.MarkupLineInterpolated($"The same report again: aptnb report --runs {seeds} --data-root {data}");
        return 0;
    }

    static string State(CellState state) => state switch
    {
        CellState.Finished => "[green]finished[/]",
        CellState.Running => "[blue]running[/]",
        CellState.Failed => "[red]failed[/]",
        _ => "not started",
    };

    static string Name(CellState state) => state == CellState.NotStarted ? "not started" : state.ToString().ToLowerInvariant();

    static int WriteArray(Settings settings, SweepSpec spec, string runs, IReadOnlyList<SweepRun> points)
    {
        string runsRoot = Path.GetFullPath(runs);
        var cells = Enumerable.Range(0, points.Count).Where(i => !points[i].IsFinished).ToList();
        if (cells.Count == 0)
        {
            AnsiConsole.MarkupLineInterpolated(
                $"every cell of {spec.Name} is finished: nothing to submit. Report: aptnb report --runs {runs}");
            return 0;
        }
        string grid = spec.SaveIn(runsRoot);
        var options = new SlurmArrayOptions
        {
            MaxParallel = settings.MaxParallel, Partition = settings.Partition, Gres = settings.Gres, Time = settings.Time, Mem = settings.Mem,
            CpusPerTask = settings.CpusPerTask, AptCommand = settings.AptCommand ?? ThisCommand(),
        };
        if (options.MaxParallel < 1 || options.CpusPerTask < 1) throw new ArgumentException("--max-parallel and --cpus-per-task must be at least 1");
        string script = Path.Combine(SlurmArray.LogFolder(runsRoot), $"{spec.Name}.sbatch");
        Directory.CreateDirectory(SlurmArray.LogFolder(runsRoot));
        AtomicFile.WriteAllText(script, SlurmArray.Script(spec.Name, grid, runsRoot, Path.GetFullPath(settings.DataRoot), Environment.CurrentDirectory, cells, options));
        AnsiConsole.MarkupLineInterpolated($"wrote {script}: {cells.Count} array tasks ({points.Count - cells.Count} cells already finished)");
        if (!settings.Submit)
        {
            AnsiConsole.MarkupLineInterpolated($"submit it with: sbatch {script}");
            return 0;
        }
        string job = SlurmArray.Submit(script);
        AnsiConsole.MarkupLineInterpolated($"submitted job array {job}; logs in {SlurmArray.LogFolder(runsRoot)}; progress: aptnb sweep --status {runs}");
        return 0;
    }

    /// <summary>The command line that started this process: "dotnet /abs/Apt.Cli.dll" under the dotnet host, else the executable.</summary>
    static string ThisCommand()
    {
        string process = Environment.ProcessPath ?? "dotnet";
        return Path.GetFileNameWithoutExtension(process) == "dotnet"
            ? $"{SlurmArray.Quote(process)} {SlurmArray.Quote(typeof(SweepCommand).Assembly.Location)}"
            : SlurmArray.Quote(process);
    }
}
