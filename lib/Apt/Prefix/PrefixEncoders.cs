using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Apt.Prefix;

// Where a layer's raw prefix comes from, before dropout and gates. Both encoders answer one layer at a
// time, so nothing is cached between layers or batches: a forward asks, autograd remembers.

/// <summary>The source of each layer's raw prefix keys and values.</summary>
internal abstract class PrefixEncoder(string name) : nn.Module(name)
{
    /// <summary>(l_i, 2, d): layer <paramref name="layer"/>'s keys at [:, 0] and values at [:, 1].</summary>
    public abstract Tensor ForLayer(int layer);
}

/// <summary>
/// The plain prefix: one free table of every layer's key/value rows, (Σ l_i, 2, d), layer by layer.
/// For uniform lengths it holds exactly P-tuning v2's Embedding(l, L·2·d), with the layer axis moved
/// first so that per-layer lengths (PT-2*) fit the same table. Initialised N(0, <c>std</c>): P-tuning v2's
/// initializer_range, or 1 as a bare nn.Embedding (PEFT).
/// </summary>
internal sealed class PrefixTable : PrefixEncoder
{
    readonly Parameter table;
    readonly int[] _lengths;
    readonly int[] _offsets;

    public PrefixTable(int[] lengths, int hidden, double std) : base(nameof(PrefixTable))
    {
        _lengths = lengths;
        _offsets = new int[lengths.Length];
        for (int i = 1; i < lengths.Length; i++) _offsets[i] = _offsets[i - 1] + lengths[i - 1];
        table = new Parameter(randn(lengths.Sum(), 2, hidden).mul_(std)); // (Σ l_i, 2, d)
        RegisterComponents();
    }

    public override Tensor ForLayer(int layer) => table.narrow(0, _offsets[layer], _lengths[layer]); // (l_i, 2, d)
}

/// <summary>
/// P-tuning v2's reparameterised prefix: Embedding(l, d) → Linear(d, r) → tanh → Linear(r, L·2·d).
/// Layer i uses only rows [i·2d, (i+1)·2d) of the last Linear, which equals slicing the full output.
/// With an initializer range every tensor starts as Hugging Face's <c>_init_weights</c> leaves it (N(0, range), biases 0);
/// without one, as PyTorch's modules do (N(0, 1) embedding, Kaiming-uniform Linear layers).
/// </summary>
internal sealed class ProjectedPrefix : PrefixEncoder
{
    readonly Parameter embedding;
    readonly Linear transform_in, transform_out;
    readonly int _hidden;

    public ProjectedPrefix(int length, int layers, int hidden, int projectionHidden, double? initializerRange) : base(nameof(ProjectedPrefix))
    {
        _hidden = hidden;
        embedding = new Parameter(randn(length, hidden).mul_(initializerRange ?? 1.0)); // (l, d)
        transform_in = Linear(hidden, projectionHidden);
        transform_out = Linear(projectionHidden, layers * 2 * hidden);
        if (initializerRange is double std)
        {
            using var noGrad = no_grad();
            foreach (var linear in new[] { transform_in, transform_out })
            {
                init.normal_(linear.weight!, 0.0, std);
                init.zeros_(linear.bias!);
            }
        }
        RegisterComponents();
    }

    public override Tensor ForLayer(int layer)
    {
        using var inner = transform_in.forward(embedding); // (l, r)
        using var activated = inner.tanh();
        using var weight = transform_out.weight!.narrow(0, layer * 2 * _hidden, 2 * _hidden); // (2d, r)
        using var bias = transform_out.bias!.narrow(0, layer * 2 * _hidden, 2 * _hidden); // (2d)
        using var flat = functional.linear(activated, weight, bias); // (l, 2d)
        return flat.view(-1, 2, _hidden); // (l, 2, d)
    }
}
