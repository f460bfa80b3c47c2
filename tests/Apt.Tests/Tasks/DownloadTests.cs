using System.Diagnostics;
using System.IO.Compression;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Apt.Tasks;
using Apt.Tasks.Data;

namespace Apt.Tests.Tasks;

/// <summary>
/// `aptnb data download` against an HTTP server on 127.0.0.1 serving archives of the hand-written fixtures:
/// a whole download, a cut connection resumed with a Range request, a wrong checksum, a path-escaping
/// archive, a zip bomb, an archive over the size limit and an unreachable host; and against a raw TCP server on
/// 127.0.0.1 that misbehaves as HttpListener cannot: a body cut off without a Content-Length, a stall mid-body,
/// a reply that is not HTTP and a connection closed without a reply. Each hostile case ends with one line that says
/// what happened, as an exception the CLI prints as "error: …" (never the kit-fault path), and caches nothing.
/// </summary>
public sealed class DownloadTests : IDisposable
{
    readonly HttpListener _listener = new();
    readonly Dictionary<string, byte[]> _archives = new();
    readonly List<string> _requests = [];
    readonly Task _serving;
    readonly string _base;
    readonly FixtureFiles.Scratch _scratch = new();
    bool _cutNext;

    public DownloadTests()
    {
        int port = FreePort();
        _base = $"http://127.0.0.1:{port}/";
        _listener.Prefixes.Add(_base);
        _listener.Start();
        _archives["BoolQ.zip"] = Zip(("BoolQ/train.jsonl", File.ReadAllBytes(FixtureFiles.Path("superglue", "boolq", "train.jsonl"))),
                                     ("BoolQ/test.jsonl", File.ReadAllBytes(FixtureFiles.Path("superglue", "boolq", "test.jsonl"))),
                                     ("BoolQ/padding.bin", RandomNumberGenerator.GetBytes(64 * 1024)));
        _archives["evil.zip"] = Zip(("BoolQ/train.jsonl", "{}\n"u8.ToArray()), ("../escaped.txt", "gotcha"u8.ToArray()));
        _archives["bomb.zip"] = Zip(("BoolQ/train.jsonl",
            File.ReadAllBytes(FixtureFiles.Path("superglue", "boolq", "train.jsonl"))),
                                    ("BoolQ/zeros.bin", new byte[8 << 20]));
        _serving = Task.Run(Serve);
    }

