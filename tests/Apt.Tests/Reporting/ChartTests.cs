using System.Text.Json;
using Apt.Reporting;

namespace Apt.Tests.Reporting;

public class ChartTests
{
    static readonly double[,] Alpha = { { 0.9, 0.8, 0.1, 0.2 }, { 0.5, 0.5, 0.5, 0.5 }, { 0.1, 0.2, 0.95, 0.7 } };

    [Fact]
    public void Html_page_embeds_plotly_js_and_links_no_cdn()
    {
        string html = Charts.GateHeatmap(Alpha).ToHtmlPage();
        Assert.Contains("Plotly.newPlot", html);
        Assert.True(html.Length > 1_000_000, $"plotly.js should be inlined; page is only {html.Length} characters");
        // (plotly.js's own source mentions its CDN as a default for map tiles; what matters is that no script is fetched.)
        Assert.DoesNotMatch("<script[^>]+src=\"https?:", html);
    }

    [Fact]
    public void Figures_carry_the_data_the_kit_passed()
    {
        using var heatmap = JsonDocument.Parse(Charts.GateHeatmap(Alpha).ToFigureJson());
        var trace = heatmap.RootElement.GetProperty("data")[0];
        Assert.Equal("heatmap", trace.GetProperty("type").GetString());
        Assert.Equal(3, trace.GetProperty("z").GetArrayLength());
        Assert.Equal(0.95, trace.GetProperty("z")[2][2].GetDouble());
        Assert.Equal(["layer 1", "layer 2", "layer 3"], trace.GetProperty("y").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(1.0, trace.GetProperty("zmax").GetDouble());

        using var bars = JsonDocument.Parse(Charts.MeanStdBars(
            [new("none", 70.1, 1.2), new("token", 71.5, 0.8), new("layer", 70.9, 1.0), new("both", 72.3, 0.6)], "accuracy", "Gate granularity").ToFigureJson());
        var bar = bars.RootElement.GetProperty("data")[0];
        Assert.Equal("bar", bar.GetProperty("type").GetString());
        Assert.Equal([1.2, 0.8, 1.0, 0.6], bar.GetProperty("error_y").GetProperty("array").EnumerateArray().Select(e => e.GetDouble()));

        using var losses = JsonDocument.Parse(Charts.LossCurves(
            [new("PT-2", [1, 2, 3], [0.9, 0.7, 0.6]), new("APT", [1, 2, 3], [0.8, 0.6, 0.4])]).ToFigureJson());
        Assert.Equal(["PT-2", "APT"], losses.RootElement.GetProperty("data").EnumerateArray().Select(t => t.GetProperty("name").GetString()));
    }

    [Fact]
    public void Mismatched_input_is_refused_with_what_was_expected()
    {
        var e = Assert.Throws<ArgumentException>(() => Charts.Heatmap(Alpha, ["a"], ["x"], "t", "rows", "columns"));
        Assert.Contains("3 row labels and 4 column labels", e.Message);
        Assert.Throws<ArgumentException>(() => Charts.LossCurves([new("bad", [1, 2], [0.5])]));
    }

    [ChromiumFact]
    public async Task Heatmap_exports_to_png_through_chromium()
    {
        string folder = Path.Combine(Path.GetTempPath(), "apt-chart-" + Guid.NewGuid().ToString("N"));
        string path = Path.Combine(folder, "gate-alpha.png");
        try
        {
            await Charts.GateHeatmap(Alpha).SavePngAsync(path, 800, 450);
            byte[] png = File.ReadAllBytes(path);
            Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png[..4]);
            // IHDR: width and height, big-endian, at bytes 16..24.
            Assert.Equal(800, System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16, 4)));
            Assert.Equal(450, System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20, 4)));
            Assert.True(png.Length > 10_000, $"a rendered heatmap is more than a blank page; got {png.Length} bytes");
            string keep = Path.Combine(TestPaths.Artifacts, "charts", "gate-alpha.png");
            Directory.CreateDirectory(Path.GetDirectoryName(keep)!);
            File.Copy(path, keep, overwrite: true);
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
    }
}
