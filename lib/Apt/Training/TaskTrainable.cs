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

    public TunedModel Model { get; }

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
    }

    public IReadOnlyDictionary<string, Parameter> TrainableParameters { get; }

    public int TrainingExampleCount => _train.Count;

    /// <summary>The longest input row of each training example (multiple choice has one row per choice).</summary>
    public IReadOnlyList<int> TrainingExampleLengths => [.. _train.Select(e => e.Inputs.Max(input => input.Ids.Length))];

    public void SetTraining(bool training) => Model.train(training);

    public Tensor Loss(IReadOnlyList<int> batch)
    {
        using var collated = _task.Collate([.. batch.Select(i => _train[i])], _padId, TorchRuntime.Device);
        var logits = Model.Forward(collated);
        return TaskLoss.CrossEntropy(logits, collated.Labels!);
    }

    public IReadOnlyDictionary<string, double> Evaluate(EvaluationSplit split) => Score(split).Values;

    public ITaskDefinition Task => _task;

    /// <summary>The examples of a split, in file order.</summary>
    public IReadOnlyList<TaskExample> Examples(EvaluationSplit split) => _eval[split].Examples;

    /// <summary>The model's predictions on a split, in the examples' order (no graph is built).</summary>
    public IReadOnlyList<Prediction> Predict(EvaluationSplit split)
    {
        using var noGrad = no_grad();
        return Predict(_eval[split].Encoded);
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
    public IReadOnlyList<Prediction> Predict(IReadOnlyList<EncodedExample> encoded)
    {
        var predictions = new Prediction[encoded.Count];
        foreach (var batch in LengthSortedBatches(encoded))
        {
            using var scope = NewDisposeScope();
            using var collated = _task.Collate([.. batch.Select(i => encoded[i])], _padId, TorchRuntime.Device);
            var decoded = _task.Decode(collated, Model.Forward(collated));
            for (int j = 0; j < batch.Length; j++) predictions[batch[j]] = decoded[j];
        }
        return predictions;
    }

    IEnumerable<int[]> LengthSortedBatches(IReadOnlyList<EncodedExample> encoded) =>
        Enumerable.Range(0, encoded.Count)
            .OrderBy(i => encoded[i].Inputs.Max(t => t.Length)).ThenBy(i => i)
            .Chunk(_evalBatchSize);

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
            foreach (var batch in LengthSortedBatches(encoded))
            {
                using var collated = TokenBatch.Collate([.. batch.SelectMany(i => encoded[i].Inputs)], _padId, TorchRuntime.Device);
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