    static int FreePort()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        int port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        return port;
    }

    static byte[] Zip(params (string Name, byte[] Bytes)[] entries)
    {
        using var memory = new MemoryStream();
        using (var zip = new ZipArchive(memory, ZipArchiveMode.Create, leaveOpen: true))
            foreach (var (name, bytes) in entries)
            {
                using var stream = zip.CreateEntry(name).Open();
                stream.Write(bytes);
            }
        return memory.ToArray();
    }

    async Task Serve()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try { context = await _listener.GetContextAsync(); }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException) { return; }
            string name = context.Request.Url!.AbsolutePath.TrimStart('/');
            string? range = context.Request.Headers["Range"];
            lock (_requests) _requests.Add($"{name} {range ?? "-"}");
            var response = context.Response;
            if (!_archives.TryGetValue(name, out var bytes)) { response.StatusCode = 404; response.Close(); continue; }
            long from = range is null ? 0 : long.Parse(range["bytes=".Length..].TrimEnd('-'));
            if (from > 0)
            {
                response.StatusCode = 206;
                response.Headers["Content-Range"] = $"bytes {from}-{bytes.Length - 1}/{bytes.Length}";
            }
            response.ContentLength64 = bytes.Length - from;
            if (_cutNext && from == 0)
            {
                _cutNext = false;
                await response.OutputStream.WriteAsync(bytes.AsMemory(0, bytes.Length / 2));
                await response.OutputStream.FlushAsync();
                response.Abort(); // the connection drops mid-body
                continue;
            }
            await response.OutputStream.WriteAsync(bytes.AsMemory((int)from));
            response.Close();
        }
    }

    [Fact]
    public void DownloadsChecksAndExtractsWithoutTheTopFolder()
    {
        string sha = Convert.ToHexStringLower(SHA256.HashData(_archives["BoolQ.zip"]));
        var result = DatasetDownloader.Download("boolq", _scratch.Folder, new DownloadOptions { BaseUrl = _base, Sha256 = sha });
        Assert.Equal(sha, result.Sha256);
        Assert.Equal(1, result.Attempts);
        var examples = TaskRegistry.Get("boolq").Load(DataSplit.Train, Path.Combine(_scratch.Folder, "boolq"));
        Assert.Equal(2, examples.Count);
        Assert.True(File.Exists(Path.Combine(_scratch.Folder, "boolq", "download.json")));
    }

    [Fact]
    public void ACutDownloadResumesWithARangeRequest()
    {
        _cutNext = true;
        var result = DatasetDownloader.Download("boolq", _scratch.Folder, new DownloadOptions { Url = _base + "BoolQ.zip" });
        Assert.Equal(2, result.Attempts);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(_archives["BoolQ.zip"])), result.Sha256);
        lock (_requests) Assert.Equal(["BoolQ.zip -", $"BoolQ.zip bytes={_archives["BoolQ.zip"].Length / 2}-"], _requests);
        Assert.Equal(File.ReadAllBytes(FixtureFiles.Path("superglue", "boolq", "train.jsonl")), File.ReadAllBytes(Path.Combine(_scratch.Folder, "boolq", "train.jsonl")));
    }

    [Fact]
    public void AWrongChecksumDeletesTheDownload()
    {
        var error = Assert.Throws<InvalidDataException>(() =>
            DatasetDownloader.Download("boolq", _scratch.Folder, new DownloadOptions { BaseUrl = _base, Sha256 = new string('0', 64) }));
        Assert.Contains("differs from the expected", error.Message);
        Assert.False(Directory.Exists(Path.Combine(_scratch.Folder, "boolq")));
        Assert.Empty(Directory.GetFiles(Path.Combine(_scratch.Folder, ".cache", "downloads")));
    }

    [Fact]
    public void APathEscapingArchiveIsRefusedBeforeAnythingIsWritten()
    {
        var error = Assert.Throws<InvalidDataException>(() =>
            DatasetDownloader.Download("boolq", Path.Combine(_scratch.Folder, "data"), new DownloadOptions { Url = _base + "evil.zip" }));
        Assert.Contains("'../escaped.txt'", error.Message);
        Assert.Contains("refused", error.Message);
        Assert.False(File.Exists(Path.Combine(_scratch.Folder, "escaped.txt")));
        Assert.False(Directory.Exists(Path.Combine(_scratch.Folder, "data", "boolq")));
    }

    [Fact]
    public void AnUnreachableHostGivesTheOfflineMessage()
    {
        var error = Assert.Throws<DataUnavailableException>(() =>
            DatasetDownloader.Download("cb", _scratch.Folder, new DownloadOptions { BaseUrl = $"http://127.0.0.1:{FreePort()}/" }));
        Assert.Contains("looks offline", error.Message);
        Assert.Contains("--url", error.Message);
        Assert.Throws<ArgumentException>(() => DatasetDownloader.Download("ontonotes", _scratch.Folder, new DownloadOptions()));
    }

    /// <summary>The fixture BoolQ archive's path in the download cache of <paramref name="dataRoot"/>.</summary>
    static string Cached(string dataRoot) => Path.Combine(dataRoot, ".cache", "downloads", "boolq-BoolQ.zip");

    [Fact]
    public void AZipBombIsRefusedAndNothingOfItIsKept()
    {
        byte[] bomb = _archives["bomb.zip"];
        Assert.True(bomb.Length < 64 << 10, $"{bomb.Length} bytes"); // 8 MiB of zeros deflate to a few KiB
        var error = Assert.Throws<InvalidDataException>(() =>
            DatasetDownloader.Download("boolq", _scratch.Folder,
                new DownloadOptions { Url = _base + "bomb.zip", MaxExtractedBytes = 1 << 20 }));
        string archive = Path.Combine(_scratch.Folder, ".cache", "downloads", "boolq-bomb.zip");
        Assert.Equal($"{archive}: extracting it would write more than 1.0 MiB " +
                     "(the extraction limit, --max-extract-mb); refused, and nothing was kept", error.Message);
        Assert.False(Directory.Exists(Path.Combine(_scratch.Folder, "boolq")));
        Assert.False(Directory.Exists(Path.Combine(_scratch.Folder, "boolq.extracting")));
    }

    [Fact]
    public void AnArchiveOverTheDownloadLimitIsRefusedFromItsContentLength()
    {
        var error = Assert.Throws<InvalidDataException>(() =>
            DatasetDownloader.Download("boolq", _scratch.Folder,
                new DownloadOptions { BaseUrl = _base, MaxDownloadBytes = 1 << 10 }));
        string size = InputFile.Size(_archives["BoolQ.zip"].Length);
        Assert.Equal($"{_base}BoolQ.zip: {size}, over the download limit of 1.0 KiB (--max-download-mb)",
            error.Message);
        Assert.False(File.Exists(Cached(_scratch.Folder)));
    }

    [Fact]
    public void AFullDiskIsReportedAsSuchNotAsAnIncompleteDownload()
    {
        string cache = Path.Combine(_scratch.Folder, ".cache", "downloads");
        Directory.CreateDirectory(cache);
        File.CreateSymbolicLink(Cached(_scratch.Folder) + ".part", "/dev/full"); // every write fails with ENOSPC
        var error = Assert.Throws<IOException>(() =>
            DatasetDownloader.Download("boolq", _scratch.Folder, new DownloadOptions { BaseUrl = _base }));
        Assert.Matches(
            $"^{Regex.Escape(Cached(_scratch.Folder))}\\.part: the disk is full after \\d+ bytes; free space there " +
                $"and run again to resume$",
            error.Message);
    }

    [Fact]
    public void AnFtpUrlIsRefusedAsAnArgument()
    {
        var error = Assert.Throws<ArgumentException>(() =>
            DatasetDownloader.Download("boolq", _scratch.Folder,
                new DownloadOptions { Url = "ftp://127.0.0.1/BoolQ.zip" }));
        Assert.Equal("ftp://127.0.0.1/BoolQ.zip: ftp:// is not supported " +
                     "(expected an http:// or https:// URL or a local archive file); " +
                     "fetch it with another tool and pass --url <file>", error.Message);
    }

    [Fact]
    public void ABodyCutOffWithoutContentLengthIsNotCachedAndTheNextRunResumesIt()
    {
        byte[] zip = _archives["BoolQ.zip"];
        int half = zip.Length / 2;
        using var server = new RawServer((request, stream) =>
        {
            if (!request.Contains("Range: bytes=", StringComparison.Ordinal))
                // no length: the close ends it
                return Reply(stream, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", zip[..half]);
            return Reply(stream,
                $"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {half}-{zip.Length - 1}/{zip.Length}\r\n" +
                                 $"Content-Length: {zip.Length - half}\r\nConnection: close\r\n\r\n", zip[half..]);
        });
        var options = new DownloadOptions { Url = server.Url + "BoolQ.zip", Attempts = 1 };
        var error = Assert.Throws<DataUnavailableException>(() => DatasetDownloader.Download("boolq",
            _scratch.Folder, options));
        Assert.StartsWith($"{options.Url}: the download stayed incomplete after 1 attempt(s) " +
                          $"(last: the reply ended after {half} bytes " +
                          "with no Content-Length, and the archive is not whole (", error.Message);
        Assert.EndsWith($"; {half} bytes kept in {Cached(_scratch.Folder)}.part; run again to resume)", error.Message);
        Assert.False(File.Exists(Cached(_scratch.Folder)));
        Assert.False(Directory.Exists(Path.Combine(_scratch.Folder, "boolq")));

        File.Move(Cached(_scratch.Folder) + ".part", Cached(_scratch.Folder)); // as the kit cached it before this check
        var result = DatasetDownloader.Download("boolq", _scratch.Folder, options);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(zip)), result.Sha256);
        Assert.Equal(File.ReadAllBytes(FixtureFiles.Path("superglue", "boolq", "train.jsonl")),
            File.ReadAllBytes(Path.Combine(_scratch.Folder, "boolq", "train.jsonl")));
    }

    [Fact]
    public void AServerThatStallsMidBodyEndsTheAttemptAtTheReadDeadline()
    {
        byte[] zip = _archives["BoolQ.zip"];
        using var stalled = new CancellationTokenSource();
        using var server = new RawServer(async (_, stream) =>
        {
            await Reply(stream, $"HTTP/1.1 200 OK\r\nContent-Length: {zip.Length}\r\n\r\n", zip[..1000]);
            await Task.Delay(Timeout.Infinite, stalled.Token).ContinueWith(_ => { });
        });
        var options = new DownloadOptions { Url = server.Url + "BoolQ.zip", Attempts = 2,
            ReadTimeout = TimeSpan.FromSeconds(1) };
        var clock = Stopwatch.StartNew();
        var error = Assert.Throws<DataUnavailableException>(() => DatasetDownloader.Download("boolq",
            _scratch.Folder, options));
        stalled.Cancel();
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"took {clock.Elapsed}");
        Assert.Equal($"{options.Url}: the download stayed incomplete after 2 attempt(s) " +
                     "(last: the server sent nothing for 1 s after 1000 bytes (the read deadline, --read-timeout); " +
                     $"1000 bytes kept in {Cached(_scratch.Folder)}.part; run again to resume)", error.Message);
        Assert.False(File.Exists(Cached(_scratch.Folder)));
    }

    [Fact]
    public void AReplyThatIsNotHttpIsRefusedAsBadInput()
    {
        using var server = new RawServer((_, stream) => Reply(stream, "SSH-2.0-OpenSSH_9.6\r\n", []));
        string url = server.Url + "BoolQ.zip";
        var error = Assert.Throws<InvalidDataException>(() =>
            DatasetDownloader.Download("boolq", _scratch.Folder, new DownloadOptions { Url = url }));
        Assert.StartsWith($"{url}: the reply is not HTTP (", error.Message);
        Assert.EndsWith("); is this the address of a web server?", error.Message);
        Assert.False(File.Exists(Cached(_scratch.Folder)));
    }

    [Fact]
    public void AConnectionClosedWithoutAReplySaysSo()
    {
        using var server = new RawServer((_, _) => Task.CompletedTask);
        string url = server.Url + "BoolQ.zip";
        var error = Assert.Throws<DataUnavailableException>(() =>
            DatasetDownloader.Download("boolq", _scratch.Folder, new DownloadOptions { Url = url, Attempts = 2 }));
        Assert.Equal($"{url}: the download stayed incomplete after 2 attempt(s) " +
                     "(last: the server closed the connection without a reply; " +
                     $"0 bytes kept in {Cached(_scratch.Folder)}.part; run again to resume)", error.Message);
    }

    static async Task Reply(Stream stream, string head, byte[] body)
    {
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head));
        await stream.WriteAsync(body);
        await stream.FlushAsync();
    }

    /// <summary>A TCP server on 127.0.0.1 that reads each request's head and hands it to <c>handle</c>, then closes the
    /// connection.</summary>
    sealed class RawServer : IDisposable
    {
        readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        readonly Task _serving;
        public string Url { get; }

        public RawServer(Func<string, NetworkStream, Task> handle)
        {
            _listener.Start();
            Url = $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/";
            _serving = Task.Run(async () =>
            {
                while (true)
                {
                    TcpClient client;
                    try { client = await _listener.AcceptTcpClientAsync(); }
                    catch (Exception e) when (e is SocketException or ObjectDisposedException) { return; }
                    _ = Task.Run(async () =>
                    {
                        using (client)
                        {
                            var stream = client.GetStream();
                            var head = new StringBuilder();
                            byte[] one = new byte[1];
                            while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal)
                                && await stream.ReadAsync(one) == 1)
                                head.Append((char)one[0]);
                            try { await handle(head.ToString(), stream); }
                            catch (IOException) { } // the client gave up first
                        }
                    });
                }
            });
        }

        public void Dispose()
        {
            _listener.Stop();
            _serving.Wait(TimeSpan.FromSeconds(5));
        }
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        _serving.Wait(TimeSpan.FromSeconds(5));
        _scratch.Dispose();
    }
}
