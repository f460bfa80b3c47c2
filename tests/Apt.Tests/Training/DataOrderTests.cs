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
}
