using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace Apt.Tests.Cluster;

/// <summary>
/// A real one-node Slurm cluster on this machine, for the job-array tests: munged, slurmctld and slurmd from Debian's
/// slurm-wlm and munge (.ci/install-slurm.sh installs them), on loopback and free ports, with a minimal slurm.conf and
/// every state file in a temporary folder. Started once per test class, shut down on dispose.
/// </summary>
public sealed partial class OneNodeSlurm : IDisposable
{
    static readonly string[] Daemons = ["munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "scontrol"];

    /// <summary>Why this machine cannot run the cluster (a program missing, or not root), or null when it can.</summary>
    public static string? Unavailable { get; } = FindUnavailable();

    static string? FindUnavailable()
    {
        if (!OperatingSystem.IsLinux()) return "the one-node cluster runs on Linux only";
        var missing = Daemons.Where(name => Which(name) is null).ToList();
        if (missing.Count > 0) return $"Slurm is not installed here ({string.Join(", ", missing)} missing): bash .ci/install-slurm.sh installs Debian's slurm-wlm and munge";
        if (System.Environment.UserName != "root") return "slurmd must run as root to start jobs, and this test runs as " + System.Environment.UserName;
        return null;
    }

    readonly string _root = Directory.CreateTempSubdirectory("apt-slurm-").FullName;

    /// <summary>The environment a Slurm client (sbatch, squeue, scancel, and apt that calls them) needs to reach this cluster.</summary>
    public IReadOnlyDictionary<string, string> Environment { get; } = new Dictionary<string, string>();

    /// <summary>Starts the cluster; where it cannot run (<see cref="Unavailable"/>), starts nothing (the tests skip).</summary>
    public OneNodeSlurm()
    {
        if (Unavailable is not null || !OperatingSystem.IsLinux()) return; // (Unavailable covers Linux too; the analyzer needs the guard here)
        string munge = Folder("munge");
        File.SetUnixFileMode(munge, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        string key = Path.Combine(munge, "munge.key");
        File.WriteAllBytes(key, System.Security.Cryptography.RandomNumberGenerator.GetBytes(1024));
        File.SetUnixFileMode(key, UnixFileMode.UserRead);
        string socket = Path.Combine(munge, "munge.socket");
        Run("munged", "--force", $"--key-file={key}", $"--socket={socket}", $"--pid-file={Path.Combine(munge, "munged.pid")}",
            $"--log-file={Path.Combine(munge, "munged.log")}", $"--seed-file={Path.Combine(munge, "seed")}");

        string conf = Path.Combine(_root, "slurm.conf");
        string node = System.Environment.MachineName;
        File.WriteAllText(conf, $"""
            ClusterName=apttest
            SlurmctldHost={node}(127.0.0.1)
            SlurmctldPort={FreePort()}
            SlurmdPort={FreePort()}
            SlurmUser=root
            AuthType=auth/munge
            AuthInfo=socket={socket}
            CredType=cred/munge
            StateSaveLocation={Folder("state")}
            SlurmdSpoolDir={Folder("spool")}
            SlurmctldPidFile={Path.Combine(_root, "slurmctld.pid")}
            SlurmdPidFile={Path.Combine(_root, "slurmd.pid")}
            SlurmctldLogFile={Path.Combine(Folder("log"), "slurmctld.log")}
            SlurmdLogFile={Path.Combine(Folder("log"), "slurmd.log")}
            ProctrackType=proctrack/linuxproc
            TaskPlugin=task/none
            JobAcctGatherType=jobacct_gather/none
            MpiDefault=none
            SchedulerType=sched/backfill
            SelectType=select/cons_tres
            SelectTypeParameters=CR_CPU
            ReturnToService=2
            KillWait=5
            NodeName={node} NodeAddr=127.0.0.1 CPUs={System.Environment.ProcessorCount} RealMemory=2000 State=UNKNOWN
            PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP

            """);
        Environment = new Dictionary<string, string> { ["SLURM_CONF"] = conf };
        Run("slurmctld", "-f", conf);
        Run("slurmd", "-f", conf);
        WaitUntil(() => Run("sinfo", "--noheader", "--format=%t").Trim() == "idle", TimeSpan.FromSeconds(60), "the node to be idle");
    }

    string Folder(string name) => Directory.CreateDirectory(Path.Combine(_root, name)).FullName;

    /// <summary>Runs a Slurm or munge program against this cluster; asserts it succeeded and returns its output.</summary>
    public string Run(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in arguments) start.ArgumentList.Add(argument);
        foreach (var (name, value) in Environment) start.Environment[name] = value;
        using var process = Process.Start(start)!;
        var errors = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        Assert.True(process.WaitForExit(30_000), $"{program} did not return within 30 s");
        Assert.True(process.ExitCode == 0, $"{program} {string.Join(' ', arguments)} failed ({process.ExitCode}): {output}{errors.Result}{Logs()}");
        return output;
    }

    /// <summary>Waits until no task of <paramref name="job"/> is pending or running; returns each task's final state and exit code.</summary>
    public IReadOnlyList<(string State, string ExitCode)> WaitForJob(string job, TimeSpan timeout)
    {
        WaitUntil(() => Run("squeue", "--noheader", "--array", "--jobs", job, "--format=%T").Trim().Length == 0, timeout, $"job {job} to leave the queue");
        return [.. JobRecord().Matches(Run("scontrol", "--oneliner", "show", "job", job))
            .Select(m => (m.Groups["state"].Value, m.Groups["exit"].Value))];
    }

    [GeneratedRegex(@"JobState=(?<state>\S+).*?ExitCode=(?<exit>\S+)")]
    private static partial Regex JobRecord();

    /// <summary>Polls <paramref name="condition"/> every 200 ms; fails, with the daemons' logs, when it is not met in time.</summary>
    public void WaitUntil(Func<bool> condition, TimeSpan timeout, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < timeout, $"waited {timeout} for {what}{Logs()}");
            Thread.Sleep(200);
        }
    }

    string Logs()
    {
        string folder = Path.Combine(_root, "log");
        return Directory.Exists(folder)
            ? string.Concat(Directory.EnumerateFiles(folder).Select(f => $"\n--- {f} (last lines)\n" + string.Join('\n', File.ReadLines(f).TakeLast(15))))
            : "";
    }

    static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    static string? Which(string program) =>
        (System.Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Concat(["/usr/sbin", "/sbin"])
            .Select(dir => Path.Combine(dir, program)).FirstOrDefault(File.Exists);

    /// <summary>Stops slurmctld and slurmd (scontrol shutdown, then a kill after 10 s) and munged, and deletes the folder.</summary>
    public void Dispose()
    {
        if (Environment.Count > 0)
        {
            try { Run("scontrol", "shutdown"); } catch (Xunit.Sdk.XunitException) { } // the pid files below still stop them
            StopByPidFile(Path.Combine(_root, "slurmctld.pid"));
            StopByPidFile(Path.Combine(_root, "slurmd.pid"));
        }
        StopByPidFile(Path.Combine(_root, "munge", "munged.pid"), wait: TimeSpan.Zero);
        Directory.Delete(_root, recursive: true);
    }

    static void StopByPidFile(string pidFile, TimeSpan? wait = null)
    {
        if (!File.Exists(pidFile) || !int.TryParse(File.ReadAllText(pidFile).Trim(), out int pid)) return;
        try
        {
            using var process = Process.GetProcessById(pid);
            if (!process.WaitForExit(wait ?? TimeSpan.FromSeconds(10))) process.Kill();
            process.WaitForExit(5_000);
        }
        catch (ArgumentException) { } // already gone
    }
}

/// <summary>A fact that needs <see cref="OneNodeSlurm"/>: skipped, with the reason, where the machine cannot run the daemons.</summary>
public sealed class SlurmFactAttribute : FactAttribute
{
    public SlurmFactAttribute()
    {
        if (OneNodeSlurm.Unavailable is { } reason) Skip = reason;
    }
}
