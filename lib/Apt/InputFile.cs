using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace Apt;

/// <summary>
/// The one way the kit opens a file it reads: data files, vocabularies, config.json, weights, run-folder files,
/// archives. Only regular files are opened, and their type is checked before the open: a device such as /dev/zero
/// would be read without end, and opening a FIFO blocks until someone writes to it. A file read into memory is
/// refused above <see cref="MaxBytes"/>; weights and archives are streamed with 64-bit offsets and have no limit
/// here (their own formats bound what is read). Every message names the file.
/// </summary>
public static class InputFile
{
    /// <summary>The environment variable that sets <see cref="MaxBytes"/>, in MiB.</summary>
    public const string MaxMegabytesVariable = "APT_MAX_FILE_MB";

    /// <summary>The default of <see cref="MaxBytes"/>: 1 GiB, far above any data file of the paper's tasks.</summary>
    public const long DefaultMaxBytes = 1L << 30;

    const string MemoryLimit = $"for a file the kit reads into memory (set {MaxMegabytesVariable} to raise it)";

    /// <summary>The largest file read into memory (data, vocabularies, JSON): <see cref="MaxMegabytesVariable"/>
    /// or 1 GiB.</summary>
    public static long MaxBytes { get; } =
        long.TryParse(Environment.GetEnvironmentVariable(MaxMegabytesVariable), NumberStyles.None,
            CultureInfo.InvariantCulture, out long mb) && mb > 0 ? mb << 20 : DefaultMaxBytes;

    /// <summary>
    /// Opens <paramref name="path"/> for reading once it is known to be a regular file of at most
    /// <paramref name="maxBytes"/> bytes; a larger one is refused with <paramref name="limit"/>, the limit's name.
    /// </summary>
    public static FileStream Open(string path, long maxBytes = long.MaxValue, string limit = MemoryLimit)
    {
        CheckRegular(path);
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16,
                FileOptions.SequentialScan);
        }
        catch (FileNotFoundException e) { throw new FileNotFoundException($"{path}: no such file", path, e); }
        long length = stream.Length;
        if (length > maxBytes)
        {
            stream.Dispose();
            throw new InvalidDataException($"{path}: {Size(length)}, over the {Size(maxBytes)} limit {limit}");
        }
        return stream;
    }

    /// <summary>The whole file, at most <see cref="MaxBytes"/> (and what one array can hold).</summary>
    public static byte[] ReadAllBytes(string path)
    {
        using var stream = Open(path, MaxBytes);
        if (stream.Length > Array.MaxLength)
            throw new InvalidDataException(
                $"{path}: {Size(stream.Length)}, more than one array can hold ({Size(Array.MaxLength)})");
        byte[] bytes = new byte[stream.Length];
        try { stream.ReadExactly(bytes); }
        catch (EndOfStreamException e) { throw new IOException($"{path}: the file shrank while it was read", e); }
        return bytes;
    }

    /// <summary>The whole file as text (UTF-8, or what its byte-order mark says), at most
    /// <see cref="MaxBytes"/>.</summary>
    public static string ReadAllText(string path)
    {
        using var reader = new StreamReader(Open(path, MaxBytes), Encoding.UTF8,
            detectEncodingFromByteOrderMarks: true);
        return reader.ReadToEnd();
    }

    /// <summary>The file's lines, read one at a time, from a file of at most <see cref="MaxBytes"/>.</summary>
    public static IEnumerable<string> ReadLines(string path)
    {
        using var reader = new StreamReader(Open(path, MaxBytes), Encoding.UTF8,
            detectEncodingFromByteOrderMarks: true);
        while (reader.ReadLine() is { } line) yield return line;
    }

    /// <summary>The file's SHA-256 (lower-case hex), streamed: a weight file of any size.</summary>
    public static string Sha256(string path)
    {
        using var stream = Open(path);
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(stream));
    }

    /// <summary>A byte count as people read it: "512 bytes", "3.0 MiB", "2.0 GiB".</summary>
    public static string Size(long bytes) => bytes switch
    {
        < 1 << 10 => $"{bytes} bytes",
        < 1 << 20 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:0.0} KiB"),
        < 1 << 30 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1048576.0:0.0} MiB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1073741824.0:0.0} GiB"),
    };

    /// <summary>Refuses a path that is not a regular file (after symbolic links), from its type alone.</summary>
    static void CheckRegular(string path)
    {
        if (Directory.Exists(path)) throw new InvalidDataException($"{path}: a directory, expected a regular file");
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such file", path);
        if (!OperatingSystem.IsLinux()) return; // elsewhere the type is not read: a device there is opened as a file
        string? kind = FileType(path) switch
        {
            null or 0x8000 => null,
            0x2000 => "a character device",
            0x6000 => "a block device",
            0x1000 => "a FIFO (named pipe)",
            0xC000 => "a socket",
            int other => $"a file of type 0o{Convert.ToString(other >> 12, 8)}",
        };
        if (kind is not null)
            throw new InvalidDataException(
                $"{path}: {kind}, not a regular file (the kit reads only regular files: a device is endless " +
                    $"and a FIFO blocks)");
    }

    /// <summary>
    /// The S_IFMT bits of the file's mode from Linux's statx (whose buffer has one layout on every architecture);
    /// null when unknown.
    /// </summary>
    static int? FileType(string path)
    {
        const int AtFdCwd = -100, StatxType = 0x1, ModeOffset = 28;
        byte[] buffer = new byte[256];
        try
        {
            if (Statx(AtFdCwd, path, 0, StatxType, buffer) != 0) return null;
        }
        catch (EntryPointNotFoundException)
        {
            return null; // a C library without statx (glibc before 2.28)
        }
        return BitConverter.ToUInt16(buffer, ModeOffset) & 0xF000;
    }

    [DllImport("libc", EntryPoint = "statx", SetLastError = true)]
    static extern int Statx(
        int directory, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, byte[] buffer);
}
