using Apt.Backbone;
using Apt.Prefix;
using Apt.Runs;
using Apt.Tasks;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Apt.Bench;

/// <summary>
/// The analytic FLOP count the utilisation figures use. Forward, per token: 2·N + 4·L·S·d, where N is the
/// encoder's matrix weights (per layer 4·d² for Q, K, V and the attention output, 2·d·d_ff for the
/// feed-forward; embeddings, LayerNorms, biases, pooler and head are left out) and S the attended length,
/// prefix included: Q·Kᵀ and attention·V cost 2·S·d each per token and layer. Backward: about 1× the
/// forward for a frozen backbone (input gradients only, no weight gradients) and 2× for full fine-tuning.
/// A forward asked for the first token's output only (<see cref="BertModel.Forward"/>'s firstTokenOnly) is
/// counted as it runs: its last layer projects Q, K and V (6·d² per token) for every token, and attention, its
/// output projection and the feed-forward for the first token alone.
/// </summary>
public static class FlopModel
{
    /// <summary>N: the encoder's matrix weights.</summary>
    public static double EncoderMatrixWeights(BertConfig c) =>
        c.NumLayers * (4.0 * c.HiddenSize * c.HiddenSize + 2.0 * c.HiddenSize * c.IntermediateSize);

    /// <summary>Forward FLOPs of one token attending to <paramref name="attended"/> keys (prefix included).</summary>
    public static double ForwardPerToken(BertConfig c, int attended) =>
        2 * EncoderMatrixWeights(c) + 4.0 * c.NumLayers * attended * c.HiddenSize;

    /// <summary>Forward FLOPs of batch × length tokens behind a prefix.</summary>
    public static double Forward(BertConfig c, int batch, int length, int prefix, bool firstTokenOnly = false)
    {
        double perExample = length * ForwardPerToken(c, length + prefix);
        if (firstTokenOnly)
        {
            double lastLayerPerToken = ForwardPerToken(c, length + prefix) / c.NumLayers, queryKeyValue = 6.0 * c.HiddenSize * c.HiddenSize;
            perExample -= (length - 1) * (lastLayerPerToken - queryKeyValue);
        }
        return batch * perExample;
    }

    /// <summary>Forward and backward FLOPs of one training step on batch × length tokens.</summary>
    public static double TrainingStep(BertConfig c, int batch, int length, int prefix, bool fullFineTuning,
        bool firstTokenOnly = false) =>
        Forward(c, batch, length, prefix, firstTokenOnly) * (fullFineTuning ? 3 : 2);

    /// <summary>The FLOPs of a job's backbone passes (<see cref="Apt.Training.JobWork"/>).</summary>
    public static double Job(BertConfig c, IEnumerable<Apt.Training.PassCount> passes) =>
        passes.Sum(p => p.Count * (p.Shape.Training
            ? TrainingStep(c, p.Shape.Rows, p.Shape.Length, p.Shape.Prefix, p.Shape.FineTune, p.Shape.FirstTokenOnly)
            : Forward(c, p.Shape.Rows, p.Shape.Length, p.Shape.Prefix, p.Shape.FirstTokenOnly)));
}

/// <summary>Where one training step's wall time went, in milliseconds.</summary>
public sealed record StepPhases(double Loss, double ForwardMs, double BackwardMs, double OptimizerMs, double CollectMs)
{
    public double TotalMs => ForwardMs + BackwardMs + OptimizerMs + CollectMs;
}

/// <summary>A synthetic batch: random word ids (no padding), a [CLS]-like first token, random binary labels.</summary>
public sealed class SyntheticBatch : IDisposable
{
    public Tensor Ids { get; }
    public Tensor TypeIds { get; }
    public Tensor AttentionMask { get; }
    public Tensor Labels { get; }

    public SyntheticBatch(BertConfig config, int batch, int length, int seed)
    {
        var generator = new Generator((ulong)seed);
        Ids = randint(1000, config.VocabSize, [batch, length], dtype: ScalarType.Int64, generator: generator); // (B, T)
        Ids[TensorIndex.Colon, 0] = 101; // [CLS] in BERT's uncased vocabulary
        TypeIds = zeros(batch, length, dtype: ScalarType.Int64); // (B, T)
        AttentionMask = ones(batch, length, dtype: ScalarType.Int64); // (B, T)
        Labels = randint(0, 2, [batch], dtype: ScalarType.Int64, generator: generator); // (B)
    }

