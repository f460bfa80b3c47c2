using System.Text.Json;
using Apt.NotebookRunner;
using Apt.Notebooks;

namespace Apt.Tests.Notebooks;

/// <summary>The headless runner itself, on fixture notebooks.</summary>
public class NotebookRunnerTests
{
    static string Fixture(string name) => Path.Combine(TestPaths.RepoRoot, "tests", "Apt.Tests", "Notebooks", "Fixtures", name);

    static NotebookRunOptions Options => new()
    {
        OutputFolder = Path.Combine(TestPaths.Artifacts, "notebooks", "runner-fixtures"),
        Environment = new Dictionary<string, string> { [NotebookMode.SmallVariable] = "1" },
        CellTimeout = TimeSpan.FromSeconds(60),
    };

    [Fact]
    public async Task A_failing_cell_stops_the_run_and_names_the_notebook_and_the_cell()
    {
        string notebook = Fixture("broken.ipynb");
        var e = await Assert.ThrowsAsync<NotebookCellException>(() => NotebookRunner.NotebookRunner.RunAsync(notebook, Options));

        Assert.Equal(2, e.CellIndex);
        Assert.Equal("// the deliberately broken cell", e.FirstLine);
        Assert.Contains("broken.ipynb: cell 2 (\"// the deliberately broken cell\") failed", e.Message);
        Assert.Contains("deliberately broken", e.Error);

        // The executed part is kept: cell 1's output, cell 2's error, cell 3 never ran.
        using var saved = JsonDocument.Parse(File.ReadAllText(e.ExecutedPath));
        var cells = saved.RootElement.GetProperty("cells");
        Assert.Contains("before the failure: 42", cells[1].GetProperty("outputs").GetRawText());
        var error = cells[2].GetProperty("outputs").EnumerateArray().Single();
        Assert.Equal("error", error.GetProperty("output_type").GetString());
        Assert.Equal("InvalidOperationException", error.GetProperty("ename").GetString());
        Assert.Equal(0, cells[3].GetProperty("outputs").GetArrayLength());
    }

    [Fact]
    public async Task Progress_updates_in_place_and_small_mode_reaches_the_cells()
    {
        var run = await NotebookRunner.NotebookRunner.RunAsync(Fixture("progress.ipynb"), Options);

        Assert.Contains("epochs: 2", run.Cells[0].Outputs.Single().AllText);
        // One display, updated in place to its final state (not twenty outputs).
        var progress = Assert.Single(run.Cells[1].Outputs);
        Assert.Equal("display_data", progress.Kind);
        string html = progress.Data["text/html"];
        Assert.Contains("done", html);
        Assert.Contains("step 20/20", html);
        Assert.Contains("epoch 2/2", html);
        Assert.Contains("loss 0.0500", html);
        Assert.Contains("dev accuracy 0.875", html);
        Assert.Null(Environment.GetEnvironmentVariable(NotebookMode.SmallVariable)); // restored after the run
    }

    [Fact]
    public void Loaded_assemblies_are_referenced_where_this_process_has_them()
    {
        string cell = "#r \"../lib/Apt/bin/Release/net10.0/Apt.dll\"\n#r \"/nowhere/NotAnAssemblyOfThisApp.dll\"\nusing Apt;";
        string rewritten = NotebookRunner.NotebookRunner.RedirectLoadedReferences(cell);
        Assert.Contains($"#r \"{typeof(NotebookMode).Assembly.Location}\"", rewritten);
        Assert.Contains("#r \"/nowhere/NotAnAssemblyOfThisApp.dll\"", rewritten);
    }

    /// <summary>The failure .NET Interactive's stdio connector throws when it loses its kernel-info race, from a frame of the same name.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    static int GetCachedKernelInfoForRemoteRoot() => new[] { 1 }.Single(uri => uri == 2);

    [Fact]
    public async Task A_kernel_start_that_loses_the_connectors_race_is_retried_and_other_failures_are_not()
    {
        int attempts = 0;
        int started = await ToolKernel.RetryingKernelInfoRace(async () =>
        {
            await Task.Yield();
            return ++attempts < ToolKernel.StartAttempts ? GetCachedKernelInfoForRemoteRoot() : 42;
        });
        Assert.Equal((42, ToolKernel.StartAttempts), (started, attempts));

        attempts = 0;
        var lastRace = await Assert.ThrowsAsync<InvalidOperationException>(() => ToolKernel.RetryingKernelInfoRace(async () =>
        {
            await Task.Yield();
            attempts++;
            return GetCachedKernelInfoForRemoteRoot();
        }));
        Assert.True(ToolKernel.IsKernelInfoRace(lastRace));
        Assert.Equal(ToolKernel.StartAttempts, attempts);

        attempts = 0;
        var timeout = await Assert.ThrowsAsync<InvalidOperationException>(() => ToolKernel.RetryingKernelInfoRace<int>(async () =>
        {
            await Task.Yield();
            attempts++;
            throw new InvalidOperationException("did not report ready");
        }));
        Assert.False(ToolKernel.IsKernelInfoRace(timeout));
        Assert.Equal(1, attempts);
    }
}
