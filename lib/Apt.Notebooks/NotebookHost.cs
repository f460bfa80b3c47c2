using Apt.Reporting;
using Microsoft.Data.Analysis;
using Microsoft.DotNet.Interactive.Formatting;

namespace Apt.Notebooks;

/// <summary>
/// <see cref="Show"/> in a .NET Interactive kernel: charts as interactive Plotly outputs (plotly.js inlined, so they
/// work offline), tables as HTML tables, HTML as markup and progress as one bar updated in place. A notebook's first
/// cell installs it; its terminal twin installs <see cref="TerminalHost"/> instead.
/// </summary>
public sealed class NotebookHost : IShowHost
{
    const string HtmlMime = HtmlFormatter.MimeType;

    /// <summary>Makes <see cref="Show"/> draw in the notebook, and a chart a cell returns show as a chart.</summary>
    public static void Use()
    {
        Formatter.Register<Chart>((chart, writer) => writer.Write(chart.ToHtmlFragment()), HtmlMime);
        Show.Host = new NotebookHost();
    }

    public void Chart(Chart chart) => chart.ToHtmlFragment().DisplayAs(HtmlMime);

    public void Table<T>(IEnumerable<T> rows) => rows.DisplayTable();

    public void Table(DataFrame frame) => frame.ToDisplayString(HtmlMime).DisplayAs(HtmlMime);

    public void Html(string html) => html.DisplayAs(HtmlMime);

    public IProgressView Progress(string title) => ProgressDisplay.Show(title);
}
