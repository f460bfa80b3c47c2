using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using Apt.Training;

namespace Apt.Runs;

/// <summary>
/// Trains independent runs side by side in worker processes, one run at a time each, so that a sweep keeps every core
/// busy with runs of one thread (<see cref="RunSettings.Threads"/>): one run's threads cannot use a second core as
/// well as a second run does. A worker (<see cref="Serve"/>) trains each cell it is sent under the cell's
/// <see cref="RunFolderLock"/>, as `aptnb sweep --cell` does, and streams its steps, epochs and warnings back, which
/// this class raises as its own events. A run's result depends on its settings alone, never on the workers beside it.
/// A cell built from an APT probe (PT-2*) is sent only once that APT cell is done; a cell another live process holds is
/// left to it and sent again at the end, to wait for it, as <see cref="SweepRunner.RunAll"/> does. When a run fails or
/// a worker dies, no new cell is sent, the cells in flight finish, and the failure is thrown: running again resumes
/// what was cut off. </summary>
/// <param name="count">How many workers at most (fewer when there are fewer cells).</param>
/// <param name="start">How to start one worker process (`aptnb worker`); its standard input and output are
/// redirected here.</param>
public sealed class SweepWorkers(int count, Func<ProcessStartInfo> start) : ITrainingEvents
{
    public event Action<ExperimentConfig, TrainingProgress>? StepCompleted;
    public event Action<ExperimentConfig, EpochSummary>? EpochCompleted;
    public event Action<string>? Warning;

    /// <summary>Where set, each worker's phase times are added to it when the worker ends (so summed over
    /// workers).</summary>
    public PhaseTimes? Profile { get; init; }

    /// <summary>Where set, each worker's backbone passes are added to it when the worker ends.</summary>
    public WorkLog? Work { get; init; }

    /// <summary>How many workers this runs at most.</summary>
    public int Count => count;

    /// <summary>
    /// When cancelled (the sweep's SIGINT or SIGTERM), no new cell is sent and each worker is sent SIGTERM, so its run
    /// stops at its next safe point with a checkpoint; <see cref="RunAll"/> then throws
    /// <see cref="RunStoppedException"/>. </summary>
    public CancellationToken Stop { get; init; }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    static extern int SendSignal(int pid, int signal);

    const int SigTerm = 15;

    /// <summary>
    /// The workers a machine runs by default: one per core over the threads each run takes
    /// (<paramref name="threads"/>), at least one.
    /// </summary>
    public static int DefaultCount(int threads) => Math.Max(1, Environment.ProcessorCount / Math.Max(1, threads));

