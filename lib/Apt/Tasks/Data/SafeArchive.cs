using System.Formats.Tar;
using System.IO.Compression;

namespace Apt.Tasks.Data;

/// <summary>
/// Extracts zip and .tar.gz archives without ever writing outside the target folder: an entry with an
/// absolute path, a drive, a ".." segment or a link is refused before anything is written. When every
/// entry sits under one top folder (SuperGLUE's "BoolQ/train.jsonl"), that folder is dropped.
/// </summary>
public static class SafeArchive
{
    /// <summary>The names of the files written, relative to <paramref name="target"/>.</summary>
    public static IReadOnlyList<string> Extract(string archive, string target)
    {
        bool zip = IsZip(archive);
        var entries = zip ? ZipEntries(archive) : TarEntries(archive);
        var files = entries.Where(e => e.IsFile).Select(e => e.Name).ToList();
        if (files.Count == 0) throw new InvalidDataException($"{archive}: the archive holds no files");
        foreach (string name in entries.Select(e => e.Name)) Check(archive, name);
        string root = CommonRoot(files);
        string full = Path.GetFullPath(target);
        var written = new List<string>();
        void Save(string name, Action<Stream> copy)
        {
            string relative = name[root.Length..];
            string path = Path.GetFullPath(Path.Combine(full, relative));
            if (!path.StartsWith(full + Path.DirectorySeparatorChar, StringComparison.Ordinal))
                throw new InvalidDataException($"{archive}: entry '{name}' would be written outside {target}; refused");
            AtomicFile.Write(path, copy);
            written.Add(relative);
        }
        if (zip)
        {
            using var reader = ZipFile.OpenRead(archive);
            foreach (var entry in reader.Entries.Where(e => !e.FullName.EndsWith('/')))
                Save(entry.FullName, s => { using var input = entry.Open(); input.CopyTo(s); });
        }
        else
        {
            using var gzip = new GZipStream(InputFile.Open(archive), CompressionMode.Decompress);
            using var reader = new TarReader(gzip);
            while (reader.GetNextEntry() is { } entry)
                if (entry.EntryType is TarEntryType.RegularFile or TarEntryType.V7RegularFile && entry.DataStream is { } data)
                    Save(entry.Name, s => data.CopyTo(s));
        }
        return written;
    }

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
            using var reader = ZipFile.OpenRead(archive);
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
