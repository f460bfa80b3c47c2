using System.Runtime.Loader;
using System.Text.Json;
using Apt.Plotting;
using Apt.Reporting;

namespace Apt.Tests.Reporting;

/// <summary>
/// Where Plotly.NET runs. The separate-kernel notebook test (NotebookTests) is the end-to-end proof; these check the isolated
/// load context in this process, where it is not needed and so must be forced.
/// </summary>
public class PlottingBackendTests
{
    static readonly Chart Gate = Charts.GateHeatmap(new double[,] { { 0.9, 0.1, 0.4 }, { 0.3, 0.7, 0.5 } });

    [Fact]
    public void This_process_has_plotly_s_fsharp_core_so_charts_render_in_process()
    {
        Assert.False(PlottingBackend.HostFSharpCoreIsOlder(typeof(PlotlyFigures).Assembly));
        Assert.False(PlottingBackend.Current.Isolated);
    }

    [Fact]
    public void The_isolated_context_loads_its_own_plotly_and_renders_the_same_figure()
    {
        var isolated = PlottingBackend.LoadIsolated(typeof(PlotlyFigures).Assembly);

        string specJson = Gate.Spec.ToJson();
        Assert.Equal(PlotlyFigures.FigureJson(specJson), isolated.FigureJson(specJson));
        // Rendering loaded Plotly.NET and FSharp.Core again, into the isolated context.
        var context = AssemblyLoadContext.GetLoadContext(isolated.FigureJson.Method.DeclaringType!.Assembly)!;
        Assert.NotSame(AssemblyLoadContext.GetLoadContext(typeof(PlotlyFigures).Assembly), context);
        Assert.Contains(context.Assemblies, a => a.GetName().Name == "FSharp.Core");
        Assert.Contains(context.Assemblies, a => a.GetName().Name == "Plotly.NET");
        string fragment = isolated.HtmlFragment(specJson);
        Assert.Contains("Plotly.newPlot", fragment);
        Assert.True(fragment.Length > 1_000_000, $"plotly.js should be inlined; the fragment is only {fragment.Length} characters");
    }

    [ChromiumFact]
    public async Task The_isolated_context_renders_a_png_with_chromium()
    {
        var isolated = PlottingBackend.LoadIsolated(typeof(PlotlyFigures).Assembly);
        byte[] png = await isolated.PngAsync(Gate.Spec.ToJson(), 400, 300, ChartImageExport.BrowserPath, [.. ChartImageExport.BrowserArguments]);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png[..4]);
        Assert.Equal(400, System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16, 4)));
    }

    [Fact]
    public void Figure_specs_cross_as_json_with_their_trace_kinds_and_nan()
    {
        var spec = new FigureSpec("t", "x", "y",
        [
            new LineTrace("loss", [1, 2], [0.5, double.NaN]),
            new BarTrace("acc", ["a", "b"], [1, 2], ErrorHalfWidths: [0.1, 0.2]),
            new HeatmapTrace("", [[0.0, 1.0]], ["c1", "c2"], ["r1"], ZMin: 0, ZMax: 1),
        ]);
        string json = spec.ToJson();
        var back = FigureSpec.FromJson(json);

        Assert.Equal(["line", "bar", "heatmap"], JsonDocument.Parse(json).RootElement.GetProperty("Traces").EnumerateArray().Select(t => t.GetProperty("kind").GetString()));
        Assert.True(double.IsNaN(Assert.IsType<LineTrace>(back.Traces[0]).Y[1]));
        Assert.Equal([0.1, 0.2], Assert.IsType<BarTrace>(back.Traces[1]).ErrorHalfWidths!);
        Assert.Equal(1.0, Assert.IsType<HeatmapTrace>(back.Traces[2]).ZMax);
    }
}
