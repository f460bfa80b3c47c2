using System.Runtime.InteropServices;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Apt.Backbone.Cpu;

/// <summary>
/// One product through the weights of one or more <see cref="TorchSharp.Modules.Linear"/> modules stacked along
/// their outputs (Q, K and V: one GEMM, and for a frozen backbone one input-gradient GEMM, instead of three). While
/// the weights are frozen the stacked weight is kept instead of stacked at every call, and products that take no
/// gradient, up to <see cref="MklPackedGemm.PackedRowLimit"/> rows, run on the weight prepacked into oneMKL's GEMM
/// layout (<c>cblas_sgemm_pack</c>), as ONNX Runtime prepacks its weights once. Measured on MiniLM's evaluation
/// forward (the bench's "eval" child), stacked at every call → kept and packed: 1 × 128 18.40, 18.57,
/// 18.31 → 16.90, 17.12, 16.98 ms; 32 × 128 (not packed) unchanged, 496.6, 504.9 → 503.9, 508.2 ms. The modules
/// keep their parameters and Hugging Face's names; nothing here is saved.
/// <para>
/// The kept copies are tied to the weights' storage and to libtorch's version counter, which every in-place write
/// bumps (a checkpoint's <c>copy_</c>, an optimizer step, a write through a view): a weight that changed or was
/// replaced is stacked and packed again before its next product, never read stale. Weights that take a gradient
/// (full fine-tuning) are stacked afresh on every call so autograd reaches them, as are weights off the CPU and
/// weights where libtorch_cpu does not export its version counter (builds other than Linux's); without MKL's
/// packed GEMM the kept weight goes to libtorch's <c>linear</c>.
/// </para>
/// </summary>
sealed class FrozenLinear : IDisposable
{
    readonly Linear[] _parts;
    /// <summary>Detached aliases of the parts' weights and biases the kept copies were made from: they keep that storage alive, so an equal address means the same storage.</summary>
    Tensor[]? _sources;
    long[] _versions = [];
    Tensor? _weight, _bias; // (n, k), (n)
    MklPackedGemm.Matrix? _packed;

    public FrozenLinear(params Linear[] parts)
    {
        if (parts.Length == 0 || parts.Any(p => p.bias is null) != parts.All(p => p.bias is null))
            throw new ArgumentException("stacked linears must all have a bias or all have none", nameof(parts));
        _parts = parts;
    }

    /// <summary>input (…, k) → (…, n) with n the parts' output sizes summed, in the parts' order.</summary>
    public Tensor Forward(Tensor input)
    {
        var (weights, biases) = Tensors();
        Tensor[] sources = [.. weights, .. biases];
        if (!TensorVersion.Available || sources.Any(t => t.requires_grad || t.device_type != DeviceType.CPU || TensorVersion.IsInference(t)))
            return StackedAfresh(input, weights, biases);
        if (!IsCurrent(sources)) Keep(weights, biases, sources);
        bool noGradient = !is_grad_enabled() || !input.requires_grad;
        if (noGradient && MklPackedGemm.Serves(input) && _weight!.dtype == input.dtype && _weight.device_type == input.device_type)
            return (_packed ??= MklPackedGemm.Pack(_weight)).Product(input, _bias); // packed on first use: training products never need it
        return functional.linear(input, _weight!, _bias);
    }

    (Tensor[] Weights, Tensor[] Biases) Tensors() =>
        (_parts.Select(p => (Tensor)p.weight!).ToArray(), _parts.Where(p => p.bias is not null).Select(p => (Tensor)p.bias!).ToArray());

    static Tensor StackedAfresh(Tensor input, Tensor[] weights, Tensor[] biases)
    {
        if (weights.Length == 1) return functional.linear(input, weights[0], biases.SingleOrDefault());
        using var weight = cat(weights, 0); // (n, k)
        using var bias = biases.Length == 0 ? null : cat(biases, 0); // (n)
        return functional.linear(input, weight, bias);
    }

    /// <summary>Whether the kept copies were made from <paramref name="sources"/> (weights, then biases) as they are now.</summary>
    bool IsCurrent(Tensor[] sources) =>
        _sources is not null && sources.Select((t, i) => TensorVersion.Of(t) == _versions[i] && DataAddress(t) == DataAddress(_sources[i])).All(same => same);

    void Keep(Tensor[] weights, Tensor[] biases, Tensor[] sources)
    {
        Release();
        using var scope = NewDisposeScope();
        using var normal = inference_mode(false); // kept tensors serve later training steps too: no inference tensors
        using var noGrad = no_grad();
        _sources = [.. sources.Select(t => t.detach().DetachFromDisposeScope())];
        _versions = [.. sources.Select(TensorVersion.Of)];
        _weight = (weights.Length == 1 ? weights[0].detach() : cat(weights, 0)).contiguous().DetachFromDisposeScope(); // (n, k)
        _bias = biases.Length == 0 ? null : (biases.Length == 1 ? biases[0].detach() : cat(biases, 0)).DetachFromDisposeScope(); // (n)
    }

    static unsafe IntPtr DataAddress(Tensor tensor)
    {
        fixed (byte* data = tensor.bytes) return (IntPtr)data;
    }

    void Release()
    {
        foreach (var tensor in _sources ?? []) tensor.Dispose();
        _weight?.Dispose();
        _bias?.Dispose();
        _packed?.Dispose();
        (_sources, _weight, _bias, _packed) = (null, null, null, null);
    }

    public void Dispose() => Release();
}

