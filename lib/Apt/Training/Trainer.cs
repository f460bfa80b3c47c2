using System.Diagnostics;
using System.Text.Json.Nodes;
using Apt.Backbone;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Apt.Training;

/// <summary>Reported after every optimizer step.</summary>
/// <param name="Epoch">Epoch in progress, from 1.</param>
/// <param name="Epochs">Epochs the run is configured for.</param>
/// <param name="Step">Optimizer steps done in the run.</param>
/// <param name="TotalSteps">Optimizer steps of the whole run (without early stopping).</param>
/// <param name="Loss">This step's training loss.</param>
/// <param name="LearningRate">The rate this step used.</param>
/// <param name="ExamplesPerSecond">Training throughput of this session (evaluation time excluded).</param>
/// <param name="Eta">Estimated training time left at that throughput (evaluation excluded).</param>
public sealed record TrainingProgress(int Epoch, int Epochs, long Step, long TotalSteps, double Loss, double LearningRate, double ExamplesPerSecond, TimeSpan Eta);

/// <summary>Reported after every epoch, with its metrics and whether the dev metric improved.</summary>
public sealed record EpochSummary(EpochMetrics Metrics, bool Improved, TimeSpan Elapsed);

/// <summary>
/// Trains any <see cref="ITrainable"/> with AdamW over its trainable tensors only, P-tuning v2's schedules,
/// gradient clipping, evaluation each epoch, selection and optional early stopping, writing a
/// <see cref="RunFolder"/> and checkpoints it can resume from after a crash with bit-identical results.
/// </summary>
/// <remarks>
/// Reproducibility: the data order of an epoch is a function of (seed, epoch) (<see cref="DataOrder"/>);
/// torch's generator is re-seeded from (seed, global step) before each step and from (seed, epoch) before
/// each evaluation, so dropout masks after a resume equal those of an uninterrupted run without saving
/// generator state; the learning rate is a function of (step, epoch). A checkpoint therefore holds only the
/// trainable tensors, AdamW's moments and the position.
/// </remarks>
public sealed class Trainer(TrainerConfig config)
{
    const int StepSeedStream = 2, EvaluationSeedStream = 3;

    public TrainerConfig Config { get; } = config;

    /// <summary>Where set, the wall time of the steps, garbage collections, evaluations and checkpoints is added to it. Default none.</summary>
    public PhaseTimes? Profile { get; init; }

    /// <summary>
    /// When cancelled, the run stops before its next step, saves a checkpoint of the step reached (unless it has one)
    /// and throws <see cref="RunStoppedException"/>; a step or write in progress finishes first. Default never.
    /// </summary>
    public CancellationToken Stop { get; init; }

    /// <summary>After every optimizer step.</summary>
    public event Action<TrainingProgress>? StepCompleted;

    /// <summary>After every epoch's evaluation.</summary>
    public event Action<EpochSummary>? EpochCompleted;

    /// <summary>Something the user should know but that does not stop the run (e.g. a damaged checkpoint was skipped).</summary>
    public event Action<string>? Warning;

