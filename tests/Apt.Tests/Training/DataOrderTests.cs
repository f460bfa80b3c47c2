using Apt.Training;

namespace Apt.Tests.Training;

public class DataOrderTests
{
    [Fact]
    public void EachEpochIsASeededPermutationCutIntoBatches()
    {
        var batches = DataOrder.Batches(seed: 3, epoch: 0, count: 10, batchSize: 4);
        Assert.Equal([4, 4, 2], batches.Select(b => b.Length));
        Assert.Equal(Enumerable.Range(0, 10), batches.SelectMany(b => b).Order());
        Assert.Equal(batches.SelectMany(b => b), DataOrder.Batches(3, 0, 10, 4).SelectMany(b => b));
        Assert.NotEqual(batches.SelectMany(b => b), DataOrder.Batches(3, 1, 10, 4).SelectMany(b => b));
        Assert.NotEqual(batches.SelectMany(b => b), DataOrder.Batches(4, 0, 10, 4).SelectMany(b => b));
    }

    [Fact]
    public void LengthGroupingVisitsEveryExampleOnceInBatchesOfSimilarLengthInASeededOrder()
    {
        const int count = 1000, batchSize = 8;
        var random = new Random(5);
        int[] lengths = [.. Enumerable.Range(0, count).Select(_ => random.Next(5, 65))];
        var grouped = DataOrder.Batches(seed: 3, epoch: 0, count, batchSize, lengths, groupBatches: 10);
        var plain = DataOrder.Batches(seed: 3, epoch: 0, count, batchSize);

        Assert.Equal(Enumerable.Range(0, count), grouped.SelectMany(b => b).Order());
        Assert.All(grouped, b => Assert.InRange(b.Length, 1, batchSize));
        // Padded tokens: each batch costs its longest example times its size.
        static long Padded(IEnumerable<int[]> batches, int[] lengths) => batches.Sum(b => (long)b.Max(i => lengths[i]) * b.Length);
        Assert.True(Padded(grouped, lengths) < 0.8 * Padded(plain, lengths), $"grouped {Padded(grouped, lengths)} vs random {Padded(plain, lengths)} padded tokens");
        // Batch order is shuffled, not longest-first across the epoch.
        Assert.NotEqual(grouped.Select(b => lengths[b[0]]).OrderByDescending(l => l), grouped.Select(b => lengths[b[0]]));
        Assert.Equal(grouped.SelectMany(b => b), DataOrder.Batches(3, 0, count, batchSize, lengths, 10).SelectMany(b => b));
        Assert.NotEqual(grouped.SelectMany(b => b), DataOrder.Batches(3, 1, count, batchSize, lengths, 10).SelectMany(b => b));
        Assert.Throws<ArgumentException>(() => DataOrder.Batches(3, 0, count, batchSize, lengths: null, groupBatches: 10));
    }
}
