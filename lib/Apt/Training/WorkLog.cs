using System.Collections.Concurrent;
using System.Text.Json.Serialization;

namespace Apt.Training;

/// <summary>
/// One shape of pass through the backbone: <see cref="Rows"/> input rows of <see cref="Length"/> tokens (padding
/// included: it is computed) behind a prefix of <see cref="Prefix"/>, a training step (forward and backward) or an
/// evaluation forward, and whether the last layer computed the first token alone.
/// </summary>
public sealed record PassShape(
    [property: JsonPropertyName("training")] bool Training,
    [property: JsonPropertyName("fine_tune")] bool FineTune,
    [property: JsonPropertyName("rows")] int Rows,
    [property: JsonPropertyName("length")] int Length,
    [property: JsonPropertyName("prefix")] int Prefix,
    [property: JsonPropertyName("first_token_only")] bool FirstTokenOnly);

/// <summary>A count of passes of one shape.</summary>
public sealed record PassCount(
    [property: JsonPropertyName("shape")] PassShape Shape,
    [property: JsonPropertyName("count")] long Count);

/// <summary>
/// The backbone passes a process ran, counted by shape: what a FLOP model needs to say how much arithmetic a job
/// did (the benchmark's quickstart efficiency), without this library holding the model.
/// </summary>
public sealed class WorkLog
{
    readonly ConcurrentDictionary<PassShape, long> _counts = new();

    /// <summary>Counts <paramref name="count"/> passes of <paramref name="shape"/>.</summary>
    public void Add(PassShape shape, long count = 1) => _counts.AddOrUpdate(shape, count, (_, total) => total + count);

    /// <summary>Adds another log's counts (a worker's).</summary>
    public void Add(IEnumerable<PassCount> counts)
    {
        foreach (var count in counts) Add(count.Shape, count.Count);
    }

    /// <summary>Every shape with its count, in a stable order.</summary>
    public IReadOnlyList<PassCount> Counts =>
        [.. _counts.Select(c => new PassCount(c.Key, c.Value))
            .OrderBy(c => c.Shape.Training).ThenBy(c => c.Shape.Rows).ThenBy(c => c.Shape.Length)
            .ThenBy(c => c.Shape.Prefix)
            .ThenBy(c => c.Shape.FirstTokenOnly).ThenBy(c => c.Shape.FineTune)];
}

/// <summary>
/// A job's arithmetic beside its wall time (work.json, which `aptnb quickstart` leaves in its runs folder): the
/// benchmark turns it into the job's efficiency, its FLOPs at the measured matmul peak over its wall time.
/// </summary>
/// <param name="Backbone">The backbone the passes ran on (its shape sets the FLOPs per token).</param>
/// <param name="WallSeconds">The job's own wall time, start-up to its last line.</param>
/// <param name="ProcessorCount">The cores the job had.</param>
/// <param name="Workers">Runs it trained side by side.</param>
/// <param name="Passes">Its backbone passes by shape, in every process it ran.</param>
public sealed record JobWork(
    [property: JsonPropertyName("backbone")] string Backbone,
    [property: JsonPropertyName("wall_seconds")] double WallSeconds,
    [property: JsonPropertyName("processor_count")] int ProcessorCount,
    [property: JsonPropertyName("workers")] int Workers,
    [property: JsonPropertyName("passes")] IReadOnlyList<PassCount> Passes)
{
    public const string FileName = "work.json";

    public void Save(string folder) => AtomicFile.WriteAllText(Path.Combine(folder, FileName),
        System.Text.Json.JsonSerializer.Serialize(this, TrainingJson.Indented));

    public static JobWork Load(string path) =>
        System.Text.Json.JsonSerializer.Deserialize<JobWork>(InputFile.ReadAllText(path), TrainingJson.Indented)
        ?? throw new InvalidDataException($"{path}: expected a job's work record");
}
