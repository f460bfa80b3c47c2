using Apt.Backbone;
using Apt.Prefix;
using Apt.Tasks;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Apt.Training;

/// <summary>
/// A task wired to a model for the <see cref="Trainer"/>: the examples are cast once, batches are
/// collated from indices, the loss is cross-entropy over the head's logits and evaluation scores with the
/// task's own metrics.
/// </summary>
public sealed class TaskTrainable : ITrainable, IDisposable
{
    readonly ITaskDefinition _task;
    readonly int _padId, _evalBatchSize;
    readonly IReadOnlyList<EncodedExample> _train;
    readonly IReadOnlyDictionary<EvaluationSplit, (IReadOnlyList<TaskExample> Examples, IReadOnlyList<EncodedExample> Encoded)> _eval;
    FrozenFeatures? _trainFeatures;
    Dictionary<EvaluationSplit, FrozenFeatures>? _evalFeatures;

    public TunedModel Model { get; }

    /// <summary>Where set, every backbone pass of this model is counted by shape. Default none.</summary>
    public WorkLog? Work { get; set; }

    /// <summary>Counts a backbone pass over <paramref name="inputs"/> in <see cref="Work"/>.</summary>
    void Count(TokenBatch inputs, bool training, bool firstTokenOnly) =>
        Work?.Add(new PassShape(training, training && TrainableParameters.Keys.Any(k => k.StartsWith("backbone.",
            StringComparison.Ordinal)),
            (int)inputs.Ids.shape[0], (int)inputs.Ids.shape[1], Model.Prefix?.Config.MaxLength ?? 0, firstTokenOnly));

    public TaskTrainable(ITaskDefinition task, TunedModel model, ITextTokenizer tokenizer,
        IReadOnlyList<TaskExample> train, IReadOnlyList<TaskExample> dev, IReadOnlyList<TaskExample> test, int maxLength, int evalBatchSize)
    {
        if (train.Count == 0) throw new ArgumentException($"task {task.Name}: the training split is empty");
        _task = task;
        Model = model;
        _padId = tokenizer.PadId;
        _evalBatchSize = evalBatchSize;
        _train = task.EncodeAll(train, tokenizer, maxLength);
        _eval = new Dictionary<EvaluationSplit, (IReadOnlyList<TaskExample>, IReadOnlyList<EncodedExample>)>
        {
            [EvaluationSplit.Dev] = (dev, task.EncodeAll(dev, tokenizer, maxLength)),
            [EvaluationSplit.Test] = (test, task.EncodeAll(test, tokenizer, maxLength)),
        };
        TrainableParameters = model.TrainableParameters();
        (string Name, IReadOnlyList<EncodedExample> Encoded)[] splits =
            [("train", _train), ("dev", _eval[EvaluationSplit.Dev].Encoded), ("test", _eval[EvaluationSplit.Test].Encoded)];
        TruncationNotes = [.. splits.Select(s => s.Encoded.TruncationNote($"{task.Name} {s.Name}", maxLength)).OfType<string>()];
    }

    /// <summary>One line per split that truncation to the maximum length cut (what it cut), for the run's warnings.</summary>
    public IReadOnlyList<string> TruncationNotes { get; }

    public IReadOnlyDictionary<string, Parameter> TrainableParameters { get; }

    public int TrainingExampleCount => _train.Count;

    /// <summary>The longest input row of each training example (multiple choice has one row per choice).</summary>
    public IReadOnlyList<int> TrainingExampleLengths => [.. _train.Select(e => e.Inputs.Max(input => input.Ids.Length))];

    public void SetTraining(bool training) => Model.train(training);

    public Tensor Loss(IReadOnlyList<int> batch)
    {
        using var collated = _task.Collate([.. batch.Select(i => _train[i])], _padId, TorchRuntime.Device);
        var logits = Logits(collated, _trainFeatures, batch);
        return TaskLoss.CrossEntropy(logits, collated.Labels!);
    }

    /// <summary>
    /// Trains and evaluates the head on <see cref="FrozenFeatures"/> from now on: <paramref name="features"/> gives a
    /// split's ("train", "dev", "test"), computed or cached by the caller. Only for a model that trains nothing below
    /// its head and whose backbone drops nothing (the head-only baseline as a linear probe).
    /// </summary>
    public void UseFrozenFeatures(Func<string, IReadOnlyList<EncodedExample>, FrozenFeatures> features)
    {
        if (Model.Prefix is not null || Model.Lora is not null
            || TrainableParameters.Keys.Any(k => !k.StartsWith("head.", StringComparison.Ordinal)))
            throw new InvalidOperationException("frozen features are only for a model whose head alone trains");
        _trainFeatures = features("train", _train);
        _evalFeatures = _eval.Where(e => e.Value.Encoded.Count > 0)
            .ToDictionary(e => e.Key, e => features(e.Key.ToString().ToLowerInvariant(), e.Value.Encoded));
    }

