using System.Runtime.Intrinsics;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.autograd;

namespace Apt.Backbone.Cpu;

/// <summary>
/// A layer's prefix as the backbone receives it in training: the raw prefix (l, 2, d) repeated over the batch,
/// dropped out per example (<see cref="FastDropout"/>'s mask over (B, l, 2, d), the same draw and the same bits as
/// <see cref="CounterDropout"/>'s), then times the gate (B, l) — (raw · keep / (1 − p)) · gate, in that order: the fast
/// path of <c>PrefixModule.ForLayer</c>, whose composed form is the reference. Composed from libtorch operations
/// the (B, l, 2, d) tensor is passed over about eight times forward and back (dropout factors, two products, the
/// gate's gradient product and its sum, the dropout's gradient product, the sum over the batch), and two copies
/// of it stay alive until backward; here forward writes it once and keeps only the one-byte mask, and backward
/// reads the incoming gradient once, giving the raw prefix's gradient (summed over the batch) and the gate's.
/// Measured over MiniLM's six layers at batch 32, forward and backward (a collection between runs, as the trainer
/// does): prefix 16 3.5–3.7 ms composed, 1.3 ms here; prefix 128 34.0–35.7 ms composed, 11.1–11.8 ms here. Its growth
/// with the prefix was, after attention's, the largest in the (f) prefix scan of the benchmark.
/// CPU and float32 only (<see cref="ComputePath.UsesFastCpu"/>); elsewhere the composed form runs, with the same values.
/// </summary>
public sealed class GatedPrefixDropout : SingleTensorFunction<GatedPrefixDropout>
{
    public override string Name => nameof(GatedPrefixDropout);

    /// <summary>
    /// raw (l, 2, d); gate (B, l), a scalar (one gate for the whole layer) or null (none); returns (B, l, 2, d):
    /// training-mode dropout with probability <paramref name="p"/>, per example, then the gate.
    /// </summary>
    public static Tensor Apply(Tensor raw, Tensor? gate, long batch, double p)
    {
        var gates = gate is null || gate.dim() == 2 ? gate : gate.expand(batch, raw.shape[0]); // (B, l): autograd sums a scalar's gradient back
        if (is_grad_enabled() && (raw.requires_grad || gates?.requires_grad == true)) return apply(raw, gates!, batch, p);
        using var scope = NewDisposeScope(); // nothing to differentiate: no node, nothing kept
        return Forward(raw, gates, batch, p).Output.MoveToOuterDisposeScope();
    }

    public override Tensor forward(AutogradContext ctx, params object[] vars)
    {
        var (raw, gates, batch, p) = ((Tensor)vars[0], vars[1] as Tensor, (long)vars[2], (double)vars[3]);
        using var scope = NewDisposeScope();
        var (output, rawData, gateData, keep, scale) = Forward(raw, gates, batch, p);
        ctx.save_data(nameof(Saved), new Saved(rawData.DetachFromDisposeScope(), gateData?.DetachFromDisposeScope(), keep.DetachFromDisposeScope(), scale, [raw.requires_grad, gates?.requires_grad == true]));
        return output.MoveToOuterDisposeScope();
    }

    /// <summary>The forward pass; besides the output, the contiguous inputs and the mask that backward reads.</summary>
    static (Tensor Output, Tensor Raw, Tensor? Gates, Tensor Keep, float Scale) Forward(Tensor raw, Tensor? gates, long batch, double p)
    {
        var rawData = raw.detach().contiguous(); // (l, 2, d)
        var gateData = gates?.detach().contiguous(); // (B, l)
        long length = raw.shape[0], width = raw.shape[1] * raw.shape[2];
        var keep = FastDropout.KeepMask([batch, length, raw.shape[1], raw.shape[2]], p); // (B, l, 2, d)
        var output = empty(batch, length, raw.shape[1], raw.shape[2]); // (B, l, 2, d)
        float scale = (float)(1.0 / (1.0 - p));
        unsafe
        {
            fixed (byte* rb = rawData.bytes, kb = keep.bytes, ob = output.bytes)
            fixed (byte* gb = gateData is null ? default : gateData.bytes)
            {
                float* rawRows = (float*)rb, outputRows = (float*)ob, gateValues = gateData is null ? null : (float*)gb;
                byte* keepRows = kb;
                Parallel.For(0, batch * length, TorchRuntime.Parallelism, row => // row = b·l + j
                {
                    float gate = gateValues is null ? 1f : gateValues[row];
                    float* source = rawRows + row % length * width, target = outputRows + row * width;
                    byte* kept = keepRows + row * width;
                    var (factor, gateVector) = (Vector256.Create(scale), Vector256.Create(gate));
                    long e = 0;
                    for (; e + 8 <= width; e += 8)
                        (Vector256.Load(source + e) * FastDropout.KeepFactors(kept + e, factor) * gateVector).Store(target + e);
                    for (; e < width; e++) target[e] = source[e] * (kept[e] != 0 ? scale : 0f) * gate;
                });
            }
        }
        return (output, rawData, gateData, keep, scale);
    }