    /// <summary>
    /// Trains, resumes or reads back every cell; <paramref name="skipped"/> hears of each that had finished before.
    /// Returns the outcomes in the cells' order.
    /// </summary>
    public IReadOnlyList<ExperimentOutcome> RunAll(IReadOnlyList<SweepRun> cells, Action<SweepRun>? skipped = null)
    {
        if (count < 1) throw new ArgumentException($"workers: expected at least 1, got {count}");
        var outcomes = new ExperimentOutcome?[cells.Count];
        var pending = Enumerable.Range(0, cells.Count).ToList();
        var heldElsewhere = new List<int>();
        bool waiting = false;
        var configs = new Dictionary<int, ExperimentConfig>();
        var failures = new List<(SweepRun Cell, string Message, string Kind)>();
        var inbox = new BlockingCollection<(Worker Worker, WorkerMessage? Message)>();
        var workers = Enumerable.Range(0, Math.Min(count,
            cells.Count)).Select(_ => new Worker(Process.Start(Redirected(start()))!, inbox)).ToList();
        using var forward = Stop.Register(() =>
        {
            if (OperatingSystem.IsWindows()) return;
            foreach (var worker in workers.Where(w => !w.Exited)) SendSignal(worker.Process.Id, SigTerm);
        });
        try
        {
            while (true)
            {
                if (failures.Count == 0 && !Stop.IsCancellationRequested)
                    foreach (var idle in workers.Where(w => w.Cell is null && !w.Exited))
                    {
                        int next = pending.FindIndex(i => Ready(cells, i, [.. pending, .. heldElsewhere], workers));
                        if (next < 0) break;
                        idle.Send(pending[next], cells[pending[next]], waiting);
                        pending.RemoveAt(next);
                    }
                if (heldElsewhere.Count > 0 && workers.All(w => w.Cell is null)
                    && !pending.Any(i => Ready(cells, i, [.. pending, .. heldElsewhere], workers)))
                {
                    (pending, waiting) = ([.. heldElsewhere, .. pending], true);
                    heldElsewhere.Clear();
                    continue;
                }
                if (workers.All(w => w.Cell is null)
                    && (pending.Count == 0 || failures.Count > 0 || Stop.IsCancellationRequested
                        || workers.All(w => w.Exited)))
                    break;
                var (worker, message) = inbox.Take();
                if (message is null)
                {
                    worker.Exited = true;
                    if (worker.Cell is int lost)
                        failures.Add((cells[lost],
                            $"its worker (pid {worker.Process.Id}) ended while training it; run again to resume it",
                            "WorkerExited"));
                    worker.Cell = null;
                    continue;
                }
                int cell = message.Cell;
                if (message.Config is { } config) configs[cell] = config;
                if (message.Warning is { } warning) Warning?.Invoke(warning);
                if (message.Step is { } step && configs.TryGetValue(cell,
                    out var stepping)) StepCompleted?.Invoke(stepping, step);
                if (message.Epoch is { } epoch && configs.TryGetValue(cell,
                    out var ended)) EpochCompleted?.Invoke(ended, epoch);
                if (message.Failure is { } failure) failures.Add((cells[cell], failure, message.Kind ?? "Exception"));
                if (message.Done)
                {
                    outcomes[cell] = Experiment.Finished(cells[cell].Folder)
                        ?? throw new InvalidDataException($"{cells[cell].Folder}: its worker reported it finished, " +
                            $"but it has no result");
                    if (message.Skipped) skipped?.Invoke(cells[cell]);
                }
                if (message.Held) heldElsewhere.Add(cell);
                if (message.Done || message.Held || message.Failure is not null) worker.Cell = null;
            }
        }
        finally
        {
            foreach (var worker in workers) worker.Finish(Profile, Work);
        }
        var stopped = failures.FirstOrDefault(f => f.Kind == nameof(RunStoppedException));
        if (stopped.Cell is not null) throw new RunStoppedException(stopped.Cell.Folder, stopped.Message);
        if (failures.Count == 0 && pending.Count > 0 && Stop.IsCancellationRequested)
            throw new RunStoppedException(cells[pending[0]].Folder,
                $"stopped before {Path.GetFullPath(cells[pending[0]].Folder)} started");
        if (failures.Count == 0 && pending.Count > 0) failures.Add((cells[pending[0]],
            "every worker ended before it was trained", "WorkerExited"));
        if (failures.Count > 0)
        {
            string text = $"{failures.Count} of {cells.Count} runs failed " +
                $"({string.Join("; ", failures.Select(f => $"{f.Cell.Folder}: {f.Message}"))})";
            throw failures.All(f => f.Kind == nameof(RunFolderBusyException)) ? new RunFolderBusyException(text, null)
                : new InvalidOperationException(text);
        }
        return [.. outcomes.Select(o => o!)];
    }

    /// <summary>Whether cell <paramref name="i"/> can start: a PT-2* cell waits for its APT cell of
    /// this list.</summary>
    static bool Ready(IReadOnlyList<SweepRun> cells, int i, List<int> pending, List<Worker> workers) =>
        cells[i].ProbeFrom is not { } probe
        || !pending.Concat(workers.Where(w => w.Cell is not null).Select(w => w.Cell!.Value))
            .Any(j => cells[j].Folder == Path.GetDirectoryName(probe));

    static ProcessStartInfo Redirected(ProcessStartInfo info)
    {
        info.RedirectStandardInput = true;
        info.RedirectStandardOutput = true;
        info.UseShellExecute = false;
        return info;
    }

    /// <summary>
    /// The worker's side: trains each cell read from <paramref name="input"/> (one <see cref="WorkerOrder"/> per line)
    /// under its lock, writing <see cref="WorkerMessage"/> lines to <paramref name="output"/>, until the input ends;
    /// then its phase times.
    /// </summary>
    public static void Serve(TextReader input, TextWriter output, Experiment experiment, RunLockOptions locks)
    {
        var gate = new object();
        int current = -1;
        ExperimentConfig? announced = null;
        void Send(WorkerMessage message)
        {
            lock (gate)
            {
                output.WriteLine(JsonSerializer.Serialize(message, TrainingJson.Line));
                output.Flush();
            }
        }
        ExperimentConfig? Announce(ExperimentConfig config) => ReferenceEquals(config, announced) ? null
            : announced = config;
        experiment.StepCompleted += (config, step) => Send(new WorkerMessage { Cell = current,
            Config = Announce(config), Step = step });
        experiment.EpochCompleted += (config, epoch) => Send(new WorkerMessage { Cell = current,
            Config = Announce(config), Epoch = epoch });
        experiment.Warning += warning => Send(new WorkerMessage { Cell = current, Warning = warning });
        while (input.ReadLine() is { } line)
        {
            var order = JsonSerializer.Deserialize<WorkerOrder>(line, TrainingJson.Line)
                ?? throw new InvalidDataException("worker: an empty order");
            current = order.Cell;
            try
            {
                bool skipped = false;
                var outcome = SweepRunner.RunOne(order.Run, experiment, locks, order.Wait, _ => skipped = true);
                Send(outcome is null ? new WorkerMessage { Cell = current, Held = true }
                    : new WorkerMessage { Cell = current, Done = true, Skipped = skipped });
            }
            catch (RunStoppedException e)
            {
                Send(new WorkerMessage { Cell = current, Failure = e.Message, Kind = nameof(RunStoppedException) });
                break; // a stopped worker takes no further cell
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                Send(new WorkerMessage { Cell = current, Failure = e.Message, Kind = e.GetType().Name });
            }
        }
        Send(new WorkerMessage
        {
            Cell = -1, Profile = experiment.Profile.Totals.ToDictionary(p => p.Phase, p => p.Elapsed.TotalSeconds),
            Work = experiment.Work.Counts,
        });
    }