    /// <summary>
    /// Trains <paramref name="model"/> in <paramref name="run"/>, continuing from the run's newest intact checkpoint
    /// if it has one, and writes result.json. A finished run is not trained again: its final trainable tensors are
    /// loaded into the model and its result returned. <paramref name="parameterCounts"/> (e.g. "backbone") go to result.json
    /// beside the "trainable" count.
    /// </summary>
    public RunResult Run(ITrainable model, RunFolder run, IReadOnlyDictionary<string, long>? parameterCounts = null)
    {
        Config.Validate();
        TorchRuntime.EnsureLoaded();
        if (run.RemoveInterruptedWrites() is { Count: > 0 } leftovers)
            Warning?.Invoke($"removed {leftovers.Count} temporary file(s) an interrupted write left: " +
                $"{string.Join(", ", leftovers)}");
        var parameters = model.TrainableParameters.OrderBy(p => p.Key, StringComparer.Ordinal).ToList();
        if (parameters.Count == 0) throw new ArgumentException("the model lists no trainable parameters");
        if (parameters.FirstOrDefault(p => !p.Value.requires_grad) is { Key: { } frozen })
            throw new ArgumentException($"trainable parameter '{frozen}' has requires_grad = false");
        int examples = model.TrainingExampleCount;
        var lengths = Config.LengthGrouping > 0
            ? model.TrainingExampleLengths ?? throw new ArgumentException("trainer config: LengthGrouping needs the model's TrainingExampleLengths, and it gives none")
            : null;
        int stepsPerEpoch = DataOrder.BatchesPerEpoch(examples, Config.BatchSize);
        var schedule = new LearningRateSchedule(Config, stepsPerEpoch);
        var counts = new Dictionary<string, long> { ["trainable"] = parameters.Sum(p => p.Value.numel()) };
        foreach (var (name, count) in parameterCounts ?? new Dictionary<string, long>()) counts[name] = count;

        // Weight decay is applied by Step, after the update, as transformers' AdamW does; libtorch's AdamW gets none.
        using var adamW = optim.AdamW(parameters.Select(p => p.Value).ToList(), Config.LearningRate, Config.Beta1, Config.Beta2, Config.Epsilon);
        var decayed = parameters.Where(p => WeightDecayOf(p.Key) > 0).Select(p => p.Value).ToList();
        var store = new CheckpointStore(run.CheckpointsPath, Config.CheckpointsKept);
        var state = new TrainingState { Seed = Config.Seed };
        using (var checkpoint = store.LoadNewestValid(message => Warning?.Invoke(message)))
        {
            if (checkpoint is not null)
            {
                if (checkpoint.State.Seed != Config.Seed)
                    throw new ArgumentException($"{checkpoint.Path} was written with seed {checkpoint.State.Seed}, not {Config.Seed}");
                checkpoint.Apply(parameters, adamW);
                state = checkpoint.State;
            }
        }
        if (run.IsFinished) return run.ReadResult();

        using var log = run.OpenMetricsLog(state.GlobalStep);
        var session = Stopwatch.StartNew();
        var training = new Stopwatch();
        long sessionStartStep = state.GlobalStep, sessionExamples = 0;
        double elapsedBefore = state.ElapsedSeconds;
        long checkpointed = state.GlobalStep;
        void Checkpoint()
        {
            state.ElapsedSeconds = elapsedBefore + session.Elapsed.TotalSeconds;
            Timed("checkpoints", () => store.Save(state, parameters, adamW));
            checkpointed = state.GlobalStep;
        }
        void StopIfAsked()
        {
            if (!Stop.IsCancellationRequested) return;
            if (state.GlobalStep != checkpointed) Checkpoint();
            throw new RunStoppedException(run.Path, $"stopped at step {state.GlobalStep} of {schedule.TotalSteps} " +
                $"({(state.GlobalStep == 0 ? "nothing trained yet" : "checkpoint saved")}) in {run.Path}");
        }

        while (state.Epoch < Config.Epochs && !state.StoppedEarly)
        {
            var batches = DataOrder.Batches(Config.Seed, state.Epoch, examples, Config.BatchSize, lengths, Config.LengthGrouping);
            while (state.BatchesDoneInEpoch < batches.Count)
            {
                StopIfAsked();
                var batch = batches[state.BatchesDoneInEpoch];
                training.Start();
                double lr = schedule.At(state.GlobalStep, state.Epoch);
                double loss = Timed("training steps", () => Step(model, parameters, decayed, adamW, batch, lr, state.GlobalStep));
                training.Stop();
                state.BatchesDoneInEpoch++;
                state.GlobalStep++;
                state.LearningRate = lr;
                state.LossSinceLog += loss; state.StepsSinceLog++;
                state.EpochLoss += loss; state.EpochSteps++;
                sessionExamples += batch.Length;
                if (Config.CollectGarbageEverySteps > 0 && state.GlobalStep % Config.CollectGarbageEverySteps == 0) Timed("garbage collection", GC.Collect);

                double perStep = training.Elapsed.TotalSeconds / (state.GlobalStep - sessionStartStep);
                StepCompleted?.Invoke(new TrainingProgress(state.Epoch + 1, Config.Epochs, state.GlobalStep, schedule.TotalSteps, loss, lr,
                    sessionExamples / Math.Max(training.Elapsed.TotalSeconds, 1e-9), TimeSpan.FromSeconds(perStep * (schedule.TotalSteps - state.GlobalStep))));
                if (state.GlobalStep % Config.LogEverySteps == 0)
                {
                    log.Append(new JsonObject
                    {
                        ["kind"] = "step", ["epoch"] = state.Epoch + 1, ["step"] = state.GlobalStep,
                        ["loss"] = state.LossSinceLog / state.StepsSinceLog, ["learningRate"] = lr,
                    });
                    state.LossSinceLog = 0; state.StepsSinceLog = 0;
                }
                bool epochEnds = state.BatchesDoneInEpoch == batches.Count; // the epoch's own checkpoint follows its evaluation
                if (Config.CheckpointEverySteps > 0 && state.GlobalStep % Config.CheckpointEverySteps == 0 && !epochEnds) Checkpoint();
            }

            var epoch = EndEpoch(model, run, parameters, state);
            log.Append(new JsonObject
            {
                ["kind"] = "epoch", ["epoch"] = epoch.Metrics.Epoch, ["step"] = state.GlobalStep,
                ["metrics"] = new JsonObject(epoch.Metrics.Metrics.Select(m => KeyValuePair.Create(m.Key, (JsonNode?)JsonValue.Create(m.Value)))),
            });
            state.BatchesDoneInEpoch = 0;
            state.EpochLoss = 0; state.EpochSteps = 0;
            state.Epoch++;
            Checkpoint();
            EpochCompleted?.Invoke(epoch with { Elapsed = TimeSpan.FromSeconds(elapsedBefore + session.Elapsed.TotalSeconds) });
        }

        var selected = Selection.Pick(state.Epochs, Config.Selection, Config.SelectionMetric, Config.HigherIsBetter);
        var result = new RunResult(selected.Epoch, Config.Selection, Config.SelectionMetric, selected.Value, selected.Metrics,
            state.Epochs, state.StoppedEarly, elapsedBefore + session.Elapsed.TotalSeconds, counts);
        run.WriteResult(result);
        return result;
    }

