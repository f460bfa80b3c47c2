namespace Apt.Reporting;

/// <summary>
/// Static PNG export of charts with the machine's own chromium (Plotly.NET.ImageExport through PuppeteerSharp, in
/// <see cref="Apt.Plotting.PlotlyFigures.PngAsync"/>): which browser, with which flags, and a clear error when there is none.
/// </summary>
public static class ChartImageExport
{
    /// <summary>Where Debian's <c>chromium</c> package installs the browser (setup.sh and .ci/run install it).</summary>
    public const string DefaultBrowserPath = "/usr/bin/chromium";

    /// <summary>Environment variable that points the export at another chromium or Chrome binary.</summary>
    public const string BrowserVariable = "APT_CHROMIUM";

    /// <summary>
    /// Headless, no sandbox (containers run as root, where chromium's sandbox refuses to start), and none of
    /// the background traffic (updates, sync, first-run pages) that would hang without a network.
    /// </summary>
    public static readonly IReadOnlyList<string> BrowserArguments =
    [
        "--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
    ];

    /// <summary>The browser the export will run: <c>$APT_CHROMIUM</c>, else <see cref="DefaultBrowserPath"/>.</summary>
    public static string BrowserPath =>
        Environment.GetEnvironmentVariable(BrowserVariable) is { Length: > 0 } custom ? custom : DefaultBrowserPath;

    /// <summary>Renders <paramref name="chart"/> at the given pixel size and writes the PNG atomically.</summary>
    /// <exception cref="FileNotFoundException">No browser at <see cref="BrowserPath"/>; the message says how to install one.</exception>
    public static async Task SavePngAsync(Chart chart, string path, int width = 900, int height = 500)
    {
        string browser = BrowserPath;
        if (!File.Exists(browser))
            throw new FileNotFoundException(
                $"PNG export of chart '{chart.Title}' needs chromium at {browser}, which is missing. Install it with " +
                $"'apt-get install -y chromium' (setup.sh does this) or set {BrowserVariable} to a Chrome/Chromium binary.", browser);

        AtomicFile.WriteAllBytes(path, await chart.RenderPngAsync(width, height, browser, [.. BrowserArguments]));
    }
}
