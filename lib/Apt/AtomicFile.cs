namespace Apt;

/// <summary>
/// Writes that never leave a half-written file: the bytes go to a temporary file in the same folder,
/// are flushed to disk, and the temporary replaces the target in one rename.
/// </summary>
public static class AtomicFile
{
    public static void WriteAllText(string path, string text) =>
        Write(path, stream => { using var writer = new StreamWriter(stream, leaveOpen: true); writer.Write(text); });

    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        byte[] copy = bytes.ToArray();
        Write(path, stream => stream.Write(copy));
    }

    /// <summary>Calls <paramref name="write"/> on a stream whose contents replace <paramref name="path"/> only when it returns.</summary>
    public static void Write(string path, Action<Stream> write)
    {
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        string temporary = $"{full}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
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
