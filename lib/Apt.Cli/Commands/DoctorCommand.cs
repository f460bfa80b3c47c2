using System.ComponentModel;
using Apt.Backbone;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Apt.Cli.Commands;

/// <summary>`aptnb doctor`: what the kit will run on, and a remedy for each problem found.</summary>
public sealed class DoctorCommand : Command<DoctorCommand.Settings>
{
    public sealed class Settings : ComputeSettings
    {
        [CommandOption("--json")]
        [Description("Print the findings as JSON.")]
        public bool Json { get; init; }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellation)
    {
        var report = Doctor.Examine();
        if (settings.Json)
        {
            Console.WriteLine(report.ToJson());
        }
        else
        {
            var table = new Table().AddColumn("check").AddColumn("finding").AddColumn("ok");
            foreach (var finding in report.Findings)
                table.AddRow(Markup.Escape(finding.Check), Markup.Escape(finding.Value), finding.Ok ? "[green]yes[/]" : "[red]no[/]");
            AnsiConsole.Write(table);
            foreach (var finding in report.Findings.Where(f => !f.Ok))
                AnsiConsole.MarkupLineInterpolated($"[red]problem:[/] {finding.Check}. [yellow]remedy:[/] {finding.Remedy}");
        }
        return report.Healthy ? 0 : CliErrors.BrokenEnvironment;
    }
}
