using Apt.Backbone;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Apt.Tasks;

/// <summary>A trainable task head: backbone output in, logits out.</summary>
public abstract class TaskHead(string name) : nn.Module(name)
{
    /// <summary>Logits: (B, K) for sequence classification, (B, C) for multiple choice, (B, T, K) for token classification.</summary>
    public abstract Tensor Forward(BackboneOutput output);

    /// <summary>Whether the head reads the first token's final state alone (through <see cref="Pooled"/>), so the backbone's last layer need not compute the others.</summary>
    public virtual bool ReadsFirstTokenOnly => false;

    /// <summary>
    /// BERT's pooler output when the backbone has one (frozen, as in P-tuning v2); otherwise the first
    /// token's last hidden state (e.g. arctic-xs, which ships without a pooler).
    /// </summary>
    public static Tensor Pooled(BackboneOutput output)
        => output.Pooled?.alias() ?? output.LastHidden.select(1, 0); // (B, d)

    /// <summary>
    /// The head's linear layer, initialised as P-tuning v2's heads are: <c>from_pretrained</c> re-initialises every module
    /// whose keys the checkpoint lacks with the backbone's <c>_init_weights</c>, weight N(0, initializer_range), bias 0
    /// (../shared/reference/ptuning-v2.md, "Protocol details").
    /// </summary>
    protected static Linear Classifier(int inputs, int outputs, double initializerRange)
    {
        var linear = Linear(inputs, outputs);
        using var noGrad = no_grad();
        init.normal_(linear.weight!, 0.0, initializerRange);
        init.zeros_(linear.bias!);
        return linear;
    }

    /// <summary>What <see cref="Pooled"/> uses for this backbone, for logs and run records.</summary>
    public static string PoolingSource(BackboneOutput output) => output.Pooled is not null ? "pooler" : "first-token hidden state (backbone has no pooler)";
}

/// <summary>P-tuning v2's sequence classification head: pooled → dropout → Linear(d, labels).</summary>
public sealed class SequenceClassificationHead : TaskHead
{
    readonly CounterDropout dropout;
    readonly Linear classifier;

    public SequenceClassificationHead(int hiddenSize, int labels, double dropoutRate, double initializerRange) : base(nameof(SequenceClassificationHead))
    {
        dropout = new CounterDropout(dropoutRate);
        classifier = Classifier(hiddenSize, labels, initializerRange);
        RegisterComponents();
    }

    public override bool ReadsFirstTokenOnly => true;

    public override Tensor Forward(BackboneOutput output)
    {
        using var pooled = Pooled(output); // (B, d)
        using var dropped = dropout.forward(pooled);
        return classifier.forward(dropped); // (B, K)
    }
}

/// <summary>Multiple choice: pooled → dropout → Linear(d, 1) per choice row, reshaped to (B, C); softmax over choices in the loss.</summary>
public sealed class MultipleChoiceHead : TaskHead
{
    readonly CounterDropout dropout;
    readonly Linear classifier;
    readonly int _choices;

    public MultipleChoiceHead(int hiddenSize, int choices, double dropoutRate, double initializerRange) : base(nameof(MultipleChoiceHead))
    {
        dropout = new CounterDropout(dropoutRate);
        classifier = Classifier(hiddenSize, 1, initializerRange);
        _choices = choices;
        RegisterComponents();
    }

    public override bool ReadsFirstTokenOnly => true;

    /// <summary>The backbone ran on B·C rows (the choices of one example adjacent).</summary>
    public override Tensor Forward(BackboneOutput output)
    {
        using var pooled = Pooled(output); // (B·C, d)
        using var dropped = dropout.forward(pooled);
        using var scores = classifier.forward(dropped); // (B·C, 1)
        return scores.view(-1, _choices); // (B, C)
    }
}

/// <summary>Token classification: dropout → Linear(d, labels) on every token's last hidden state.</summary>
public sealed class TokenClassificationHead : TaskHead
{
    readonly CounterDropout dropout;
    readonly Linear classifier;

    public TokenClassificationHead(int hiddenSize, int labels, double dropoutRate, double initializerRange) : base(nameof(TokenClassificationHead))
    {
        dropout = new CounterDropout(dropoutRate);
        classifier = Classifier(hiddenSize, labels, initializerRange);
        RegisterComponents();
    }

    public override Tensor Forward(BackboneOutput output)
    {
        using var dropped = dropout.forward(output.LastHidden); // (B, T, d)
        return classifier.forward(dropped); // (B, T, K)
    }
}

/// <summary>The training loss of every head.</summary>
public static class TaskLoss
{
    /// <summary>Label id that the loss and the metrics skip: non-first sub-tokens, special tokens, padding.</summary>
    public const int IgnoreIndex = -100;

    /// <summary>Mean cross-entropy over all labelled positions: logits (…, K), labels (…) int64 with -100 where ignored.</summary>
    public static Tensor CrossEntropy(Tensor logits, Tensor labels)
    {
        long classes = logits.shape[^1];
        using var flatLogits = logits.reshape(-1, classes); // (N, K)
        using var flatLabels = labels.reshape(-1); // (N)
        return functional.cross_entropy(flatLogits, flatLabels, ignore_index: IgnoreIndex);
    }
}
