using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;
using Apt.Backbone.Cpu;
using TorchSharp;
using static TorchSharp.torch;

namespace Apt.Backbone;

/// <summary>Raised when libtorch cannot be loaded; the message says why in a user's words and how to fix it.</summary>
public sealed class TorchLoadException(string message, Exception inner) : Exception(message, inner);

/// <summary>
/// Loads libtorch once, picks the device and thread count, and turns TorchSharp's load failure
/// (whose stock message blames a missing libtorch package reference) into a diagnosis.
/// </summary>
public static class TorchRuntime
{
    /// <summary>The version that TorchSharp 0.107's native library asks of libstdc++.</summary>
    public const string RequiredGlibcxx = "GLIBCXX_3.4.32";

    static readonly Lazy<Device> _device = new(Initialise);

    /// <summary>CUDA when this TorchSharp build has it and a GPU is present, else the CPU.</summary>
    public static Device Device => _device.Value;

    /// <summary>How libtorch's MKL picks its GEMM kernels in this process (see <see cref="MklDispatch"/>); set when libtorch loads.</summary>
    public static string MklKernels { get; private set; } = "libtorch not loaded yet";

    /// <summary>
    /// How many threads the kit's own CPU kernels split their loops over; <see cref="UseThreads"/> sets it with
    /// libtorch's, so that a run given one thread beside other runs keeps to one core.
    /// </summary>
    public static ParallelOptions Parallelism { get; } = new() { MaxDegreeOfParallelism = Environment.ProcessorCount };

    /// <summary>
    /// Computes with <paramref name="threads"/> threads from now on (libtorch's intra-op pool and the kit's kernels);
    /// null: one per core, the default. Call after <see cref="EnsureLoaded"/>.
    /// </summary>
    public static void UseThreads(int? threads)
    {
        int count = threads ?? Environment.ProcessorCount;
        if (count < 1) throw new ArgumentOutOfRangeException(nameof(threads), threads, "a run needs at least 1 thread");
        torch.set_num_threads(count);
        Parallelism.MaxDegreeOfParallelism = count;
    }

    /// <summary>Loads libtorch (once); throws <see cref="TorchLoadException"/> with a remedy on failure.</summary>
    public static void EnsureLoaded() => _ = _device.Value;

    /// <summary>
    /// The OpenMP wait policy libtorch's thread pool gets unless the environment sets one: PASSIVE, so that
    /// threads waiting at the end of a parallel region sleep (after <see cref="DefaultSpinCount"/>'s short spin)
    /// instead of spinning on. On cores shared with other processes a spinning thread holds a core its partner needs. Measured on this project's 2 shared cores
    /// (the benchmark, load average 5–8): MiniLM's forward at batch 1 × 128 took 63–79 ms instead of 176–230 ms, and
    /// an APT training step at 32 × 128 3.3 s instead of 7.3 s.
    /// </summary>
    public const string DefaultOmpWaitPolicy = "PASSIVE";

    /// <summary>
    /// How long (libgomp's spin iterations, about 0.1 ms) a waiting OpenMP thread spins before it sleeps, set with
    /// <see cref="DefaultOmpWaitPolicy"/> when the environment sets neither. Sleeping at once made every small
    /// operation wait for its partner's wake-up; a short spin keeps most of that without holding a shared core.
    /// Measured on this project's 2 shared cores (load average 1.2–3.5), 0 against 10,000, alternating processes:
    /// MiniLM's forward at 1 × 128 34.3/29.6 → 26.8/23.6 ms; an APT step at 16 × 28 (the quickstart's WiC shape)
    /// 190.8/186.7 → 165.8/166.8 ms; at 32 × 128 1,460/1,496 → 1,391/1,408 ms. Longer spins (30,000, 100,000)
    /// were no better.
    /// </summary>
    public const string DefaultSpinCount = "10000";

    [DllImport("libc", EntryPoint = "setenv")]
    static extern int SetNativeEnvironment(string name, string value, int overwrite);

    [DllImport("libc", EntryPoint = "mallopt")]
    static extern int MallocOption(int option, int value);

    const int MallocTrimThreshold = -1, MallocMmapMax = -4; // glibc's M_TRIM_THRESHOLD, M_MMAP_MAX

