using TorchSharp;
using static TorchSharp.torch;

namespace Apt.Backbone;

/// <summary>
/// Keys and values that one layer's self-attention puts in front of its own, (B, P, 2, d) with the keys at
/// [:, :, 0] and the values at [:, :, 1] (paired as P-tuning v2's past_key_values pair them, so attention reads
/// both and returns one gradient), and a (B, P) mask of the prefix positions (1 = attend). They are not queries
/// and produce no outputs.
/// </summary>
public sealed record LayerPrefix(Tensor KeysAndValues, Tensor Mask);

/// <summary>
/// What the backbone asks of a prefix method, and all it knows of one: for each layer, given the
/// hidden states entering it and the input's attention mask, the prefix for that layer (or none).
/// This is how APT's gate sees h_{i-1} while the backbone never references a method.
/// </summary>
public interface IPrefixProvider
{
    /// <summary>
    /// Where the real tokens' position ids start. P-tuning v2 passes its prefix as a key/value cache,
    /// which shifts them by the prefix length; 0 keeps the backbone's own positions.
    /// </summary>
    int PositionOffset { get; }

    /// <summary>The prefix for layer <paramref name="layer"/>: hidden (B, T, d) enters it, mask is (B, T).</summary>
    LayerPrefix? ForLayer(int layer, Tensor hidden, Tensor attentionMask);
}
