using System.Text.RegularExpressions;

namespace Apt;

/// <summary>
/// Writes that never leave a half-written file: the bytes go to a temporary file in the same folder,
/// are flushed to disk, and the temporary replaces the target in one rename.
/// </summary>
public static partial class AtomicFile
{
    public static void WriteAllText(string path, string text) =>
        Write(path, stream => { using var writer = new StreamWriter(stream, leaveOpen: true); writer.Write(text); });

    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        byte[] copy = bytes.ToArray();
        Write(path, stream => stream.Write(copy));
    }

    const string TemporarySuffix = ".tmp";

    /// <summary>
    /// Whether <paramref name="path"/> is a temporary file of <see cref="Write"/> (target.&lt;process id&gt;.&lt;32 hex
    /// digits&gt;.tmp) that a killed process left behind; other *.tmp files are not the kit's to remove.
    /// </summary>
    public static bool IsLeftover(string path) => TemporaryName().IsMatch(Path.GetFileName(path));

    [GeneratedRegex(@"^.+\.[0-9]+\.[0-9a-f]{32}\.tmp$")]
    private static partial Regex TemporaryName();

    /// <summary>Calls <paramref name="write"/> on a stream whose contents replace <paramref name="path"/> only when it returns.</summary>
    public static void Write(string path, Action<Stream> write)
    {
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        string temporary = $"{full}.{Environment.ProcessId}.{Guid.NewGuid():N}{TemporarySuffix}";
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temporary)) File.Delete(temporary);
        }
    }
}