    public override List<Tensor> backward(AutogradContext ctx, Tensor gradient)
    {
        using var saved = ctx.get_data(nameof(Saved)) as Saved
            ?? throw new InvalidOperationException($"{nameof(GatedPrefixDropout)}: backward ran twice over the same graph (retain_graph is not supported)");
        ctx.save_data(nameof(Saved), null!);
        using var scope = NewDisposeScope();
        var incoming = gradient.contiguous(); // (B, l, 2, d)
        long batch = incoming.shape[0], length = saved.Raw.shape[0], width = saved.Raw.shape[1] * saved.Raw.shape[2];
        var rawGradient = saved.NeedsGradient[0] ? empty_like(saved.Raw) : null; // (l, 2, d)
        var gateGradient = saved.NeedsGradient[1] ? empty(batch, length) : null; // (B, l)
        unsafe
        {
            fixed (byte* rb = saved.Raw.bytes, kb = saved.Keep.bytes, ib = incoming.bytes)
            fixed (byte* gb = saved.Gates is null ? default : saved.Gates.bytes)
            fixed (byte* drb = rawGradient is null ? default : rawGradient.bytes, dgb = gateGradient is null ? default : gateGradient.bytes)
            {
                float* rawRows = (float*)rb, incomingRows = (float*)ib, gateValues = (float*)gb, dRawRows = (float*)drb, dGates = (float*)dgb;
                byte* keepRows = kb;
                float scale = saved.Scale;
                // one prefix position for the whole batch: its raw gradient is a sum over b
                Parallel.For(0, length, TorchRuntime.Parallelism, j =>
                {
                    float* source = rawRows + j * width, dRaw = dRawRows is null ? null : dRawRows + j * width;
                    if (dRaw is not null) new Span<float>(dRaw, (int)width).Clear();
                    var factor = Vector256.Create(scale);
                    for (long b = 0; b < batch; b++)
                    {
                        long row = b * length + j;
                        float gate = gateValues is null ? 1f : gateValues[row];
                        float* g = incomingRows + row * width;
                        byte* kept = keepRows + row * width;
                        var (gateVector, sums) = (Vector256.Create(gate), Vector256<float>.Zero);
                        long e = 0;
                        for (; e + 8 <= width; e += 8)
                        {
                            var throughDropout = Vector256.Load(g + e) * FastDropout.KeepFactors(kept + e, factor); // the gradient of raw · keep / (1 − p)
                            if (dRaw is not null) (Vector256.Load(dRaw + e) + throughDropout * gateVector).Store(dRaw + e);
                            sums += throughDropout * Vector256.Load(source + e);
                        }
                        float sum = Vector256.Sum(sums);
                        for (; e < width; e++)
                        {
                            float throughDropout = g[e] * (kept[e] != 0 ? scale : 0f);
                            if (dRaw is not null) dRaw[e] += throughDropout * gate;
                            sum += throughDropout * source[e];
                        }
                        if (dGates is not null) dGates[row] = sum;
                    }
                });
            }
        }
        return [rawGradient?.MoveToOuterDisposeScope()!, gateGradient?.MoveToOuterDisposeScope()!, null!, null!]; // null: no gradient (an input that needs none, B, p)
    }

    /// <summary>What backward reads, held as plain detached references and disposed once read (as <see cref="DropoutAttention"/> does).</summary>
    sealed record Saved(Tensor Raw, Tensor? Gates, Tensor Keep, float Scale, bool[] NeedsGradient) : IDisposable
    {
        public void Dispose()
        {
            foreach (var tensor in new[] { Raw, Gates, Keep }) tensor?.Dispose();
        }
    }
}
