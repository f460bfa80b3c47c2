using Apt.Backbone;
using Apt.Tasks;
using static TorchSharp.torch;

namespace Apt.Tests.Tasks;

/// <summary>The heads on the real frozen MiniLM: shapes, trainable parameters, the loss and decoding.</summary>
public sealed class HeadTests(MiniLmFixture minilm) : IClassFixture<MiniLmFixture>
{
    [Theory]
    [InlineData("rte", "superglue/rte/train.jsonl")]
    [InlineData("copa", "superglue/copa/train.jsonl")]
    [InlineData("conll04", "ner/conll04/train.txt")]
    public void HeadGivesLogitsPerExampleAndOnlyItTrains(string name, string file)
    {
        using var scope = NewDisposeScope();
        var task = TaskRegistry.Get(name);
        var examples = task.Read(FixtureFiles.Path(file.Split('/')));
        using var batch = task.Collate(task.EncodeAll(examples, minilm.Tokenizer), minilm.Tokenizer.PadId);
        using var head = task.CreateHead(minilm.Backbone.Config, dropout: 0.1);
        var output = minilm.Backbone.Model.Forward(batch.Inputs.Ids, batch.Inputs.TypeIds, batch.Inputs.AttentionMask);
        var logits = head.Forward(output);
        long[] expected = task.Kind switch
        {
            TaskKind.TokenClassification => [examples.Count, batch.Inputs.Length, task.Labels.Count],
            TaskKind.MultipleChoice => [examples.Count, 2],
            _ => [examples.Count, task.Labels.Count],
        };
        Assert.Equal(expected, logits.shape);

        var loss = TaskLoss.CrossEntropy(logits, batch.Labels!);
        loss.backward();
        Assert.All(head.parameters(), p => Assert.NotNull(p.grad));
        Assert.All(minilm.Backbone.Model.parameters(), p => Assert.False(p.requires_grad));
        Assert.True(loss.item<float>() > 0);

        var predictions = task.Decode(batch, logits);
        Assert.Equal(examples.Count, predictions.Count);
        var report = task.Score(examples, predictions);
        Assert.InRange(report.PrimaryValue, 0, 1);
        Assert.Equal(task.SelectionMetric, report.Primary);
    }

    [Fact]
    public void LossIgnoresPositionsMarkedMinus100()
    {
        using var scope = NewDisposeScope();
        var logits = tensor(new float[] { 2, 0, 0, 5, 1, 1 }, [1, 3, 2]); // (B, T, K)
        var labels = tensor(new long[] { 0, -100, 1 }, [1, 3]);
        double expected = (Math.Log(1 + Math.Exp(-2)) + Math.Log(2)) / 2; // mean over the two labelled positions
        Assert.Equal(expected, TaskLoss.CrossEntropy(logits, labels).item<float>(), 5);
    }

    [Fact]
    public void NerDecodeReadsEachWordsFirstSubTokenAndCutWordsAreO()
    {
        using var scope = NewDisposeScope();
        var task = TaskRegistry.Get("brown-ner");
        using var scratch = new FixtureFiles.Scratch();
        var example = task.Read(scratch.File("train.txt", "soybean O\nAtlanta B-NP\nfarmers O\n"))[0];
        var encoded = task.Encode(example, minilm.Tokenizer, maxLength: 6); // [CLS] soy ##be ##an atlanta [SEP]; farmers cut
        using var batch = task.Collate([encoded], minilm.Tokenizer.PadId);
        var logits = zeros(1, batch.Inputs.Length, 3);
        logits[0, 1, 2] = tensor(9f); // soy → I-NP
        logits[0, 2, 1] = tensor(9f); // ##be (ignored)
        logits[0, 4, 1] = tensor(9f); // atlanta → B-NP
        var prediction = Assert.Single(task.Decode(batch, logits));
        Assert.Equal([2, 1, 0], prediction.WordLabels!);
    }

    [Fact]
    public void WithoutAPoolerTheHeadUsesTheFirstToken()
    {
        using var scope = NewDisposeScope();
        var hidden = randn(2, 4, 8);
        var output = new BackboneOutput(hidden, null, null);
        Assert.Contains("first-token", TaskHead.PoolingSource(output));
        var head = new SequenceClassificationHead(8, 3, 0.0, 0.02);
        var logits = head.Forward(output);
        var again = head.Forward(new BackboneOutput(hidden[.., ..1], null, null)); // only the first token kept
        Assert.Equal(logits.data<float>().ToArray(), again.data<float>().ToArray());
    }
}
