using Apt.Backbone;
using Apt.Cli.Slurm;
using Apt.Training;
using Spectre.Console.Cli;

namespace Apt.Cli;

/// <summary>Turns failures into one clear message and a non-zero exit code instead of a stack trace.</summary>
public static class CliErrors
{
    /// <summary>Exit code for bad arguments or bad input files.</summary>
    public const int BadInput = 2;
    /// <summary>Exit code for an environment that cannot run the kit (libtorch, missing packages).</summary>
    public const int BrokenEnvironment = 3;
    /// <summary>Exit code for a failure the kit did not foresee (a bug): still one line, unless <see cref="StackTraces"/> is set.</summary>
    public const int Unexpected = 1;
    /// <summary>Exit code for training stopped by SIGINT or SIGTERM at a safe point (the message gives the command that
    /// resumes it).</summary>
    public const int Stopped = 130;
    /// <summary>Set to 1 to let unforeseen exceptions through with their stack trace (for debugging the kit).</summary>
    public const string StackTraces = "APT_STACK_TRACES";

    /// <summary>
    /// "error: …" on standard error as one line, whatever the console's width (Spectre's console would wrap it at its
    /// width, and at 80 columns when the output is redirected).
    /// </summary>
    static void Print(string message) => Console.Error.WriteLine($"error: {message}");

    /// <param name="args">The command line, for the command that resumes a stopped run.</param>
    /// <param name="run">The command.</param>
    public static int Run(string[] args, Func<int> run)
    {
        try
        {
            return run();
        }
        catch (RunStoppedException e)
        {
            Console.Error.WriteLine($"{e.Message}; resume with: {ResumeCommand(args, e)}");
            return Stopped;
        }
        catch (CommandAppException e)
        {
            Print($"{e.Message} (see 'aptnb <verb> --help')");
            return BadInput;
        }
        catch (TorchLoadException e)
        {
            Print(e.Message);
            return BrokenEnvironment;
        }
        catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException or ArgumentException or FormatException)
        {
            Print(e.Message);
            return BadInput;
        }
        catch (Exception e) when (Environment.GetEnvironmentVariable(StackTraces) != "1")
        {
            string first = e.Message.Split('\n')[0].TrimEnd();
            Print($"unexpected {e.GetType().Name}: {first} (a fault of the kit, not of the input; {StackTraces}=1 shows where)");
            return Unexpected;
        }
    }

    /// <summary>
    /// The command that continues a stopped run: `aptnb train --resume &lt;folder&gt;` (with the --data-root given) for
    /// `aptnb train`, and the same command again for the others (sweeps and the quickstart skip finished runs and
    /// resume the one that stopped).
    /// </summary>
    static string ResumeCommand(string[] args, RunStoppedException stopped)
    {
        if (args.FirstOrDefault() != "train") return string.Join(' ', ["aptnb", .. args.Select(SlurmArray.Quote)]);
        int dataRoot = Array.IndexOf(args, "--data-root");
        string data = dataRoot >= 0 && dataRoot + 1 < args.Length
            ? $" --data-root {SlurmArray.Quote(args[dataRoot + 1])}" : "";
        return $"aptnb train --resume {SlurmArray.Quote(stopped.RunFolder)}{data}";
    }
}
