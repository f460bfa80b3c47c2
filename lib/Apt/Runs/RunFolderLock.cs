using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Apt.Training;

namespace Apt.Runs;

/// <summary>Who holds a run folder's lock: enough for a person to find the process, and for a claimant to tell a stale lock.</summary>
public sealed record LockHolder
{
    [JsonPropertyName("host")] public string Host { get; init; } = "";
    [JsonPropertyName("pid")] public int Pid { get; init; }
    /// <summary>Linux: the process's start time in clock ticks after boot (/proc/&lt;pid&gt;/stat), so a reused pid is not taken for the holder.</summary>
    [JsonPropertyName("pid_start")] public long? ProcessStart { get; init; }
    /// <summary>The batch job the holder runs as (e.g. a Slurm array task "1234_5"), if any; a requeued job keeps its id.</summary>
    [JsonPropertyName("job")] public string? Job { get; init; }
    [JsonPropertyName("started")] public DateTimeOffset Started { get; init; }
    /// <summary>Tells this acquisition from every other, so a holder only ever deletes its own lock.</summary>
    [JsonPropertyName("token")] public string Token { get; init; } = "";

    /// <summary>This process, as a holder; <paramref name="job"/> is the batch job it runs as, if any.</summary>
    public static LockHolder Current(string? job = null) => new()
    {
        Host = Environment.MachineName, Pid = Environment.ProcessId, ProcessStart = StartTicks(Environment.ProcessId),
        Job = job, Started = DateTimeOffset.UtcNow, Token = Guid.NewGuid().ToString("N"),
    };

    /// <summary>Whether the holder runs on this machine.</summary>
    public bool IsOnThisHost => string.Equals(Host, Environment.MachineName, StringComparison.OrdinalIgnoreCase);

    /// <summary>On this machine: whether its process still runs (and is the same process, not a reuse of its pid).</summary>
    public bool IsAliveHere()
    {
        if (OperatingSystem.IsLinux())
        {
            string? stat = ReadStat(Pid);
            if (stat is null) return false;
            string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' '); // after "pid (name) ": state is field 3, starttime field 22
            return fields[0] is not ("Z" or "X") && (ProcessStart is not long start || long.Parse(fields[19], CultureInfo.InvariantCulture) == start);
        }
        try { using var process = Process.GetProcessById(Pid); return !process.HasExited; }
        catch (ArgumentException) { return false; }
    }

    public override string ToString() =>
        $"{Host} pid {Pid}{(Job is null ? "" : $" (job {Job})")} since {Started.ToUniversalTime():yyyy-MM-dd HH:mm:ss} UTC";

    static long? StartTicks(int pid) => ReadStat(pid) is { } stat
        ? long.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[19], CultureInfo.InvariantCulture)
        : null;

    static string? ReadStat(int pid)
    {
        if (!OperatingSystem.IsLinux()) return null;
        try { return File.ReadAllText($"/proc/{pid}/stat"); }
        catch (IOException) { return null; }
    }
}

/// <summary>How a claimant treats a run folder that another process holds.</summary>
public sealed record RunLockOptions
{
    /// <summary>How long to wait for a live holder to let go: null (the default) waits as long as it takes, zero refuses at once.</summary>
    public TimeSpan? Wait { get; init; }
    /// <summary>How often a waiting claimant looks again. Default 2 s.</summary>
    public TimeSpan Poll { get; init; } = TimeSpan.FromSeconds(2);
    /// <summary>The batch job this process runs as (see <see cref="LockHolder.Job"/>); a lock of the same job from another process is its earlier run, requeued.</summary>
    public string? Job { get; init; }
    /// <summary>
    /// Whether a holder on another machine is gone (e.g. the CLI asks Slurm whether its job still runs). Default: none,
    /// such a holder counts as live, since its process cannot be seen from here.
    /// </summary>
    public Func<LockHolder, bool>? HolderGone { get; init; }
    /// <summary>Hears what the lock did that a person should know: a stale lock taken over, a wait begun.</summary>
    public Action<string>? Notice { get; init; }

    /// <summary>Whether <paramref name="holder"/> no longer holds anything: its process is gone, or it was this job before a requeue.</summary>
    public bool IsStale(LockHolder holder) =>
        (Job is not null && holder.Job == Job && (holder.Pid != Environment.ProcessId || !holder.IsOnThisHost))
        || (holder.IsOnThisHost ? !holder.IsAliveHere() : HolderGone?.Invoke(holder) == true);
}

/// <summary>A live holder keeps the run folder and the claimant would not (or no longer) wait.</summary>
public sealed class RunFolderBusyException(string folder, LockHolder? holder)
    : IOException($"{folder} is held by {holder?.ToString() ?? "a process that is still writing its lock file"}; it trains there now (wait for it, or stop that process)")
{
    public string Folder { get; } = folder;
    public LockHolder? Holder { get; } = holder;
}

