using Apt.Backbone;
using Apt.Tasks;
using static TorchSharp.torch;

namespace Apt.Training;

/// <summary>
/// What a frozen backbone gives a task head for each example of a split, computed once in eval mode: the pooled
/// first token per input row for heads that read it alone, else every real token's last hidden state. The head-only
/// baseline is then a linear probe: every seed and epoch trains and evaluates its head on these, and the backbone
/// runs once per split instead of once per batch. Eval mode is the kit's own choice for this baseline (no dropout
/// below the head; P-tuning v2 has no head-only run to follow), recorded as the run's hidden_dropout 0.
/// </summary>
public sealed class FrozenFeatures : IDisposable
{
    readonly Tensor[] _examples; // per example: (rows, d) pooled, or (T, d) token states
    readonly bool _pooled;

    FrozenFeatures(Tensor[] examples, bool pooled) => (_examples, _pooled) = (examples, pooled);

    /// <summary>
    /// Runs <paramref name="backbone"/> in eval mode without a graph over <paramref name="encoded"/>, in length-sorted
    /// batches of <paramref name="batchSize"/>, and keeps what <paramref name="head"/> reads of each example; the
    /// passes are counted in <paramref name="work"/>.
    /// </summary>
    public static FrozenFeatures Compute(ITaskDefinition task, BertModel backbone, TaskHead head,
        IReadOnlyList<EncodedExample> encoded, int padId, int batchSize, WorkLog? work = null)
    {
        bool pooled = head.ReadsFirstTokenOnly, wasTraining = backbone.training;
        var examples = new Tensor[encoded.Count];
        backbone.eval();
        try
        {
            using var noGrad = no_grad();
            foreach (var batch in LengthSorted(encoded, batchSize))
            {
                using var scope = NewDisposeScope();
                using var collated = task.Collate([.. batch.Select(i => encoded[i])], padId, TorchRuntime.Device);
                var inputs = collated.Inputs;
                work?.Add(new PassShape(false, false, (int)inputs.Ids.shape[0], (int)inputs.Ids.shape[1], 0, pooled));
                var output = backbone.Forward(inputs.Ids, inputs.TypeIds, inputs.AttentionMask, firstTokenOnly: pooled);
                var states = pooled ? TaskHead.Pooled(output) : output.LastHidden; // (B·C, d) or (B, T, d)
                for (int j = 0, row = 0; j < batch.Length; j++)
                {
                    var inputsOf = encoded[batch[j]].Inputs;
                    var kept = pooled ? states.narrow(0, row, inputsOf.Count)
                        : states[j].narrow(0, 0, inputsOf[0].Length);
                    examples[batch[j]] = kept.clone().DetachFromDisposeScope();
                    row += inputsOf.Count;
                }
            }
        }
        catch
        {
            foreach (var tensor in examples) tensor?.Dispose();
            throw;
        }
        finally
        {
            backbone.train(wasTraining);
        }
        return new FrozenFeatures(examples, pooled);
    }

    /// <summary>Example indices sorted by their longest input row, in chunks: little padding is computed.</summary>
    public static IEnumerable<int[]> LengthSorted(IReadOnlyList<EncodedExample> encoded, int batchSize) =>
        Enumerable.Range(0, encoded.Count)
            .OrderBy(i => encoded[i].Inputs.Max(t => t.Length)).ThenBy(i => i)
            .Chunk(batchSize);

    /// <summary>
    /// The backbone's output for the examples <paramref name="indices"/>, as the head reads it: pooled rows as
    /// (B·C, 1, d) with the pooled (B·C, d); token states right-padded with zeros to (B, T, d), T the longest.
    /// </summary>
    public BackboneOutput Output(IReadOnlyList<int> indices)
    {
        var rows = indices.Select(i => _examples[i]).ToList();
        if (_pooled)
        {
            var pooled = cat(rows, 0);
            return new BackboneOutput(pooled.unsqueeze(1), pooled, null);
        }
        return new BackboneOutput(nn.utils.rnn.pad_sequence(rows, batch_first: true), null, null);
    }

    public void Dispose()
    {
        foreach (var tensor in _examples) tensor.Dispose();
    }
}
