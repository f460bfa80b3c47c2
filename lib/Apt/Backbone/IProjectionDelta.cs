using static TorchSharp.torch;

namespace Apt.Backbone;

/// <summary>
/// What a method adds to one layer's query, key and value projections of the hidden states entering it: each (B, T, d),
/// or null to leave that projection as the frozen weights compute it. The sum is what attention reads, on the fast CPU
/// path (one stacked Q, K, V product) and on the reference path alike.
/// </summary>
public sealed record ProjectionDelta(Tensor? Query, Tensor? Key, Tensor? Value)
{
    /// <summary>
    /// The stacked projection (B, T, 3d) with the deltas added to its query, key and value slices: (B, T, 3d).
    /// </summary>
    public Tensor AddTo(Tensor projected)
    {
        long width = projected.shape[2] / 3;
        Tensor Slice(int index, Tensor? delta)
        {
            var part = projected.narrow(2, index * width, width); // (B, T, d)
            return delta is null ? part : part + delta;
        }
        return cat([Slice(0, Query), Slice(1, Key), Slice(2, Value)], 2); // (B, T, 3d)
    }
}

/// <summary>
/// The backbone's second seam, for methods that change weights rather than add keys (LoRA): for each layer, given the
/// hidden states entering it, a delta of its attention projections, computed from the input as W·x + ΔW·x so that the
/// frozen weights and their kept, packed copies stay untouched. The backbone never references a method.
/// </summary>
public interface IProjectionDeltaProvider
{
    /// <summary>Layer <paramref name="layer"/>'s delta for hidden (B, T, d), or null for none.</summary>
    ProjectionDelta? ForLayer(int layer, Tensor hidden);
}
