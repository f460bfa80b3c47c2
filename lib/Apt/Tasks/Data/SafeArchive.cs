using System.Formats.Tar;
using System.IO.Compression;

namespace Apt.Tasks.Data;

/// <summary>
/// Extracts zip and .tar.gz archives without ever writing outside the target folder: an entry with an
/// absolute path, a drive, a ".." segment or a link is refused before anything is written. When every
/// entry sits under one top folder (SuperGLUE's "BoolQ/train.jsonl"), that folder is dropped. The files are
/// written to a staging folder beside the target and moved in only when all of them are: an archive that
/// would write more than the limit (a zip bomb), a damaged one or a full disk leaves nothing behind.
/// </summary>
public static class SafeArchive
{
    /// <summary>The names of the files written, relative to <paramref name="target"/>.</summary>
    public static IReadOnlyList<string> Extract(string archive, string target, long maxBytes)
    {
        bool zip = IsZip(archive);
        var entries = zip ? ZipEntries(archive) : TarEntries(archive);
        var files = entries.Where(e => e.IsFile).Select(e => e.Name).ToList();
        if (files.Count == 0) throw new InvalidDataException($"{archive}: the archive holds no files");
        foreach (string name in entries.Select(e => e.Name)) Check(archive, name);
        string root = CommonRoot(files);
        string full = Path.GetFullPath(target);
        string staging = full.TrimEnd(Path.DirectorySeparatorChar) + ".extracting";
        string tooLarge = $"{archive}: extracting it would write more than {InputFile.Size(maxBytes)} " +
                          "(the extraction limit, --max-extract-mb); refused, and nothing was kept";
        var written = new List<string>();
        long total = 0;
        void Save(string name, Stream input)
        {
            string relative = name[root.Length..];
            string path = Path.GetFullPath(Path.Combine(staging, relative));
            if (!path.StartsWith(staging + Path.DirectorySeparatorChar, StringComparison.Ordinal))
                throw new InvalidDataException($"{archive}: entry '{name}' would be written outside {target}; refused");
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            using var output = new FileStream(path, FileMode.Create, FileAccess.Write);
            byte[] buffer = new byte[1 << 16];
            for (int read; (read = input.Read(buffer)) > 0;)
            {
                if ((total += read) > maxBytes) throw new InvalidDataException(tooLarge);
                output.Write(buffer, 0, read);
            }
            written.Add(relative);
        }
        if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        try
        {
            if (zip)
            {
                using var reader = OpenZip(archive);
                if (reader.Entries.Sum(e => e.Length) > maxBytes) throw new InvalidDataException(tooLarge);
                foreach (var entry in reader.Entries.Where(e => !e.FullName.EndsWith('/')))
                {
                    using var input = entry.Open();
                    Save(entry.FullName, input);
                }
            }
            else
            {
                using var gzip = new GZipStream(InputFile.Open(archive), CompressionMode.Decompress);
                using var reader = new TarReader(gzip);
                while (reader.GetNextEntry() is { } entry)
                    if (entry.EntryType is TarEntryType.RegularFile or TarEntryType.V7RegularFile
                        && entry.DataStream is { } data)
                        Save(entry.Name, data);
            }
            foreach (string relative in written)
            {
                string destination = Path.Combine(full, relative);
                Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
                File.Move(Path.Combine(staging, relative), destination, overwrite: true);
            }
        }
        catch (IOException e) when (IsDiskFull(e))
        {
            throw new IOException(
                $"{archive}: the disk is full after {InputFile.Size(total)} extracted to {target}; nothing was kept. " +
                "Free space and run again", e);
        }
        finally
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        }
        return written;
    }

    /// <summary>Whether <paramref name="e"/> says the disk is full (ENOSPC; on Windows ERROR_DISK_FULL,
    /// ERROR_HANDLE_DISK_FULL).</summary>
    public static bool IsDiskFull(IOException e) =>
        e.HResult is 28 or unchecked((int)0x80070070) or unchecked((int)0x80070027);

    /// <summary>
    /// Why <paramref name="archive"/> is not a whole archive, read from the archive itself, or null when it is: a zip's
    /// central directory sits at its very end, and a gzip stream ends with the length of what it holds. A body cut off
    /// anywhere loses one or the other. A gzip stream is read up to <paramref name="maxBytes"/>: one that holds more is
    /// refused by <see cref="Extract"/> anyway.
    /// </summary>
    public static string? Incomplete(string archive, long maxBytes)
    {
        try
        {
            if (IsZip(archive))
            {
                using var zip = OpenZip(archive);
                return zip.Entries.Count == 0 ? "no entries" : null;
            }
            using var stream = InputFile.Open(archive);
            Span<byte> magic = stackalloc byte[2];
            if (stream.Read(magic) < 2 || magic[0] != 0x1F || magic[1] != 0x8B)
                return "neither a zip nor a gzip archive by its first bytes";
            stream.Position = 0;
            long length = 0;
            using (var gzip = new GZipStream(stream, CompressionMode.Decompress, leaveOpen: true))
            {
                byte[] buffer = new byte[1 << 16];
                for (int read; (read = gzip.Read(buffer)) > 0;)
                    if ((length += read) > maxBytes) return null;
            }
            Span<byte> trailer = stackalloc byte[4];
            stream.Position = stream.Length - 4;
            stream.ReadExactly(trailer);
            return BitConverter.ToUInt32(trailer) == (uint)length ? null
                : "the gzip stream's length differs from its trailer's";
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException)
        {
            return e.Message.TrimEnd('.');
        }
    }

    static ZipArchive OpenZip(string archive) => new(InputFile.Open(archive), ZipArchiveMode.Read);

    static bool IsZip(string archive)
    {
        using var stream = InputFile.Open(archive);
        Span<byte> magic = stackalloc byte[2];
        return stream.Read(magic) == 2 && magic[0] == (byte)'P' && magic[1] == (byte)'K';
    }

    static List<(string Name, bool IsFile)> ZipEntries(string archive)
    {
        try
        {
            using var reader = OpenZip(archive);
            return [.. reader.Entries.Select(e => (e.FullName, !e.FullName.EndsWith('/')))];
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{archive}: not a readable zip archive ({e.Message})", e);
        }
    }

    static List<(string Name, bool IsFile)> TarEntries(string archive)
    {
        var entries = new List<(string Name, TarEntryType Type)>();
        try
        {
            using var gzip = new GZipStream(InputFile.Open(archive), CompressionMode.Decompress);
            using var reader = new TarReader(gzip);
            while (reader.GetNextEntry() is { } entry) entries.Add((entry.Name, entry.EntryType));
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or EndOfStreamException)
        {
            throw new InvalidDataException($"{archive}: neither a zip nor a readable .tar.gz archive ({e.Message})", e);
        }
        var link = entries.FirstOrDefault(e => e.Type is TarEntryType.SymbolicLink or TarEntryType.HardLink);
        if (link.Name is not null) throw new InvalidDataException($"{archive}: entry '{link.Name}' is a link; refused (nothing was extracted)");
        return [.. entries.Select(e => (e.Name, e.Type is TarEntryType.RegularFile or TarEntryType.V7RegularFile))];
    }

    /// <summary>Refuses names that are absolute, carry a drive or a ".." segment.</summary>
    static void Check(string archive, string name)
    {
        string normalised = name.Replace('\\', '/');
        if (normalised.StartsWith('/') || (normalised.Length > 1 && normalised[1] == ':') || normalised.Split('/').Contains(".."))
            throw new InvalidDataException($"{archive}: entry '{name}' points outside the target folder; refused (nothing was extracted)");
    }

    static string CommonRoot(List<string> files)
    {
        string first = files[0];
        int slash = first.IndexOf('/');
        if (slash < 0) return "";
        string root = first[..(slash + 1)];
        return files.All(f => f.StartsWith(root, StringComparison.Ordinal) && f.Length > root.Length) ? root : "";
    }
}
