using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace Apt.Backbone.Cpu;

/// <summary>
/// Lets the MKL inside libtorch choose its GEMM kernels by what the CPU can do rather than by who made it.
/// libtorch's CPU build links oneMKL 2024.0 into libtorch_cpu, and that MKL asks one exported function,
/// <c>mkl_serv_intel_cpu_true</c>, whether the CPU is Intel's; when it is not, MKL runs generic kernels that ignore
/// AVX-512 (and most of AVX2's blocking), whatever cpuid reports. Replacing that function's body with "return 1"
/// makes MKL dispatch by the CPU's features as it does on Intel (the MKL_DEBUG_CPU_TYPE=5 of older MKLs, which
/// 2024.0 no longer reads). Measured on this project's AMD EPYC (Zen 4, AVX-512), 2 threads, alternating processes
/// (the benchmark): 2048³ 176–180 → 208–222 GFLOP/s; MiniLM's linear shapes at 4,096 rows 175–189 → 188–216, at 128 rows
/// 148–159 → 189–215; attention's batched product (384 × 144 × 32 × 144) 99–102 → 141–151 GFLOP/s.
/// MKL keeps its choice from its first GEMM on, so <see cref="TorchRuntime"/> calls this as libtorch loads.
/// Done only on Linux x64, when the function answers 0 and the CPU has AVX2 and FMA; set
/// <see cref="KeepVendorTestVariable"/> to anything to leave MKL as shipped.
/// </summary>
static class MklDispatch
{
    public const string KeepVendorTestVariable = "APT_KEEP_MKL_VENDOR_TEST";

    const int ProtectRead = 1, ProtectWrite = 2, ProtectExecute = 4;

    /// <summary>x86-64 for <c>mov eax, 1; ret</c>.</summary>
    static ReadOnlySpan<byte> ReturnOne => [0xB8, 0x01, 0x00, 0x00, 0x00, 0xC3];

    [DllImport("libc", EntryPoint = "mprotect", SetLastError = true)]
    static extern int Protect(IntPtr start, nuint length, int protection);

    /// <summary>Applies the change when it applies; returns what MKL now dispatches by, for <c>aptnb
    /// doctor</c>.</summary>
    public static unsafe string ChooseKernelsByCpuFeatures()
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64) return "MKL's own dispatch (not Linux x64)";
        if (Environment.GetEnvironmentVariable(KeepVendorTestVariable) is not null) return $"MKL's own dispatch ({KeepVendorTestVariable} is set)";
        if (!NativeLibrary.TryLoad("libtorch_cpu.so", out IntPtr library) || !NativeLibrary.TryGetExport(library, "mkl_serv_intel_cpu_true", out IntPtr vendorTest))
            return "MKL's own dispatch (no MKL vendor test found in libtorch_cpu.so)";
        if (((delegate* unmanaged<int>)vendorTest)() != 0) return "MKL's own dispatch (an Intel CPU)";
        if (!Avx2.IsSupported || !Fma.IsSupported) return "MKL's generic kernels (a CPU without AVX2 and FMA)";

        // The function's bytes live in a read-only, executable page (or two): open them for writing, then close again.
        long pageSize = Environment.SystemPageSize;
        IntPtr firstPage = (IntPtr)((long)vendorTest & ~(pageSize - 1));
        nuint length = (nuint)((long)vendorTest + ReturnOne.Length - (long)firstPage);
        if (Protect(firstPage, length, ProtectRead | ProtectWrite | ProtectExecute) != 0)
            return $"MKL's generic kernels (the vendor test could not be replaced: mprotect error {Marshal.GetLastPInvokeError()})";
        ReturnOne.CopyTo(new Span<byte>((void*)vendorTest, ReturnOne.Length));
        _ = Protect(firstPage, length, ProtectRead | ProtectExecute);
        return "by the CPU's features (MKL's vendor test answers Intel on this non-Intel CPU)";
    }
}
