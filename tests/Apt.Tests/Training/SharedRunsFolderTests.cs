using Apt.Runs;
using Apt.Training;

namespace Apt.Tests.Training;

/// <summary>Two real `aptnb sweep` processes on one runs folder: they share the grid out, no cell is trained twice,
/// nothing is damaged.</summary>
public sealed class SharedRunsFolderTests
{
    [Fact]
    public void TwoSweepsOnOneRunsFolderTrainEachCellOnceAndEqualASerialSweep()
    {
        // 6 cells (PT-2* waits for its APT cell's probe), 3 epochs of 2 steps each, so each cell takes a while to train.
        using var grid = new TinyGrid(["pt2", "apt", "pt2star"], [1, 2], epochs: 3, batchSize: 1);
        string shared = grid.Runs("shared"), serial = grid.Runs("serial");
        string[] Sweep(string runs) => ["sweep", grid.File, "--runs", runs, "--data-root", grid.DataRoot];

        string first, second;
        using (var a = grid.Start(null, Sweep(shared)))
        using (var b = grid.Start(null, Sweep(shared)))
        {
            first = a.WaitForSuccess(TimeSpan.FromMinutes(3));
            second = b.WaitForSuccess(TimeSpan.FromMinutes(3));
        }
        grid.Run(null, Sweep(serial));

        var cells = grid.Spec.Expand(shared).Select(c => Path.GetFullPath(c.Folder)).ToList();
        var trainedByFirst = TinyGrid.Trained(first).ToList();
        var trainedBySecond = TinyGrid.Trained(second).ToList();
        Assert.Empty(trainedByFirst.Intersect(trainedBySecond)); // no cell trained twice
        Assert.Equal(cells.Order(), trainedByFirst.Concat(trainedBySecond).Order()); // and every cell once
        Assert.NotEmpty(trainedByFirst); // both did some of the work (the second is not just waiting out the first)
        Assert.NotEmpty(trainedBySecond);

        foreach (var cell in grid.Spec.Expand(shared))
        {
            TinyGrid.AssertSameRun(Path.Combine(serial, Path.GetRelativePath(shared, cell.Folder)), cell.Folder);
            Assert.False(File.Exists(RunFolderLock.PathIn(cell.Folder)), $"{cell.Folder} still locked");
        }
        Assert.Empty(Directory.EnumerateFileSystemEntries(shared, "*.tmp", SearchOption.AllDirectories));
        Assert.Empty(Directory.EnumerateFileSystemEntries(shared, ".staging-*", SearchOption.AllDirectories));
    }
}
