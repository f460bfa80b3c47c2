using System.Globalization;
using System.Text.Json;
using Apt.Backbone;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Apt.Training;

/// <summary>A checkpoint read back from disk and verified; its tensors are on the CPU until applied.</summary>
public sealed class TrainingCheckpoint(string path, TrainingState state, Dictionary<string, Tensor> trainable, Dictionary<string, Tensor> optimizer, Dictionary<string, string> optimizerSteps) : IDisposable
{
    public string Path { get; } = path;
    public TrainingState State { get; } = state;

    /// <summary>Copies the saved trainable tensors and AdamW moments into the live ones; throws if names or shapes differ.</summary>
    public void Apply(IReadOnlyList<KeyValuePair<string, Parameter>> parameters, AdamW adamW)
    {
        var names = parameters.Select(p => p.Key).ToHashSet();
        if (!names.SetEquals(trainable.Keys))
            throw new InvalidDataException($"{Path}: the checkpoint holds tensors [{string.Join(", ", trainable.Keys.Order())}] but the model trains [{string.Join(", ", names.Order())}]; was the run started with another method or config?");
        var states = adamW.state_dict().State;
        using var noGrad = no_grad();
        for (int i = 0; i < parameters.Count; i++)
        {
            var (name, parameter) = (parameters[i].Key, parameters[i].Value);
            var saved = trainable[name];
            if (!saved.shape.SequenceEqual(parameter.shape))
                throw new InvalidDataException($"{Path}: tensor '{name}' has shape [{string.Join(", ", saved.shape)}] but the model's is [{string.Join(", ", parameter.shape)}]");
            parameter.copy_(saved);
            var moments = (AdamW.State)states[i];
            moments.exp_avg.copy_(optimizer[CheckpointStore.ExpAvg(name)]);
            moments.exp_avg_sq.copy_(optimizer[CheckpointStore.ExpAvgSq(name)]);
            moments.step = long.Parse(optimizerSteps[CheckpointStore.StepKey(name)], CultureInfo.InvariantCulture);
        }
    }

    public void Dispose()
    {
        foreach (var tensor in trainable.Values.Concat(optimizer.Values)) tensor.Dispose();
    }
}

/// <summary>
/// A run's checkpoints folder. Each checkpoint is a folder <c>step-NNNNNNNNN</c> holding
/// <c>trainable.safetensors</c> (the trainable tensors), <c>optimizer.safetensors</c> (AdamW's
/// exp_avg/exp_avg_sq per tensor; its step counts in the metadata) and <c>state.json</c>
/// (<see cref="TrainingState"/>, with the files' SHA-256). It is written in a staging folder and renamed
/// into place, so a checkpoint either exists whole or not at all; the newest <c>keep</c> are kept.
/// </summary>
public sealed class CheckpointStore(string folder, int keep = 2)
{
    const string Prefix = "step-";
    const string StagingPrefix = ".staging-";
    public const string TrainableFile = "trainable.safetensors";
    public const string OptimizerFile = "optimizer.safetensors";
    public const string StateFile = "state.json";

    public string Folder { get; } = folder;

    internal static string ExpAvg(string name) => $"exp_avg.{name}";
    internal static string ExpAvgSq(string name) => $"exp_avg_sq.{name}";
    internal static string StepKey(string name) => $"step.{name}";

    /// <summary>Checkpoint folders, newest (highest step) first.</summary>
    public IReadOnlyList<string> List() =>
        !Directory.Exists(Folder) ? [] :
        [.. Directory.GetDirectories(Folder, Prefix + "*")
            .Select(path => (path, step: long.TryParse(System.IO.Path.GetFileName(path)[Prefix.Length..], NumberStyles.None, CultureInfo.InvariantCulture, out long s) ? s : -1))
            .Where(c => c.step >= 0)
            .OrderByDescending(c => c.step)
            .Select(c => c.path)];

