using Microsoft.FSharp.Core;
using Plotly.NET;
using Plotly.NET.CSharp;
using Plotly.NET.ImageExport;
using Plotly.NET.TraceObjects;
using PuppeteerSharp;
using CSharpChart = Plotly.NET.CSharp.Chart;
using GenericChartExtensions = Plotly.NET.CSharp.GenericChartExtensions;

namespace Apt.Plotting;

/// <summary>
/// Turns a <see cref="FigureSpec"/> into a Plotly.NET chart in the kit's style and renders it. plotly.js is always
/// inlined (never a CDN link): the kit's machines and many users' have no internet.
/// The string members (<see cref="HtmlPage"/>, <see cref="HtmlFragment"/>, <see cref="FigureJson"/>,
/// <see cref="PlotlyJavaScript"/>, <see cref="PngAsync"/>)
/// take the spec as JSON and return strings or bytes only, so a caller in another load context can bind them as delegates.
/// </summary>
public static class PlotlyFigures
{
    /// <summary>The Plotly.NET chart of <paramref name="spec"/>, styled, with plotly.js set to be inlined.</summary>
    public static GenericChart Build(FigureSpec spec)
    {
        if (spec.Traces.Count == 0) throw new ArgumentException($"Figure '{spec.Title}' has no traces.", nameof(spec));
        var traces = spec.Traces.Select(Trace).ToList();
        var plot = traces.Count == 1 ? traces[0] : CSharpChart.Combine(traces);
        plot = Plotly.NET.Chart.withTitle(spec.Title, FSharpOption<Font>.None).Invoke(plot);
        plot = GenericChartExtensions.WithXAxisStyle<string, string, string>(plot, TitleText: spec.XTitle);
        plot = GenericChartExtensions.WithYAxisStyle<string, string, string>(plot, TitleText: spec.YTitle);
        plot = Plotly.NET.Chart.withTemplate(ChartTemplates.lightMirrored).Invoke(plot);
        // Long category labels (sentences, method names) widen the margins instead of being cut off.
        plot = GenericChart.mapLayout(FSharpFunc<Layout, Layout>.FromConverter(layout =>
        {
            foreach (string axis in new[] { "xaxis", "yaxis" })
                if (layout.TryGetPropertyValue(axis) is { } found && found.Value is DynamicObj.DynamicObj style) style.SetProperty("automargin", true);
            return layout;
        }), plot);
        var embedPlotlyJs = DisplayOptions.init(null, null, null, null, null, null, FSharpOption<PlotlyJSReference>.Some(PlotlyJSReference.Full));
        return Plotly.NET.Chart.withDisplayOptions(embedPlotlyJs).Invoke(plot);
    }

    /// <summary>A whole HTML page with plotly.js inlined: opens in any browser offline.</summary>
    public static string HtmlPage(string specJson) => GenericChart.toEmbeddedHTML(Build(FigureSpec.FromJson(specJson)));

    /// <summary>A &lt;div&gt; with plotly.js inlined and the chart, as a notebook output shows it (each output stands alone).</summary>
    public static string HtmlFragment(string specJson) =>
        $"<div><script type=\"text/javascript\">{PlotlyJs.Value}</script>{GenericChart.toChartHTML(Build(FigureSpec.FromJson(specJson)))}</div>";

    /// <summary>plotly.js itself, for a page that carries it once and draws many figures
    /// (<see cref="FigureJson"/>).</summary>
    public static string PlotlyJavaScript() => PlotlyJs.Value;

    /// <summary>The figure as plotly.js reads it: {"data": [...], "layout": {...}}.</summary>
    public static string FigureJson(string specJson) => GenericChart.toFigureJson(Build(FigureSpec.FromJson(specJson)));

