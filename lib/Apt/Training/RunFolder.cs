using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Apt.Training;

/// <summary>What a finished run reports (result.json).</summary>
/// <param name="SelectedEpoch">The epoch the rule picked (from 1).</param>
/// <param name="Selection">The rule that picked it.</param>
/// <param name="SelectionMetric">The metric it compared on dev.</param>
/// <param name="SelectedValue">The reported number: dev value (BestDev) or test value (TestAtBestDev).</param>
/// <param name="SelectedMetrics">All metrics of the selected epoch.</param>
/// <param name="Epochs">Every finished epoch's metrics.</param>
/// <param name="StoppedEarly">Whether early stopping ended the run before the last epoch.</param>
/// <param name="WallSeconds">Training wall time over all sessions (resumes included).</param>
/// <param name="ParameterCounts">"trainable" (counted by the trainer) plus whatever counts the caller passed.</param>
public sealed record RunResult(
    int SelectedEpoch,
    SelectionRule Selection,
    string SelectionMetric,
    double SelectedValue,
    IReadOnlyDictionary<string, double> SelectedMetrics,
    IReadOnlyList<EpochMetrics> Epochs,
    bool StoppedEarly,
    double WallSeconds,
    IReadOnlyDictionary<string, long> ParameterCounts);

/// <summary>
/// A run's folder: <c>config.json</c> (the caller's config object), <c>metrics.jsonl</c> (one line per logging
/// step and per epoch), <c>result.json</c> (once finished), <c>selected.safetensors</c> (the trainable tensors
/// at the selected epoch) and <c>checkpoints/</c>.
/// </summary>
public sealed class RunFolder
{
    RunFolder(string path) => Path = System.IO.Path.GetFullPath(path);

    public string Path { get; }
    public string ConfigPath => System.IO.Path.Combine(Path, "config.json");
    public string MetricsPath => System.IO.Path.Combine(Path, "metrics.jsonl");
    public string ResultPath => System.IO.Path.Combine(Path, "result.json");
    public string SelectedTrainablePath => System.IO.Path.Combine(Path, "selected.safetensors");
    public string CheckpointsPath => System.IO.Path.Combine(Path, "checkpoints");

    /// <summary>Whether result.json exists (the run has finished).</summary>
    public bool IsFinished => File.Exists(ResultPath);

    /// <summary>
    /// Starts a run folder with <paramref name="config"/> as config.json, or opens the run already there if its
    /// config.json is the same (so a sweep can call this again to resume); a different config is an error.
    /// </summary>
    public static RunFolder OpenOrCreate(string path, object config)
    {
        var run = new RunFolder(path);
        string json = JsonSerializer.Serialize(config, config.GetType(), TrainingJson.Indented);
        if (File.Exists(run.ConfigPath))
        {
            var existing = run.ReadConfig();
            if (!JsonNode.DeepEquals(existing, JsonNode.Parse(json)))
                throw new ArgumentException($"{run.ConfigPath} already holds a different run's config; choose another run folder or resume that run with its own config");
            return run;
        }
        AtomicFile.WriteAllText(run.ConfigPath, json);
        return run;
    }

    /// <summary>Opens an existing run (e.g. to resume it); throws <see cref="FileNotFoundException"/> if it has no config.json.</summary>
    public static RunFolder Open(string path)
    {
        var run = new RunFolder(path);
        if (!File.Exists(run.ConfigPath)) throw new FileNotFoundException($"{run.ConfigPath} not found: {run.Path} is not a run folder", run.ConfigPath);
        return run;
    }

    /// <summary>
    /// The finished runs (folders with a result.json) under <paramref name="root"/> at any depth, in ordinal order;
    /// links to folders are not followed (<see cref="FolderWalk"/>) but added to <paramref name="skippedLinks"/>.
    /// </summary>
    public static IReadOnlyList<RunFolder> FindFinished(string root, ICollection<string>? skippedLinks = null) =>
        [.. FolderWalk.Files(root, "result.json", skippedLinks).Select(f => Open(System.IO.Path.GetDirectoryName(f)!))];

    /// <summary>The run's config.json as JSON.</summary>
    public JsonObject ReadConfig()
    {
        try { return JsonNode.Parse(InputFile.ReadAllText(ConfigPath),
            documentOptions: TrainingJson.Records) as JsonObject
            ?? throw new InvalidDataException($"{ConfigPath}: expected a JSON object"); }
        catch (JsonException e) { throw new InvalidDataException($"{ConfigPath}: line {e.LineNumber + 1}: expected " +
            $"the run's config as a JSON object ({TrainingJson.Reason(e)})", e); }
    }

    /// <summary>The run's config.json read back as <typeparamref name="T"/> (the type the run was created with), e.g. to resume it.</summary>
    public T ReadConfig<T>()
    {
        try { return JsonSerializer.Deserialize<T>(InputFile.ReadAllText(ConfigPath), TrainingJson.Indented)
            ?? throw new InvalidDataException($"{ConfigPath} is empty"); }
        catch (JsonException e) { throw new InvalidDataException($"{ConfigPath}: line {e.LineNumber + 1}: expected a " +
            $"{typeof(T).Name} ({TrainingJson.Reason(e)})", e); }
    }