    /// <summary>
    /// Keeps freed native memory in the process for reuse (glibc: no mmap for large blocks, no trimming of the heap)
    /// unless the environment sets MALLOC_MMAP_MAX_ or MALLOC_TRIM_THRESHOLD_. Why: libtorch's CPU allocator has no
    /// cache, and glibc hands blocks above 32 MB straight back to the kernel, so every step page-faulted its attention
    /// tensors in anew (the kernel zeroes each page). Measured with <c>apt-bench --profile --length 256</c> on this
    /// project's 2 cores: the APT step at 32 × 256 took 4,901 ms before and 3,296 ms after. Process memory then stays
    /// at its high-water mark instead of shrinking between steps.
    /// </summary>
    static void KeepFreedMemory()
    {
        if (!IsGlibc.Value || Environment.GetEnvironmentVariable("MALLOC_MMAP_MAX_") is not null || Environment.GetEnvironmentVariable("MALLOC_TRIM_THRESHOLD_") is not null) return;
        _ = MallocOption(MallocMmapMax, 0);
        _ = MallocOption(MallocTrimThreshold, int.MaxValue);
    }

    [DllImport("libc", EntryPoint = "gnu_get_libc_version")]
    static extern IntPtr GlibcVersion();

    /// <summary>Linux with glibc (not musl, not another OS): the allocator settings here apply only there.</summary>
    static readonly Lazy<bool> IsGlibc = new(() =>
    {
        if (!OperatingSystem.IsLinux()) return false;
        try
        {
            _ = GlibcVersion();
            return true;
        }
        catch (EntryPointNotFoundException)
        {
            return false;
        }
    });

    /// <summary>
    /// The glibc tunables this kit's executables run under: no per-thread cache (tcache) and no fast bins for
    /// freed small blocks. Why: libtorch allocates with <c>posix_memalign(64)</c>, and glibc carves each aligned
    /// block out of a larger one and frees the few dozen bytes before and after it. Those slivers went to the
    /// tcache and fast bins, which never coalesce, so a freed tensor's block could neither merge with its
    /// neighbours nor serve the next aligned request of its own size, and the heap grew instead of reusing it.
    /// Measured on an APT step at 32 × 128 with freed memory kept (<see cref="KeepFreedMemory"/>): peak RSS
    /// 1,718 MiB with glibc's defaults, 1,588 MiB without the tcache, 1,341 MiB without both; step time unchanged.
    /// </summary>
    public const string AllocatorTunables = "glibc.malloc.tcache_count=0:glibc.malloc.mxfast=0";

    [DllImport("libc", EntryPoint = "execve")]
    static extern int Execute(string path, string?[] arguments, string?[] environment);

    /// <summary>
    /// Call first in an executable's Main. glibc reads its tunables only when a process starts, so on Linux with
    /// glibc, when GLIBC_TUNABLES is unset, this replaces the process (execve: same PID, arguments, standard
    /// streams and signals) with a copy of itself that has <see cref="AllocatorTunables"/>; otherwise, or if that
    /// fails, it returns and the process runs with glibc's defaults. A library cannot do this for its host (a
    /// notebook kernel or a test host keeps glibc's defaults, which costs memory, not speed); set GLIBC_TUNABLES
    /// (to anything, even empty) to opt out.
    /// </summary>
    public static void RestartWithAllocatorTunables()
    {
        if (!IsGlibc.Value || Environment.GetEnvironmentVariable("GLIBC_TUNABLES") is not null) return;
        string?[] arguments = [.. File.ReadAllText("/proc/self/cmdline").TrimEnd('\0').Split('\0'), null];
        string?[] environment = [.. Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
            .Select(e => $"{e.Key}={e.Value}"), $"GLIBC_TUNABLES={AllocatorTunables}", null];
        _ = Execute("/proc/self/exe", arguments, environment); // returns only on failure
    }

