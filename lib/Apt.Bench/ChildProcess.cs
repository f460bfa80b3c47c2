using System.Diagnostics;

namespace Apt.Bench;

/// <summary>Starts a program, waits for it and returns its exit code and output (the benchmark's children and its PyTorch peer).</summary>
public static class ChildProcess
{
    /// <summary>Runs <paramref name="file"/>; exit code -1 and the reason as stderr when it cannot be started.</summary>
    public static (int Exit, string Stdout, string Stderr) Run(string file, IEnumerable<string> arguments, params (string Name, string Value)[] environment)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments) info.ArgumentList.Add(argument);
        foreach (var (name, value) in environment) info.Environment[name] = value;
        try
        {
            using var process = Process.Start(info)!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            string stderr = process.StandardError.ReadToEnd();
            process.WaitForExit();
            return (process.ExitCode, stdout.Result, stderr);
        }
        catch (System.ComponentModel.Win32Exception e) // no such program
        {
            return (-1, "", e.Message);
        }
    }

    /// <summary>Runs <paramref name="file"/> with a result-file path as its last argument and reads the JSON it wrote there.</summary>
    public static T RunForResult<T>(string what, string file, IEnumerable<string> arguments, params (string Name, string Value)[] environment)
    {
        string resultPath = Path.Combine(Path.GetTempPath(), $"apt-bench-{Environment.ProcessId}-{Guid.NewGuid():N}.json");
        try
        {
            var (exit, stdout, stderr) = Run(file, [.. arguments, resultPath], environment);
            if (exit != 0 || !File.Exists(resultPath))
                throw new InvalidOperationException($"{what} failed (exit {exit}): {stderr}{stdout}");
            return System.Text.Json.JsonSerializer.Deserialize<T>(File.ReadAllText(resultPath))
                ?? throw new InvalidOperationException($"{what} wrote an empty result to {resultPath}");
        }
        finally
        {
            File.Delete(resultPath);
        }
    }
}
