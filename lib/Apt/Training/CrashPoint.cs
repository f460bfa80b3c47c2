using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace Apt.Training;

/// <summary>
/// Test-only: lets a test crash a real run at an exact place instead of racing a timer. When the environment
/// variable <see cref="Variable"/> is "<c>point:step</c>", the process SIGKILLs itself (no handler, no flush,
/// exactly as a killed job) on reaching that point at that global step. The points:
/// <list type="bullet">
/// <item><c>step</c>: inside training step N, after its backward pass and before the optimizer update.</item>
/// <item><c>checkpoint</c>: inside the write of step N's checkpoint, after its trainable.safetensors is staged and
/// before the optimizer state and state.json are.</item>
/// <item><c>sigterm</c>, <c>sigint</c>: where <c>step</c> kills, the process sends itself that signal instead and waits
/// until the run is asked to stop (at most <see cref="SignalWait"/>), so the signal lands inside a known step.</item>
/// </list>
/// Unset (every normal run), it is one environment read per process and a comparison per point.
/// </summary>
public static class CrashPoint
{
    public const string Variable = "APT_TEST_KILL_AT";
    public const string Step = "step";
    public const string Checkpoint = "checkpoint";
    public const string SigTerm = "sigterm", SigInt = "sigint";

    /// <summary>How long a signal point holds the step at most, for the signal's handler to ask the
    /// run to stop.</summary>
    public static readonly TimeSpan SignalWait = TimeSpan.FromMinutes(1);

    [DllImport("libc", EntryPoint = "kill")]
    static extern int SendSignal(int process, int signal);

    static readonly Lazy<(string Point, long Step)?> Armed = new(() => Parse(Environment.GetEnvironmentVariable(Variable)));

    /// <summary>
    /// Kills (or signals, then waits for <paramref name="stop"/>) the process if the armed point is
    /// <paramref name="point"/> at global step <paramref name="step"/>.
    /// </summary>
    public static void Reach(string point, long step, CancellationToken stop = default)
    {
        if (Armed.Value is not { } armed || armed.Step != step) return;
        if (armed.Point is SigTerm or SigInt && point == Step)
        {
            _ = SendSignal(Environment.ProcessId, armed.Point == SigTerm ? 15 : 2);
            stop.WaitHandle.WaitOne(SignalWait);
            return;
        }
        if (armed.Point != point) return;
        Console.Out.Flush();
        Process.GetCurrentProcess().Kill(); // SIGKILL on Unix
    }

    static (string, long)? Parse(string? value)
    {
        if (string.IsNullOrEmpty(value)) return null;
        string[] parts = value.Split(':');
        return parts.Length == 2 && parts[0] is Step or Checkpoint or SigTerm or SigInt
            && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out long step)
            ? (parts[0], step)
            : throw new ArgumentException($"{Variable}={value}: expected '<point>:<global step>' with a point of " +
                $"{Step}, {Checkpoint}, {SigTerm} or {SigInt}");
    }
}
