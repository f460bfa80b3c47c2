using Spectre.Console;

namespace Apt.Cli;

/// <summary>How the command's output is laid out when it goes to a pipe, a file or a CI log instead of a terminal.</summary>
public static class ConsoleOutput
{
    /// <summary>
    /// The line width used when standard output is redirected. Spectre.Console wraps at 80 columns when it cannot ask a
    /// terminal, which split error lines inside their file path and tables across lines; this is wide enough for any
    /// path and table the kit prints (tables take only the width their cells need, so nothing is padded to it).
    /// </summary>
    public const int RedirectedWidth = 1000;

    /// <summary>Widens the console profile when output is redirected; on a terminal the terminal's width stays.</summary>
    public static void WidenWhenRedirected()
    {
        if (Console.IsOutputRedirected) AnsiConsole.Profile.Width = RedirectedWidth;
    }
}
