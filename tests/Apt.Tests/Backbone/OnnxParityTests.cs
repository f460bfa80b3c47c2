using Apt.Backbone;
using Xunit.Abstractions;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using static TorchSharp.torch;

namespace Apt.Tests.Backbone;

/// <summary>
/// The TorchSharp encoder against ONNX Runtime running the very model.onnx the weights came from:
/// an independent implementation of the same network, on both compute paths (<see cref="ComputePath"/>).
/// </summary>
public sealed class OnnxParityTests(ITestOutputHelper output)
{
    static readonly (string, string)[] Pairs =
    [
        ("A man is eating food.", "A man is eating a piece of bread."),
        ("The girl is carrying a baby.", "Two men are pushing carts through the woods, one of them humming."),
        ("Prefix tuning trains a few vectors per layer while the backbone stays frozen.", "Yes."),
        ("Short.", "An unusually long second sentence that makes this pair the longest one in the batch by some margin."),
    ];

    [Theory]
    [InlineData("minilm", KernelChoice.Auto)]
    [InlineData("minilm", KernelChoice.Reference)]
    [InlineData("arctic-xs", KernelChoice.Auto)]
    [InlineData("arctic-xs", KernelChoice.Reference)]
    public void LastHiddenStateAndPooledOutputEqualOnnxRuntime(string key, KernelChoice kernels)
    {
        using var path = ComputePath.Force(kernels);
        var embedded = EmbeddedBackbones.Find(key)!;
        using var backbone = PretrainedBackbone.Load(key);
        backbone.Model.eval();
        var batch = TokenBatch.Collate([.. Pairs.Select(p => backbone.Tokenizer.Encode(p.Item1, p.Item2))], backbone.Tokenizer.PadId);
        Assert.True(batch.AttentionMask.sum().item<long>() < batch.Ids.numel(), "the batch must contain padding");

        using var session = new InferenceSession(embedded.ReadResource("model.onnx"));
        var inputs = new[]
        {
            NamedOnnxValue.CreateFromTensor("input_ids", ToOrt(batch.Ids)),
            NamedOnnxValue.CreateFromTensor("attention_mask", ToOrt(batch.AttentionMask)),
            NamedOnnxValue.CreateFromTensor("token_type_ids", ToOrt(batch.TypeIds)),
        }.Where(i => session.InputMetadata.ContainsKey(i.Name)).ToList();
        using var results = session.Run(inputs);
        float[] expectedHidden = results.First(r => r.Name == "last_hidden_state").AsEnumerable<float>().ToArray();

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var result = backbone.Model.Forward(batch.Ids, batch.TypeIds, batch.AttentionMask);
        float[] hidden = result.LastHidden.contiguous().data<float>().ToArray();
        Assert.Equal(expectedHidden.Length, hidden.Length);
        double hiddenDiff = expectedHidden.Zip(hidden, (a, b) => Math.Abs(a - b)).Max();
        output.WriteLine($"{key}, {kernels}: max |Δ| last hidden state = {hiddenDiff:E2} over {hidden.Length} values");
        Assert.True(hiddenDiff <= 1e-4, $"last hidden state differs by {hiddenDiff}");

        var pooledResult = results.FirstOrDefault(r => r.Name != "last_hidden_state");
        Assert.Equal(pooledResult is not null, result.Pooled is not null);
        if (pooledResult is not null)
        {
            float[] expectedPooled = pooledResult.AsEnumerable<float>().ToArray();
            float[] pooled = result.Pooled!.contiguous().data<float>().ToArray();
            double pooledDiff = expectedPooled.Zip(pooled, (a, b) => Math.Abs(a - b)).Max();
            output.WriteLine($"{key}, {kernels}: max |Δ| pooled output = {pooledDiff:E2}");
            Assert.True(pooledDiff <= 1e-4, $"pooled output differs by {pooledDiff}");
        }
    }

    static DenseTensor<long> ToOrt(TorchSharp.torch.Tensor t) =>
        new(t.contiguous().data<long>().ToArray(), [.. t.shape.Select(d => (int)d)]);
}
