using Apt.Backbone;
using Apt.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Apt.TrainProbe;

/// <summary>
/// A two-layer, 16-wide BERT fine-tuned whole (dropout on) with a linear head, on a synthetic task: does a
/// sequence hold more token ids below 25 than above? Small enough to train in seconds, real enough to
/// exercise every part of the trainer (several tensors, dropout, AdamW moments, dev and test splits).
/// </summary>
public sealed class ToyClassifier : ITrainable, IDisposable
{
    public static readonly BertConfig BackboneConfig = new() { HiddenSize = 16, NumLayers = 2, NumHeads = 2, VocabSize = 50, IntermediateSize = 32, MaxPositions = 64 };

    readonly BertModel backbone;
    readonly Linear head;
    readonly Dictionary<EvaluationSplit, (long[][] Ids, long[] Labels)> evaluation;
    readonly (long[][] Ids, long[] Labels) training;

    /// <summary>Weights from <paramref name="initSeed"/>; data from a fixed generator.</summary>
    public ToyClassifier(int initSeed, int trainingExamples = 64, int evaluationExamples = 32)
    {
        TorchRuntime.EnsureLoaded();
        using (random.manual_seed(initSeed)) { }
        backbone = new BertModel(BackboneConfig);
        backbone.SetTrainable(true);
        head = nn.Linear(BackboneConfig.HiddenSize, 2);
        var data = new Random(20261126);
        training = Examples(data, trainingExamples);
        evaluation = new() { [EvaluationSplit.Dev] = Examples(data, evaluationExamples), [EvaluationSplit.Test] = Examples(data, evaluationExamples) };
        TrainableParameters = backbone.named_parameters().Select(p => ($"backbone.{p.name}", p.parameter))
            .Concat(head.named_parameters().Select(p => ($"head.{p.name}", p.parameter)))
            .ToDictionary(p => p.Item1, p => p.Item2);
    }

    public IReadOnlyDictionary<string, Parameter> TrainableParameters { get; }

    public int TrainingExampleCount => training.Labels.Length;

    public void SetTraining(bool on)
    {
        backbone.train(on);
        head.train(on);
    }

    public Tensor Loss(IReadOnlyList<int> batch)
    {
        var logits = Logits([.. batch.Select(i => training.Ids[i])]);
        using var labels = tensor(batch.Select(i => training.Labels[i]).ToArray());
        return nn.functional.cross_entropy(logits, labels);
    }

    public IReadOnlyDictionary<string, double> Evaluate(EvaluationSplit split)
    {
        var (ids, labels) = evaluation[split];
        var predicted = Logits(ids).argmax(1).data<long>().ToArray();
        return new Dictionary<string, double> { ["accuracy"] = predicted.Zip(labels).Count(p => p.First == p.Second) / (double)labels.Length };
    }

    Tensor Logits(long[][] sequences)
    {
        int length = sequences.Max(s => s.Length);
        var ids = zeros(sequences.Length, length, ScalarType.Int64); // (B, T)
        var mask = zeros(sequences.Length, length, ScalarType.Int64); // (B, T)
        for (int b = 0; b < sequences.Length; b++)
        {
            ids[b, ..sequences[b].Length] = tensor(sequences[b]);
            mask[b, ..sequences[b].Length] = 1;
        }
        var output = backbone.Forward(ids, zeros_like(ids), mask);
        return head.forward(output.Pooled!); // (B, 2)
    }

    static (long[][] Ids, long[] Labels) Examples(Random data, int count)
    {
        var ids = new long[count][];
        var labels = new long[count];
        for (int i = 0; i < count; i++)
        {
            ids[i] = [.. Enumerable.Range(0, data.Next(6, 13)).Select(_ => (long)data.Next(1, 50))];
            labels[i] = ids[i].Count(id => id < 25) * 2 > ids[i].Length ? 1 : 0;
        }
        return (ids, labels);
    }

    public void Dispose()
    {
        backbone.Dispose();
        head.Dispose();
    }
}