    static Device Initialise()
    {
        try
        {
            // libgomp reads OMP_WAIT_POLICY and GOMP_SPINCOUNT once, when libtorch loads it, and from the C environment (which
            // Environment.SetEnvironmentVariable does not change); an existing value wins.
            if (OperatingSystem.IsLinux() && Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") is null && Environment.GetEnvironmentVariable("GOMP_SPINCOUNT") is null)
            {
                _ = SetNativeEnvironment("OMP_WAIT_POLICY", DefaultOmpWaitPolicy, 0);
                _ = SetNativeEnvironment("GOMP_SPINCOUNT", DefaultSpinCount, 0); // overrides the policy's own spin count (PASSIVE alone: none)
            }
            KeepFreedMemory();
            PreloadNativeLibrary();
            InitializeDeviceType(DeviceType.CPU);
            MklKernels = MklDispatch.ChooseKernelsByCpuFeatures(); // before the first GEMM: MKL keeps the choice it makes there
            UseThreads(null);
            return cuda_is_available() ? CUDA : CPU;
        }
        catch (Exception e) when (e is TypeInitializationException or DllNotFoundException or NotSupportedException or EntryPointNotFoundException)
        {
            throw new TorchLoadException(Diagnose(), e);
        }
    }

    /// <summary>
    /// Loads the build's libLibTorchSharp (and with it libtorch) from <see cref="NativeLibraryPath"/> before TorchSharp looks for it.
    /// Why: a host that references Apt.dll by path, such as a notebook kernel's <c>#r</c>, does not read Apt.deps.json, so TorchSharp
    /// does not find the library under runtimes/ and falls back to copying libtorch (about 480 MB) out of the NuGet cache into a cpu/
    /// folder, which then failed to load in the dotnet-interactive kernel. Once loaded, TorchSharp's own lookup by name finds it.
    /// </summary>
    static void PreloadNativeLibrary()
    {
        if (NativeLibraryPath() is { } library) _ = NativeLibrary.TryLoad(library, out _);
    }

    /// <summary>Why libtorch may have failed to load, as a user can act on it.</summary>
    public static string Diagnose()
    {
        var text = new StringBuilder("TorchSharp could not load its native library (libLibTorchSharp / libtorch).");
        var check = CheckLibStdCxx();
        if (check is { Defines: false })
        {
            string? library = NativeLibraryPath();
            bool patched = library is not null && ElfVersionNeed.IsWeak(library, RequiredGlibcxx) != false;
            text.Append($" The system's libstdc++ ({check.Value.Path}) lacks {RequiredGlibcxx}, which TorchSharp 0.107's native library requires");
            text.Append(patched
                ? " (its copy here is already patched, so the cause lies elsewhere; run 'aptnb doctor')." :
                $". Rebuild with 'dotnet build' in the repository: the build marks that requirement weak in {library ?? "libLibTorchSharp.so"} (build/LibTorchSharp.targets).");
        }
        else
        {
            text.Append(" Check that 'dotnet restore' completed (the libtorch-cpu packages are large) and run " +
                "'aptnb doctor'.");
        }
        return text.ToString();
    }

    /// <summary>Whether the system libstdc++ defines <see cref="RequiredGlibcxx"/>; null when none was found (not Linux).</summary>
    public static (string Path, bool Defines)? CheckLibStdCxx()
    {
        if (!OperatingSystem.IsLinux()) return null;
        string[] candidates = ["/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/lib/aarch64-linux-gnu/libstdc++.so.6", "/usr/lib64/libstdc++.so.6", "/usr/lib/libstdc++.so.6"];
        string? path = candidates.FirstOrDefault(File.Exists);
        if (path is null) return null;
        return (path, ElfVersionNeed.Defines(path, RequiredGlibcxx));
    }

    /// <summary>The libLibTorchSharp.so this process would load (beside TorchSharp.dll or under runtimes/), if found.</summary>
    public static string? NativeLibraryPath()
    {
        string folder = Path.GetDirectoryName(typeof(torch).Assembly.Location)!;
        string[] candidates =
        [
            Path.Combine(folder, "runtimes", RuntimeInformation.RuntimeIdentifier, "native", "libLibTorchSharp.so"),
            Path.Combine(folder, "runtimes", "linux-x64", "native", "libLibTorchSharp.so"),
            Path.Combine(folder, "libLibTorchSharp.so"),
        ];
        return candidates.FirstOrDefault(File.Exists);
    }

    public static string TorchSharpVersion =>
        typeof(torch).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "unknown";

    public static string LibTorchVersion => __version__;
}
