using System.Text.Json.Nodes;
using Apt.Runs;
using Apt.Tests.Cli;
using Apt.Tests.Training;

namespace Apt.Tests.Reliability;

/// <summary>
/// A sweep file is checked whole, before its first cell trains: every task, method, value and name, each error naming
/// the file and the field. A prefix method with prefix length 0 is refused (it would train the head only and be
/// recorded as that method).
/// </summary>
public sealed class SweepFileValidationTests
{
    static string Refused(string json) => Assert.Throws<InvalidDataException>(() => SweepSpec.Parse(json,
        "grid.json")).Message;

    [Theory]
    [InlineData("""{ "methods": ["pt2", "head"], "tasks": [ { "task": "rte", "prefix_lengths": [4, 0] } ] }""",
        "grid.json: tasks[0] (rte).prefix_lengths: 0 with method 'pt2', which trains a prefix: a length of 0 " +
            "trains only the " +
        "head and would be recorded as PT-2; use lengths ≥ 1, and method 'head' for head-only training")]
    [InlineData("""{ "tasks": [ { "task": "rte" }, { "task": "cb", "learning_rates": [0.01, -1] } ] }""",
        "grid.json: tasks[1] (cb).learning_rates: expected a non-empty list of rates > 0, got [0.01, -1]")]
    [InlineData("""{ "tasks": [ { "task": "rte", "prefix_lengths": [] } ] }""",
        "grid.json: tasks[0] (rte).prefix_lengths: expected a non-empty list of lengths ≥ 0, got []")]
    [InlineData("""{ "tasks": [ { "task": "rte" }, { "task": "rte", "max_length": 2 } ] }""",
        "grid.json: tasks[1] (rte).max_length: expected ≥ 4, got 2")]
    [InlineData("""{ "tasks": [ { "task": "rte", "lora_dropout": 1.5 } ] }""",
        "grid.json: tasks[0] (rte).lora_dropout: expected in [0, 1), got 1.5")]
    [InlineData("""{ "tasks": [ { "task": "rte", "epochs": 0 } ] }""",
        "grid.json: tasks[0] (rte).epochs: expected ≥ 1, got 0")]
    [InlineData("""{ "tasks": [ { "task": "rte", "seeds": [] } ] }""",
        "grid.json: tasks[0] (rte).seeds: expected at least one seed (or no \"seeds\" for the sweep's)")]
    [InlineData("""{ "seeds": [], "tasks": [ { "task": "rte" } ] }""", "grid.json: seeds: expected at least one seed")]
    [InlineData("""{ "methods": [], "tasks": [ { "task": "rte" } ] }""",
        "grid.json: methods: expected at least one method")]
    [InlineData("""{ "methods": ["pt2", null], "tasks": [ { "task": "rte" } ] }""",
        "grid.json: methods: unknown method '' (expected head, ft, pt2, apt, token, layer, pt2plus, pt2star, lora)")]
    [InlineData("""{ "tasks": [ { "task": "rte" }, null ] }""", "grid.json: tasks[1]: expected a task entry, not null")]
    [InlineData("""{ "tasks": [ { "task": "rte" }, { "task": "nope" } ] }""",
        "grid.json: tasks[1].task: unknown task 'nope' (expected ")]
    public void EveryFieldOfEveryTaskIsCheckedAndTheErrorNamesFileAndField(string json, string message) =>
        Assert.StartsWith(message, Refused(json));

    [Theory]
    [InlineData("""{ "methods": null, "tasks": [ { "task": "rte" } ] }""")]
    [InlineData("""{ "name": null, "tasks": [ { "task": "rte" } ] }""")]
    [InlineData("""{ "tasks": [ { "task": null } ] }""")]
    public void ANullWhereAValueBelongsIsRefusedOnItsLine(string json)
        => Assert.StartsWith("grid.json: line 1: ", Refused(json));

    [Fact]
    public void HeadOnlyWithLengthZeroIsAccepted() =>
        Assert.Single(SweepSpec.Parse(
            """{ "methods": ["head"], "tasks": [ { "task": "rte", "prefix_lengths": [0] } ] }""", "grid.json")
            .Expand("runs"));

    /// <summary>The bad value sits in the last task: the sweep is refused before the first task's
    /// cells train.</summary>
    [Fact]
    public void TheSweepCommandRefusesABadLastTaskBeforeTrainingAnything()
    {
        using var grid = new TinyGrid(["pt2"], [1]);
        var spec = JsonNode.Parse(File.ReadAllText(grid.File))!;
        spec["tasks"]!.AsArray().Add(new JsonObject { ["task"] = "rte", ["prefix_lengths"] = new JsonArray(0) });
        File.WriteAllText(grid.File, spec.ToJsonString());
        var (exitCode, output) = CliTests.AptIn(grid.Root, "sweep", grid.File, "--runs", grid.Runs("runs"),
            "--data-root", grid.DataRoot);
        Assert.Equal(2, exitCode);
        Assert.Contains($"error: {grid.File}: tasks[1] (rte).prefix_lengths: 0 with method 'pt2', which " +
            $"trains a prefix", output);
        Assert.False(Directory.Exists(grid.Runs("runs")));
    }
}
