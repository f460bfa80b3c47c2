using System.Text.Json;
using System.Text.RegularExpressions;
using Apt.NotebookRunner;
using Apt.Notebooks;
using Xunit.Abstractions;

namespace Apt.Tests.Notebooks;

/// <summary>The kit's notebooks, executed top to bottom in small mode; the executed copies go to artifacts/notebooks.</summary>
public sealed class NotebookTests(ITestOutputHelper output) : IDisposable
{
    /// <summary>The notebook's run folders (xunit makes one instance per test); removed afterwards, about 36 MB each.</summary>
    readonly string _runs = Directory.CreateTempSubdirectory("apt-notebook-runs-").FullName;

    public void Dispose() => Directory.Delete(_runs, recursive: true);

    Task<NotebookRun> RunAsync(string name) => NotebookRunner.NotebookRunner.RunAsync(
        Path.Combine(TestPaths.RepoRoot, "notebooks", name),
        new NotebookRunOptions
        {
            OutputFolder = Path.Combine(TestPaths.Artifacts, "notebooks"),
            // Small mode, and run folders of its own: a notebook never reads back runs of an earlier build.
            Environment = new Dictionary<string, string>
            {
                [NotebookMode.SmallVariable] = "1",
                [NotebookMode.RunsVariable] = _runs,
            },
        });

    [Fact]
    public async Task Getting_started_runs_and_shows_shapes_similarities_and_a_chart()
    {
        var run = await RunAsync("01-getting-started.ipynb");
        string stdout = string.Join("\n", run.Outputs.Where(o => o.Kind == "stream").Select(o => o.AllText));

        Assert.Contains("6 layers, hidden size d = 384, 12 heads of 32", stdout);
        var shape = Regex.Match(stdout, @"last hidden state \(B, T, d\) = \(1, (\d+), 384\)");
        Assert.True(shape.Success, "the forward pass prints the last hidden state's shape:\n" + stdout);
        Assert.Contains("pooled output (B, d) = (1, 384)", stdout);
        Assert.Contains("= 0.7553", stdout); // Sentence-Transformers' value for this pair (README)

        // The token table: one row per token, as many as the forward pass saw.
        string table = run.Outputs.Select(o => o.Data.GetValueOrDefault("text/html", "")).Single(h => h.Contains("[CLS]"));
        Assert.Equal(int.Parse(shape.Groups[1].Value), Regex.Matches(table, "<tr").Count - 1);

        // The similarity chart: an HTML output with plotly.js inlined.
        Assert.Contains(run.Outputs, o => o.Data.TryGetValue("text/html", out var html) && html.Contains("Plotly.newPlot") && html.Contains("\"heatmap\"") && html.Length > 1_000_000);

        using var saved = JsonDocument.Parse(File.ReadAllText(run.ExecutedPath));
        Assert.Equal(".net-csharp", saved.RootElement.GetProperty("metadata").GetProperty("kernelspec").GetProperty("name").GetString());
        Assert.All(saved.RootElement.GetProperty("cells").EnumerateArray().Where(c => c.GetProperty("cell_type").GetString() == "code"),
            c => Assert.NotEqual(0, c.GetProperty("outputs").GetArrayLength()));
        output.WriteLine($"01-getting-started: {run.Elapsed.TotalSeconds:0.0} s headless ({string.Join(", ", run.Cells.Select(c => $"cell {c.Index} {c.Elapsed.TotalSeconds:0.0} s"))})");
    }

    /// <summary>What each walkthrough must show once executed: text in its printed output, and output kinds.</summary>
    public static TheoryData<string, string[], int, int> Walkthroughs => new()
    {
        // notebook, printed texts, at least this many HTML tables, at least this many plotly charts
        { "02-superglue.ipynb", ["| method |", "| PT-2 |", "| APT |", "majority class", "vs PT-2"], 2, 1 },
        { "03-ner.ipynb", ["APT: test F1", "f1 "], 1, 0 },
        { "04-gate-granularity.ipynb", ["| APT (token gate only) |", "| APT (layer gate only) |", "| PT-2 |", "| APT |", "APT − PT-2 =", "APT's gate probe over 2 seeds"], 0, 3 },
        { "05-gate-probes.ipynb", ["dev examples probed", "| PT-2* |", "| PT-2+ |"], 1, 3 },
        { "06-reproduce-tables.ipynb", ["already finished", "| head only |", "| APT |"], 2, 0 },
    };

