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

    /// <summary>Reads every tensor (CPU); half-precision ones are widened to float32. Metadata goes to <paramref name="metadata"/>.</summary>
    public static Dictionary<string, Tensor> Read(string path, out Dictionary<string, string> metadata)
    {
        byte[] bytes = File.ReadAllBytes(path);
        if (bytes.Length < 8) throw new InvalidDataException($"{path}: too short to be a safetensors file");
        long headerLength = BinaryPrimitives.ReadInt64LittleEndian(bytes);
        if (headerLength <= 0 || 8 + headerLength > bytes.Length)
            throw new InvalidDataException($"{path}: header length {headerLength} does not fit the file's {bytes.Length} bytes (truncated?)");
        JsonObject header;
        try { header = JsonNode.Parse(Encoding.UTF8.GetString(bytes, 8, (int)headerLength))!.AsObject(); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: the header is not valid JSON: {e.Message}", e); }

        metadata = [];
        var tensors = new Dictionary<string, Tensor>();
        long dataStart = 8 + headerLength;
        foreach (var (name, node) in header)
        {
            if (name == "__metadata__")
            {
                foreach (var (key, value) in node!.AsObject()) metadata[key] = value!.GetValue<string>();
                continue;
            }
            string dtype = node!["dtype"]!.GetValue<string>();
            if (!Types.TryGetValue(dtype, out var type))
                throw new InvalidDataException($"{path}: tensor '{name}' has dtype {dtype}; expected one of {string.Join(", ", Types.Keys)}");
            long[] shape = [.. node["shape"]!.AsArray().Select(d => d!.GetValue<long>())];
            var offsets = node["data_offsets"]!.AsArray();
            long begin = offsets[0]!.GetValue<long>(), end = offsets[1]!.GetValue<long>();
            long count = shape.Aggregate(1L, (a, b) => a * b);
            if (end - begin != count * type.Size || dataStart + end > bytes.Length)
                throw new InvalidDataException($"{path}: tensor '{name}' claims bytes {begin}..{end}, which do not match shape [{string.Join(", ", shape)}] of {dtype} or run past the file");
            var tensor = empty(shape, type.Type);
            bytes.AsSpan((int)(dataStart + begin), (int)(end - begin)).CopyTo(tensor.bytes);
            tensors[name] = type.Type is ScalarType.Float16 or ScalarType.BFloat16 ? tensor.to_type(ScalarType.Float32) : tensor;
        }
        return tensors;
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
