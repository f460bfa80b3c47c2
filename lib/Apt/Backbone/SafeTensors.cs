using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp;
using static TorchSharp.torch;

namespace Apt.Backbone;

/// <summary>
/// The safetensors format (Hugging Face): an 8-byte little-endian header length, a JSON header
/// mapping each name to dtype, shape and byte range, then the raw little-endian data.
/// Reads F32, F16, BF16 and F64 into float32 (or keeps F64); writes each tensor in its own dtype.
/// </summary>
public static class SafeTensors
{
    static readonly Dictionary<string, (ScalarType Type, int Size)> Types = new()
    {
        ["F32"] = (ScalarType.Float32, 4),
        ["F64"] = (ScalarType.Float64, 8),
        ["F16"] = (ScalarType.Float16, 2),
        ["BF16"] = (ScalarType.BFloat16, 2),
        ["I64"] = (ScalarType.Int64, 8),
    };

    /// <summary>The header's size limit (the Python library's): a longer one is refused before it is read.</summary>
    public const long MaxHeaderBytes = 100_000_000;

    /// <summary>
    /// Reads every tensor (CPU); half-precision ones are widened to float32. Metadata goes to <paramref name="metadata"/>.
    /// A file that breaks the format (a header longer than the file, a tensor entry without dtype, shape or offsets, a
    /// byte range outside the data or overlapping another) is refused with one line naming the file and what was
    /// expected, before any tensor is allocated. The data is streamed into the tensors with 64-bit offsets: a file or
    /// a tensor over 2 GiB reads like any other.
    /// </summary>
    public static Dictionary<string, Tensor> Read(string path, out Dictionary<string, string> metadata)
    {
        using var stream = InputFile.Open(path);
        var header = ReadHeader(path, stream);
        metadata = header.Metadata;
        var tensors = new Dictionary<string, Tensor>();
        try
        {
            foreach (var entry in header.Tensors)
            {
                var raw = empty(entry.Shape, entry.Type);
                tensors[entry.Name] = raw;
                stream.Position = header.DataStart + entry.Begin;
                ReadInto(path, stream, raw, entry.End - entry.Begin);
                if (entry.Type is not (ScalarType.Float16 or ScalarType.BFloat16)) continue;
                tensors[entry.Name] = raw.to_type(ScalarType.Float32);
                raw.Dispose();
            }
        }
        catch
        {
            foreach (var tensor in tensors.Values) tensor.Dispose();
            throw;
        }
        return tensors;
    }

    /// <summary>The tensors' names, dtypes, shapes and byte ranges and the metadata, from the header alone.</summary>
    public static SafeTensorsHeader ReadHeader(string path)
    {
        using var stream = InputFile.Open(path);
        return ReadHeader(path, stream);
    }

    static SafeTensorsHeader ReadHeader(string path, FileStream stream)
    {
        long size = stream.Length;
        Span<byte> prefix = stackalloc byte[8];
        if (size < 8 || stream.Read(prefix) < 8)
            throw new InvalidDataException(
                $"{path}: {size} bytes, too short to be a safetensors file (expected an 8-byte header length first)");
        long headerLength = BinaryPrimitives.ReadInt64LittleEndian(prefix);
        if (headerLength <= 0 || headerLength > size - 8)
            throw new InvalidDataException($"{path}: the header length {headerLength} does not fit the " +
                $"file's {size} bytes " +
                                           $"(expected 1..{size - 8}; truncated or not a safetensors file?)");
        if (headerLength > MaxHeaderBytes)
            throw new InvalidDataException(
                $"{path}: the header length {headerLength} exceeds the format's limit of {MaxHeaderBytes} bytes");
        byte[] json = new byte[headerLength];
        stream.ReadExactly(json);
        JsonObject header;
        try
        {
            header = JsonNode.Parse(json) as JsonObject
                ?? throw new InvalidDataException($"{path}: the header is not a JSON object");
            _ = header.Count; // JsonObject builds its dictionary lazily: a duplicate name throws here, not later
        }
        catch (Exception e) when (e is JsonException or ArgumentException) { throw new InvalidDataException($"{path}: the header is not valid JSON ({e.Message.Split(" LineNumber")[0].TrimEnd('.', ' ')})", e); }

        var metadata = ReadMetadata(path, header);
        long dataLength = size - 8 - headerLength;
        var entries = header.Where(h => h.Key != "__metadata__").Select(h => Entry(path, h.Key, h.Value, dataLength)).ToList();
        CheckNoOverlap(path, entries);
        return new SafeTensorsHeader(entries, metadata, 8 + headerLength);
    }

    /// <summary>
    /// Reads <paramref name="count"/> bytes from the stream's position into the tensor, a chunk of elements at a time
    /// (a span holds at most 2 GiB; a tensor may hold more).
    /// </summary>
    static void ReadInto(string path, FileStream stream, Tensor tensor, long count)
    {
        if (count == 0) return;
        int elementSize = (int)(count / tensor.numel());
        long perChunk = (1 << 24) / elementSize;
        byte[] buffer = new byte[Math.Min(count, perChunk * elementSize)];
        using var flat = tensor.view(-1);
        for (long first = 0; first < flat.shape[0]; first += perChunk)
        {
            using var part = flat.narrow(0, first, Math.Min(perChunk, flat.shape[0] - first));
            var bytes = buffer.AsSpan(0, (int)(part.numel() * elementSize));
            try { stream.ReadExactly(bytes); }
            catch (EndOfStreamException e)
            {
                throw new InvalidDataException($"{path}: the file ended while its tensors were read (it shrank?)", e);
            }
            bytes.CopyTo(part.bytes);
        }
    }

