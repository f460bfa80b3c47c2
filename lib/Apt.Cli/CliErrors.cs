using Apt.Backbone;
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
    /// <summary>Set to 1 to let unforeseen exceptions through with their stack trace (for debugging the kit).</summary>
    public const string StackTraces = "APT_STACK_TRACES";

    /// <summary>
    /// "error: …" on standard error as one line, whatever the console's width (Spectre's console would wrap it at its
    /// width, and at 80 columns when the output is redirected).
    /// </summary>
    static void Print(string message) => Console.Error.WriteLine($"error: {message}");

    public static int Run(Func<int> run)
    {
        try
        {
            return run();
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
}