    /// <summary>
    /// The weight decay of the trainable tensor <paramref name="name"/>: <see cref="TrainerConfig.WeightDecay"/>, but 0 for
    /// every bias and LayerNorm parameter, the two groups of Hugging Face's <c>Trainer.create_optimizer</c>.
    /// </summary>
    public double WeightDecayOf(string name) =>
        name.Contains("bias", StringComparison.Ordinal) || name.Contains("LayerNorm.", StringComparison.Ordinal) ? 0 : Config.WeightDecay;

    /// <summary>
    /// One optimizer step on one batch, as transformers' AdamW (the optimizer of P-tuning v2's Trainer) takes it; returns
    /// its loss. Two details differ from libtorch's AdamW and are applied around it: ε is added to √v before the bias
    /// correction (so libtorch gets ε / √(1 − β₂ᵗ)), and the decoupled weight decay multiplies the updated weights.
    /// </summary>
    double Step(ITrainable model, IReadOnlyList<KeyValuePair<string, Parameter>> parameters, IReadOnlyList<Parameter> decayed, AdamW adamW,
        int[] batch, double lr, long step)
    {
        using var scope = NewDisposeScope();
        model.SetTraining(true);
        using (random.manual_seed(DataOrder.Mix(Config.Seed, StepSeedStream, step))) { }
        double epsilon = Config.Epsilon / Math.Sqrt(1 - Math.Pow(Config.Beta2, step + 1));
        foreach (var group in adamW.ParamGroups.Cast<AdamW.ParamGroup>())
        {
            group.LearningRate = lr;
            group.Options.eps = epsilon;
        }
        adamW.zero_grad();
        var loss = model.Loss(batch);
        loss.backward();
        CrashPoint.Reach(CrashPoint.Step, step + 1, Stop);
        if (Config.MaxGradientNorm > 0) nn.utils.clip_grad_norm_(parameters.Select(p => p.Value), Config.MaxGradientNorm);
        adamW.step();
        using (no_grad())
            foreach (var parameter in decayed) parameter.mul_(1 - lr * Config.WeightDecay);
        return loss.ToDouble();
    }

