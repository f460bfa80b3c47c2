using System.Text.RegularExpressions;

namespace Apt.Tests.Backbone;

/// <summary>
/// A static check of lib/: every torch factory call (zeros, ones, arange, tensor, full, empty, rand, randn, randint,
/// eye, linspace) names a device, so that what the kit creates at run time (masks, position ids, gates, prefix
/// indices, head inputs, labels) lands on the model's device and a CUDA run never mixes devices. Calls that are
/// genuinely CPU-side are allowed by the rules and the short list below, each with its reason.
/// </summary>
public sealed partial class DeviceHygieneTests
{
    /// <summary>Folders whose tensors are CPU tensors by design.</summary>
    static readonly (string Folder, string Why)[] CpuFolders =
    [
        ("lib/Apt/Backbone/Cpu/", "the hand-written CPU kernels: ComputePath sends them CPU tensors only, and they write the storage they create"),
        ("lib/Apt.Bench/", "the benchmark measures this machine's CPU path"),
    ];

    /// <summary>Single calls that are CPU-side, by file and a piece of the call's line.</summary>
    static readonly (string File, string Snippet, string Why)[] Allowed =
    [
        ("lib/Apt/Backbone/CounterDropout.cs", "randint(long.MinValue", "the dropout seed: one int64 from torch's default (CPU) generator, read at once with item"),
        ("lib/Apt/Backbone/SafeTensors.cs", "empty(entry.Shape, entry.Type)", "a checkpoint's bytes are read into host memory; the module moves with Module.to"),
        ("lib/Apt/Backbone/PretrainedBackbone.cs", "torch.tensor(tensor.Values, tensor.Shape)", "ONNX weights are read into host memory before they are loaded into the module"),
    ];

    [GeneratedRegex(@"(?<![\w.])(?:torch\.)?(zeros|ones|arange|tensor|full|empty|randn|rand|randint|eye|linspace)\(")]
    private static partial Regex FactoryCall();

    [Fact]
    public void Every_factory_call_in_lib_names_a_device_or_is_allowed_with_a_reason()
    {
        string root = TestPaths.RepoRoot;
        var offenders = new List<string>();
        int calls = 0;
        foreach (string path in Directory.EnumerateFiles(Path.Combine(root, "lib"), "*.cs", SearchOption.AllDirectories))
        {
            string relative = Path.GetRelativePath(root, path).Replace('\\', '/');
            if (relative.Contains("/obj/") || relative.Contains("/bin/") || CpuFolders.Any(f => relative.StartsWith(f.Folder, StringComparison.Ordinal))) continue;
            string text = File.ReadAllText(path);
            foreach (Match call in FactoryCall().Matches(text))
            {
                string line = LineAt(text, call.Index);
                if (line.TrimStart().StartsWith("//", StringComparison.Ordinal) || IsInComment(line, call.Index - LineStart(text, call.Index))) continue;
                calls++;
                string arguments = Arguments(text, call.Index + call.Length);
                if (arguments.Contains("device:", StringComparison.Ordinal)) continue;
                // Module parameters are made on the CPU and moved with their module (Module.to(device)).
                if (line.Contains("new Parameter(", StringComparison.Ordinal)) continue;
                if (Allowed.Any(a => a.File == relative && line.Contains(a.Snippet, StringComparison.Ordinal))) continue;
                offenders.Add($"{relative}:{text[..call.Index].Count(c => c == '\n') + 1}: {line.Trim()}");
            }
        }
        Assert.True(calls > 10, $"the scan found only {calls} factory calls: the pattern no longer matches the code");
        Assert.True(offenders.Count == 0, "factory calls without a device (pass device: …, or allow them here with the reason):\n" + string.Join("\n", offenders));
    }

    [Fact]
    public void The_scan_catches_a_call_without_a_device_and_reads_arguments_over_lines()
    {
        const string code = "var mask = ones(batch,\n    length, dtype: ScalarType.Bool);";
        var call = FactoryCall().Match(code);
        Assert.True(call.Success);
        Assert.DoesNotContain("device:", Arguments(code, call.Index + call.Length));
        Assert.Contains("device:", Arguments("zeros(b, t, device: x.device)", 6));
        Assert.DoesNotMatch(FactoryCall(), "x.ones(3); foo.tensor(1); ones_like(x)");
    }

    static int LineStart(string text, int index) => text.LastIndexOf('\n', Math.Max(0, index - 1)) + 1;

    static string LineAt(string text, int index)
    {
        int start = LineStart(text, index), end = text.IndexOf('\n', index);
        return text[start..(end < 0 ? text.Length : end)];
    }

    /// <summary>Whether a <c>//</c> comment starts before <paramref name="column"/> on the line (outside a string, roughly).</summary>
    static bool IsInComment(string line, int column)
    {
        int comment = line.IndexOf("//", StringComparison.Ordinal);
        return comment >= 0 && comment < column && line[..comment].Count(c => c == '"') % 2 == 0;
    }

    /// <summary>The text from just after a call's opening parenthesis to its matching closing one.</summary>
    static string Arguments(string text, int start)
    {
        int depth = 1, i = start;
        for (; i < text.Length && depth > 0; i++)
            depth += text[i] switch { '(' or '[' => 1, ')' or ']' => -1, _ => 0 };
        return text[start..Math.Max(start, i - 1)];
    }
}