    static TensorEntry Entry(string path, string name, JsonNode? node, long dataLength)
    {
        string Bad(string what) => $"{path}: tensor '{name}': {what}";
        try
        {
            if (node is not JsonObject entry) throw new InvalidDataException(Bad("expected an object with dtype, shape and data_offsets"));
            string dtype = entry["dtype"]?.GetValue<string>() ?? throw new InvalidDataException(Bad("no dtype"));
            if (!Types.TryGetValue(dtype, out var type))
                throw new InvalidDataException(Bad($"dtype {dtype}; expected one of {string.Join(", ", Types.Keys)}"));
            var shapeNode = entry["shape"] as JsonArray ?? throw new InvalidDataException(Bad("no shape array"));
            long[] shape = [.. shapeNode.Select(d => d?.GetValue<long>() ?? -1)];
            if (shape.Any(d => d < 0)) throw new InvalidDataException(Bad($"shape [{string.Join(", ", shape)}] has a negative dimension"));
            if (entry["data_offsets"] is not JsonArray { Count: 2 } offsets || offsets[0] is null || offsets[1] is null)
                throw new InvalidDataException(Bad("expected data_offsets [begin, end]"));
            long begin = offsets[0]!.GetValue<long>(), end = offsets[1]!.GetValue<long>();
            long bytes = ByteCount(shape, type.Size) ?? throw new InvalidDataException(Bad($"shape [{string.Join(", ", shape)}] holds more bytes than a file can"));
            if (begin < 0 || end < begin || end > dataLength)
                throw new InvalidDataException(Bad($"data_offsets [{begin}, {end}] lie outside the data section's {dataLength} bytes (truncated?)"));
            if (end - begin != bytes)
                throw new InvalidDataException(Bad($"data_offsets [{begin}, {end}] hold {end - begin} bytes, but shape [{string.Join(", ", shape)}] of {dtype} needs {bytes}"));
            return new TensorEntry(name, type.Type, shape, begin, end);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            throw new InvalidDataException(Bad($"expected a string dtype, an integer shape and integer data_offsets ({e.Message})"), e);
        }
    }

    static long? ByteCount(long[] shape, int elementSize)
    {
        try { return checked(shape.Aggregate(1L, (a, b) => a * b) * elementSize); }
        catch (OverflowException) { return null; }
    }

    static void CheckNoOverlap(string path, List<TensorEntry> entries)
    {
        var ordered = entries.Where(e => e.End > e.Begin).OrderBy(e => e.Begin).ToList();
        for (int i = 1; i < ordered.Count; i++)
            if (ordered[i].Begin < ordered[i - 1].End)
                throw new InvalidDataException(
                    $"{path}: tensors '{ordered[i - 1].Name}' (bytes {ordered[i - 1].Begin}..{ordered[i - 1].End}) and '{ordered[i].Name}' (bytes {ordered[i].Begin}..{ordered[i].End}) overlap (expected disjoint byte ranges)");
    }

    static Dictionary<string, string> ReadMetadata(string path, JsonObject header)
    {
        if (!header.TryGetPropertyValue("__metadata__", out var node) || node is null) return [];
        if (node is not JsonObject fields || fields.Any(f => f.Value is not JsonValue v || v.GetValueKind() != JsonValueKind.String))
            throw new InvalidDataException($"{path}: __metadata__ is expected to map names to strings");
        return fields.ToDictionary(f => f.Key, f => f.Value!.GetValue<string>());
    }

    /// <summary>Writes tensors (sorted by name, as the Python library does) atomically.</summary>
    public static void Write(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var header = new JsonObject();
        if (metadata is { Count: > 0 })
            header["__metadata__"] = new JsonObject(metadata.Select(m => KeyValuePair.Create(m.Key, (JsonNode?)JsonValue.Create(m.Value))));
        var blobs = new List<byte[]>();
        long offset = 0;
        foreach (var (name, tensor) in tensors.OrderBy(t => t.Key, StringComparer.Ordinal))
        {
            var (dtype, _) = Types.First(t => t.Value.Type == tensor.dtype);
            using var contiguous = tensor.detach().cpu().contiguous();
            byte[] blob = contiguous.bytes.ToArray();
            header[name] = new JsonObject
            {
                ["dtype"] = dtype,
                ["shape"] = new JsonArray([.. tensor.shape.Select(d => (JsonNode?)JsonValue.Create(d))]),
                ["data_offsets"] = new JsonArray(offset, offset + blob.Length),
            };
            blobs.Add(blob);
            offset += blob.Length;
        }
        byte[] json = Encoding.UTF8.GetBytes(header.ToJsonString());
        int padding = (8 - json.Length % 8) % 8; // the format pads the header with spaces to 8 bytes
        json = [.. json, .. Enumerable.Repeat((byte)' ', padding)];
        AtomicFile.Write(path, stream =>
        {
            Span<byte> length = stackalloc byte[8];
            BinaryPrimitives.WriteInt64LittleEndian(length, json.Length);
            stream.Write(length);
            stream.Write(json);
            foreach (var blob in blobs) stream.Write(blob);
        });
    }
}

/// <summary>
/// One tensor's header entry, checked: a known dtype, non-negative dimensions, and a byte range inside the data that
/// the shape fills exactly.
/// </summary>
public sealed record TensorEntry(string Name, ScalarType Type, long[] Shape, long Begin, long End);

/// <summary>A safetensors file's header: its tensors, its metadata and where the data section starts.</summary>
public sealed record SafeTensorsHeader(
    IReadOnlyList<TensorEntry> Tensors, Dictionary<string, string> Metadata, long DataStart);
