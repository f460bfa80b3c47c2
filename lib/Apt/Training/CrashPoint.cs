using System.Diagnostics;
using System.Globalization;

namespace Apt.Training;

/// <summary>
/// Test-only: lets a test crash a real run at an exact place instead of racing a timer. When the environment
/// variable <see cref="Variable"/> is "<c>point:step</c>", the process SIGKILLs itself (no handler, no flush,
/// exactly as a killed job) on reaching that point at that global step. The points:
/// <list type="bullet">
/// <item><c>step</c>: inside training step N, after its backward pass and before the optimizer update.</item>
/// <item><c>checkpoint</c>: inside the write of step N's checkpoint, after its trainable.safetensors is staged and
/// before the optimizer state and state.json are.</item>
/// </list>
/// Unset (every normal run), it is one environment read per process and a comparison per point.
/// </summary>
public static class CrashPoint
{
    public const string Variable = "APT_TEST_KILL_AT";
    public const string Step = "step";
    public const string Checkpoint = "checkpoint";

    static readonly Lazy<(string Point, long Step)?> Armed = new(() => Parse(Environment.GetEnvironmentVariable(Variable)));

    /// <summary>Kills the process if the armed point is <paramref name="point"/> at global step <paramref name="step"/>.</summary>
    public static void Reach(string point, long step)
    {
        if (Armed.Value is not { } armed || armed.Point != point || armed.Step != step) return;
        Console.Out.Flush();
        Process.GetCurrentProcess().Kill(); // SIGKILL on Unix
    }

    static (string, long)? Parse(string? value)
    {
        if (string.IsNullOrEmpty(value)) return null;
        string[] parts = value.Split(':');
        return parts.Length == 2 && parts[0] is Step or Checkpoint && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out long step)
            ? (parts[0], step)
            : throw new ArgumentException($"{Variable}={value}: expected '{Step}:<global step>' or '{Checkpoint}:<global step>'");
    }
}
