using System.Text.RegularExpressions;
using Xunit;

namespace Apt.Tests.Docs;

/// <summary>
/// Every file the user-facing docs (README.md, docs/*.md) point at exists in the repository: each relative link or image
/// target, resolved from the document's folder, and each repository path named in backticks (a single word with a slash
/// that starts with one of the committed top-level folders, resolved from the repository root).
/// </summary>
public sealed partial class LinkCheckTests
{
    /// <summary>Top-level folders whose files are committed; a path named in backticks under one of them must exist.</summary>
    static readonly string[] CommittedRoots = ["lib", "tests", "notebooks", "docs", "build", ".ci", ".config", ".devcontainer"];

    /// <summary>Path segments that are build outputs, never committed (e.g. the notebooks' <c>lib/Apt/bin/Release/…</c>).</summary>
    static readonly string[] BuildOutputs = ["bin", "obj"];

    public static TheoryData<string> Documents()
    {
        var data = new TheoryData<string> { "README.md" };
        foreach (string doc in Directory.GetFiles(Path.Combine(TestPaths.RepoRoot, "docs"), "*.md").Order(StringComparer.Ordinal))
            data.Add(Path.GetRelativePath(TestPaths.RepoRoot, doc).Replace('\\', '/'));
        return data;
    }

    [Theory]
    [MemberData(nameof(Documents))]
    public void Every_file_a_document_links_or_names_exists(string document)
    {
        string path = Path.Combine(TestPaths.RepoRoot, document);
        string text = File.ReadAllText(path);
        var missing = new List<string>();

        foreach (string target in LinkTargets(text))
        {
            string resolved = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(path)!, target));
            if (!Exists(resolved)) missing.Add($"link ({target})");
        }
        foreach (string named in NamedPaths(text))
            if (!Exists(Path.Combine(TestPaths.RepoRoot, named))) missing.Add($"named `{named}`");

        Assert.True(missing.Count == 0, $"{document} points at files that do not exist:\n  " + string.Join("\n  ", missing));
    }

    [Fact]
    public void The_checker_finds_links_and_named_paths_and_skips_urls_anchors_and_build_outputs()
    {
        const string text = """
            See [the method](docs/method.md#pt-2), ![fig](docs/fig.png "title"), [web](https://example.org/a.md),
            [here](#notebooks), [mail](mailto:someone@example.org) and <docs/angle.md>.
            Code: `lib/Apt/Prefix/PrefixModule.cs`, `lib/Apt/bin/Release/net10.0/Apt.dll`, `runs/quickstart/`,
            `aptnb sweep --preset full-grid`, `data/<task>/`, `tests/Apt.Tests/Prefix`.

            ```bash
            bash build/not-checked-inside-a-fence.sh   # `lib/inside/fence.cs`
            ```
            """;
        Assert.Equal(["docs/method.md", "docs/fig.png"], LinkTargets(text));
        Assert.Equal(["lib/Apt/Prefix/PrefixModule.cs", "tests/Apt.Tests/Prefix"], NamedPaths(text));
    }

    /// <summary>Relative targets of Markdown links and images, without their #anchor or title; web links and pure anchors are skipped.</summary>
    internal static List<string> LinkTargets(string markdown) =>
        [.. LinkPattern().Matches(WithoutFences(markdown))
            .Select(m => m.Groups["target"].Value)
            .Where(t => t.Length > 0 && !t.StartsWith('#') && !UrlScheme().IsMatch(t))
            .Select(t => Uri.UnescapeDataString(t.Split('#')[0]))];

    /// <summary>Repository paths named in inline code: one word with a slash, under a committed top-level folder, not a build output, no placeholders.</summary>
    internal static List<string> NamedPaths(string markdown) =>
        [.. CodeSpanPattern().Matches(WithoutFences(markdown))
            .Select(m => m.Groups["code"].Value.Trim())
            .Where(c => c.Contains('/') && !c.Any(ch => char.IsWhiteSpace(ch) || "<>*{}$…|".Contains(ch)))
            .Where(c => c.Split('/') is var parts && CommittedRoots.Contains(parts[0]) && !parts.Any(BuildOutputs.Contains))
            .Distinct()];

    static bool Exists(string path) => File.Exists(path) || Directory.Exists(path);

    /// <summary>Fenced code blocks hold commands, not references; they are left out.</summary>
    static string WithoutFences(string markdown) => FencePattern().Replace(markdown, "");

    [GeneratedRegex(@"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?(?<target>[^)\s>]*)>?(?:\s+""[^""]*"")?\s*\)")]
    private static partial Regex LinkPattern();

    [GeneratedRegex(@"`(?<code>[^`\n]+)`")]
    private static partial Regex CodeSpanPattern();

    [GeneratedRegex(@"^\s*```.*?^\s*```", RegexOptions.Singleline | RegexOptions.Multiline)]
    private static partial Regex FencePattern();

    [GeneratedRegex(@"^[a-zA-Z][a-zA-Z0-9+.-]*:")]
    private static partial Regex UrlScheme();
}
