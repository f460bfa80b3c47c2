using System.Text.Json;
using Apt.Backbone;

namespace Apt.Bench;

/// <summary>
/// The benchmark's PyTorch peer (<c>peer/pytorch_peer.py</c>): the same training steps and evaluation forward as the
/// kit's children, written as Hugging Face's eager BERT with past_key_values prefixes runs them, in a Python process of
/// its own with 2 torch threads. It runs where a Python with torch is found (Debian's <c>python3-torch</c>); elsewhere
/// the benchmark says why it skipped it and measures the rest.
/// </summary>
public sealed class PyTorchPeer
{
    /// <summary>The Python the peer runs with: <c>APT_BENCH_PYTHON</c>, else Debian's <c>/usr/bin/python3</c>, else <c>python3</c> on the PATH.</summary>
    public static string Python =>
        System.Environment.GetEnvironmentVariable("APT_BENCH_PYTHON") is { Length: > 0 } chosen ? chosen
        : File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";

    /// <summary>The peer script, copied beside the benchmark's assembly by the build.</summary>
    public static string Script => Path.Combine(AppContext.BaseDirectory, "peer", "pytorch_peer.py");

    /// <summary>Torch threads of the peer (<c>torch.set_num_threads</c>). Default 2, as the kit's libtorch has on this machine's two cores.</summary>
    public int Threads { get; init; } = 2;

    readonly string _configJson;

    /// <summary>torch's version and the BLAS library its process loaded, as the peer's probe printed them.</summary>
    public string Description { get; }

    PyTorchPeer(BertConfig config, string description)
    {
        _configJson = JsonSerializer.Serialize(config);
        Description = description;
    }

    /// <summary>The peer, or null and <paramref name="skipped"/> saying why (no Python, no torch, no script).</summary>
    public static PyTorchPeer? Find(BertConfig config, out string? skipped)
    {
        skipped = null;
        if (!File.Exists(Script))
        {
            skipped = $"the peer script {Script} is missing (the build copies it there)";
            return null;
        }
        // torch's version and the BLAS it loaded, by the folder Debian keeps each build in (blas = reference, openblas-openmp, …).
        const string probe = "import torch, os; maps = [l.split()[-1] for l in open('/proc/self/maps') if 'libblas.so' in l]; " +
            "print(f\"torch {torch.__version__}, BLAS {os.path.basename(os.path.dirname(maps[0])) if maps else 'built in'}\")";
        var (exit, stdout, stderr) = ChildProcess.Run(Python, ["-c", probe], [.. Environment()]);
        if (exit != 0)
        {
            skipped = $"{Python} cannot import torch ({LastLine(stderr)}); install Debian's python3-torch or set APT_BENCH_PYTHON";
            return null;
        }
        return new PyTorchPeer(config, stdout.Trim());
    }

    /// <summary>Runs one request (kind "step" with method apt, pt2 or ft, or kind "eval") in a fresh Python process.</summary>
    public Benchmarks.ChildResult Run(Benchmarks.ChildRequest request) =>
        ChildProcess.RunForResult<Benchmarks.ChildResult>($"PyTorch peer {request.Kind} {request.Method}", Python, [Script, JsonSerializer.Serialize(request), _configJson],
            [.. Environment(), ("APT_PEER_THREADS", Threads.ToString(System.Globalization.CultureInfo.InvariantCulture))]);

    /// <summary>Debian's OpenBLAS built on OpenMP, where it is installed: found before the system's libblas.so.3.</summary>
    const string OpenMpOpenBlas = "/usr/lib/x86_64-linux-gnu/openblas-openmp";

    /// <summary>
    /// The peer's threading made like the kit's: libgomp's wait policy and spin count as <see cref="TorchRuntime"/> sets them
    /// for libtorch (unless the environment sets its own), and, where Debian's OpenMP build of OpenBLAS is installed, that
    /// BLAS, so that matrix products run in torch's own 2-thread OpenMP pool as MKL's do in a pip wheel. Debian's default
    /// libblas.so.3 is the reference BLAS or OpenBLAS's pthread build, whose own busy-waiting threads beside torch's pool
    /// made the peer's small operations 10-50 times slower on the shared cores.
    /// </summary>
    static IEnumerable<(string Name, string Value)> Environment()
    {
        if (System.Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") is null && System.Environment.GetEnvironmentVariable("GOMP_SPINCOUNT") is null)
        {
            yield return ("OMP_WAIT_POLICY", TorchRuntime.DefaultOmpWaitPolicy);
            yield return ("GOMP_SPINCOUNT", TorchRuntime.DefaultSpinCount);
        }
        if (Directory.Exists(OpenMpOpenBlas))
            yield return ("LD_LIBRARY_PATH", System.Environment.GetEnvironmentVariable("LD_LIBRARY_PATH") is { Length: > 0 } path ? $"{OpenMpOpenBlas}:{path}" : OpenMpOpenBlas);
    }

    static string LastLine(string text) => text.Trim().Split('\n').LastOrDefault()?.Trim() is { Length: > 0 } line ? line : "no message";
}
