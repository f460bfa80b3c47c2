namespace Apt.Training;

/// <summary>
/// The order in which an epoch visits the training set, a function of (seed, epoch) alone, so a resumed
/// run sees exactly the batches an uninterrupted one would. Uses its own SplitMix64 generator and a
/// Fisher–Yates shuffle rather than <see cref="Random"/>, whose sequence .NET does not promise to keep.
/// </summary>
public static class DataOrder
{
    /// <summary>
    /// The epoch's batches: a seeded permutation of 0..count−1 cut into runs of <paramref name="batchSize"/> (the last may be shorter).
    /// With <paramref name="groupBatches"/> k &gt; 0 and the examples' <paramref name="lengths"/>, the permutation is cut into groups
    /// of k batches, each group is sorted by length (longest first, ties in permutation order) before it is cut into batches, and the
    /// batches are then shuffled: batches hold examples of similar length, so little padding is computed (Hugging Face's group_by_length).
    /// </summary>
    public static IReadOnlyList<int[]> Batches(int seed, int epoch, int count, int batchSize, IReadOnlyList<int>? lengths = null, int groupBatches = 0)
    {
        if (count < 1) throw new ArgumentException($"the training set is empty; expected at least one example", nameof(count));
        int[] order = Permutation(Mix(seed, 1, epoch), count);
        if (groupBatches == 0) return [.. order.Chunk(batchSize)];
        if (lengths is null || lengths.Count != count)
            throw new ArgumentException($"grouping by length needs the length of each of the {count} examples (got {lengths?.Count.ToString() ?? "none"})", nameof(lengths));
        var batches = order.Chunk(batchSize * groupBatches)
            .SelectMany(group => group.OrderByDescending(i => lengths[i]).Chunk(batchSize))
            .ToArray();
        int[] batchOrder = Permutation(Mix(seed, 4, epoch), batches.Length);
        return [.. batchOrder.Select(b => batches[b])];
    }

    /// <summary>Steps in one epoch.</summary>
    public static int BatchesPerEpoch(int count, int batchSize) => (count + batchSize - 1) / batchSize;

    /// <summary>A 64-bit seed derived from the run seed, a purpose (stream) and an index (epoch or step).</summary>
    public static long Mix(int seed, int stream, long index)
    {
        ulong state = (ulong)(uint)seed;
        state = SplitMix(ref state) ^ (ulong)stream;
        state = SplitMix(ref state) ^ (ulong)index;
        return (long)(SplitMix(ref state) >> 1); // non-negative, as torch.manual_seed wants
    }

    static int[] Permutation(long seed, int count)
    {
        int[] order = [.. Enumerable.Range(0, count)];
        ulong state = (ulong)seed;
        for (int i = count - 1; i > 0; i--)
        {
            int j = (int)(SplitMix(ref state) % (ulong)(i + 1));
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }

    static ulong SplitMix(ref ulong state)
    {
        ulong z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
