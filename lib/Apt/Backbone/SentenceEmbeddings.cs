using static TorchSharp.torch;

namespace Apt.Backbone;

/// <summary>Sentence-Transformers' embedding: the mean of the last hidden states over real tokens, L2-normalised.</summary>
public static class SentenceEmbeddings
{
    /// <summary>(N, d) unit vectors for <paramref name="texts"/>, computed in evaluation mode without a graph.</summary>
    public static Tensor Encode(PretrainedBackbone backbone, IReadOnlyList<string> texts, int maxLength = 256)
    {
        using var batch = TokenBatch.Collate([.. texts.Select(t => backbone.Tokenizer.Encode(t, maxLength: maxLength))], backbone.Tokenizer.PadId);
        bool wasTraining = backbone.Model.training;
        backbone.Model.eval();
        try
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var hidden = backbone.Model.Forward(batch.Ids, batch.TypeIds, batch.AttentionMask).LastHidden; // (N, T, d)
            var mask = batch.AttentionMask.unsqueeze(-1).to_type(hidden.dtype); // (N, T, 1)
            var mean = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1e-9); // (N, d)
            return nn.functional.normalize(mean, p: 2, dim: 1).MoveToOuterDisposeScope();
        }
        finally
        {
            backbone.Model.train(wasTraining);
        }
    }

    /// <summary>Cosine similarity of every pair: (N, N).</summary>
    public static float[,] Similarities(Tensor unitVectors)
    {
        using var product = unitVectors.matmul(unitVectors.t()); // (N, N) on the model's device
        using var matrix = product.to(CPU); // read on the host
        int n = (int)matrix.shape[0];
        var values = matrix.data<float>().ToArray();
        var result = new float[n, n];
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) result[i, j] = values[i * n + j];
        return result;
    }
}
