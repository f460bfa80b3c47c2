using System.IO.Enumeration;

namespace Apt;

/// <summary>
/// Files under a folder at any depth, without following links to folders: a `latest` link in a runs folder would
/// count its runs twice, and a link to a parent would loop until the path grows too long.
/// </summary>
public static class FolderWalk
{
    /// <summary>
    /// The files named <paramref name="pattern"/> (with * and ?) under <paramref name="root"/>, in ordinal order;
    /// <paramref name="skippedLinks"/> (if given) receives each link to a folder that was not entered.
    /// </summary>
    public static IReadOnlyList<string> Files(string root, string pattern, ICollection<string>? skippedLinks = null)
    {
        var options = new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0,
            IgnoreInaccessible = false };
        var files = new FileSystemEnumerable<string>(root, (ref FileSystemEntry e) => e.ToFullPath(), options)
        {
            ShouldIncludePredicate = (ref FileSystemEntry e) =>
            {
                bool link = (e.Attributes & FileAttributes.ReparsePoint) != 0;
                if (link && e.IsDirectory) skippedLinks?.Add(e.ToFullPath());
                return !e.IsDirectory && FileSystemName.MatchesSimpleExpression(pattern, e.FileName);
            },
            ShouldRecursePredicate = (ref FileSystemEntry e) => (e.Attributes & FileAttributes.ReparsePoint) == 0,
        };
        return [.. files.Order(StringComparer.Ordinal)];
    }
}
