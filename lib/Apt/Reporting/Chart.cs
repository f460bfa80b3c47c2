using Microsoft.DotNet.Interactive.Formatting;
using Microsoft.FSharp.Core;
using Plotly.NET;

namespace Apt.Reporting;

/// <summary>
/// A Plotly chart as the kit hands it out: shown as an interactive chart when a notebook cell returns or
/// displays it, saved as one self-contained HTML file, exported to PNG through a local chromium.
/// plotly.js is always embedded (never a CDN link): the kit's machines and many users' have no internet.
/// </summary>
[TypeFormatterSource(typeof(ChartFormatterSource))]
public sealed class Chart
{
    /// <summary>Wraps a Plotly.NET chart; <paramref name="title"/> also names exported files.</summary>
    public Chart(GenericChart plot, string title)
    {
        Title = title;
        var embedPlotlyJs = DisplayOptions.init(null, null, null, null, null, null, FSharpOption<PlotlyJSReference>.Some(PlotlyJSReference.Full));
        Plot = Plotly.NET.Chart.withDisplayOptions(embedPlotlyJs).Invoke(plot);
    }

    /// <summary>The Plotly.NET chart, for styling beyond the kit's defaults.</summary>
    public GenericChart Plot { get; }

    public string Title { get; }

    /// <summary>A whole HTML page with plotly.js inlined: opens in any browser offline.</summary>
    public string ToHtmlPage() => GenericChart.toEmbeddedHTML(Plot);

    /// <summary>A &lt;div&gt; with plotly.js inlined and the chart, as a notebook output shows it (each output stands alone).</summary>
    public string ToHtmlFragment() =>
        $"<div><script type=\"text/javascript\">{PlotlyJs.Value}</script>{GenericChart.toChartHTML(Plot)}</div>";

    /// <summary>The plotly.js that Plotly.NET ships as a resource (the same file it inlines into whole pages).</summary>
    static readonly Lazy<string> PlotlyJs = new(() =>
    {
        var assembly = typeof(GenericChart).Assembly;
        string name = assembly.GetManifestResourceNames().Single(n => n.StartsWith("Plotly.NET.plotly-", StringComparison.Ordinal) && n.EndsWith(".min.js", StringComparison.Ordinal));
        using var reader = new StreamReader(assembly.GetManifestResourceStream(name)!);
        return reader.ReadToEnd();
    });

    /// <summary>The figure as plotly.js reads it: {"data": [...], "layout": {...}}.</summary>
    public string ToFigureJson() => GenericChart.toFigureJson(Plot);

    /// <summary>Writes <see cref="ToHtmlPage"/> atomically.</summary>
    public void SaveHtml(string path) => AtomicFile.WriteAllText(path, ToHtmlPage());

    /// <summary>Renders the chart to a PNG with the local chromium (see <see cref="ChartImageExport"/>).</summary>
    public Task SavePngAsync(string path, int width = 900, int height = 500) =>
        ChartImageExport.SavePngAsync(this, path, width, height);

    public override string ToString() => $"Chart '{Title}'";
}

/// <summary>How .NET Interactive shows a <see cref="Chart"/>: found through the type's attribute, so no kernel extension is needed.</summary>
public sealed class ChartFormatterSource : ITypeFormatterSource
{
    public IEnumerable<ITypeFormatter> CreateTypeFormatters() =>
    [
        new HtmlFormatter<Chart>((chart, context) => { context.Writer.Write(chart.ToHtmlFragment()); return true; }),
        new PlainTextFormatter<Chart>((chart, context) => { context.Writer.Write(chart.ToString()); return true; }),
    ];
}