    /// <summary>Writes a checkpoint of the trainable tensors, AdamW's state and <paramref name="state"/>; returns its folder.</summary>
    public string Save(TrainingState state, IReadOnlyList<KeyValuePair<string, Parameter>> parameters, AdamW adamW)
    {
        Directory.CreateDirectory(Folder);
        string name = $"{Prefix}{state.GlobalStep:D9}";
        string staging = System.IO.Path.Combine(Folder, $"{StagingPrefix}{name}-{Guid.NewGuid():N}");
        string final = System.IO.Path.Combine(Folder, name);
        Directory.CreateDirectory(staging);
        try
        {
            var moments = adamW.state_dict().State;
            var optimizerTensors = new Dictionary<string, Tensor>();
            var steps = new Dictionary<string, string>();
            for (int i = 0; i < parameters.Count; i++)
            {
                var adam = (AdamW.State)moments[i];
                optimizerTensors[ExpAvg(parameters[i].Key)] = adam.exp_avg;
                optimizerTensors[ExpAvgSq(parameters[i].Key)] = adam.exp_avg_sq;
                steps[StepKey(parameters[i].Key)] = adam.step.ToString(CultureInfo.InvariantCulture);
            }
            SafeTensors.Write(System.IO.Path.Combine(staging, TrainableFile), parameters.ToDictionary(p => p.Key, p => (Tensor)p.Value));
            CrashPoint.Reach(CrashPoint.Checkpoint, state.GlobalStep);
            SafeTensors.Write(System.IO.Path.Combine(staging, OptimizerFile), optimizerTensors, steps);
            state.FileSha256 = new[] { TrainableFile, OptimizerFile }.ToDictionary(f => f,
                f => InputFile.Sha256(System.IO.Path.Combine(staging, f)));
            AtomicFile.WriteAllText(System.IO.Path.Combine(staging, StateFile), JsonSerializer.Serialize(state, TrainingJson.Indented));
            if (Directory.Exists(final)) Directory.Delete(final, recursive: true); // a re-run reached a step it had checkpointed before a crash
            Directory.Move(staging, final);
        }
        finally
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        }
        foreach (string old in List().Skip(keep)) Directory.Delete(old, recursive: true);
        return final;
    }

    /// <summary>
    /// The newest checkpoint that reads back intact. Each damaged one is reported through <paramref name="warn"/>
    /// (naming it, the reason, and the one tried next) and deleted once an older one proves intact. Null when there are none; throws
    /// <see cref="InvalidDataException"/> when there are some but none is usable.
    /// </summary>
    public TrainingCheckpoint? LoadNewestValid(Action<string> warn)
    {
        foreach (string staging in Directory.Exists(Folder) ? Directory.GetDirectories(Folder, StagingPrefix + "*") : [])
            Directory.Delete(staging, recursive: true); // left by a crash in the middle of a save
        var candidates = List();
        var reasons = new List<string>();
        for (int i = 0; i < candidates.Count; i++)
        {
            TrainingCheckpoint checkpoint;
            try { checkpoint = Read(candidates[i]); }
            catch (Exception e) when (e is InvalidDataException or IOException or JsonException or KeyNotFoundException or FormatException)
            {
                reasons.Add($"{candidates[i]}: {e.Message}");
                string next = i + 1 < candidates.Count ? $"falling back to the previous checkpoint {candidates[i + 1]}" : "no older checkpoint is left";
                warn($"checkpoint {candidates[i]} is damaged and was skipped ({e.Message}); {next}");
                continue;
            }
            // The damaged newer ones go, so that pruning after the next save keeps this good one as the fallback.
            foreach (string damaged in candidates.Take(i)) Directory.Delete(damaged, recursive: true);
            return checkpoint;
        }
        if (candidates.Count > 0)
            throw new InvalidDataException($"no usable checkpoint in {Folder}: {string.Join("; ", reasons)}");
        return null;
    }

    /// <summary>Reads and verifies one checkpoint folder; throws <see cref="InvalidDataException"/> naming the file at fault.</summary>
    public static TrainingCheckpoint Read(string path)
    {
        string statePath = System.IO.Path.Combine(path, StateFile);
        if (!File.Exists(statePath)) throw new InvalidDataException($"{statePath} is missing");
        TrainingState state;
        try { state = JsonSerializer.Deserialize<TrainingState>(InputFile.ReadAllText(statePath), TrainingJson.Indented)
            ?? throw new InvalidDataException($"{statePath} is empty"); }
        catch (JsonException e) { throw new InvalidDataException($"{statePath} is not valid JSON (line {e.LineNumber}): {e.Message}", e); }
        foreach (string file in new[] { TrainableFile, OptimizerFile })
        {
            string filePath = System.IO.Path.Combine(path, file);
            if (!File.Exists(filePath)) throw new InvalidDataException($"{filePath} is missing");
            if (!state.FileSha256.TryGetValue(file, out string? expected))
                throw new InvalidDataException($"{statePath} records no SHA-256 for {file}");
            string actual = InputFile.Sha256(filePath);
            if (actual != expected)
                throw new InvalidDataException($"{filePath} is truncated or damaged: {new FileInfo(filePath).Length} bytes with SHA-256 {actual[..12]}…, expected {expected[..12]}…");
        }
        var trainable = SafeTensors.Read(System.IO.Path.Combine(path, TrainableFile), out _);
        var optimizer = SafeTensors.Read(System.IO.Path.Combine(path, OptimizerFile), out var steps);
        return new TrainingCheckpoint(path, state, trainable, optimizer, steps);
    }
}
