using Apt.Backbone;
using Apt.Backbone.Cpu;
using Apt.Runs;
using Apt.Tasks;
using Apt.Tasks.Data;
using Apt.Tests.Tasks;
using Apt.Training;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Apt.Tests.Backbone;

/// <summary>The WordNet WiC stand-in built once from the real npm package, for the training runs of <see cref="ComputePathTests"/>.</summary>
public sealed class WicStandInFixture : IDisposable
{
    readonly FixtureFiles.Scratch _scratch = new();

    public string Folder { get; }

    public WicStandInFixture()
    {
        StandInBuilder.BuildWordNetWic(_scratch.Folder, new WordNetWicOptions { Train = 64, Validation = 32, Test = 2 });
        Folder = Path.Combine(_scratch.Folder, "wordnet-wic");
    }

    public void Dispose() => _scratch.Dispose();
}

/// <summary>
/// The reference path (libtorch only) and the fast CPU kernels compute the same training run: the same dropout
/// masks from the same generator state, the same loss at every step, the same gradients, the same metrics.
/// </summary>
public sealed class ComputePathTests(WicStandInFixture wic, ITestOutputHelper output) : IClassFixture<WicStandInFixture>
{
    const int Steps = 4, Batch = 8;

    [Theory]
    [InlineData(new long[] { 1 }, 0.1)]
    [InlineData(new long[] { 7, 1001 }, 0.15)] // odd: the last pair half used, and a scalar tail in the kernel
    [InlineData(new long[] { 2, 3, 5, 37 }, 0.5)]
    [InlineData(new long[] { 4, 12, 33, 45 }, 0.1)]
    [InlineData(new long[] { 9 }, 1e-12)] // keeps everything
    public void The_reference_mask_is_the_fast_kernels_mask_bit_for_bit(long[] shape, double p)
    {
        manual_seed(21);
        using var fast = FastDropout.KeepMask(shape, p);
        manual_seed(21);
        using var reference = CounterDropout.ReferenceKeepMask(shape, p, CPU);
        Assert.Equal(shape, reference.shape);
        Assert.True(TensorAssert.Identical(fast, reference), "keep masks differ");
        using var kept = reference.to_type(ScalarType.Float64);
        if (reference.numel() > 1000) Assert.InRange(kept.mean().item<double>(), 1 - p - 0.02, 1 - p + 0.02);
    }

    [Fact]
    public void The_switch_follows_the_choice_and_refuses_a_bad_one()
    {
        using var x = randn(2, 3);
        using (ComputePath.Force(KernelChoice.Reference))
        {
            Assert.False(ComputePath.UsesFastCpu(x));
            Assert.StartsWith("reference", ComputePath.Describe(CPU));
        }
        using (ComputePath.Force(KernelChoice.Auto))
        {
            Assert.Equal(ComputePath.CpuSupported, ComputePath.UsesFastCpu(x));
            using var doubles = x.to_type(ScalarType.Float64);
            Assert.False(ComputePath.UsesFastCpu(doubles)); // the kernels are float32 only
            Assert.StartsWith("reference", ComputePath.Describe(new Device(TorchSharp.DeviceType.CUDA))); // CUDA always takes the reference path
        }
        var error = Assert.Throws<ArgumentException>(() => ComputePath.Parse("fastest", "--kernels"));
        Assert.Equal("--kernels: 'fastest' is not a kernel choice; expected 'auto' or 'reference'", error.Message);
    }