/// <summary>
/// A run folder claimed by one process: the file <c>run.lock</c> in it, created atomically (<see cref="FileMode.CreateNew"/>)
/// with the holder's host, pid, job and start time, and deleted on dispose. A claimant finding a live holder waits or
/// refuses; it takes over a stale lock (the holder's process is gone) and says so. Takeovers are serialised by a second
/// file, <c>run.lock.takeover</c>, so two claimants that both find the same stale lock cannot both win.
/// </summary>
public sealed class RunFolderLock : IDisposable
{
    public const string FileName = "run.lock";
    const string TakeoverSuffix = ".takeover";
    /// <summary>A lock or takeover file still empty after this long was left by a crash between its creation and its first write.</summary>
    static readonly TimeSpan Unwritten = TimeSpan.FromSeconds(30);

    RunFolderLock(string path, LockHolder holder) => (Path, Holder) = (path, holder);

    public string Path { get; }
    public LockHolder Holder { get; }

    /// <summary>The lock file of <paramref name="folder"/>.</summary>
    public static string PathIn(string folder) => System.IO.Path.Combine(folder, FileName);

    /// <summary>The holder recorded in <paramref name="folder"/>'s lock; null when it is not locked (or the lock is being written).</summary>
    public static LockHolder? ReadHolder(string folder) => Read(PathIn(folder));

    /// <summary>Claims <paramref name="folder"/> (creating it), waiting for a live holder as <paramref name="options"/> say; throws <see cref="RunFolderBusyException"/> when it would not wait longer.</summary>
    public static RunFolderLock Acquire(string folder, RunLockOptions options)
    {
        var waited = Stopwatch.StartNew();
        bool told = false;
        while (true)
        {
            if (TryAcquire(folder, options, out var holder) is { } acquired) return acquired;
            if (options.Wait is { } limit && waited.Elapsed + options.Poll > limit) throw new RunFolderBusyException(folder, holder);
            if (!told) options.Notice?.Invoke($"{folder} is held by {holder?.ToString() ?? "another process"}: waiting for it");
            told = true;
            Thread.Sleep(options.Poll);
        }
    }

    /// <summary>Claims <paramref name="folder"/> if no live process holds it; otherwise null, with that holder in <paramref name="heldBy"/>.</summary>
    public static RunFolderLock? TryAcquire(string folder, RunLockOptions options, out LockHolder? heldBy)
    {
        Directory.CreateDirectory(folder);
        string path = PathIn(folder);
        var me = LockHolder.Current(options.Job);
        for (int attempt = 0; attempt < 3; attempt++)
        {
            if (TryCreate(path, me)) { heldBy = null; return new RunFolderLock(path, me); }
            heldBy = Read(path);
            if (heldBy is null && !File.Exists(path)) continue; // let go in between
            bool stale = heldBy is null ? IsUnwrittenFor(path, Unwritten) : options.IsStale(heldBy);
            if (!stale) return null;
            if (!TryTakeOver(path, heldBy, options)) return null;
        }
        heldBy = Read(path);
        return null;
    }

    /// <summary>Deletes the lock if it is still this holder's.</summary>
    public void Dispose()
    {
        if (Read(Path)?.Token == Holder.Token) File.Delete(Path);
    }

    /// <summary>Removes a stale lock under the takeover guard, after checking it is still the one judged stale.</summary>
    static bool TryTakeOver(string path, LockHolder? stale, RunLockOptions options)
    {
        string guard = path + TakeoverSuffix;
        if (!TryCreate(guard, LockHolder.Current(options.Job)))
        {
            // A takeover in progress; one whose holder died (or that stays unwritten) is cleared for the next attempt.
            if (Read(guard) is { } other ? options.IsStale(other) : IsUnwrittenFor(guard, Unwritten)) File.Delete(guard);
            return true;
        }
        try
        {
            if (Read(path)?.Token != stale?.Token) return true; // someone else took it over first: look again
            File.Delete(path);
            options.Notice?.Invoke($"{System.IO.Path.GetDirectoryName(path)}: took over the stale lock of {stale?.ToString() ?? "a process that died while writing it"}");
            return true;
        }
        finally { File.Delete(guard); }
    }

    static bool TryCreate(string path, LockHolder holder)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.Read);
            JsonSerializer.Serialize(stream, holder, TrainingJson.Indented);
            stream.Flush(flushToDisk: true);
            return true;
        }
        catch (IOException e) when (e.HResult is FileExistsErrno or FileExistsWindows) { return false; } // held, or let go since
    }

    /// <summary>The HResult of FileMode.CreateNew's IOException when the file exists: EEXIST's errno on Unix, ERROR_FILE_EXISTS on Windows.</summary>
    const int FileExistsErrno = 17, FileExistsWindows = unchecked((int)0x80070050);

    static LockHolder? Read(string path)
    {
        try { return JsonSerializer.Deserialize<LockHolder>(InputFile.ReadAllText(path), TrainingJson.Indented); }
        catch (Exception e) when (e is IOException or JsonException) { return null; } // gone, or not yet written whole
    }

    static bool IsUnwrittenFor(string path, TimeSpan age)
    {
        try { return Read(path) is null && File.Exists(path) && DateTime.UtcNow - File.GetLastWriteTimeUtc(path) > age; }
        catch (IOException) { return false; }
    }
}
