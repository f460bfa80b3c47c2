using System.Text;

namespace Apt.Reporting;

/// <summary>
/// One HTML page with a report's text and every chart, which opens offline in any browser. plotly.js (3.6 MB) stands
/// in it once and each chart is its figure JSON drawn on load, where a page per chart carried plotly.js every time.
/// </summary>
public sealed class ReportPage(string title)
{
    readonly StringBuilder _body = new();
    int _charts;

    /// <summary>The class of every chart's &lt;div&gt;, which plotly.js fills with its SVG.</summary>
    public const string ChartClass = "apt-chart";

    public ReportPage Heading(string text)
    {
        _body.Append("<h2>").Append(Encode(text)).AppendLine("</h2>");
        return this;
    }

    public ReportPage Paragraph(string text)
    {
        _body.Append("<p>").Append(Encode(text)).AppendLine("</p>");
        return this;
    }

    /// <summary>A bulleted list; nothing for no items.</summary>
    public ReportPage List(IEnumerable<string> items)
    {
        var list = items.ToList();
        if (list.Count > 0)
            _body.AppendLine("<ul>").AppendJoin("", list.Select(i => $"<li>{Encode(i)}</li>\n")).AppendLine("</ul>");
        return this;
    }

    /// <summary>Markup the caller built and escaped (<see cref="ResultsTable.ToHtml"/>).</summary>
    public ReportPage Html(string markup)
    {
        _body.AppendLine(markup);
        return this;
    }

    /// <summary>The chart, interactive; its figure is written into the page now.</summary>
    public ReportPage Chart(Chart chart)
    {
        string id = $"chart-{++_charts}";
        // "</" would end the script element early if a title or label held it.
        string figure = chart.ToFigureJson().Replace("</", "<\\/", StringComparison.Ordinal);
        // The figure's fixed 600 × 600 px is for a chart alone; on the page it fills its <div>'s width and height.
        _body.AppendLine($"<div id=\"{id}\" class=\"{ChartClass}\"></div>")
            .Append("<script>(function (f) { delete f.layout.width; delete f.layout.height; ")
            .AppendLine($"Plotly.newPlot(\"{id}\", f.data, f.layout, {{responsive: true}}); }})({figure});</script>");
        return this;
    }

    public string ToHtml() => new StringBuilder()
        .AppendLine("<!DOCTYPE html>")
        .AppendLine("<html lang=\"en\"><head><meta charset=\"utf-8\">")
        .Append("<title>").Append(Encode(title)).AppendLine("</title>")
        .AppendLine("<style>")
        .AppendLine("body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1000px; padding: 0 1em; }")
        .AppendLine("table { border-collapse: collapse; } th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; }")
        .AppendLine("td.number { text-align: right; font-variant-numeric: tabular-nums; }")
        .AppendLine($".{ChartClass} {{ width: 100%; height: 480px; margin: 1em 0; }}")
        .AppendLine("</style>")
        .Append("<script>").Append(PlottingBackend.Current.PlotlyJavaScript()).AppendLine("</script>")
        .AppendLine("</head><body>")
        .Append("<h1>").Append(Encode(title)).AppendLine("</h1>")
        .Append(_body)
        .AppendLine("</body></html>")
        .ToString();

    /// <summary>Writes <see cref="ToHtml"/> atomically.</summary>
    public void Save(string path) => AtomicFile.WriteAllText(path, ToHtml());

    /// <summary>Escapes markup only; the page is UTF-8, so "±" and "α" stay readable in its source.</summary>
    internal static string Encode(string text) =>
        text.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;").Replace("\"", "&quot;");
}
