using System.Runtime.InteropServices;

namespace Apt.Cli;

/// <summary>
/// SIGINT (Ctrl+C) and SIGTERM (a scheduler's or `kill`'s): the first asks training to stop at its next safe point
/// (the step and any write in progress finish, a checkpoint is saved), so the run resumes; a second ends the process
/// at once, as the signal would without this.
/// </summary>
public sealed class StopSignals : IDisposable
{
    readonly CancellationTokenSource _stop = new();
    readonly PosixSignalRegistration[] _registrations;
    int _received;

    public StopSignals() =>
        _registrations = [PosixSignalRegistration.Create(PosixSignal.SIGINT, Handle), PosixSignalRegistration.Create(PosixSignal.SIGTERM, Handle)];

    /// <summary>Cancelled at the first signal; the commands hand it to their experiment.</summary>
    public CancellationToken Token => _stop.Token;

    void Handle(PosixSignalContext context)
    {
        if (Interlocked.Exchange(ref _received, 1) == 1) return; // the second: the signal's own action ends the process
        context.Cancel = true;
        string name = context.Signal == PosixSignal.SIGINT ? "SIGINT" : "SIGTERM";
        Console.Error.WriteLine($"{name}: stopping after the step in progress, with a checkpoint (send it again to stop at once)");
        _stop.Cancel();
    }

    public void Dispose()
    {
        foreach (var registration in _registrations) registration.Dispose();
        _stop.Dispose();
    }
}
