using static TorchSharp.torch;

namespace Apt.Backbone;

/// <summary>Encoded texts padded to the batch's longest: ids, type ids and attention mask, (B, T) int64 each.</summary>
public sealed class TokenBatch(Tensor ids, Tensor typeIds, Tensor attentionMask) : IDisposable
{
    public Tensor Ids { get; } = ids;
    public Tensor TypeIds { get; } = typeIds;
    /// <summary>1 for real tokens, 0 for padding.</summary>
    public Tensor AttentionMask { get; } = attentionMask;

    public long Size => Ids.shape[0];
    public long Length => Ids.shape[1];

    /// <summary>Dynamic padding (to the longest in the batch, not to the maximum length), as P-tuning v2 does.</summary>
    public static TokenBatch Collate(IReadOnlyList<EncodedText> items, int padId, Device? device = null)
    {
        if (items.Count == 0) throw new ArgumentException("cannot collate an empty batch", nameof(items));
        int length = items.Max(i => i.Length);
        var ids = new long[items.Count * length];
        var types = new long[items.Count * length];
        var mask = new long[items.Count * length];
        Array.Fill(ids, padId);
        for (int b = 0; b < items.Count; b++)
        {
            for (int t = 0; t < items[b].Length; t++)
            {
                ids[b * length + t] = items[b].Ids[t];
                types[b * length + t] = items[b].TypeIds[t];
                mask[b * length + t] = 1;
            }
        }
        long[] shape = [items.Count, length];
        return new TokenBatch(tensor(ids, shape, device: device), tensor(types, shape, device: device), tensor(mask, shape, device: device));
    }

    public void Dispose()
    {
        Ids.Dispose();
        TypeIds.Dispose();
        AttentionMask.Dispose();
    }
}
