using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Apt.Cli.Slurm;

/// <summary>Resources and limits of a sweep's job array; null leaves a setting to the cluster's defaults.</summary>
public sealed record SlurmArrayOptions
{
    /// <summary>At most this many array tasks run at once (the K of --array=0-N%K). Default 4.</summary>
    public int MaxParallel { get; init; } = 4;
    public string? Partition { get; init; }
    /// <summary>Generic resources per task, e.g. "gpu:1".</summary>
    public string? Gres { get; init; }
    /// <summary>Wall-time limit per task, e.g. "04:00:00".</summary>
    public string? Time { get; init; }
    /// <summary>Memory per task, e.g. "16G".</summary>
    public string? Mem { get; init; }
    /// <summary>CPUs per task. Default 2 (libtorch's threads take what the task gets).</summary>
    public int CpusPerTask { get; init; } = 2;
    /// <summary>How a task starts `aptnb`: a shell command line, e.g. "dotnet
    /// /home/me/AptNotebooks/lib/Apt.Cli/bin/Release/net10.0/Apt.Cli.dll".</summary>
    public required string AptCommand { get; init; }
}

/// <summary>
/// The job-array script of a sweep: one array task per grid cell, each running `aptnb sweep &lt;grid&gt; --cell
/// $SLURM_ARRAY_TASK_ID`, logs per task under the runs folder, requeue allowed (a requeued task resumes its cell from
/// the last checkpoint, appending to its log).
/// </summary>
public static class SlurmArray
{
    /// <summary>Where the tasks' logs go, under the runs folder.</summary>
    public static string LogFolder(string runsRoot) => Path.Combine(runsRoot, "slurm");

    /// <summary>The script for <paramref name="cells"/> (indices into the grid) of the grid saved at <paramref name="gridFile"/>; every path absolute.</summary>
    public static string Script(string name, string gridFile, string runsRoot, string dataRoot, string workingFolder, IReadOnlyList<int> cells, SlurmArrayOptions options)
    {
        var text = new StringBuilder();
        text.AppendLine("#!/bin/bash");
        text.AppendLine($"# aptnb sweep '{name}' as a Slurm job array: one task per grid cell ({cells.Count} cells), " +
            $"written by aptnb sweep --slurm.");
        text.AppendLine("# Each task trains its cell's run folder, resumes it when it exists and skips it when finished; run it again (or");
        text.AppendLine("# aptnb sweep --slurm --submit again) to submit what is left. aptnb sweep --status " +
            "shows every cell.");
        text.AppendLine($"#SBATCH --job-name=apt-{name}");
        text.AppendLine($"#SBATCH --array={Ranges(cells)}%{options.MaxParallel}");
        text.AppendLine($"#SBATCH --output={Path.Combine(LogFolder(runsRoot), "%A_%a.out")}");
        text.AppendLine("#SBATCH --open-mode=append");
        text.AppendLine("#SBATCH --requeue");
        text.AppendLine($"#SBATCH --chdir={workingFolder}");
        text.AppendLine(CultureInfo.InvariantCulture, $"#SBATCH --cpus-per-task={options.CpusPerTask}");
        if (options.Partition is { } partition) text.AppendLine($"#SBATCH --partition={partition}");
        if (options.Gres is { } gres) text.AppendLine($"#SBATCH --gres={gres}");
        if (options.Time is { } time) text.AppendLine($"#SBATCH --time={time}");
        if (options.Mem is { } mem) text.AppendLine($"#SBATCH --mem={mem}");
        text.AppendLine("set -euo pipefail");
        text.AppendLine($"exec {options.AptCommand} sweep {Quote(gridFile)} --runs {Quote(runsRoot)} --data-root {Quote(dataRoot)} --cell \"$SLURM_ARRAY_TASK_ID\"");
        return text.ToString();
    }

    /// <summary>Slurm's array syntax for a set of indices: "0-3,5,7-9".</summary>
    public static string Ranges(IReadOnlyList<int> cells)
    {
        var parts = new List<string>();
        var sorted = cells.Distinct().Order().ToList();
        for (int i = 0; i < sorted.Count;)
        {
            int j = i;
            while (j + 1 < sorted.Count && sorted[j + 1] == sorted[j] + 1) j++;
            parts.Add(i == j ? $"{sorted[i]}" : $"{sorted[i]}-{sorted[j]}");
            i = j + 1;
        }
        return string.Join(",", parts);
    }

    /// <summary>The job this process runs as inside Slurm ("&lt;array job&gt;_&lt;task&gt;" for an array task), or null outside it.</summary>
    public static string? CurrentJob() =>
        Environment.GetEnvironmentVariable("SLURM_ARRAY_JOB_ID") is { } array && Environment.GetEnvironmentVariable("SLURM_ARRAY_TASK_ID") is { } task
            ? $"{array}_{task}"
            : Environment.GetEnvironmentVariable("SLURM_JOB_ID");

    /// <summary>Submits <paramref name="script"/> with sbatch; returns the job id.</summary>
    public static string Submit(string script)
    {
        var (exitCode, output) = Run("sbatch", "--parsable", script)
            ?? throw new ArgumentException($"sbatch not found: run this on a Slurm login node, or submit the script there with: sbatch {script}");
        if (exitCode != 0) throw new ArgumentException($"sbatch {script} failed: {output.Trim()}");
        return output.Trim().Split(';')[0];
    }

    /// <summary>
    /// Whether the lock holder's job no longer runs anywhere (it left the queue, ended, or waits to start again), so its
    /// lock is stale though its machine is not this one. False when it cannot tell: no job recorded, or no squeue here.
    /// </summary>
    public static bool JobIsGone(string? job)
    {
        if (job is null || Run("squeue", "--noheader", "--format=%T", "--jobs", job) is not var (exitCode, output)) return false;
        if (exitCode != 0) return output.Contains("Invalid job id", StringComparison.OrdinalIgnoreCase);
        return !output.Split('\n', StringSplitOptions.TrimEntries).Any(state => RunningStates.Contains(state));
    }

    static readonly string[] RunningStates = ["RUNNING", "COMPLETING", "CONFIGURING", "SUSPENDED", "SIGNALING", "STAGE_OUT"];

    static (int ExitCode, string Output)? Run(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string argument in arguments) start.ArgumentList.Add(argument);
        try
        {
            using var process = Process.Start(start)!;
            var errors = process.StandardError.ReadToEndAsync();
            string output = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            return (process.ExitCode, output + errors.Result);
        }
        catch (System.ComponentModel.Win32Exception) { return null; } // not installed
    }

    /// <summary>A word for bash: single-quoted when it holds anything but safe characters.</summary>
    public static string Quote(string word) =>
        word.Length > 0 && word.All(c => char.IsAsciiLetterOrDigit(c) || "/._-+=:,@%".Contains(c)) ? word : $"'{word.Replace("'", "'\\''")}'";
}