    /// <summary>
    /// Renders the figure to PNG bytes with the given chromium (Plotly.NET.ImageExport through PuppeteerSharp; its default
    /// would download a browser, which offline machines cannot). The page has plotly.js inlined, so no network is needed.
    /// </summary>
    public static async Task<byte[]> PngAsync(string specJson, int width, int height, string browserPath, string[] browserArguments)
    {
        var plot = Build(FigureSpec.FromJson(specJson));
        // The renderer's options are process-wide statics: set them and render under one lock.
        await OneExportAtATime.WaitAsync();
        try
        {
            PuppeteerSharpRendererOptions.localBrowserExecutablePath = FSharpOption<string>.Some(browserPath);
            PuppeteerSharpRendererOptions.launchOptions = new LaunchOptions
            {
                Headless = true,
                ExecutablePath = browserPath,
                Args = browserArguments,
                Timeout = 60_000,
            };
            string base64 = await ChartExtensions.ToBase64PNGStringAsync(
                FSharpOption<ExportEngine>.Some(ExportEngine.PuppeteerSharp),
                FSharpOption<int>.Some(width), FSharpOption<int>.Some(height), FSharpOption<double>.Some(1.0)).Invoke(plot);
            return DecodeDataUrl(base64);
        }
        finally
        {
            OneExportAtATime.Release();
        }
    }

    static readonly SemaphoreSlim OneExportAtATime = new(1, 1);

    static GenericChart Trace(TraceSpec trace) => trace switch
    {
        LineTrace line => CSharpChart.Line<double, double, string>(line.X, line.Y, Name: line.Name),
        BarTrace bars => Bars(bars),
        HeatmapTrace heatmap => Heatmap(heatmap),
        _ => throw new ArgumentException($"Unknown trace kind {trace.GetType().Name}."),
    };

    static GenericChart Bars(BarTrace bars)
    {
        var column = bars.Texts is null
            ? CSharpChart.Column<double, string, string>(bars.Values, Keys: Some<IEnumerable<string>>(bars.Categories), Name: bars.Name)
            : CSharpChart.Column<double, string, string>(bars.Values, Keys: Some<IEnumerable<string>>(bars.Categories), Name: bars.Name,
                MultiText: Some<IEnumerable<string>>(bars.Texts));
        if (bars.ErrorHalfWidths is null) return column;
        var error = new Error();
        error.SetProperty("type", "data");
        error.SetProperty("array", bars.ErrorHalfWidths);
        error.SetProperty("visible", true);
        return Plotly.NET.Chart.withYError(error).Invoke(column);
    }

    static GenericChart Heatmap(HeatmapTrace heatmap)
    {
        var plot = CSharpChart.Heatmap<double, string, string, string>(heatmap.Z, X: Some<IEnumerable<string>>(heatmap.X), Y: Some<IEnumerable<string>>(heatmap.Y),
            Name: heatmap.Name, ColorScale: StyleParam.Colorscale.Viridis);
        if (heatmap.ZMin is null && heatmap.ZMax is null) return plot;
        return GenericChart.mapTrace(FSharpFunc<Trace, Trace>.FromConverter(trace =>
        {
            if (heatmap.ZMin is { } min) trace.SetProperty("zmin", min);
            if (heatmap.ZMax is { } max) trace.SetProperty("zmax", max);
            return trace;
        }), plot);
    }

    static Optional<T> Some<T>(T value) => new(value, true);

    /// <summary>The plotly.js that Plotly.NET ships as a resource (the same file it inlines into whole pages).</summary>
    static readonly Lazy<string> PlotlyJs = new(() =>
    {
        var assembly = typeof(GenericChart).Assembly;
        string name = assembly.GetManifestResourceNames().Single(n => n.StartsWith("Plotly.NET.plotly-", StringComparison.Ordinal) && n.EndsWith(".min.js", StringComparison.Ordinal));
        using var reader = new StreamReader(assembly.GetManifestResourceStream(name)!);
        return reader.ReadToEnd();
    });

    /// <summary>The renderer returns the image as base64, possibly as a data URL ("data:image/png;base64,...").</summary>
    static byte[] DecodeDataUrl(string base64)
    {
        int comma = base64.IndexOf(',');
        return Convert.FromBase64String(base64.StartsWith("data:", StringComparison.Ordinal) ? base64[(comma + 1)..] : base64);
    }
}
