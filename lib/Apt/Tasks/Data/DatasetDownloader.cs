using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text.Json;

namespace Apt.Tasks.Data;

/// <summary>Where a public data set is published. <see cref="Url"/> null: no public location; the user passes --url.</summary>
public sealed record DatasetSource(string Name, string? Url, string Note);

/// <summary>The official locations of the data sets the kit reads.</summary>
public static class DatasetCatalog
{
    const string SuperGlueBase = "https://dl.fbaipublicfiles.com/glue/superglue/data/v2/";

    public static readonly IReadOnlyList<DatasetSource> All =
    [
        .. new[] { ("boolq", "BoolQ"), ("cb", "CB"), ("copa", "COPA"), ("rte", "RTE"), ("wic", "WiC"), ("wsc", "WSC"), ("multirc", "MultiRC"), ("record", "ReCoRD") }
            .Select(t => new DatasetSource(t.Item1, $"{SuperGlueBase}{t.Item2}.zip", "SuperGLUE v2 release")),
        new("conll03", "https://data.deepai.org/conll2003.zip", "CoNLL-2003 English (the archive Hugging Face's conll2003 loader uses)"),
        new("conll04", null, "CoNLL-2004 has no single official column release; pass --url to your copy (word and tag columns)"),
        new("ontonotes", null, "OntoNotes 5.0 is licensed by the LDC; pass --url to your licensed copy in column format"),
    ];

    public static DatasetSource Get(string name) =>
        All.FirstOrDefault(s => s.Name.Equals(name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"no download known for '{name}' (known: " +
            $"{string.Join(", ", All.Select(s => s.Name))}; the stand-ins are made by 'aptnb data build')");
}

/// <summary>Options of <see cref="DatasetDownloader.Download"/>.</summary>
public sealed record DownloadOptions
{
    /// <summary>The archive's URL (or a local archive file) instead of the official one.</summary>
    public string? Url { get; init; }
    /// <summary>Another base URL: the official archive's file name is appended to it (a mirror).</summary>
    public string? BaseUrl { get; init; }
    /// <summary>Expected SHA-256 (hex) of the archive; a mismatch deletes the download and fails.</summary>
    public string? Sha256 { get; init; }
    /// <summary>Attempts; each one after a cut connection resumes with an HTTP Range request.</summary>
    public int Attempts { get; init; } = 4;
    /// <summary>
    /// How long the server may stay silent, waiting for the reply's headers or for the body's next bytes: a stall ends
    /// the attempt (and the next one resumes).
    /// </summary>
    public TimeSpan ReadTimeout { get; init; } = TimeSpan.FromSeconds(60);
    /// <summary>The most bytes an archive may have (SuperGLUE's largest, ReCoRD, has 51 MB).</summary>
    public long MaxDownloadBytes { get; init; } = DefaultMaxDownloadBytes;
    /// <summary>The most bytes its extraction may write: a zip bomb expands a small archive a thousandfold.</summary>
    public long MaxExtractedBytes { get; init; } = DefaultMaxExtractedBytes;

