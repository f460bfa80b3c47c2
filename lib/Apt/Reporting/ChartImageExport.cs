using Microsoft.FSharp.Core;
using Plotly.NET.ImageExport;
using PuppeteerSharp;

namespace Apt.Reporting;

/// <summary>
/// Static PNG export of charts through Plotly.NET.ImageExport (PuppeteerSharp) driving the machine's own chromium:
/// PuppeteerSharp's default would download a browser, which offline machines cannot. The page has plotly.js
/// inlined (<see cref="Chart"/>), so rendering needs no network either.
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

    static readonly SemaphoreSlim _oneAtATime = new(1, 1);

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

        // The renderer's options are process-wide statics: set them and render under one lock.
        await _oneAtATime.WaitAsync();
        try
        {
            PuppeteerSharpRendererOptions.localBrowserExecutablePath = FSharpOption<string>.Some(browser);
            PuppeteerSharpRendererOptions.launchOptions = new LaunchOptions
            {
                Headless = true,
                ExecutablePath = browser,
                Args = [.. BrowserArguments],
                Timeout = 60_000,
            };
            string base64 = await ChartExtensions.ToBase64PNGStringAsync(
                FSharpOption<ExportEngine>.Some(ExportEngine.PuppeteerSharp),
                FSharpOption<int>.Some(width), FSharpOption<int>.Some(height), FSharpOption<double>.Some(1.0)).Invoke(chart.Plot);
            AtomicFile.WriteAllBytes(path, DecodeDataUrl(base64));
        }
        finally
        {
            _oneAtATime.Release();
        }
    }

    /// <summary>The renderer returns the image as base64, possibly as a data URL ("data:image/png;base64,...").</summary>
    static byte[] DecodeDataUrl(string base64)
    {
        int comma = base64.IndexOf(',');
        return Convert.FromBase64String(base64.StartsWith("data:", StringComparison.Ordinal) ? base64[(comma + 1)..] : base64);
    }
}