    /// <summary>
    /// result.json; throws <see cref="FileNotFoundException"/> if the run has not finished. A damaged one (it is written
    /// atomically, so only outside harm truncates it) is refused, never rewritten: the message says to delete it and
    /// resume, which rebuilds it from the run's last checkpoint (kept after the final epoch) without training again.
    /// </summary>
    public RunResult ReadResult()
    {
        if (!IsFinished) throw new FileNotFoundException($"{ResultPath} not found: the run has not finished", ResultPath);
        string remedy = $"delete it and resume the run (aptnb train --resume {Path}) to rebuild it from the " +
            $"last checkpoint";
        RunResult? result;
        try { result = JsonSerializer.Deserialize<RunResult>(InputFile.ReadAllText(ResultPath),
            TrainingJson.Indented); }
        catch (JsonException e) { throw new InvalidDataException($"{ResultPath}: line {e.LineNumber + 1}: not a run " +
            $"result ({TrainingJson.Reason(e)}); {remedy}", e); }
        if (result is not { SelectionMetric: not null, SelectedMetrics: not null, Epochs: not null, ParameterCounts: not null })
            throw new InvalidDataException($"{ResultPath}: expected a run result with selectionMetric, selectedMetrics, epochs and parameterCounts; {remedy}");
        return result;
    }

    /// <summary>
    /// Removes the temporary files of atomic writes that a killed process left in the run folder (and below it); the
    /// caller holds the run's lock, so no live writer owns them. Returns the files removed.
    /// </summary>
    internal IReadOnlyList<string> RemoveInterruptedWrites()
    {
        var leftovers = Directory.Exists(Path)
            ? FolderWalk.Files(Path, "*.tmp").Where(AtomicFile.IsLeftover).ToList()
            : [];
        foreach (string file in leftovers) File.Delete(file);
        return leftovers;
    }


    internal void WriteResult(RunResult result) => AtomicFile.WriteAllText(ResultPath, JsonSerializer.Serialize(result, TrainingJson.Indented));

    /// <summary>Every line of metrics.jsonl as a JSON object (each has "kind": "step" or "epoch", and "step").</summary>
    public IReadOnlyList<JsonObject> ReadMetrics() => [.. ReadMetricLines(tornTailAllowed: false).Select(l => l.Json)];

    /// <summary>
    /// metrics.jsonl's lines, each a JSON object with a whole-number "step"; a damaged line is an error naming
    /// file:line, never skipped. Where <paramref name="tornTailAllowed"/>, a last line without its newline (the write a
    /// crash cut short: each line goes to the OS in one write that ends with it) is left out instead.
    /// </summary>
    List<(string Text, JsonObject Json, long Step)> ReadMetricLines(bool tornTailAllowed)
    {
        var lines = new List<(string, JsonObject, long)>();
        if (!File.Exists(MetricsPath)) return lines;
        string text = InputFile.ReadAllText(MetricsPath);
        string[] split = text.Split('\n');
        int count = split.Length - 1; // the part after the last newline is a torn tail, or empty
        for (int i = 0; i < split.Length; i++)
        {
            bool tail = i == count;
            if (tail && (split[i].Length == 0 || tornTailAllowed)) break;
            string expected = $"expected a JSON object with a whole-number " +
                $"\"step\"{(tail ? " ending in a newline" : "")}";
            long? step = null;
            JsonObject? json = null;
            try
            {
                json = JsonNode.Parse(split[i], documentOptions: TrainingJson.Records) as JsonObject;
                step = json?["step"] is JsonValue value && value.TryGetValue(out long s) ? s : null;
            }
            catch (JsonException e) { expected += $" ({TrainingJson.Reason(e)})"; }
            catch (InvalidOperationException) { }
            if (json is null || step is null || tail)
                throw new InvalidDataException($"{MetricsPath}:{i + 1}: {expected}; the file is left as " +
                    $"it is: repair or " +
                    "delete that line (a run that resumes writes the lines after its checkpoint again)");
            lines.Add((split[i], json, step.Value));
        }
        return lines;
    }

    /// <summary>
    /// Opens metrics.jsonl for appending after dropping the lines written after global step
    /// <paramref name="keepThroughStep"/> (they are written again as the run resumes) and a half-written last line, so
    /// a resumed run's file ends up equal to an uninterrupted run's. Any other damaged line is an error, and the file
    /// is then left untouched. </summary>
    internal MetricsLog OpenMetricsLog(long keepThroughStep)
    {
        if (File.Exists(MetricsPath))
        {
            var kept = new StringBuilder();
            foreach (var line in ReadMetricLines(tornTailAllowed: true).TakeWhile(l => l.Step <= keepThroughStep))
                kept.Append(line.Text).Append('\n');
            AtomicFile.WriteAllText(MetricsPath, kept.ToString());
        }
        return new MetricsLog(MetricsPath);
    }
}

/// <summary>Appends one JSON object per line to metrics.jsonl and hands each to the OS at once, so a crash loses nothing written.</summary>
sealed class MetricsLog(string path) : IDisposable
{
    readonly FileStream stream = new(path, FileMode.Append, FileAccess.Write, FileShare.Read);

    public void Append(JsonObject line)
    {
        stream.Write(Encoding.UTF8.GetBytes(line.ToJsonString(TrainingJson.Line) + "\n"));
        stream.Flush();
    }

    public void Dispose() => stream.Dispose();
}
