using Apt.Backbone;

namespace Apt.Tests.Backbone;

/// <summary>Loads the embedded MiniLM once for a test class (about 2 s).</summary>
public sealed class MiniLMFixture : IDisposable
{
    public PretrainedBackbone Backbone { get; } = PretrainedBackbone.Load("minilm");
    public void Dispose() => Backbone.Dispose();
}