    public const long DefaultMaxDownloadBytes = 2L << 30, DefaultMaxExtractedBytes = 8L << 30;
}

/// <summary>What a download produced, also written as <c>download.json</c> beside the files.</summary>
public sealed record DownloadResult(string Name, string Url, string Sha256, long Bytes, int Attempts, IReadOnlyList<string> Files);

/// <summary>
/// Downloads a data set's archive into <c>&lt;dataRoot&gt;/.cache/downloads</c> (a partial file is resumed with
/// HTTP Range), checks its length and, when known, its SHA-256, and extracts it safely to <c>&lt;dataRoot&gt;/&lt;name&gt;</c>.
/// </summary>
public static class DatasetDownloader
{
    public static DownloadResult Download(string name, string dataRoot, DownloadOptions options, HttpMessageHandler? handler = null)
    {
        var source = DatasetCatalog.Get(name);
        string url = options.Url
            ?? (options.BaseUrl is not null && source.Url is not null ? options.BaseUrl.TrimEnd('/') + "/" + Path.GetFileName(new Uri(source.Url).AbsolutePath) : source.Url)
            ?? throw new ArgumentException($"{source.Name}: {source.Note}");
        if (File.Exists(url)) url = Path.GetFullPath(url); // a local copy of the archive
        var uri = new Uri(url);
        if (!uri.IsFile && uri.Scheme is not ("http" or "https"))
            throw new ArgumentException(
                $"{url}: {uri.Scheme}:// is not supported " +
                "(expected an http:// or https:// URL or a local archive file); " +
                "fetch it with another tool and pass --url <file>");
        string cache = Path.Combine(dataRoot, ".cache", "downloads");
        Directory.CreateDirectory(cache);
        string archive = Path.Combine(cache, $"{source.Name}-{Path.GetFileName(uri.AbsolutePath)}");
        string partial = archive + ".part";
        using var client = handler is null ? new HttpClient() : new HttpClient(handler, disposeHandler: false);
        client.Timeout = options.ReadTimeout;
        int attempts = 0;
        string? interrupted = null;
        if (uri.IsFile) CopyLocal(uri.LocalPath, archive, options);
        else if (File.Exists(archive) && SafeArchive.Incomplete(archive, options.MaxExtractedBytes) is not null)
            File.Move(archive, partial, overwrite: true); // cached incomplete by an older kit: resume it
        while (!File.Exists(archive))
        {
            attempts++;
            try
            {
                if (Fetch(client, uri, partial, options)) File.Move(partial, archive);
            }
            catch (HttpRequestException e) when (e.InnerException is SocketException || e.HttpRequestError is HttpRequestError.NameResolutionError or HttpRequestError.ConnectionError)
            {
                throw new DataUnavailableException(
                    $"cannot reach {uri.Host} ({e.Message}); this machine looks offline. Download {url} elsewhere and run " +
                    $"'aptnb data download {source.Name} --url <file or mirror URL>', or unpack it into " +
                        $"{Path.Combine(dataRoot, source.Name)} yourself.", e);
            }
            catch (HttpRequestException e) when (e.HttpRequestError is HttpRequestError.InvalidResponse)
            {
                throw new InvalidDataException(
                    $"{url}: the reply is not HTTP ({e.Message.TrimEnd('.')}); is this the address " +
                        $"of a web server?", e);
            }
            catch (IOException e) when (SafeArchive.IsDiskFull(e))
            {
                throw new IOException(
                    $"{partial}: the disk is full after {Length(partial)} bytes; free space there and run " +
                        $"again to resume", e);
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException
                                      or IOException and not DataUnavailableException)
            {
                // A cut or stalled connection: the partial file stays and the next attempt resumes it.
                interrupted = e switch
                {
                    TaskCanceledException
                        => $"no reply within {options.ReadTimeout.TotalSeconds:0.#} s (the read deadline, " +
                        $"--read-timeout)",
                    HttpRequestException { HttpRequestError: HttpRequestError.ResponseEnded } =>
                        "the server closed the connection without a reply",
                    _ => e.Message.TrimEnd('.'),
                };
            }
            if (!File.Exists(archive) && attempts >= options.Attempts)
                throw new DataUnavailableException(
                    $"{url}: the download stayed incomplete after {attempts} attempt(s) (last: {interrupted}; " +
                    $"{Length(partial)} bytes kept in {partial}; run again to resume)");
        }
        string sha = InputFile.Sha256(archive);
        if (options.Sha256 is not null && !sha.Equals(options.Sha256, StringComparison.OrdinalIgnoreCase))
        {
            File.Delete(archive);
            throw new InvalidDataException($"{url}: SHA-256 {sha} differs from the expected {options.Sha256}; the download was deleted");
        }
        string target = Path.Combine(dataRoot, source.Name);
        var files = SafeArchive.Extract(archive, target, options.MaxExtractedBytes);
        var result = new DownloadResult(source.Name, url, sha, new FileInfo(archive).Length, attempts, files);
        AtomicFile.WriteAllText(Path.Combine(target, "download.json"), JsonSerializer.Serialize(result, new JsonSerializerOptions { WriteIndented = true }) + "\n");
        return result;
    }

    static long Length(string path) => File.Exists(path) ? new FileInfo(path).Length : 0;