    public void Dispose()
    {
        Ids.Dispose();
        TypeIds.Dispose();
        AttentionMask.Dispose();
        Labels.Dispose();
    }
}

/// <summary>
/// One training step as the trainer takes it (train mode, AdamW over the trainable tensors only, clipping
/// at 1.0, a dispose scope and a garbage collection per step as <c>TrainerConfig.CollectGarbageEverySteps</c> = 1),
/// for a prefix method on the frozen backbone or for full fine-tuning.
/// </summary>
public sealed class TrainingWorkload : IDisposable
{
    readonly BertModel _backbone;
    readonly PrefixModule? _prefix;
    readonly SequenceClassificationHead _head;
    readonly AdamW _optimizer;
    readonly List<Parameter> _trainable;
    readonly SyntheticBatch _batch;

    public PrefixConfig Method { get; }
    /// <summary>The method's label in the catalogue.</summary>
    public string Label { get; }
    public int BatchSize { get; }
    public int Length { get; }

    /// <summary>Analytic FLOPs of one step (<see cref="FlopModel"/>).</summary>
    public double StepFlops { get; }

    /// <summary>The backbone's last layer computes the first token's output only, as for a sequence-classification head in the trainer.</summary>
    public bool FirstTokenOnly { get; }

    public TrainingWorkload(BertModel backbone, MethodEntry entry, int prefixLength, int batch, int length, int seed = 7, bool firstTokenOnly = false)
    {
        _backbone = backbone;
        var method = entry.Configure(new MethodInputs(backbone.Config, prefixLength, Projection: false, Probe: null)).Prefix;
        Method = method;
        Label = entry.Label;
        BatchSize = batch;
        Length = length;
        FirstTokenOnly = firstTokenOnly;
        manual_seed(seed);
        _prefix = PrefixModule.Create(method, backbone.Config);
        _head = new SequenceClassificationHead(backbone.Config.HiddenSize, 2, backbone.Config.HiddenDropout, backbone.Config.InitializerRange);
        bool fullFineTuning = method.Method == PrefixMethod.FineTune;
        if (fullFineTuning) backbone.SetTrainable(true);
        _trainable = [.. (_prefix?.TrainableParameters().Select(p => p.Parameter) ?? []),
                      .. _head.parameters(),
                      .. (fullFineTuning ? backbone.parameters() : [])];
        _optimizer = optim.AdamW(_trainable, 1e-3);
        _batch = new SyntheticBatch(backbone.Config, batch, length, seed);
        StepFlops = FlopModel.TrainingStep(backbone.Config, batch, length, method.MaxLength, fullFineTuning, firstTokenOnly);
    }

    /// <summary>One optimizer step; returns the loss.</summary>
    public double Step() => TimedStep().Loss;

    /// <summary>One optimizer step with the wall time of each phase: forward (loss included), backward, clipping and AdamW, garbage collection.</summary>
    public StepPhases TimedStep()
    {
        double value;
        var watch = System.Diagnostics.Stopwatch.StartNew();
        double forward, backward, optimizer;
        using (var scope = NewDisposeScope())
        {
            _backbone.train();
            _prefix?.train();
            _head.train();
            _optimizer.zero_grad();
            var output = _backbone.Forward(_batch.Ids, _batch.TypeIds, _batch.AttentionMask, _prefix, firstTokenOnly: FirstTokenOnly);
            var loss = TaskLoss.CrossEntropy(_head.Forward(output), _batch.Labels);
            forward = Lap(watch);
            loss.backward();
            backward = Lap(watch);
            nn.utils.clip_grad_norm_(_trainable, 1.0);
            _optimizer.step();
            value = loss.ToDouble();
            optimizer = Lap(watch);
        }
        GC.Collect();
        double collect = Lap(watch);
        if (!double.IsFinite(value)) throw new InvalidOperationException($"{Label} step: loss is {value}");
        return new StepPhases(value, forward, backward, optimizer, collect);
    }

    static double Lap(System.Diagnostics.Stopwatch watch)
    {
        double ms = watch.Elapsed.TotalMilliseconds;
        watch.Restart();
        return ms;
    }

    public void Dispose()
    {
        _optimizer.Dispose();
        _prefix?.Dispose();
        _head.Dispose();
        _batch.Dispose();
        if (Method.Method == PrefixMethod.FineTune) _backbone.SetTrainable(false);
    }
}
