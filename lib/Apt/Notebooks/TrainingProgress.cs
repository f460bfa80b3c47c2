using System.Globalization;

namespace Apt.Notebooks;

/// <summary>
/// Where a training loop is: the generic record any trainer callback can be mapped to.
/// </summary>
/// <param name="Step">Optimiser steps done so far (1-based once training has started).</param>
/// <param name="TotalSteps">Steps the run will take.</param>
/// <param name="Epoch">Current epoch, 1-based.</param>
/// <param name="TotalEpochs">Epochs the run will take.</param>
/// <param name="Loss">Latest training loss (a running mean if the trainer smooths it); null before the
/// first step.</param>
/// <param name="ExamplesPerSecond">Throughput; null when unknown.</param>
/// <param name="Eta">Estimated time left; null when unknown.</param>
/// <param name="Note">Free text shown after the numbers, e.g. "dev acc 71.3".</param>
public sealed record TrainingProgress(
    int Step, int TotalSteps, int Epoch = 1, int TotalEpochs = 1,
    double? Loss = null, double? ExamplesPerSecond = null, TimeSpan? Eta = null, string? Note = null)
{
    /// <summary>Fraction done, in [0, 1].</summary>
    public double Fraction => TotalSteps <= 0 ? 0 : Math.Clamp((double)Step / TotalSteps, 0, 1);

    /// <summary>The numbers as one line (step, epoch, loss, throughput, ETA unless done, note).</summary>
    public string Facts(bool done = false)
    {
        var inv = CultureInfo.InvariantCulture;
        var facts = new List<string> { $"step {Step}/{TotalSteps}", $"epoch {Epoch}/{TotalEpochs}" };
        if (Loss is { } loss) facts.Add(string.Format(inv, "loss {0:0.0000}", loss));
        if (ExamplesPerSecond is { } rate) facts.Add(string.Format(inv, "{0:0.0} ex/s", rate));
        if (!done && Eta is { } eta) facts.Add($"ETA {FormatDuration(eta)}");
        if (Note is { Length: > 0 } note) facts.Add(note);
        return string.Join(" · ", facts);
    }

    static string FormatDuration(TimeSpan t) =>
        t.TotalHours >= 1 ? $"{(int)t.TotalHours}h{t.Minutes:00}m"
        : t.TotalMinutes >= 1 ? $"{t.Minutes}m{t.Seconds:00}s" : $"{t.Seconds}s";
}
