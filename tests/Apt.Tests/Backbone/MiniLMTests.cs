using Apt.Backbone;
using static TorchSharp.torch;

namespace Apt.Tests.Backbone;

/// <summary>The embedded default backbone: its tokenizer, its embeddings, its frozen state.</summary>
public sealed class MiniLMTests(MiniLMFixture fixture) : IClassFixture<MiniLMFixture>
{
    readonly PretrainedBackbone _backbone = fixture.Backbone;

    [Fact]
    public void TokenisesLikeTheReferenceTokenizer()
    {
        var encoded = _backbone.Tokenizer.Encode("A man is eating food.");
        Assert.Equal([101, 1037, 2158, 2003, 5983, 2833, 1012, 102], encoded.Ids);
        Assert.All(encoded.TypeIds, t => Assert.Equal(0, t));
    }

    [Fact]
    public void SentenceSimilarityMatchesSentenceTransformers()
    {
        using var vectors = SentenceEmbeddings.Encode(_backbone, ["A man is eating food.", "A man is eating a piece of bread."]);
        float similarity = SentenceEmbeddings.Similarities(vectors)[0, 1];
        Assert.InRange(similarity, 0.750f, 0.760f);
    }

    [Fact]
    public void PairsCarrySegmentIdsAndTruncateLongestFirst()
    {
        var pair = _backbone.Tokenizer.Encode("a b c d e f", "x y", maxLength: 8);
        // budget 8 - 3 specials = 5: the longer first text loses tokens until 3 + 2 fit.
        Assert.Equal(["[CLS]", "a", "b", "c", "[SEP]", "x", "y", "[SEP]"], _backbone.Tokenizer.Tokens(pair.Ids));
        Assert.Equal([0, 0, 0, 0, 0, 1, 1, 1], pair.TypeIds);
        var tie = _backbone.Tokenizer.Encode("a b c", "x y z", maxLength: 7);
        // on a tie the second sequence is cut first, as Hugging Face's longest_first does
        Assert.Equal(["[CLS]", "a", "b", "[SEP]", "x", "y", "[SEP]"], _backbone.Tokenizer.Tokens(tie.Ids));
    }

    [Fact]
    public void WordsMapToTheirFirstSubToken()
    {
        var words = _backbone.Tokenizer.EncodeWords(["Tokenization", "is", "unaffordable"], maxLength: 5);
        var tokens = _backbone.Tokenizer.Tokens(words.Ids);
        Assert.Equal("[CLS]", tokens[0]);
        Assert.Equal("[SEP]", tokens[^1]);
        Assert.Equal(1, words.WordStarts[0]);
        Assert.StartsWith("token", tokens[words.WordStarts[0]]);
        Assert.Equal("is", tokens[words.WordStarts[1]]);
        Assert.True(words.WordStarts[1] > words.WordStarts[0] + 1, "the first word is split into several pieces");
        Assert.Equal(-1, words.WordStarts[2]); // truncated: no room left before [SEP]
        Assert.Equal(5, words.Ids.Length);
    }

    [Fact]
    public void EveryParameterIsFrozenAndNamedAsInTheCheckpoint()
    {
        Assert.All(_backbone.Model.named_parameters(), p => Assert.False(p.parameter.requires_grad, p.name));
        var graph = OnnxModel.Parse(EmbeddedBackbones.MiniLM.ReadResource("model.onnx"), "minilm");
        var checkpoint = OnnxWeights.StateDict(graph, "minilm");
        try
        {
            Assert.Equal(checkpoint.Keys.Order(), _backbone.Model.state_dict().Keys.Order());
            Assert.Contains("encoder.layer.5.attention.self.query.weight", checkpoint.Keys);
            Assert.Contains("pooler.dense.weight", checkpoint.Keys);
        }
        finally
        {
            foreach (var t in checkpoint.Values) t.Dispose();
        }
    }

    [Fact]
    public void SafetensorsRoundTripGivesIdenticalOutputs()
    {
        string folder = Directory.CreateTempSubdirectory("apt-minilm-").FullName;
        try
        {
            _backbone.SaveHuggingFace(folder);
            using var reloaded = PretrainedBackbone.Load(folder);
            Assert.Equal(_backbone.Model.state_dict().Keys.Order(), SafeTensors.Read(Path.Combine(folder, "model.safetensors"), out _).Keys.Order());
            var texts = new[] { ("The cat sat on the mat.", "It was warm."), ("Short", "A much longer second segment of text.") };
            using var batch = TokenBatch.Collate([.. texts.Select(t => _backbone.Tokenizer.Encode(t.Item1, t.Item2))], 0);
            Assert.Equal(texts.Select(t => _backbone.Tokenizer.Encode(t.Item1, t.Item2).Ids), texts.Select(t => reloaded.Tokenizer.Encode(t.Item1, t.Item2).Ids));
            _backbone.Model.eval();
            reloaded.Model.eval();
            using var noGrad = no_grad();
            var a = _backbone.Model.Forward(batch.Ids, batch.TypeIds, batch.AttentionMask);
            var b = reloaded.Model.Forward(batch.Ids, batch.TypeIds, batch.AttentionMask);
            TensorAssert.Equal(a.LastHidden, b.LastHidden, "last hidden state");
            TensorAssert.Equal(a.Pooled!, b.Pooled!, "pooled output");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
