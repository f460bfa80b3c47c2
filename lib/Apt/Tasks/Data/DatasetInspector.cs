using Apt.Backbone;

namespace Apt.Tasks.Data;

/// <summary>One split of a data set: its file, its example count and how often each gold label occurs.</summary>
public sealed record SplitSummary(string Split, string File, int Examples, IReadOnlyDictionary<string, int> Labels);

/// <summary>The splits found and the first example of the first split, encoded (tokens, ids, labels per position).</summary>
public sealed record InspectionReport(string Task, IReadOnlyList<SplitSummary> Splits, EncodedExample First, IReadOnlyList<IReadOnlyList<string>> FirstTokens);

/// <summary>Reads a task's files (a folder with its split files, or one file) and summarises them; a bad file throws with file, line and reason.</summary>
public static class DatasetInspector
{
    public static InspectionReport Inspect(ITaskDefinition task, string path, ITextTokenizer tokenizer)
    {
        var files = new List<(string Split, string File)>();
        if (File.Exists(path)) files.Add((Path.GetFileNameWithoutExtension(path), path));
        else if (Directory.Exists(path))
        {
            foreach (var split in Enum.GetValues<DataSplit>())
            {
                try { files.Add((split.ToString().ToLowerInvariant(), task.FileFor(split, path))); }
                catch (FileNotFoundException) { }
            }
            if (files.Count == 0) task.FileFor(DataSplit.Train, path); // throws, naming the expected files
        }
        else throw new FileNotFoundException($"{path}: no such file or folder", path);

        var summaries = new List<SplitSummary>();
        TaskExample? first = null;
        foreach (var (split, file) in files)
        {
            var examples = task.Read(file);
            first ??= examples[0];
            var labels = examples.SelectMany(task.GoldLabels).GroupBy(l => l).OrderBy(g => g.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count());
            summaries.Add(new SplitSummary(split, file, examples.Count, labels));
        }
        var encoded = task.Encode(first!, tokenizer);
        return new InspectionReport(task.Name, summaries, encoded, [.. encoded.Inputs.Select(i => tokenizer.Tokens(i.Ids))]);
    }
}
