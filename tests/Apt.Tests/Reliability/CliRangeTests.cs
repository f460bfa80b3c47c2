using Apt.Tests.Backbone;
using Apt.Tests.Cli;

namespace Apt.Tests.Reliability;

/// <summary>
/// Out-of-range options and hostile inputs given to `apt` as a user runs it: exit code 2 and exactly one line,
/// "error: …", saying what was wrong and what was expected; never a stack trace.
/// </summary>
public sealed class CliRangeTests
{
    /// <summary>Runs apt and returns its only output line, after asserting exit code 2 and the absence of a stack frame.</summary>
    static string OneErrorLine(params string[] args)
    {
        var (exitCode, output) = CliTests.Apt(args);
        Assert.DoesNotContain("   at ", output);
        string[] lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.True(exitCode == 2 && lines.Length == 1 && lines[0].StartsWith("error: ", StringComparison.Ordinal),
            $"apt {string.Join(' ', args)} exited {exitCode} with:\n{output}");
        return lines[0];
    }

    [Theory]
    [InlineData(new[] { "train", "--prefix-length", "0" }, "--prefix-length 0 is out of range (expected at least 1)")]
    [InlineData(new[] { "train", "--prefix-length", "-4" }, "--prefix-length -4 is out of range (expected at least 1)")]
    [InlineData(new[] { "train", "--lr", "0" }, "--lr 0 is out of range (expected a positive, finite number)")]
    [InlineData(new[] { "train", "--lr", "-0.01" }, "--lr -0.01 is out of range")]
    [InlineData(new[] { "train", "--lr", "NaN" }, "--lr NaN is out of range")]
    [InlineData(new[] { "train", "--lr", "Infinity" }, "--lr Infinity is out of range")]
    [InlineData(new[] { "train", "--epochs", "0" }, "--epochs 0 is out of range (expected at least 1)")]
    [InlineData(new[] { "train", "--batch-size", "0" }, "--batch-size 0 is out of range (expected at least 1)")]
    [InlineData(new[] { "train", "--dropout", "1" }, "--dropout 1 is out of range (expected at least 0 and below 1)")]
    [InlineData(new[] { "train", "--max-length", "2" }, "--max-length 2 is out of range (expected at least 4)")]
    [InlineData(new[] { "train", "--task", "nope" }, "unknown task 'nope' (expected one of boolq, cb, rte")]
    [InlineData(new[] { "train", "--method", "magic" }, "unknown method 'magic' (expected one of head, ft, pt2, apt")]
    [InlineData(new[] { "train", "--backbone", "no-such-model" }, "--backbone 'no-such-model' is neither an embedded backbone (minilm, arctic-xs) nor a model folder")]
    [InlineData(new[] { "train", "--prefix-length", "400", "--max-length", "128" }, "prefix length 400 + 128 tokens exceed the backbone's 512 positions")]
    [InlineData(new[] { "params", "--prefix-length", "0" }, "--prefix-length 0 is out of range")]
    [InlineData(new[] { "params", "--method", "pt3" }, "unknown method 'pt3' (expected one of head, ft, pt2")]
    [InlineData(new[] { "eval", "--run", "runs/x", "--split", "train" }, "unknown split 'train' (expected one of dev, test)")]
    [InlineData(new[] { "data", "build", "--wic-train", "0" }, "--wic-train 0 is out of range")]
    [InlineData(new[] { "train", "--epochs", "many" }, "many")]
    [InlineData(new[] { "data", "download", "boolq", "--url", "ftp://127.0.0.1/BoolQ.zip" }, "ftp:// is not supported")]
    [InlineData(new[] { "data", "download", "boolq", "--read-timeout", "0" },
        "--read-timeout, --max-download-mb and --max-extract-mb must be positive")]
    public void AnOutOfRangeOptionIsOneErrorLineWithExitCode2(string[] args, string expected) =>
        Assert.Contains(expected, OneErrorLine(args));

    [Fact]
    public void AHostileModelFolderIsOneErrorLineWithExitCode2()
    {
        string folder = Directory.CreateTempSubdirectory("apt-cli-hostile-").FullName;
        try
        {
            BertTestFolder.Write(folder, editConfig: c => c["num_attention_heads"] = 3);
            Assert.Contains($"{folder}/config.json: hidden_size 16 is not a multiple of num_attention_heads 3", OneErrorLine("params", "--backbone", folder));

            BertTestFolder.Write(folder);
            string weights = Path.Combine(folder, "model.safetensors");
            byte[] bytes = File.ReadAllBytes(weights);
            BitConverter.TryWriteBytes(bytes.AsSpan(0, 8), 1L << 62);
            File.WriteAllBytes(weights, bytes);
            Assert.Contains($"{weights}: the header length 4611686018427387904 does not fit", OneErrorLine("params", "--backbone", folder));

            BertTestFolder.Write(folder, editConfig: c => c["intermediate_size"] = 1_000_000_000);
            Assert.Contains($"{folder}/config.json does not match {weights}: intermediate_size " +
                $"1000000000, but tensor " +
                            "'encoder.layer.0.intermediate.dense.weight' has shape [32, 16]",
                            OneErrorLine("params", "--backbone", folder));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
