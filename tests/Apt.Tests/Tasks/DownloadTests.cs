using System.IO.Compression;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Apt.Tasks;
using Apt.Tasks.Data;

namespace Apt.Tests.Tasks;

/// <summary>
/// `aptnb data download` against an HTTP server on 127.0.0.1 serving archives of the hand-written fixtures:
/// a whole download, a cut connection resumed with a Range request, a wrong checksum, a path-escaping
/// archive and an unreachable host.
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

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        _serving.Wait(TimeSpan.FromSeconds(5));
        _scratch.Dispose();
    }
}