    /// <summary>Evaluates (when due), records the epoch's metrics, keeps the selected tensors and applies early stopping.</summary>
    EpochSummary EndEpoch(ITrainable model, RunFolder run, IReadOnlyList<KeyValuePair<string, Parameter>> parameters, TrainingState state)
    {
        var metrics = new Dictionary<string, double> { ["train.loss"] = state.EpochLoss / Math.Max(1, state.EpochSteps) };
        bool evaluate = Config.EvaluateEachEpoch || state.Epoch + 1 == Config.Epochs;
        bool improved = false;
        if (evaluate)
        {
            void Score(EvaluationSplit split, string name)
            {
                foreach (var (metric, value) in Timed("evaluation", () => Evaluate(model, split, state.Epoch))) metrics[Selection.Key(name, metric)] = value;
            }
            Score(EvaluationSplit.Dev, "dev");
            string devKey = Selection.Key("dev", Config.SelectionMetric);
            if (!metrics.TryGetValue(devKey, out double dev))
                throw new InvalidOperationException($"the evaluation returned no '{Config.SelectionMetric}' (it returned: {string.Join(", ", metrics.Keys)}), which selection needs");
            var earlier = state.Epochs.Where(e => e.Metrics.TryGetValue(devKey, out double v) && !double.IsNaN(v)).ToList();
            double? bestBefore = earlier.Count == 0 ? null : Selection.Pick(earlier, SelectionRule.BestDev, Config.SelectionMetric, Config.HigherIsBetter).Value;
            improved = !double.IsNaN(dev) && (bestBefore is null || (Config.HigherIsBetter ? dev > bestBefore : dev < bestBefore));
            if (Config.Selection == SelectionRule.TestAtBestDev && (improved || Config.TestEveryEpoch)) Score(EvaluationSplit.Test, "test");
            state.EpochsWithoutImprovement = improved ? 0 : state.EpochsWithoutImprovement + 1;
            if (state.EpochsWithoutImprovement >= Config.EarlyStoppingPatience && state.Epoch + 1 < Config.Epochs) state.StoppedEarly = true;
            if (improved) Timed("checkpoints", () => SafeTensors.Write(run.SelectedTrainablePath, parameters.ToDictionary(p => p.Key, p => (Tensor)p.Value),
                new Dictionary<string, string> { ["epoch"] = (state.Epoch + 1).ToString(System.Globalization.CultureInfo.InvariantCulture) }));
        }
        var epoch = new EpochMetrics(state.Epoch + 1, metrics);
        state.Epochs.Add(epoch);
        return new EpochSummary(epoch, improved, TimeSpan.Zero);
    }

    T Timed<T>(string phase, Func<T> work) => Profile is null ? work() : Profile.Time(phase, work);

    void Timed(string phase, Action work) => Timed<bool>(phase, () => { work(); return true; });

    IReadOnlyDictionary<string, double> Evaluate(ITrainable model, EvaluationSplit split, int epoch)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        model.SetTraining(false);
        using (random.manual_seed(DataOrder.Mix(Config.Seed, EvaluationSeedStream, epoch))) { }
        try { return model.Evaluate(split); }
        finally { model.SetTraining(true); }
    }
}