    /// <summary>A local archive, copied into the cache once it is known to be a whole archive under
    /// the limit.</summary>
    static void CopyLocal(string path, string archive, DownloadOptions options)
    {
        using (var input = InputFile.Open(path, options.MaxDownloadBytes, "for a download (--max-download-mb)"))
            AtomicFile.Write(archive, input.CopyTo);
        if (SafeArchive.Incomplete(archive, options.MaxExtractedBytes) is { } reason)
        {
            File.Delete(archive);
            throw new InvalidDataException($"{path}: not a whole archive ({reason})");
        }
    }

    /// <summary>
    /// One request: resumes <paramref name="partial"/> if it has bytes; true when the file is complete, which the
    /// archive itself must confirm (a body cut off without a Content-Length ends like a whole one). Each read waits at
    /// most <see cref="DownloadOptions.ReadTimeout"/>; the file may not grow past
    /// <see cref="DownloadOptions.MaxDownloadBytes"/>. </summary>
    static bool Fetch(HttpClient client, Uri uri, string partial, DownloadOptions options)
    {
        long have = Length(partial);
        using var request = new HttpRequestMessage(HttpMethod.Get, uri);
        if (have > 0) request.Headers.Range = new RangeHeaderValue(have, null);
        using var response = client.Send(request, HttpCompletionOption.ResponseHeadersRead);
        if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable && have > 0)
        {
            File.Delete(partial); // the server's file changed or shrank: start over
            return false;
        }
        if (!response.IsSuccessStatusCode) throw new DataUnavailableException($"{uri}: the server answered {(int)response.StatusCode} {response.ReasonPhrase}");
        bool resumed = response.StatusCode == HttpStatusCode.PartialContent;
        if (have > 0 && !resumed) have = 0; // the server ignored the range: take the whole file again
        long? total = resumed ? response.Content.Headers.ContentRange?.Length : response.Content.Headers.ContentLength;
        string tooLarge = $"over the download limit of {InputFile.Size(options.MaxDownloadBytes)} (--max-download-mb)";
        if (total > options.MaxDownloadBytes)
            throw new InvalidDataException($"{uri}: {InputFile.Size(total.Value)}, {tooLarge}");
        using (var output = new FileStream(partial, resumed ? FileMode.Append : FileMode.Create, FileAccess.Write))
        using (var input = response.Content.ReadAsStream())
        {
            byte[] buffer = new byte[1 << 16];
            for (int read; (read = ReadWithDeadline(input, buffer, options.ReadTimeout, uri, output.Length)) > 0;)
            {
                if (output.Length + read > options.MaxDownloadBytes)
                {
                    output.Dispose();
                    File.Delete(partial);
                    throw new InvalidDataException(
                        $"{uri}: more than {InputFile.Size(options.MaxDownloadBytes)} sent, {tooLarge}; " +
                        "the partial download was deleted");
                }
                output.Write(buffer, 0, read);
            }
        }
        long length = Length(partial);
        if (total is not null && length != total)
            throw new IOException($"received {length} of {total} bytes");
        if (SafeArchive.Incomplete(partial, options.MaxExtractedBytes) is not { } reason) return true;
        if (total is null)
            throw new IOException(
                $"the reply ended after {length} bytes with no Content-Length, and the archive is not " +
                    $"whole ({reason})");
        File.Delete(partial);
        throw new InvalidDataException($"{uri}: the archive is damaged ({reason}); the download was deleted");
    }

    /// <summary>One read of the body that gives up after <paramref name="deadline"/> without data.</summary>
    static int ReadWithDeadline(Stream input, byte[] buffer, TimeSpan deadline, Uri uri, long received)
    {
        using var timer = new CancellationTokenSource(deadline);
        try
        {
            return input.ReadAsync(buffer, timer.Token).AsTask().GetAwaiter().GetResult();
        }
        catch (OperationCanceledException e) when (timer.IsCancellationRequested)
        {
            throw new IOException(
                $"the server sent nothing for {deadline.TotalSeconds:0.#} s after {received} bytes " +
                "(the read deadline, --read-timeout)", e);
        }
    }
}
