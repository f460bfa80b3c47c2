using System.ComponentModel;
using Apt.Tasks.Data;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Apt.Cli.Commands;

/// <summary>`aptnb data download &lt;name&gt;`: a SuperGLUE task or a public NER set from its official
/// location.</summary>
public sealed class DataDownloadCommand : Command<DataDownloadCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandArgument(0, "<name>")]
        [Description("boolq, cb, copa, rte, wic, wsc, multirc, record, conll03 (conll04 and ontonotes need --url).")]
        public string Name { get; init; } = "";

        [CommandOption("--data")]
        [Description("Data folder; the files go to <data>/<name>/.")]
        [DefaultValue("data")]
        public string Data { get; init; } = "data";

        [CommandOption("--url")]
        [Description("The archive's URL (or a local archive file) instead of the official location.")]
        public string? Url { get; init; }

        [CommandOption("--base-url")]
        [Description("A mirror: the official archive's file name is appended to it.")]
        public string? BaseUrl { get; init; }

        [CommandOption("--sha256")]
        [Description("Expected SHA-256 of the archive.")]
        public string? Sha256 { get; init; }

        [CommandOption("--read-timeout")]
        [Description("Seconds the server may stay silent (before its reply or mid-body) before the " +
            "attempt is given up.")]
        [DefaultValue(60)]
        public int ReadTimeout { get; init; } = 60;

        [CommandOption("--max-download-mb")]
        [Description("The largest archive accepted, in MiB.")]
        [DefaultValue(DownloadOptions.DefaultMaxDownloadBytes >> 20)]
        public long MaxDownloadMb { get; init; } = DownloadOptions.DefaultMaxDownloadBytes >> 20;

        [CommandOption("--max-extract-mb")]
        [Description("The most its extraction may write, in MiB (a zip bomb is refused).")]
        [DefaultValue(DownloadOptions.DefaultMaxExtractedBytes >> 20)]
        public long MaxExtractMb { get; init; } = DownloadOptions.DefaultMaxExtractedBytes >> 20;

        public override ValidationResult Validate() =>
            ReadTimeout <= 0 || MaxDownloadMb <= 0 || MaxExtractMb <= 0
                ? ValidationResult.Error("--read-timeout, --max-download-mb and --max-extract-mb must be positive")
                : ValidationResult.Success();
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellation)
    {
        try
        {
            var result = DatasetDownloader.Download(settings.Name, settings.Data,
                new DownloadOptions
                {
                    Url = settings.Url, BaseUrl = settings.BaseUrl, Sha256 = settings.Sha256,
                    ReadTimeout = TimeSpan.FromSeconds(settings.ReadTimeout),
                    MaxDownloadBytes = settings.MaxDownloadMb << 20, MaxExtractedBytes = settings.MaxExtractMb << 20,
                });
            AnsiConsole.MarkupLineInterpolated($"{result.Name}: {result.Bytes} bytes from {result.Url} (sha256 {result.Sha256}, {result.Attempts} attempt(s))");
            foreach (string file in result.Files) AnsiConsole.MarkupLineInterpolated($"  {Path.Combine(settings.Data, result.Name, file)}");
            return 0;
        }
        catch (DataUnavailableException e)
        {
            AnsiConsole.MarkupLineInterpolated($"[red]error:[/] {e.Message}");
            return CliErrors.BrokenEnvironment;
        }
    }
}
