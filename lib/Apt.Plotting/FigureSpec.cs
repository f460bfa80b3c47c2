using System.Text.Json;
using System.Text.Json.Serialization;

namespace Apt.Plotting;

/// <summary>
/// A chart as plain data: the traces and the axis titles, nothing of Plotly.NET. The kit's chart factories
/// (<c>Apt.Reporting.Charts</c>) validate their input and describe the chart with this; <see cref="PlotlyFigures"/> turns it
/// into a Plotly.NET chart. Being plain data, it crosses into an isolated load context as JSON (<see cref="ToJson"/>).
/// </summary>
/// <param name="Title">Chart title; also names exported files.</param>
/// <param name="XTitle">Title of the x axis ("" for none).</param>
/// <param name="YTitle">Title of the y axis ("" for none).</param>
/// <param name="Traces">What is drawn, in order (later traces on top).</param>
public sealed record FigureSpec(string Title, string XTitle, string YTitle, IReadOnlyList<TraceSpec> Traces)
{
    static readonly JsonSerializerOptions Json = new()
    {
        // Metrics can be NaN (an empty class, a diverged run); JSON has no literal for it.
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <exception cref="JsonException">Not a figure spec.</exception>
    public static FigureSpec FromJson(string json) =>
        JsonSerializer.Deserialize<FigureSpec>(json, Json) ?? throw new JsonException("A figure spec is a JSON object, got null.");
}

/// <summary>One trace of a <see cref="FigureSpec"/>; <paramref name="Name"/> is its legend entry.</summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "kind")]
[JsonDerivedType(typeof(LineTrace), "line")]
[JsonDerivedType(typeof(BarTrace), "bar")]
[JsonDerivedType(typeof(HeatmapTrace), "heatmap")]
public abstract record TraceSpec(string Name);

/// <summary>A line through the points (X[i], Y[i]).</summary>
public sealed record LineTrace(string Name, double[] X, double[] Y) : TraceSpec(Name);

/// <summary>
/// Vertical bars, one per category; <paramref name="ErrorHalfWidths"/> draws symmetric error bars and
/// <paramref name="Texts"/> labels each bar (e.g. "72.3 ± 0.6"); either may be null.
/// </summary>
public sealed record BarTrace(string Name, string[] Categories, double[] Values, double[]? ErrorHalfWidths = null, string[]? Texts = null)
    : TraceSpec(Name);

/// <summary>
/// A heatmap of <paramref name="Z"/> (rows × columns; row 0 drawn at the bottom) labelled by <paramref name="X"/> (columns)
/// and <paramref name="Y"/> (rows); <paramref name="ZMin"/>/<paramref name="ZMax"/> fix the colour scale, else it spans the data.
/// </summary>
public sealed record HeatmapTrace(string Name, double[][] Z, string[] X, string[] Y, double? ZMin = null, double? ZMax = null)
    : TraceSpec(Name);