    /// <summary>One worker process: the cell it trains, if any, and a thread that reads its messages into
    /// the inbox.</summary>
    sealed class Worker
    {
        readonly Thread _reader;
        WorkerMessage? _last;

        public Worker(Process process, BlockingCollection<(Worker, WorkerMessage?)> inbox)
        {
            Process = process;
            _reader = new Thread(() =>
            {
                while (Process.StandardOutput.ReadLine() is { } line)
                {
                    var message = Parse(line);
                    if (message.Profile is not null) _last = message;
                    else inbox.Add((this, message));
                }
                inbox.Add((this, null));
            }) { IsBackground = true, Name = $"worker {process.Id}" };
            _reader.Start();
        }

        /// <summary>A protocol line, or a line something else (a native library) wrote to the worker's output, as
        /// a warning.</summary>
        static WorkerMessage Parse(string line)
        {
            try { return JsonSerializer.Deserialize<WorkerMessage>(line, TrainingJson.Line)
                ?? new WorkerMessage { Cell = -1, Warning = line }; }
            catch (JsonException) { return new WorkerMessage { Cell = -1, Warning = line }; }
        }

        public Process Process { get; }
        public int? Cell { get; set; }
        public bool Exited { get; set; }

        public void Send(int cell, SweepRun run, bool wait)
        {
            Cell = cell;
            Process.StandardInput.WriteLine(JsonSerializer.Serialize(new WorkerOrder(cell, run, wait),
                TrainingJson.Line));
            Process.StandardInput.Flush();
        }

        /// <summary>Ends its input, waits for it to exit (killing it if it does not) and adds its
        /// phase times.</summary>
        public void Finish(PhaseTimes? profile, WorkLog? work)
        {
            try { Process.StandardInput.Close(); }
            catch (IOException) { } // it has exited already
            if (!Process.WaitForExit(TimeSpan.FromMinutes(1))) Process.Kill();
            _reader.Join();
            foreach (var (phase, seconds) in _last?.Profile ?? new Dictionary<string, double>()) profile?.Add(phase,
                TimeSpan.FromSeconds(seconds));
            work?.Add(_last?.Work ?? []);
            Process.Dispose();
        }
    }
}

/// <summary>
/// What a worker is sent: the cell's index in the caller's list, the cell, and whether to wait for its lock (else a
/// cell another live process holds is answered <see cref="WorkerMessage.Held"/>).
/// </summary>
public sealed record WorkerOrder(int Cell, SweepRun Run, bool Wait);

/// <summary>One line a worker writes: about cell <see cref="Cell"/>, one or more of the fields set.</summary>
public sealed record WorkerMessage
{
    public int Cell { get; init; }
    /// <summary>The run's config, with its first step or epoch (what a console names it by).</summary>
    public ExperimentConfig? Config { get; init; }
    public TrainingProgress? Step { get; init; }
    public EpochSummary? Epoch { get; init; }
    public string? Warning { get; init; }
    /// <summary>The cell finished (trained, resumed, or <see cref="Skipped"/>: finished before).</summary>
    public bool Done { get; init; }
    public bool Skipped { get; init; }
    /// <summary>Another live process holds the cell: it was left alone.</summary>
    public bool Held { get; init; }
    /// <summary>The cell failed with this message (its failure.json is written).</summary>
    public string? Failure { get; init; }
    /// <summary>The failure's exception type.</summary>
    public string? Kind { get; init; }
    /// <summary>The worker's last line: its phase times in seconds, and its backbone passes.</summary>
    public IReadOnlyDictionary<string, double>? Profile { get; init; }
    /// <inheritdoc cref="Profile"/>
    public IReadOnlyList<PassCount>? Work { get; init; }
}
