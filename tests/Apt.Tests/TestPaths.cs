namespace Apt.Tests;

/// <summary>Folders of the repository the tests run in.</summary>
public static class TestPaths
{
    /// <summary>The folder holding AptNotebooks.sln, found upwards from the test binaries.</summary>
    public static string RepoRoot { get; } = FindRepoRoot();

    /// <summary>Git-ignored outputs that CI keeps: executed notebooks, exported charts.</summary>
    public static string Artifacts => Path.Combine(RepoRoot, "artifacts");

    static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "AptNotebooks.sln"))) return dir.FullName;
        throw new DirectoryNotFoundException($"No AptNotebooks.sln above {AppContext.BaseDirectory}.");
    }
}
