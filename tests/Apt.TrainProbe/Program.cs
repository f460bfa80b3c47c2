using Apt.TrainProbe;

// Usage: Apt.TrainProbe <run folder> [--hang-after-step N]
// Trains ToyClassifier with ProbeRun's settings in <run folder>, resuming it if it has checkpoints.
// Prints "step N" after every step and "done …" at the end. With --hang-after-step, it stops dead after
// printing that step (its checkpoint and log line for the step not yet written), for a test to kill it there.
if (args.Length is not (1 or 3) || (args.Length == 3 && args[1] != "--hang-after-step"))
{
    Console.Error.WriteLine("usage: Apt.TrainProbe <run folder> [--hang-after-step N]");
    return 2;
}
long hangAfter = args.Length == 3 ? long.Parse(args[2]) : -1;
var result = ProbeRun.Train(args[0], progress =>
{
    Console.WriteLine($"step {progress.Step}");
    if (progress.Step == hangAfter) Thread.Sleep(Timeout.Infinite);
}, warning => Console.WriteLine($"warning: {warning}"));
Console.WriteLine($"done epoch {result.SelectedEpoch} value {result.SelectedValue:R}");
return 0;