    /// <summary>The head's logits for a collated batch: from the backbone, or from <paramref name="features"/> of its
    /// examples.</summary>
    Tensor Logits(TaskBatch collated, FrozenFeatures? features, IReadOnlyList<int> indices)
    {
        if (features is not null) return Model.Head.Forward(features.Output(indices));
        Count(collated.Inputs, is_grad_enabled(), Model.Head.ReadsFirstTokenOnly);
        return Model.Forward(collated);
    }

    public IReadOnlyDictionary<string, double> Evaluate(EvaluationSplit split) => Score(split).Values;

    public ITaskDefinition Task => _task;

    /// <summary>The examples of a split, in file order.</summary>
    public IReadOnlyList<TaskExample> Examples(EvaluationSplit split) => _eval[split].Examples;

    /// <summary>The model's predictions on a split, in the examples' order (no graph is built).</summary>
    public IReadOnlyList<Prediction> Predict(EvaluationSplit split)
    {
        using var noGrad = no_grad();
        return Predict(_eval[split].Encoded, _evalFeatures?.GetValueOrDefault(split));
    }

    /// <summary>The task's metrics on a split (with per-type figures for NER).</summary>
    public MetricReport Score(EvaluationSplit split)
    {
        var examples = _eval[split].Examples;
        if (examples.Count == 0) throw new InvalidOperationException($"task {_task.Name}: no {split} examples to evaluate");
        return _task.Score(examples, Predict(split));
    }

    /// <summary>
    /// Predictions for encoded examples, in their order. Batches are formed from length-sorted examples, so
    /// little padding is computed; the order is restored afterwards.
    /// </summary>
    public IReadOnlyList<Prediction> Predict(IReadOnlyList<EncodedExample> encoded) => Predict(encoded, null);

    IReadOnlyList<Prediction> Predict(IReadOnlyList<EncodedExample> encoded, FrozenFeatures? features)
    {
        var predictions = new Prediction[encoded.Count];
        foreach (var batch in FrozenFeatures.LengthSorted(encoded, _evalBatchSize))
        {
            using var scope = NewDisposeScope();
            using var collated = _task.Collate([.. batch.Select(i => encoded[i])], _padId, TorchRuntime.Device);
            var decoded = _task.Decode(collated, Logits(collated, features, batch));
            for (int j = 0; j < batch.Length; j++) predictions[batch[j]] = decoded[j];
        }
        return predictions;
    }

    /// <summary>Loads the trainable tensors of the run's selected epoch into the model.</summary>
    public void LoadSelected(RunFolder run)
    {
        if (!File.Exists(run.SelectedTrainablePath)) return;
        var selected = SafeTensors.Read(run.SelectedTrainablePath, out _);
        try
        {
            Checkpoint.Copy(TrainableParameters.ToDictionary(p => p.Key, p => (Tensor)p.Value), selected,
                $"{run.SelectedTrainablePath}: the selected weights do not fit this model's trainable parameters " +
                "(saved by another method, prefix length or backbone?).");
        }
        finally
        {
            foreach (var tensor in selected.Values) tensor.Dispose();
        }
    }

    /// <summary>The gate probe of the model's prefix over the dev split (eval mode, no graph).</summary>
    public GateProbeResult Probe(EvaluationSplit split = EvaluationSplit.Dev)
    {
        var prefix = Model.Prefix ?? throw new InvalidOperationException("this method has no prefix to probe");
        var encoded = _eval[split].Encoded;
        return GateProbe.Run(Model.Backbone, prefix, Batches());

        IEnumerable<TokenBatch> Batches()
        {
            foreach (var batch in FrozenFeatures.LengthSorted(encoded, _evalBatchSize))
            {
                using var collated = TokenBatch.Collate([.. batch.SelectMany(i => encoded[i].Inputs)], _padId, TorchRuntime.Device);
                Count(collated, training: false, firstTokenOnly: false);
                yield return collated; // disposed when the probe asks for the next one
            }
        }
    }

    /// <summary>Frees the prefix and head; the backbone may be shared with other runs and stays.</summary>
    public void Dispose()
    {
        Model.Prefix?.Dispose();
        Model.Head.Dispose();
    }
}
