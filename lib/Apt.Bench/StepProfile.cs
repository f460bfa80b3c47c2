using Apt.Backbone;
using Apt.Backbone.Cpu;
using Apt.Prefix;
using Apt.Runs;
using Spectre.Console;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Apt.Bench;

/// <summary>
/// <c>--profile</c>: where an APT training step's time goes. Splits the step into its phases, times it again
/// with the backbone's dropouts off (to price them), and times each operation of one layer's forward at the
/// step's shapes and at batch 1, with the rate of the matrix products, which run on the model's own path
/// (<see cref="FrozenLinear"/>: packed where the model packs), and libtorch's dropout beside ours.
/// Prints tables; nothing is judged.
/// </summary>
public static class StepProfile
{
    public static void Run(BenchSettings settings, IAnsiConsole console)
    {
        TorchRuntime.EnsureLoaded();
        using var backbone = PretrainedBackbone.Load("minilm");
        int b = settings.Batch, t = settings.Length, l = settings.PrefixLength;
        console.MarkupLine($"[bold]profile[/]: APT step on minilm, batch {b} × {t}, prefix {l}, {get_num_threads()} torch threads");

        var phases = new Table().AddColumns("backbone", "forward ms", "backward ms", "clip + AdamW ms", "GC ms", "step ms");
        void Phases(string label, BertModel model)
        {
            using var step = new TrainingWorkload(model, MethodCatalogue.Apt, l, b, t);
            for (int i = 0; i < settings.Warmup; i++) step.TimedStep();
            var runs = Enumerable.Range(0, settings.Repeats).Select(_ => step.TimedStep()).ToList();
            string M(Func<StepPhases, double> pick) => Measure.Median(runs.Select(pick)).ToString("F0");
            phases.AddRow(label, M(p => p.ForwardMs), M(p => p.BackwardMs), M(p => p.OptimizerMs), M(p => p.CollectMs), M(p => p.TotalMs));
        }
        Phases("as configured (dropout 0.1)", backbone.Model);
        using (var noAttentionDropout = Copy(backbone.Model, backbone.Config with { AttentionDropout = 0 }))
            Phases("attention dropout 0", noAttentionDropout);
        using (var noDropout = Copy(backbone.Model, backbone.Config with { AttentionDropout = 0, HiddenDropout = 0 }))
            Phases("all dropout 0", noDropout);
        console.Write(phases);
        console.Write(ForwardOperations(backbone.Config, settings, b, settings.PrefixLength));
        console.Write(ForwardOperations(backbone.Config, settings, 1, 0));
    }

    static BertModel Copy(BertModel source, BertConfig config)
    {
        var copy = new BertModel(config);
        Checkpoint.Load(copy, source.state_dict(), "profile copy");
        return copy;
    }

    /// <summary>One layer's forward, operation by operation, without autograd, at batch <paramref name="b"/> (prefix included in the keys).</summary>
    static Table ForwardOperations(BertConfig c, BenchSettings settings, int b, int prefix)
    {
        int t = settings.Length, s = t + prefix, d = c.HiddenSize, h = c.NumHeads, hd = c.HeadSize, ff = c.IntermediateSize;
        long tokens = (long)b * t;
        using var noGrad = no_grad();
        using var x = randn(b, t, d); // (B, T, d)
        using var query = Frozen(nn.Linear(d, d));
        using var key = Frozen(nn.Linear(d, d));
        using var value = Frozen(nn.Linear(d, d));
        using var attentionOutput = Frozen(nn.Linear(d, d));
        using var feedForwardUp = Frozen(nn.Linear(d, ff));
        using var feedForwardDown = Frozen(nn.Linear(ff, d));
        using var queryKeyValue = new FrozenLinear(query, key, value);
        using var attentionOutputProduct = new FrozenLinear(attentionOutput);
        using var upProduct = new FrozenLinear(feedForwardUp);
        using var downProduct = new FrozenLinear(feedForwardDown);
        using var q = randn(b, h, t, hd); // (B, H, T, hd)
        using var k = randn(b, h, s, hd); // (B, H, S, hd)
        using var v = randn(b, h, s, hd);
        using var projected = randn(b, t, 3 * d); // (B, T, 3d)
        using var keysAndValues = randn(b, prefix, 2, d); // (B, P, 2, d): the prefix's keys and values
        using var up = randn(b, t, ff); // (B, T, d_ff)
        using var gamma = ones(d);
        using var beta = zeros(d);

        var table = new Table().AddColumns($"operation (one layer, {b} × {t})", "ms", "GFLOP/s", "× layers ms");
        void Time(string name, Action op, double flops = 0)
        {
            int repeats = b == 1 ? settings.Repeats * 5 : settings.Repeats; // short: more runs for a steady median
            double ms = Measure.MedianMs(() => { using var scope = NewDisposeScope(); op(); }, repeats, settings.Warmup);
            table.AddRow(name, ms.ToString("F2"), flops > 0 ? (flops / 1e6 / ms).ToString("F0") : "", (ms * c.NumLayers).ToString("F0"));
        }
        Time($"stack Q, K, V weights (cat; the model keeps the stack)", () => cat([query.weight!, key.weight!, value.weight!], 0));
        Time($"Q, K, V linear {tokens}×{d} → {3 * d}{Packed(tokens)}", () => queryKeyValue.Forward(x), 2.0 * tokens * d * 3 * d);
        Time($"attention, fused (no dropout), S = {s}", () => nn.functional.scaled_dot_product_attention(q, k, v), 4.0 * tokens * s * d);
        Time($"attention, dropout 0.1, libtorch's (unfused)", () => nn.functional.scaled_dot_product_attention(q, k, v, p: 0.1), 4.0 * tokens * s * d);
        Time($"attention, dropout 0.1, ours (DropoutAttention, no grad)", () => DropoutAttention.AttentionWithDropout(projected, h, keysAndValues, null, 0.1), 4.0 * tokens * s * d);
        Time("merge heads (transpose + copy; not in training)", () => q.transpose(1, 2).reshape(b, t, d));
        Time($"attention output linear {d} → {d}{Packed(tokens)}", () => attentionOutputProduct.Forward(x), 2.0 * tokens * d * d);
        Time("dropout 0.1 on (B, T, d), libtorch's", () => nn.functional.dropout(x, 0.1, training: true));
        Time("dropout 0.1 on (B, T, d), FastDropout (no grad: one pass)", () => FastDropout.Apply(x, 0.1));
        Time("add + LayerNorm", () => nn.functional.layer_norm(x + x, [d], gamma, beta, c.LayerNormEps));
        Time($"feed-forward up {d} → {ff}{Packed(tokens)}", () => upProduct.Forward(x), 2.0 * tokens * d * ff);
        Time("GELU on (B, T, d_ff)", () => nn.functional.gelu(up));
        Time($"feed-forward down {ff} → {d}{Packed(tokens)}", () => downProduct.Forward(up), 2.0 * tokens * d * ff);
        return table;
    }

    /// <summary>A linear layer frozen as the backbone's are, so that <see cref="FrozenLinear"/> takes the model's path: kept weights, packed products up to its row limit.</summary>
    static Linear Frozen(Linear linear)
    {
        foreach (var parameter in linear.parameters()) parameter.requires_grad = false;
        return linear;
    }

    /// <summary>Which product the model runs at this many rows: MKL's packed GEMM up to <see cref="MklPackedGemm.PackedRowLimit"/> rows, libtorch's linear above.</summary>
    static string Packed(long rows) => rows <= MklPackedGemm.PackedRowLimit ? " (packed)" : "";
}