    [Theory]
    [InlineData("apt")]
    [InlineData("pt2")]
    [InlineData("ft")]
    public void A_training_run_gives_the_same_losses_gradients_and_metrics_on_both_paths(string method)
    {
        Assert.True(ComputePath.CpuSupported, "this machine must run the fast kernels for the comparison to mean anything");
        var reference = Train(method, KernelChoice.Reference);
        var fast = Train(method, KernelChoice.Auto);
        for (int step = 0; step < Steps; step++)
        {
            output.WriteLine($"{method} step {step}: loss reference {reference.Losses[step]:R}, fast {fast.Losses[step]:R}");
            Assert.True(Math.Abs(reference.Losses[step] - fast.Losses[step]) <= 1e-5 * Math.Max(1, Math.Abs(reference.Losses[step])),
                $"step {step}: loss {reference.Losses[step]} on the reference path, {fast.Losses[step]} on the fast one");
            foreach (var (name, expected) in reference.Gradients[step])
            {
                // A key bias adds q·b to every score of a query's row, which softmax ignores: its exact gradient is 0, both paths give rounding noise.
                if (name.EndsWith("attention.self.key.bias", StringComparison.Ordinal)) continue;
                double scale = expected.abs().max().item<float>(), difference = TensorAssert.MaxDifference(expected, fast.Gradients[step][name]);
                Assert.True(scale > 0, $"step {step}: the gradient of {name} is zero");
                Assert.True(difference <= 1e-4 * scale, $"step {step}: gradient of {name} differs by {difference:E2} (its largest element {scale:E2})");
            }
        }
        Assert.Contains(reference.Gradients[0].Keys, name => name.StartsWith("head.", StringComparison.Ordinal));
        if (method == "apt") Assert.Contains(reference.Gradients[0].Keys, name => name.Contains("gate", StringComparison.Ordinal));
        Assert.NotEqual(reference.Losses[0], reference.Losses[^1]); // the run trains
        output.WriteLine($"{method} dev metrics: reference {string.Join(", ", reference.Metrics)}; fast {string.Join(", ", fast.Metrics)}");
        Assert.Equal(reference.Metrics.Keys.Order(), fast.Metrics.Keys.Order());
        foreach (var (name, value) in reference.Metrics) Assert.Equal(value, fast.Metrics[name], 6);
        // The metrics of a few steps sit near chance: the dev scores behind them must agree too.
        double scores = reference.DevScores.Zip(fast.DevScores, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(scores <= 1e-4, $"dev scores differ by {scores:E2}");
    }

    /// <summary>A few AdamW steps as the trainer takes them (clipping at 1.0), dropout on, seeded; the losses, every step's gradients, the dev metrics and scores.</summary>
    (List<double> Losses, List<Dictionary<string, Tensor>> Gradients, IReadOnlyDictionary<string, double> Metrics, float[] DevScores) Train(string method, KernelChoice choice)
    {
        using var path = ComputePath.Force(choice);
        using var backbone = PretrainedBackbone.Load("minilm"); // fresh: full fine-tuning changes it
        var config = new ExperimentConfig
        {
            Task = "wordnet-wic", Data = wic.Folder, Method = method,
            Prefix = MethodCatalogue.Get(method).Configure(new MethodInputs(backbone.Config, PrefixLength: 8, Projection: false, Probe: null)).Prefix,
            Trainer = new TrainerConfig { Seed = 5, BatchSize = Batch, LearningRate = method == "ft" ? 1e-4 : 1e-2 },
        };
        using var trainable = new Experiment(wic.Folder).Build(config, TaskRegistry.Get(config.Task), backbone);
        var parameters = trainable.TrainableParameters;
        using var adamW = optim.AdamW(parameters.Values, config.Trainer.LearningRate);
        var (losses, gradients) = (new List<double>(), new List<Dictionary<string, Tensor>>());
        manual_seed(17);
        trainable.SetTraining(true);
        for (int step = 0; step < Steps; step++)
        {
            using var scope = NewDisposeScope();
            adamW.zero_grad();
            var loss = trainable.Loss([.. Enumerable.Range(step * Batch, Batch)]);
            loss.backward();
            losses.Add(loss.item<float>());
            gradients.Add(parameters.Where(p => p.Value.grad is not null && (method != "ft" || !p.Key.StartsWith("backbone.", StringComparison.Ordinal) || p.Key.Contains("layer.5.", StringComparison.Ordinal)))
                .ToDictionary(p => p.Key, p => p.Value.grad!.detach().clone().DetachFromDisposeScope()));
            nn.utils.clip_grad_norm_(parameters.Values, 1.0);
            adamW.step();
        }
        trainable.SetTraining(false);
        IReadOnlyDictionary<string, double> metrics;
        float[] scores;
        using (no_grad())
        using (NewDisposeScope())
        {
            metrics = trainable.Evaluate(EvaluationSplit.Dev);
            scores = [.. trainable.Predict(EvaluationSplit.Dev).SelectMany(p => p.Scores)];
        }
        return (losses, gradients, metrics, scores);
    }
}
