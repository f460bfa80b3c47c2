using Apt.Plotting;

namespace Apt.Reporting;

/// <summary>
/// A Plotly chart as the kit hands it out (made by <see cref="Charts"/>): shown as an interactive chart in a notebook
/// (Apt.Notebooks formats it), saved as one self-contained HTML file, exported to PNG through a local chromium.
/// It holds its figure as plain data and renders through <see cref="PlottingBackend"/>, which runs Plotly.NET wherever
/// it loads cleanly, also inside a notebook kernel whose own FSharp.Core is older than Plotly.NET's.
/// </summary>
public sealed class Chart
{
    readonly string _specJson;

    /// <summary>A chart of <paramref name="spec"/>; its title also names exported files.</summary>
    public Chart(FigureSpec spec)
    {
        Spec = spec;
        _specJson = spec.ToJson();
    }

    /// <summary>What the chart draws, as plain data.</summary>
    public FigureSpec Spec { get; }

    public string Title => Spec.Title;

    /// <summary>A whole HTML page with plotly.js inlined: opens in any browser offline.</summary>
    public string ToHtmlPage() => PlottingBackend.Current.HtmlPage(_specJson);

    /// <summary>A &lt;div&gt; with plotly.js inlined and the chart, as a notebook output shows it (each output stands alone).</summary>
    public string ToHtmlFragment() => PlottingBackend.Current.HtmlFragment(_specJson);

    /// <summary>The figure as plotly.js reads it: {"data": [...], "layout": {...}}.</summary>
    public string ToFigureJson() => PlottingBackend.Current.FigureJson(_specJson);

    /// <summary>Writes <see cref="ToHtmlPage"/> atomically.</summary>
    public void SaveHtml(string path) => AtomicFile.WriteAllText(path, ToHtmlPage());

    /// <summary>Renders the chart to a PNG with the local chromium (see <see cref="ChartImageExport"/>).</summary>
    public Task SavePngAsync(string path, int width = 900, int height = 500) =>
        ChartImageExport.SavePngAsync(this, path, width, height);

    internal Task<byte[]> RenderPngAsync(int width, int height, string browserPath, string[] browserArguments) =>
        PlottingBackend.Current.PngAsync(_specJson, width, height, browserPath, browserArguments);

    public override string ToString() => $"Chart '{Title}'";
}
