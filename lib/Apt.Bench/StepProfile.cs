using Apt.Backbone;
using Apt.Prefix;
using Spectre.Console;
using static TorchSharp.torch;

namespace Apt.Bench;

/// <summary>
/// <c>--profile</c>: where an APT training step's time goes. Splits the step into its phases, times it again
/// with the backbone's dropouts off (to price them), and times each operation of one layer's forward at the
/// step's shapes and at batch 1, with the rate of the matrix products (libtorch's dropout beside ours).
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
            using var step = new TrainingWorkload(model, PrefixConfig.Apt(l), b, t);
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
        using var qkvWeight = randn(3 * d, d) * 0.02;
        using var bias3 = zeros(3 * d);
        using var outWeight = randn(d, d) * 0.02;
        using var upWeight = randn(ff, d) * 0.02;
        using var downWeight = randn(d, ff) * 0.02;
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
        using var qWeight = qkvWeight.narrow(0, 0, d);
        using var kWeight = qkvWeight.narrow(0, d, d);
        using var vWeight = qkvWeight.narrow(0, 2 * d, d);
        Time($"stack Q, K, V weights (cat)", () => cat([qWeight, kWeight, vWeight], 0));
        Time($"Q, K, V linear {tokens}×{d} → {3 * d}", () => nn.functional.linear(x, qkvWeight, bias3), 2.0 * tokens * d * 3 * d);
        Time($"attention, fused (no dropout), S = {s}", () => nn.functional.scaled_dot_product_attention(q, k, v), 4.0 * tokens * s * d);
        Time($"attention, dropout 0.1, libtorch's (unfused)", () => nn.functional.scaled_dot_product_attention(q, k, v, p: 0.1), 4.0 * tokens * s * d);
        Time($"attention, dropout 0.1, ours (DropoutAttention, no grad)", () => BertSelfAttention.AttentionWithDropout(projected, h, keysAndValues, null, 0.1), 4.0 * tokens * s * d);
        Time("merge heads (transpose + copy; not in training)", () => q.transpose(1, 2).reshape(b, t, d));
        Time($"attention output linear {d} → {d}", () => nn.functional.linear(x, outWeight), 2.0 * tokens * d * d);
        Time("dropout 0.1 on (B, T, d), libtorch's", () => nn.functional.dropout(x, 0.1, training: true));
        Time("dropout 0.1 on (B, T, d), FastDropout (no grad: one pass)", () => FastDropout.Apply(x, 0.1, training: true));
        Time("add + LayerNorm", () => nn.functional.layer_norm(x + x, [d], gamma, beta, c.LayerNormEps));
        Time($"feed-forward up {d} → {ff}", () => nn.functional.linear(x, upWeight), 2.0 * tokens * d * ff);
        Time("GELU on (B, T, d_ff)", () => nn.functional.gelu(up));
        Time($"feed-forward down {ff} → {d}", () => nn.functional.linear(up, downWeight), 2.0 * tokens * d * ff);
        return table;
    }
}
