using Apt.Bench;
using Apt.Tests.Training;
using Apt.Training;
using Apt.Tests.Backbone;
using Spectre.Console;

namespace Apt.Tests.Bench;

/// <summary>The quickstart's efficiency figure (h): its recorded passes through the FLOP model, over its
/// wall time.</summary>
public sealed class JobEfficiencyTests(MiniLMFixture minilm) : IClassFixture<MiniLMFixture>
{
    [Fact]
    public void AJobsFlopsAreItsPassesThroughTheFlopModelAndItsEfficiencyTheirTimeAtThePeakOverItsWallTime()
    {
        using var folder = new TempFolder();
        var step = new PassShape(Training: true, FineTune: false, Rows: 16, Length: 40, Prefix: 16,
            FirstTokenOnly: true);
        var eval = new PassShape(Training: false, FineTune: false, Rows: 64, Length: 30, Prefix: 16,
            FirstTokenOnly: true);
        new JobWork("minilm", 100, 2, 2, [new PassCount(step, 500), new PassCount(eval, 20)]).Save(folder.Path);
        var work = JobWork.Load(Path.Combine(folder.Path, JobWork.FileName));
        var config = minilm.Backbone.Config;
        double expected = 500 * FlopModel.TrainingStep(config, 16, 40, 16, false, true)
            + 20 * FlopModel.Forward(config, 64, 30, 16, true);
        Assert.Equal(expected, FlopModel.Job(config, work.Passes), 6);
        Assert.Equal(2 * FlopModel.Forward(config, 16, 40, 16, true),
            FlopModel.TrainingStep(config, 16, 40, 16, false, true));

        var figure = JobEfficiency.Run(Path.Combine(folder.Path, JobWork.FileName), BenchSettings.Smoke,
            AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(new StringWriter()) }));
        Assert.Equal(expected, figure.FlopCount, 6);
        Assert.Equal(expected / (figure.PeakGflops * 1e9) / 100, figure.Efficiency, 9);
    }
}
