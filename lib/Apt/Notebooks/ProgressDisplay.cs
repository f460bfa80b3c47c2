using System.Globalization;
using System.Net;
using Microsoft.DotNet.Interactive.Formatting;

namespace Apt.Notebooks;

/// <summary>
/// Where a training loop is: the generic record any trainer callback can be mapped to.
/// </summary>
/// <param name="Step">Optimiser steps done so far (1-based once training has started).</param>
/// <param name="TotalSteps">Steps the run will take.</param>
/// <param name="Epoch">Current epoch, 1-based.</param>
/// <param name="TotalEpochs">Epochs the run will take.</param>
/// <param name="Loss">Latest training loss (a running mean if the trainer smooths it); null before the first step.</param>
/// <param name="ExamplesPerSecond">Throughput; null when unknown.</param>
/// <param name="Eta">Estimated time left; null when unknown.</param>
/// <param name="Note">Free text shown after the numbers, e.g. "dev acc 71.3".</param>
public sealed record TrainingProgress(
    int Step, int TotalSteps, int Epoch = 1, int TotalEpochs = 1,
    double? Loss = null, double? ExamplesPerSecond = null, TimeSpan? Eta = null, string? Note = null)
{
    /// <summary>Fraction done, in [0, 1].</summary>
    public double Fraction => TotalSteps <= 0 ? 0 : Math.Clamp((double)Step / TotalSteps, 0, 1);
}

/// <summary>
/// A live progress bar in a notebook cell: one HTML output that is updated in place (a .NET Interactive
/// <see cref="DisplayedValue"/>), instead of a wall of log lines. Pass it as an <see cref="IProgress{T}"/>
/// to a training loop; updates are throttled so a fast loop does not flood the front end.
/// </summary>
public sealed class ProgressDisplay : IProgress<TrainingProgress>
{
    readonly string _title;
    readonly DisplayedValue _shown;
    readonly TimeSpan _minInterval;
    DateTime _lastUpdate = DateTime.MinValue;

    ProgressDisplay(string title, TimeSpan minInterval)
    {
        _title = title;
        _minInterval = minInterval;
        _shown = Render(title, null).DisplayAs("text/html");
    }

    /// <summary>Shows an empty bar under the running cell; only valid inside a .NET Interactive kernel.</summary>
    /// <param name="title">What is running, e.g. "APT on WiC, seed 1".</param>
    /// <param name="minIntervalSeconds">Fewest seconds between two redraws (the last step always redraws).</param>
    public static ProgressDisplay Show(string title, double minIntervalSeconds = 0.5) =>
        new(title, TimeSpan.FromSeconds(minIntervalSeconds));

    /// <summary>The latest progress reported.</summary>
    public TrainingProgress? Last { get; private set; }

    /// <summary>Redraws the bar (at most every minInterval, and always on the final step).</summary>
    public void Report(TrainingProgress value)
    {
        Last = value;
        var now = DateTime.UtcNow;
        if (value.Step < value.TotalSteps && now - _lastUpdate < _minInterval) return;
        _lastUpdate = now;
        _shown.Update(Render(_title, value).ToHtmlContent());
    }

    /// <summary>Redraws the bar as finished, with an optional closing note (e.g. the final dev score).</summary>
    public void Complete(string? note = null)
    {
        var final = (Last ?? new TrainingProgress(0, 0)) with { Eta = TimeSpan.Zero };
        if (note is not null) final = final with { Note = note };
        Last = final;
        _shown.Update(Render(_title, final, done: true).ToHtmlContent());
    }

    /// <summary>The bar as an HTML fragment: title, a filled bar, step/epoch, loss, throughput and ETA.</summary>
    public static string Render(string title, TrainingProgress? progress, bool done = false)
    {
        var inv = CultureInfo.InvariantCulture;
        double percent = done ? 100 : 100 * (progress?.Fraction ?? 0);
        var facts = new List<string>();
        if (progress is not null)
        {
            facts.Add($"step {progress.Step}/{progress.TotalSteps}");
            facts.Add($"epoch {progress.Epoch}/{progress.TotalEpochs}");
            if (progress.Loss is { } loss) facts.Add(string.Format(inv, "loss {0:0.0000}", loss));
            if (progress.ExamplesPerSecond is { } rate) facts.Add(string.Format(inv, "{0:0.0} ex/s", rate));
            if (!done && progress.Eta is { } eta) facts.Add($"ETA {FormatDuration(eta)}");
            if (progress.Note is { Length: > 0 } note) facts.Add(note);
        }
        string status = done ? "done" : progress is null ? "starting…" : string.Format(inv, "{0:0}%", percent);
        return string.Format(inv,
            "<div class=\"apt-progress\" style=\"font-family:sans-serif;font-size:13px;max-width:640px\">" +
            "<div><b>{0}</b> — {1}</div>" +
            "<div style=\"background:#e5e7eb;border-radius:4px;height:10px;margin:4px 0\">" +
            "<div style=\"background:{2};width:{3:0.#}%;height:10px;border-radius:4px\"></div></div>" +
            "<div style=\"color:#374151\">{4}</div></div>",
            WebUtility.HtmlEncode(title), status, done ? "#16a34a" : "#2563eb", percent, WebUtility.HtmlEncode(string.Join(" · ", facts)));
    }

    static string FormatDuration(TimeSpan t) =>
        t.TotalHours >= 1 ? $"{(int)t.TotalHours}h{t.Minutes:00}m" : t.TotalMinutes >= 1 ? $"{t.Minutes}m{t.Seconds:00}s" : $"{t.Seconds}s";
}

static class HtmlContentExtensions
{
    /// <summary>Marks a string as HTML so the formatter shows it as markup, not as text.</summary>
    public static Microsoft.AspNetCore.Html.HtmlString ToHtmlContent(this string html) => new(html);
}