/// <summary>libtorch's per-tensor version counter (<c>Tensor._version</c> in PyTorch), read through libtorch_cpu's exported C++ functions.</summary>
static unsafe class TensorVersion
{
    static readonly delegate* unmanaged<IntPtr, long> VersionOf = (delegate* unmanaged<IntPtr, long>)Export("_ZNK2at10TensorBase8_versionEv"); // at::TensorBase::_version() const
    static readonly delegate* unmanaged<IntPtr, byte> InferenceTest = (delegate* unmanaged<IntPtr, byte>)Export("_ZN2at6native12is_inferenceERKNS_6TensorE"); // at::native::is_inference(const at::Tensor&)

    public static bool Available => VersionOf != null && InferenceTest != null;

    /// <summary>Inference tensors (made under inference mode) have no version counter: reading it would throw inside libtorch.</summary>
    public static bool IsInference(Tensor tensor) => InferenceTest(tensor.Handle) != 0;

    /// <summary>The version of <paramref name="tensor"/> (a TorchSharp handle is an <c>at::Tensor*</c>); not for inference tensors.</summary>
    public static long Of(Tensor tensor) => VersionOf(tensor.Handle);

    internal static IntPtr Export(string name)
    {
        TorchRuntime.EnsureLoaded();
        return OperatingSystem.IsLinux() && NativeLibrary.TryLoad("libtorch_cpu.so", out IntPtr library) && NativeLibrary.TryGetExport(library, name, out IntPtr address)
            ? address : IntPtr.Zero;
    }
}

/// <summary>oneMKL's packed GEMM as libtorch_cpu exports it (<c>cblas_sgemm_pack_get_size</c>, <c>cblas_sgemm_pack</c>, <c>cblas_sgemm_compute</c>).</summary>
static unsafe class MklPackedGemm
{
    const int RowMajor = 101, NoTranspose = 111, Transpose = 112, Packed = 151, BMatrix = 162;
    /// <summary>
    /// The row count the layout is asked for. The packed B serves products of any row count (checked at 1 to 4,096
    /// rows against libtorch's linear: equal, or within float rounding where MKL picks other kernels below 8 rows).
    /// </summary>
    const int PackRows = 128;
    /// <summary>
    /// Up to how many rows products run packed. Measured on MiniLM's four shapes (2 threads, hot): at 32 rows packed
    /// 1.7–3.6× faster, at 64–512 rows 1–30 % faster; at 4,096 rows no faster, and in the evaluation forward at
    /// 32 × 128 slower (503–515 → 573 ms), where libtorch's own product stays.
    /// </summary>
    internal const long PackedRowLimit = 512;

    static readonly delegate* unmanaged<int, int, int, int, nuint> PackSize = (delegate* unmanaged<int, int, int, int, nuint>)TensorVersion.Export("cblas_sgemm_pack_get_size");
    static readonly delegate* unmanaged<int, int, int, int, int, int, float, float*, int, void*, void> PackInto =
        (delegate* unmanaged<int, int, int, int, int, int, float, float*, int, void*, void>)TensorVersion.Export("cblas_sgemm_pack");
    static readonly delegate* unmanaged<int, int, int, int, int, int, float*, int, void*, int, float, float*, int, void> Compute =
        (delegate* unmanaged<int, int, int, int, int, int, float*, int, void*, int, float, float*, int, void>)TensorVersion.Export("cblas_sgemm_compute");

    static bool Available => PackSize != null && PackInto != null && Compute != null;

    /// <summary>Whether a packed product serves <paramref name="input"/>: float32 on the CPU, at most <see cref="PackedRowLimit"/> rows.</summary>
    public static bool Serves(Tensor input) =>
        Available && input.device_type == DeviceType.CPU && input.dtype == ScalarType.Float32 && input.numel() <= PackedRowLimit * input.shape[^1];

    /// <summary>weight (n, k), contiguous float32, packed as the B of x·weightᵀ.</summary>
    public static Matrix Pack(Tensor weight)
    {
        int n = checked((int)weight.shape[0]), k = checked((int)weight.shape[1]);
        var matrix = new Matrix(PackSize(BMatrix, PackRows, n, k), n, k);
        fixed (byte* source = weight.bytes) PackInto(RowMajor, BMatrix, Transpose, PackRows, n, k, 1f, (float*)source, k, (void*)matrix.Address);
        return matrix;
    }

    /// <summary>A packed weight in native memory, freed on dispose (or by the finalizer).</summary>
    public sealed class Matrix : SafeHandle
    {
        readonly int _n, _k;

        public Matrix(nuint bytes, int n, int k) : base(IntPtr.Zero, ownsHandle: true)
        {
            SetHandle((IntPtr)NativeMemory.AlignedAlloc(bytes, 64));
            (_n, _k) = (n, k);
        }

        public IntPtr Address => handle;

        public override bool IsInvalid => handle == IntPtr.Zero;

        protected override bool ReleaseHandle()
        {
            NativeMemory.AlignedFree((void*)handle);
            return true;
        }

        /// <summary>input (…, k) · weightᵀ + bias → (…, n).</summary>
        public Tensor Product(Tensor input, Tensor? bias)
        {
            using var rows = input.reshape(-1, _k).contiguous(); // (m, k)
            int m = checked((int)rows.shape[0]);
            var output = bias is null ? zeros(m, _n) : empty(m, _n); // (m, n): C starts as the bias, beta = 1; a new tensor (an expanded one row would alias the bias)
            if (bias is not null) output.copy_(bias);
            fixed (byte* a = rows.bytes, c = output.bytes)
                Compute(RowMajor, NoTranspose, Packed, m, _n, _k, (float*)a, _k, (void*)handle, _n, 1f, (float*)c, _n);
            using (output)
                return output.view([.. input.shape[..^1], _n]); // (…, n)
        }
    }
}
