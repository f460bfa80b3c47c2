using Apt.Reporting;

namespace Apt.Tests.Reporting;

/// <summary>The results table's parameter column: a method whose count differs by task shows each task's, in column order.</summary>
public sealed class ResultsTableTests
{
    [Fact]
    public void A_methods_parameters_are_shown_per_task_when_its_tasks_differ()
    {
        var table = new ResultsTable();
        var cell = new ResultCell(60, 1, 6);
        table.Set("head only", "brown-ner", cell, 1155);
        table.Set("head only", "wordnet-wic", cell, 770);
        table.Set("APT (layer gate only)", "brown-ner", cell, 74504);
        table.Set("APT (layer gate only)", "wordnet-wic", cell, 74504);
        table.Set("PT-2", "wordnet-wic", cell, 74498);
        table.Set("majority class", "wordnet-wic", new ResultCell(50, null, 1));

        Assert.Equal("1,155 / 770", table.ParameterText("head only"));
        Assert.Equal("74,504", table.ParameterText("APT (layer gate only)"));
        Assert.Equal("74,498", table.ParameterText("PT-2"));
        Assert.Equal("–", table.ParameterText("majority class"));
        Assert.EndsWith("| 1,155 / 770 |", table.ToMarkdown().Split('\n').Single(l => l.StartsWith("| head only |")).TrimEnd());
        Assert.EndsWith(",770", table.ToCsv().Split('\n').Single(l => l.StartsWith("head only,wordnet-wic")));
    }
}
