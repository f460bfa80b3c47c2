using Apt.Reporting;

namespace Apt.Tests.Reporting;

/// <summary>
/// A test that renders PNGs with the machine's chromium: skipped, with the reason and the install command, where there is
/// none (a fresh machine without setup.sh). CI installs chromium (.ci/install-chromium.sh) and fails on any skipped test.
/// </summary>
public sealed class ChromiumFactAttribute : FactAttribute
{
    public ChromiumFactAttribute()
    {
        if (!File.Exists(ChartImageExport.BrowserPath))
            Skip = $"PNG export needs chromium at {ChartImageExport.BrowserPath}: install it with 'sudo apt-get install -y chromium' " +
                $"(bash setup.sh does), or set {ChartImageExport.BrowserVariable} to a Chrome or Chromium binary";
    }
}
