using System.Diagnostics;
using System.Text.Json;
using Apt.Runs;
using Apt.Training;

namespace Apt.Tests.Training;

/// <summary>The run-folder lock: one holder at a time, a clear refusal, stale locks taken over (and said), never two winners.</summary>
public sealed class RunFolderLockTests
{
    static readonly RunLockOptions Refuse = new() { Wait = TimeSpan.Zero };

    /// <summary>A pid that ran on this host and has exited (a child reaped by us, so not even a zombie).</summary>
    static int DeadPid()
    {
        using var process = Process.Start(new ProcessStartInfo("true") { UseShellExecute = false })!;
        process.WaitForExit();
        return process.Id;
    }

    static void WriteLock(string folder, LockHolder holder)
    {
        Directory.CreateDirectory(folder);
        File.WriteAllText(RunFolderLock.PathIn(folder), JsonSerializer.Serialize(holder, TrainingJson.Indented));
    }

    /// <summary>`aptnb train` takes the run lock as a sweep does: a folder this (live) process holds is refused,
    /// untouched.</summary>
    [Fact]
    public void AptTrainIntoAFolderAnotherProcessTrainsIsRefusedAtOnce()
    {
        using var grid = new TinyGrid(["pt2"], [1]);
        string run = grid.Runs("held");
        using var held = RunFolderLock.Acquire(run, Refuse);
        using var apt = grid.Start(null, "train", "--task", "rte", "--data", Path.Combine(grid.DataRoot, "rte"), "--method", "pt2",
            "--prefix-length", "4", "--epochs", "1", "--batch-size", "2", "--run", run);
        var (exitCode, output) = apt.WaitForExit(TimeSpan.FromMinutes(2));
        Assert.NotEqual(0, exitCode);
        Assert.Contains($"is held by {Environment.MachineName} pid {Environment.ProcessId}", output);
        Assert.Equal([RunFolderLock.FileName], Directory.EnumerateFileSystemEntries(run).Select(Path.GetFileName));
    }

    [Fact]
    public void ASecondClaimantIsRefusedWithTheHoldersHostPidAndJob()
    {
        using var folder = new TempFolder();
        using var held = RunFolderLock.Acquire(folder.Path, new RunLockOptions { Job = "77_3" });
        var holder = RunFolderLock.ReadHolder(folder.Path)!;
        Assert.Equal((Environment.MachineName, Environment.ProcessId, "77_3"), (holder.Host, holder.Pid, holder.Job));

        Assert.Null(RunFolderLock.TryAcquire(folder.Path, new RunLockOptions(), out var heldBy));
        Assert.Equal(holder.Token, heldBy!.Token);
        var refused = Assert.Throws<RunFolderBusyException>(() => RunFolderLock.Acquire(folder.Path, Refuse));
        Assert.Contains($"{Environment.MachineName} pid {Environment.ProcessId} (job 77_3)", refused.Message);
        Assert.Contains(folder.Path, refused.Message);
    }

    [Fact]
    public async Task AClaimantWaitsForTheHolderToLetGo()
    {
        using var folder = new TempFolder();
        var held = RunFolderLock.Acquire(folder.Path, Refuse);
        var notices = new List<string>();
        var waiting = Task.Run(() => RunFolderLock.Acquire(folder.Path, new RunLockOptions { Poll = TimeSpan.FromMilliseconds(50), Notice = notices.Add }));
        await Task.Delay(300);
        Assert.False(waiting.IsCompleted);
        held.Dispose();
        using var next = await waiting.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Contains(notices, n => n.Contains("waiting for it"));
        Assert.Equal(next.Holder.Token, RunFolderLock.ReadHolder(folder.Path)!.Token);
    }

    [Fact]
    public void AStaleLockIsTakenOverAndSaidSo()
    {
        using var folder = new TempFolder();
        var gone = LockHolder.Current() with { Pid = DeadPid(), ProcessStart = null, Token = "dead" };
        WriteLock(folder.Path, gone);
        var notices = new List<string>();
        using var taken = RunFolderLock.Acquire(folder.Path, Refuse with { Notice = notices.Add });
        Assert.Contains(notices, n => n.Contains("took over the stale lock") && n.Contains($"pid {gone.Pid}"));
        Assert.NotEqual("dead", RunFolderLock.ReadHolder(folder.Path)!.Token);
    }

    [Fact]
    public void ALivePidThatIsAnotherProcessThanTheHoldersIsStale()
    {
        using var folder = new TempFolder();
        // Our own pid, but a start time that is not ours: the pid was reused after the holder died.
        WriteLock(folder.Path, LockHolder.Current() with { ProcessStart = 1, Token = "reused" });
        using var taken = RunFolderLock.Acquire(folder.Path, Refuse);
        Assert.NotEqual("reused", taken.Holder.Token);
    }

    [Fact]
    public void ARequeuedJobTakesOverItsEarlierRunsLockAndAnotherHostsHolderNeedsProofItIsGone()
    {
        using var folder = new TempFolder();
        var elsewhere = LockHolder.Current("900_2") with { Host = "node-17", Pid = 4242, Token = "elsewhere" };
        WriteLock(folder.Path, elsewhere);
        Assert.Throws<RunFolderBusyException>(() => RunFolderLock.Acquire(folder.Path, Refuse with { Job = "901_0" }));
        using (var requeued = RunFolderLock.Acquire(folder.Path, Refuse with { Job = "900_2" }))
            Assert.Equal("900_2", requeued.Holder.Job);

        WriteLock(folder.Path, elsewhere);
        using var afterCheck = RunFolderLock.Acquire(folder.Path, Refuse with { HolderGone = h => h.Job == "900_2" });
        Assert.Equal(Environment.ProcessId, RunFolderLock.ReadHolder(folder.Path)!.Pid);
    }

    [Fact]
    public void AHolderDeletesOnlyItsOwnLock()
    {
        using var folder = new TempFolder();
        var mine = RunFolderLock.Acquire(folder.Path, Refuse);
        var other = LockHolder.Current() with { Token = "someone-else" };
        WriteLock(folder.Path, other); // e.g. taken over while this holder was thought dead
        mine.Dispose();
        Assert.Equal("someone-else", RunFolderLock.ReadHolder(folder.Path)!.Token);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ClaimantsRacingForAFreeOrAStaleFolderHaveExactlyOneWinner(bool stale)
    {
        for (int round = 0; round < 20; round++)
        {
            using var folder = new TempFolder();
            if (stale) WriteLock(folder.Path, LockHolder.Current() with { Pid = DeadPid(), ProcessStart = null, Token = "dead" });
            using var start = new Barrier(8);
            var claims = new RunFolderLock?[8];
            var threads = Enumerable.Range(0, 8).Select(i => new Thread(() =>
            {
                start.SignalAndWait();
                claims[i] = RunFolderLock.TryAcquire(folder.Path, new RunLockOptions(), out _);
            })).ToList();
            threads.ForEach(t => t.Start());
            threads.ForEach(t => t.Join());
            var winners = claims.OfType<RunFolderLock>().ToList();
            Assert.Single(winners);
            Assert.Equal(winners[0].Holder.Token, RunFolderLock.ReadHolder(folder.Path)!.Token);
            winners[0].Dispose();
        }
    }
}
