using System.Runtime.InteropServices;

namespace Apt.Cli;

/// <summary>
/// SIGINT (Ctrl+C) and SIGTERM (a scheduler's or `kill`'s): the first asks training to stop at its next safe point
/// (the step and any write in progress finish, a checkpoint is saved), so the run resumes; a second ends the process
/// at once, as the signal would without this. A sweep's worker process ignores the second: Ctrl+C reaches it from the
/// terminal and SIGTERM from its sweep, which forwards its own stop, and both must end in a checkpoint.
/// </summary>
public sealed class StopSignals : IDisposable
{
    readonly CancellationTokenSource _stop = new();
    readonly PosixSignalRegistration[] _registrations;
    readonly bool _secondEndsProcess;
    int _received;

    /// <param name="secondEndsProcess">Whether a second signal ends the process at once (every verb but
    /// the worker).</param>
    public StopSignals(bool secondEndsProcess)
    {
        _secondEndsProcess = secondEndsProcess;
        _registrations = [PosixSignalRegistration.Create(PosixSignal.SIGINT, Handle),
            PosixSignalRegistration.Create(PosixSignal.SIGTERM, Handle)];
    }

    /// <summary>Cancelled at the first signal; the commands hand it to their experiment.</summary>
    public CancellationToken Token => _stop.Token;

    void Handle(PosixSignalContext context)
    {
        bool second = Interlocked.Exchange(ref _received, 1) == 1;
        context.Cancel = !second || !_secondEndsProcess; // a second signal's own action ends the process
        if (second) return;
        string name = context.Signal == PosixSignal.SIGINT ? "SIGINT" : "SIGTERM";
        Console.Error.WriteLine($"{name}: stopping after the step in progress, with a checkpoint (send it again " +
            $"to stop at once)");
        _stop.Cancel();
    }

    public void Dispose()
    {
        foreach (var registration in _registrations) registration.Dispose();
        _stop.Dispose();
    }
}
