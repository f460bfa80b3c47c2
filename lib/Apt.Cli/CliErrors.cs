using Apt.Backbone;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Apt.Cli;

/// <summary>Turns failures into one clear message and a non-zero exit code instead of a stack trace.</summary>
public static class CliErrors
{
    /// <summary>Exit code for bad arguments or bad input files.</summary>
    public const int BadInput = 2;
    /// <summary>Exit code for an environment that cannot run the kit (libtorch, missing packages).</summary>
    public const int BrokenEnvironment = 3;

    public static int Run(Func<int> run)
    {
        try
        {
            return run();
        }
        catch (CommandAppException e)
        {
            AnsiConsole.MarkupLineInterpolated($"[red]error:[/] {e.Message}");
            AnsiConsole.MarkupLine("Run 'apt --help' or 'apt <verb> --help' for usage.");
            return BadInput;
        }
        catch (TorchLoadException e)
        {
            AnsiConsole.MarkupLineInterpolated($"[red]error:[/] {e.Message}");
            return BrokenEnvironment;
        }
        catch (Exception e) when (e is InvalidDataException or FileNotFoundException or DirectoryNotFoundException or ArgumentException or FormatException)
        {
            AnsiConsole.MarkupLineInterpolated($"[red]error:[/] {e.Message}");
            return BadInput;
        }
    }
}
