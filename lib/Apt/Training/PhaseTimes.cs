using System.Diagnostics;

namespace Apt.Training;

/// <summary>
/// Wall time summed per named phase (start-up, data, backbone load, training steps, evaluation, …), in the order
/// the phases were first seen: what the quickstart prints so that where its minutes go is measured, not guessed.
/// </summary>
public sealed class PhaseTimes
{
    readonly List<string> _order = [];
    readonly Dictionary<string, TimeSpan> _totals = [];

    /// <summary>Adds <paramref name="elapsed"/> to <paramref name="phase"/>.</summary>
    public void Add(string phase, TimeSpan elapsed)
    {
        if (!_totals.TryGetValue(phase, out var total)) _order.Add(phase);
        _totals[phase] = total + elapsed;
    }

    /// <summary>Runs <paramref name="work"/> and adds its wall time to <paramref name="phase"/>.</summary>
    public T Time<T>(string phase, Func<T> work)
    {
        var watch = Stopwatch.StartNew();
        try { return work(); }
        finally { Add(phase, watch.Elapsed); }
    }

    /// <inheritdoc cref="Time{T}"/>
    public void Time(string phase, Action work) => Time<bool>(phase, () => { work(); return true; });

    /// <summary>The sum over all phases.</summary>
    public TimeSpan Total => _totals.Values.Aggregate(TimeSpan.Zero, (sum, t) => sum + t);

    /// <summary>Each phase with its total, in first-seen order.</summary>
    public IReadOnlyList<(string Phase, TimeSpan Elapsed)> Totals => [.. _order.Select(p => (p, _totals[p]))];
}
