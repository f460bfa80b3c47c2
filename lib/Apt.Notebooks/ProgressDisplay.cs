using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Html;
using Microsoft.DotNet.Interactive.Formatting;

namespace Apt.Notebooks;

/// <summary>
/// A live progress bar in a notebook cell: one HTML output that is updated in place (a .NET Interactive
/// <see cref="DisplayedValue"/>), instead of a wall of log lines. Pass it as an <see cref="IProgress{T}"/>
/// to a training loop; updates are throttled so a fast loop does not flood the front end.
/// </summary>
public sealed class ProgressDisplay : IProgressView
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

    public TrainingProgress? Last { get; private set; }

    /// <summary>Redraws the bar (at most every minInterval, and always on the final step).</summary>
    public void Report(TrainingProgress value)
    {
        Last = value;
        var now = DateTime.UtcNow;
        if (value.Step < value.TotalSteps && now - _lastUpdate < _minInterval) return;
        _lastUpdate = now;
        _shown.Update(new HtmlString(Render(_title, value)));
    }

    public void Complete(string? note = null)
    {
        var final = (Last ?? new TrainingProgress(0, 0)) with { Eta = TimeSpan.Zero };
        if (note is not null) final = final with { Note = note };
        Last = final;
        _shown.Update(new HtmlString(Render(_title, final, done: true)));
    }

    /// <summary>The bar as an HTML fragment: title, a filled bar, step/epoch, loss, throughput and ETA.</summary>
    public static string Render(string title, TrainingProgress? progress, bool done = false)
    {
        double percent = done ? 100 : 100 * (progress?.Fraction ?? 0);
        string status = done ? "done"
            : progress is null ? "starting…" : string.Format(CultureInfo.InvariantCulture, "{0:0}%", percent);
        return string.Format(CultureInfo.InvariantCulture,
            "<div class=\"apt-progress\" style=\"font-family:sans-serif;font-size:13px;max-width:640px\">" +
            "<div><b>{0}</b> — {1}</div>" +
            "<div style=\"background:#e5e7eb;border-radius:4px;height:10px;margin:4px 0\">" +
            "<div style=\"background:{2};width:{3:0.#}%;height:10px;border-radius:4px\"></div></div>" +
            "<div style=\"color:#374151\">{4}</div></div>",
            WebUtility.HtmlEncode(title), status, done ? "#16a34a" : "#2563eb", percent,
            WebUtility.HtmlEncode(progress?.Facts(done) ?? ""));
    }
}
