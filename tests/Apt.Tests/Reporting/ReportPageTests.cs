using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using Apt.Reporting;

namespace Apt.Tests.Reporting;

/// <summary>The report page: plotly.js once, every chart, the table's rounding on the bars, and what a
/// browser shows.</summary>
public sealed class ReportPageTests
{
    static readonly double[,] Alpha = { { 0.9, 0.8, 0.1, 0.2 }, { 0.5, 0.5, 0.5, 0.5 }, { 0.1, 0.2, 0.95, 0.7 } };

    static ResultsTable Table()
    {
        var table = new ResultsTable();
        table.Set("PT-2", "wordnet-wic", new ResultCell(62.345, 1.03, 3), 74498);
        table.Set("APT", "wordnet-wic", new ResultCell(63.96, 0.951, 3), 111464);
        table.Set("majority class", "wordnet-wic", new ResultCell(50, null, 1));
        return table;
    }

    static ReportPage Page(string title = "Report of a test") => new ReportPage(title)
        .Heading("Results").Html(Table().ToHtml())
        .Heading("Verdicts").List(["APT − PT-2 = +1.6 → undecided"])
        .Chart(Table().ToChart("wordnet-wic"))
        .Chart(Charts.GateHeatmap(Alpha))
        .Chart(Charts.LossCurves([new("PT-2", [1, 2, 3], [0.9, 0.7, 0.6]), new("APT", [1, 2, 3], [0.8, 0.6, 0.4])]));

    [Fact]
    public void The_page_carries_plotly_js_once_and_every_chart()
    {
        string html = Page().ToHtml();
        string plotly = PlottingBackend.Current.PlotlyJavaScript();
        Assert.Single(Regex.Matches(html, Regex.Escape(plotly[..200])));
        Assert.InRange(html.Length, plotly.Length, plotly.Length + 100_000);
        Assert.Equal(3, Regex.Matches(html, "Plotly\\.newPlot\\(\"chart-").Count);
        Assert.DoesNotMatch("<script[^>]+src=", html);
        Assert.Contains("<td class=\"number\">62.3 ± 1.0 [", html);
    }

    [Fact]
    public void Text_and_titles_cannot_break_out_of_the_page()
    {
        string html = new ReportPage("a <b> title").Paragraph("x < y & z")
            .Chart(Charts.LossCurves([new("</script><script>alert(1)</script>", [1], [0.5])])).ToHtml();
        Assert.Contains("<h1>a &lt;b&gt; title</h1>", html);
        Assert.Contains("<p>x &lt; y &amp; z</p>", html);
        Assert.DoesNotContain("</script><script>alert", html);
    }

    [Fact]
    public void Bar_labels_round_as_the_table_does()
    {
        var table = Table();
        using var figure = JsonDocument.Parse(table.ToChart("wordnet-wic").ToFigureJson());
        var texts = figure.RootElement.GetProperty("data")[0].GetProperty("text");
        string[] labels = [.. texts.EnumerateArray().Select(t => t.GetString()!)];
        Assert.Equal(["62.3 ± 1.0", "64.0 ± 1.0", "50.0"], labels);
        foreach (var (method, label) in table.Methods.Zip(labels))
            Assert.StartsWith(label, table[method, "wordnet-wic"]!.ToString());
    }

    [ChromiumFact]
    public async Task Headless_chromium_draws_every_chart_without_script_errors()
    {
        string folder = Directory.CreateTempSubdirectory("apt-report-").FullName;
        try
        {
            string page = Path.Combine(folder, "report.html"), shot = Path.Combine(folder, "report.png");
            Page().Save(page);
            var (dom, log) = await Chromium(folder, "--dump-dom", page);
            Assert.DoesNotMatch("Uncaught|CONSOLE.*Error", log);
            // plotly.js marks each div it drew and puts its SVG layers inside.
            Assert.Equal(3, Regex.Matches(dom, $"class=\"{ReportPage.ChartClass} js-plotly-plot\"").Count);
            Assert.True(Regex.Matches(dom, "class=\"main-svg\"").Count >= 3, "every chart has its SVG");
            Assert.Contains("62.3 ± 1.0", dom);

            await Chromium(folder, $"--screenshot={shot}", page);
            byte[] png = File.ReadAllBytes(shot);
            Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png[..4]);
            // A white page compresses to a few kilobytes; three drawn charts, a table and text do not.
            Assert.True(png.Length > 40_000, $"the screenshot is {png.Length} bytes: little more than a blank page");
            string keep = Path.Combine(TestPaths.Artifacts, "charts", "report-page.png");
            Directory.CreateDirectory(Path.GetDirectoryName(keep)!);
            File.Copy(shot, keep, overwrite: true);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>Runs headless chromium on a page as a user's browser opens it; its stdout and its log (console
    /// messages).</summary>
    static async Task<(string Output, string Log)> Chromium(string profile, string action, string page)
    {
        var start = new ProcessStartInfo(ChartImageExport.BrowserPath)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (string argument in (string[])[.. ChartImageExport.BrowserArguments,
            $"--user-data-dir={profile}/profile",
            "--enable-logging=stderr", "--v=0", "--hide-scrollbars", "--window-size=1200,2400",
            "--virtual-time-budget=20000", action, new Uri(page).AbsoluteUri])
            start.ArgumentList.Add(argument);
        using var chromium = Process.Start(start)!;
        var output = chromium.StandardOutput.ReadToEndAsync();
        var log = chromium.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await chromium.WaitForExitAsync(timeout.Token);
        Assert.True(chromium.ExitCode == 0, $"chromium {action} exited with {chromium.ExitCode}: {await log}");
        return (await output, await log);
    }
}
