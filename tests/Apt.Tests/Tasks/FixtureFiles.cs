using Apt.Backbone;

namespace Apt.Tests.Tasks;

/// <summary>The hand-written fixture files (tests/Apt.Tests/Fixtures), found from the test binary's folder upwards.</summary>
public static class FixtureFiles
{
    public static readonly string Root = Find();

    public static string Path(params string[] parts) => System.IO.Path.Combine([Root, .. parts]);

    static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = System.IO.Path.Combine(dir.FullName, "tests", "Apt.Tests", "Fixtures");
            if (Directory.Exists(candidate)) return candidate;
        }
        throw new DirectoryNotFoundException("tests/Apt.Tests/Fixtures not found above " + AppContext.BaseDirectory);
    }

    /// <summary>A scratch folder under the system temp folder, deleted on dispose.</summary>
    public sealed class Scratch : IDisposable
    {
        public string Folder { get; } = Directory.CreateTempSubdirectory("apt-tasks-").FullName;
        public string File(string name, string text) { string p = System.IO.Path.Combine(Folder, name); System.IO.File.WriteAllText(p, text); return p; }
        public string File(string name, byte[] bytes) { string p = System.IO.Path.Combine(Folder, name); System.IO.File.WriteAllBytes(p, bytes); return p; }
        public void Dispose() => Directory.Delete(Folder, recursive: true);
    }
}

/// <summary>MiniLM loaded once per test class (about 2 s).</summary>
public sealed class MiniLmFixture : IDisposable
{
    public PretrainedBackbone Backbone { get; }
    public ITextTokenizer Tokenizer => Backbone.Tokenizer;

    public MiniLmFixture()
    {
        TorchRuntime.EnsureLoaded();
        Backbone = PretrainedBackbone.Load("minilm");
    }

    public void Dispose() => Backbone.Dispose();
}