    [Theory]
    [MemberData(nameof(Walkthroughs))]
    public async Task Walkthrough_runs_in_small_mode_and_shows_its_tables_and_charts(string notebook, string[] texts, int tables, int charts)
    {
        var run = await RunAsync(notebook);
        string stdout = string.Join("\n", run.Outputs.Where(o => o.Kind == "stream").Select(o => o.AllText));
        foreach (string text in texts) Assert.True(stdout.Contains(text), $"{notebook}: the output lacks '{text}':\n{stdout}");
        var html = run.Outputs.Select(o => o.Data.GetValueOrDefault("text/html", "")).ToList();
        Assert.True(html.Count(h => h.Contains("<table")) >= tables, $"{notebook}: fewer than {tables} HTML tables");
        Assert.True(html.Count(h => h.Contains("Plotly.newPlot")) >= charts, $"{notebook}: fewer than {charts} charts");
        Assert.DoesNotContain(run.Outputs, o => o.Kind == "error");
        output.WriteLine($"{Path.GetFileNameWithoutExtension(notebook)}: {run.Elapsed.TotalSeconds:0.0} s headless");
    }

    /// <summary>
    /// The proof that VS Code and Jupyter users get charts: 01 as written (its <c>#r</c> of the Release build) in a separate
    /// dotnet-interactive kernel process, the tool pinned in .config/dotnet-tools.json, whose own older FSharp.Core is loaded first.
    /// </summary>
    [Fact]
    public async Task Getting_started_shows_its_chart_in_a_separate_dotnet_interactive_kernel()
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var build = await Dotnet.RunAsync(TestPaths.RepoRoot, TimeSpan.FromMinutes(5), "build",
            "lib/Apt.Notebooks/Apt.Notebooks.csproj", "-c", "Release",
            "--nologo", "-v", "q");
        Assert.True(build.ExitCode == 0, "The notebooks reference the Release build, which failed to build:\n" + build.Output);
        var built = clock.Elapsed;

        var run = await NotebookRunner.NotebookRunner.RunAsync(
            Path.Combine(TestPaths.RepoRoot, "notebooks", "01-getting-started.ipynb"),
            new NotebookRunOptions
            {
                OutputFolder = Path.Combine(TestPaths.Artifacts, "notebooks", "dotnet-interactive"),
                Environment = new Dictionary<string, string> { [NotebookMode.SmallVariable] = "1" },
                Kernel = NotebookKernel.DotnetInteractiveTool,
                CellTimeout = TimeSpan.FromMinutes(2),
            });
        string stdout = string.Join("\n", run.Outputs.Where(o => o.Kind == "stream").Select(o => o.AllText));

        Assert.Contains("Small mode", stdout); // the kernel process saw the runner's environment
        Assert.Contains("= 0.7553", stdout);
        var chart = Assert.Single(run.Outputs, o => o.Data.TryGetValue("text/html", out var html) && html.Contains("Plotly.newPlot"));
        string chartHtml = chart.Data["text/html"];
        Assert.Contains("\"heatmap\"", chartHtml);
        Assert.Contains("A man is eating food.", chartHtml);
        Assert.Contains("plotly.js v", chartHtml); // inlined, not linked
        Assert.True(chartHtml.Length > 1_000_000, $"plotly.js should be inlined; the chart output is only {chartHtml.Length} characters");
        output.WriteLine($"01-getting-started in a dotnet-interactive process: Release build {built.TotalSeconds:0.0} s, notebook {run.Elapsed.TotalSeconds:0.0} s " +
            $"({string.Join(", ", run.Cells.Select(c => $"cell {c.Index} {c.Elapsed.TotalSeconds:0.0} s"))}), test {clock.Elapsed.TotalSeconds:0.0} s");
    }
}
