using System.Text.Json;
using Apt.NotebookTwins;

namespace Apt.Tests.Notebooks;

/// <summary>The notebooks' terminal twins (notebooks/*.cs): generated from the notebooks, kept in step
/// with them.</summary>
public class NotebookTwinTests
{
    static IEnumerable<string> Notebooks =>
        Directory.GetFiles(Path.Combine(TestPaths.RepoRoot, "notebooks"), "*.ipynb").Order();

    [Fact]
    public void Every_notebook_has_a_twin_generated_from_its_current_cells()
    {
        var stale = new List<string>();
        foreach (string notebook in Notebooks)
        {
            string name = Path.GetFileNameWithoutExtension(notebook), twin = NotebookTwin.TwinPath(notebook);
            string expected = NotebookTwin.Generate(File.ReadAllText(notebook), name);
            if (!File.Exists(twin)) { stale.Add($"{name}.cs is missing"); continue; }
            var want = expected.Split('\n');
            var have = File.ReadAllText(twin).Split('\n');
            int line = Enumerable.Range(0, Math.Max(want.Length, have.Length))
                .FirstOrDefault(i => want.ElementAtOrDefault(i) != have.ElementAtOrDefault(i), -1);
            if (line >= 0)
                stale.Add($"{name}.cs differs from {name}.ipynb at line {line + 1}:\n" +
                    $"  twin:     {have.ElementAtOrDefault(line) ?? "(end of file)"}\n" +
                    $"  notebook: {want.ElementAtOrDefault(line) ?? "(end of file)"}");
        }
        Assert.True(stale.Count == 0,
            "Twins out of date with their notebooks; regenerate them with `dotnet run --project " +
                "build/NotebookTwins`:\n" +
            string.Join("\n", stale));
    }

    [Fact]
    public void A_twin_keeps_the_cells_in_order_with_markdown_as_comments_and_the_terminal_host()
    {
        string notebook = Notebooks.First();
        string twin = NotebookTwin.Generate(File.ReadAllText(notebook), "01-getting-started");
        using var cells = JsonDocument.Parse(File.ReadAllText(notebook));
        var sources = cells.RootElement.GetProperty("cells").EnumerateArray()
            .Select(c => string.Concat(c.GetProperty("source").EnumerateArray().Select(l => l.GetString()))).ToList();

        Assert.StartsWith("#:project ../lib/Apt/Apt.csproj\n", twin);
        Assert.Contains("TerminalHost.Use(\"../artifacts/notebooks/twins/01-getting-started\");", twin);
        Assert.DoesNotContain("#r ", twin);
        Assert.DoesNotContain("NotebookHost", twin);
        Assert.Contains("// " + sources[0].Split('\n')[0], twin); // the title, as a comment
        var positions = sources.Skip(2)
            .Select(s => twin.IndexOf(s.Split('\n')[0].TrimEnd(), StringComparison.Ordinal)).ToList();
        Assert.All(positions, p => Assert.True(p > 0));
        Assert.Equal(positions.Order(), positions);
    }

    [Fact]
    public void A_notebook_only_line_is_refused_with_the_cell_it_is_in()
    {
        string notebook = """
            {"cells": [
              {"cell_type": "code", "source": ["#r \"../lib/Apt.Notebooks/bin/Release/net10.0/Apt.Notebooks.dll\"\n", "NotebookHost.Use();"]},
              {"cell_type": "code", "source": ["#!time\n", "Console.WriteLine(1);"]}
            ]}
            """;
        var e = Assert.Throws<InvalidDataException>(() => NotebookTwin.Generate(notebook, "fixture"));
        Assert.Contains("fixture.ipynb, cell 2: '#!time'", e.Message);
    }
}
