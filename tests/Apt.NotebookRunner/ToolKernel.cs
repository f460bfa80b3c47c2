using System.Diagnostics;
using Microsoft.DotNet.Interactive;
using Microsoft.DotNet.Interactive.Connection;

namespace Apt.NotebookRunner;

/// <summary>
/// A separate <c>dotnet-interactive stdio</c> kernel process, driven through .NET Interactive's own stdio connector: the tool
/// pinned in the repository's tool manifest (<c>.config/dotnet-tools.json</c>), restored from NuGet on first use.
/// </summary>
public static class ToolKernel
{
    /// <summary>The repository's tool manifest, relative to its root; <c>dotnet</c> finds it from any folder below.</summary>
    public const string Manifest = ".config/dotnet-tools.json";

    /// <summary>How many processes <see cref="StartAsync"/> tries when a start trips over <see cref="IsKernelInfoRace"/>.</summary>
    public const int StartAttempts = 3;

    /// <summary>
    /// Restores the pinned tool, starts it in <paramref name="workingFolder"/> and returns a proxy of its <paramref name="kernelName"/>
    /// kernel (commands sent to it run in the tool process); disposing the proxy ends the process.
    /// </summary>
    /// <exception cref="InvalidOperationException">The tool could not be restored or its kernel did not start; the message says why.</exception>
    public static async Task<Kernel> StartAsync(string workingFolder, TimeSpan startTimeout, string kernelName = "csharp")
    {
        var restore = await Dotnet.RunAsync(workingFolder, startTimeout, "tool", "restore");
        if (restore.ExitCode != 0)
            throw new InvalidOperationException(
                $"'dotnet tool restore' in {workingFolder} failed (exit code {restore.ExitCode}), so the dotnet-interactive kernel pinned in " +
                $"{Manifest} is not available. Its output:\n{restore.Output}");
        return await RetryingKernelInfoRace(() => StartOnceAsync(workingFolder, startTimeout, kernelName));
    }

    /// <summary>
    /// Runs <paramref name="start"/> up to <see cref="StartAttempts"/> times while it fails with <see cref="IsKernelInfoRace"/>;
    /// any other failure, and the last attempt's, reaches the caller unchanged.
    /// </summary>
    public static async Task<T> RetryingKernelInfoRace<T>(Func<Task<T>> start)
    {
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                return await start();
            }
            catch (InvalidOperationException e) when (attempt < StartAttempts && IsKernelInfoRace(e))
            {
            }
        }
    }

    /// <summary>
    /// True for the failure of a start that lost a race inside .NET Interactive's <see cref="StdIoKernelConnector"/>: it marks the remote
    /// kernel ready before it caches the kernel infos that came with the ready event, and a poll in between finds no info for the remote
    /// root ("Sequence contains no matching element" from <c>GetCachedKernelInfoForRemoteRoot</c>; it failed CI once).
    /// A fresh connector and process start clean, so the start is tried again.
    /// </summary>
    public static bool IsKernelInfoRace(InvalidOperationException e) =>
        e.StackTrace?.Contains("GetCachedKernelInfoForRemoteRoot", StringComparison.Ordinal) == true;

    static async Task<Kernel> StartOnceAsync(string workingFolder, TimeSpan startTimeout, string kernelName)
    {
        var connector = new StdIoKernelConnector(["dotnet", "dotnet-interactive", "stdio"], "tool", new Uri("kernel://apt-notebook-runner"),
            new DirectoryInfo(workingFolder));
        var start = connector.CreateProxyKernelAsync(kernelName);
        try
        {
            if (await Task.WhenAny(start, Task.Delay(startTimeout)) != start)
                throw new InvalidOperationException($"The dotnet-interactive kernel (process {connector.ProcessId}) did not report ready within {startTimeout}.");
            var kernel = await start;
            kernel.RegisterForDisposal(connector);
            return kernel;
        }
        catch (Exception e) when (e is not InvalidOperationException)
        {
            connector.Dispose();
            throw new InvalidOperationException($"The dotnet-interactive kernel pinned in {Manifest} did not start in {workingFolder}: {e.Message}", e);
        }
        catch
        {
            connector.Dispose();
            throw;
        }
    }
}

/// <summary>Runs the <c>dotnet</c> command line and collects what it prints.</summary>
public static class Dotnet
{
    /// <summary>Exit code and the merged standard output and error of one run.</summary>
    public sealed record Result(int ExitCode, string Output);

    /// <summary>Runs <c>dotnet <paramref name="arguments"/></c> in <paramref name="workingFolder"/>; kills it after <paramref name="timeout"/>.</summary>
    /// <exception cref="TimeoutException">It did not finish in time.</exception>
    public static async Task<Result> RunAsync(string workingFolder, TimeSpan timeout, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet", arguments)
        {
            WorkingDirectory = workingFolder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start 'dotnet'.");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"'dotnet {string.Join(' ', arguments)}' in {workingFolder} did not finish within {timeout}.");
        }
        return new Result(process.ExitCode, (await output + await error).Trim());
    }
}
