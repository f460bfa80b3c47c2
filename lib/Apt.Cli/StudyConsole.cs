using Apt.Reporting;
using Spectre.Console;

namespace Apt.Cli;

/// <summary>Prints a study's table, verdicts and files.</summary>
public static class StudyConsole
{
    public static void Print(StudyOutputs outputs)
    {
        var table = new Table().AddColumn("method");
        foreach (string task in outputs.Table.Tasks) table.AddColumn(Markup.Escape(task));
        table.AddColumn("trainable params");
        foreach (string method in outputs.Table.Methods)
            table.AddRow([Markup.Escape(method), .. outputs.Table.Tasks.Select(t => Markup.Escape(outputs.Table[method, t]?.ToString() ?? "–")), outputs.Table.ParameterText(method)]);
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine("[grey]scores in %, mean ± std [[95 % confidence interval]] over seeds: dev accuracy (wordnet-wic), test span F1 at the best dev epoch (brown-ner). Stand-in data built here from WordNet and Brown: not benchmark scores.[/]");
        foreach (var comparison in outputs.Comparisons) AnsiConsole.MarkupLineInterpolated($"[bold]{comparison}[/]");
        foreach (string probe in outputs.Probes) AnsiConsole.MarkupLineInterpolated($"{probe}");
        foreach (string note in outputs.Notes) AnsiConsole.MarkupLineInterpolated($"[yellow]{note}[/]");
        AnsiConsole.MarkupLineInterpolated($"report (table, verdicts, charts; opens offline): [bold]{outputs.Page}[/]");
        AnsiConsole.MarkupLineInterpolated($"table: {outputs.Markdown}, {outputs.Csv}");
        if (outputs.Charts.Count > 0)
            AnsiConsole.MarkupLineInterpolated(
                $"PNG charts: {outputs.Charts.Count} files in {Path.GetDirectoryName(outputs.Charts[0])}");
    }
}
