using System.Text;
using System.Text.Json;

namespace Apt.Tasks;

/// <summary>
/// Reading data files strictly: UTF-8 that does not decode is an error on its line, an empty file is an
/// error, and every message starts with "file:line:".
/// </summary>
public static class TextLines
{
    static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>An error at a place in a data file.</summary>
    public static InvalidDataException Error(SourceLocation at, string reason) => new($"{at}: {reason}");

    /// <summary>
    /// The lines of <paramref name="file"/> (1-based numbers, line ends and a leading BOM removed), streamed from a
    /// file of at most <see cref="InputFile.MaxBytes"/>.
    /// </summary>
    public static IReadOnlyList<(int Number, string Text)> Read(string file)
    {
        using var stream = InputFile.Open(file, InputFile.MaxBytes);
        var lines = new List<(int, string)>();
        var line = new MemoryStream();
        byte[] buffer = new byte[1 << 16];
        int number = 1;
        void Add(bool last)
        {
            var bytes = line.GetBuffer().AsSpan(0, (int)line.Length);
            if (number == 1 && bytes.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF])) bytes = bytes[3..];
            if (bytes.Length > 0 && bytes[^1] == (byte)'\r') bytes = bytes[..^1];
            if (last && bytes.Length == 0) return;
            try
            {
                lines.Add((number, StrictUtf8.GetString(bytes)));
            }
            catch (DecoderFallbackException e)
            {
                throw Error(new SourceLocation(file, number),
                    $"invalid UTF-8 (byte 0x{e.BytesUnknown?.FirstOrDefault():X2} at column {e.Index + 1})");
            }
            line.SetLength(0);
            number++;
        }
        for (int read; (read = stream.Read(buffer)) > 0;)
        {
            int start = 0;
            for (int end; (end = Array.IndexOf(buffer, (byte)'\n', start, read - start)) >= 0; start = end + 1)
            {
                line.Write(buffer, start, end - start);
                Add(last: false);
            }
            line.Write(buffer, start, read - start);
        }
        Add(last: true);
        if (lines.All(l => string.IsNullOrWhiteSpace(l.Item2)))
            throw Error(new SourceLocation(file, 1), "the file is empty (expected at least one example)");
        return lines;
    }

    /// <summary>Each non-blank line of a JSON-lines file parsed as a JSON object.</summary>
    public static IEnumerable<(SourceLocation At, JsonElement Json)> ReadJsonObjects(string file)
    {
        foreach (var (number, text) in Read(file))
        {
            if (string.IsNullOrWhiteSpace(text)) continue;
            var at = new SourceLocation(file, number);
            JsonElement json;
            try
            {
                using var document = JsonDocument.Parse(text);
                json = document.RootElement.Clone();
            }
            catch (JsonException e)
            {
                throw Error(at, $"malformed JSON ({e.Message.Split(" LineNumber")[0].TrimEnd('.', ' ')})");
            }
            if (json.ValueKind != JsonValueKind.Object) throw Error(at, $"expected a JSON object, found {json.ValueKind}");
            CheckText(json, at);
            yield return (at, json);
        }
    }

    /// <summary>
    /// The JSON parser accepts escapes that decode to no text (a lone UTF-16 surrogate, "\ud800") and fails only when the
    /// string is read: every name and string is decoded here once, so that such a line is an error on its line.
    /// </summary>
    static void CheckText(JsonElement json, SourceLocation at)
    {
        try { Decode(json); }
        catch (InvalidOperationException e) { throw Error(at, $"a string or name is not valid text ({e.Message.TrimEnd('.')})"); }

        static void Decode(JsonElement json)
        {
            switch (json.ValueKind)
            {
                case JsonValueKind.String: _ = json.GetString(); break;
                case JsonValueKind.Array: foreach (var item in json.EnumerateArray()) Decode(item); break;
                case JsonValueKind.Object:
                    foreach (var property in json.EnumerateObject())
                    {
                        _ = property.Name;
                        Decode(property.Value);
                    }
                    break;
            }
        }
    }
}

/// <summary>Typed access to the fields of one JSON object, failing with the file, the line and the field's path.</summary>
public readonly struct JsonFields(JsonElement json, SourceLocation at, string path = "")
{
    public SourceLocation At => at;

    JsonElement Field(string name, JsonValueKind kind, string expected)
    {
        if (!json.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
            throw TextLines.Error(at, $"missing field '{path}{name}' (expected {expected})");
        if (value.ValueKind != kind && !(kind == JsonValueKind.True && value.ValueKind == JsonValueKind.False))
            throw TextLines.Error(at, $"field '{path}{name}' is {value.ValueKind}, expected {expected}");
        return value;
    }

    public bool Has(string name) => json.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null;

    public string String(string name) => Field(name, JsonValueKind.String, "a string").GetString()!;

    public int Int(string name)
    {
        var value = Field(name, JsonValueKind.Number, "an integer");
        return value.TryGetInt32(out int n) ? n : throw TextLines.Error(at, $"field '{path}{name}' is {value}, expected an integer");
    }

    public bool Bool(string name) => Field(name, JsonValueKind.True, "true or false").GetBoolean();

    public JsonFields Object(string name) => new(Field(name, JsonValueKind.Object, "an object"), at, $"{path}{name}.");

    public IEnumerable<JsonFields> Array(string name)
    {
        var array = Field(name, JsonValueKind.Array, "an array");
        int i = 0;
        foreach (var item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Object) throw TextLines.Error(at, $"'{path}{name}[{i}]' is {item.ValueKind}, expected an object");
            yield return new JsonFields(item, at, $"{path}{name}[{i}].");
            i++;
        }
    }

    /// <summary>A string label that must be one of <paramref name="labels"/>; its index.</summary>
    public int StringLabel(string name, IReadOnlyList<string> labels)
    {
        string value = String(name);
        int index = labels.ToList().IndexOf(value);
        return index >= 0 ? index : throw TextLines.Error(at, $"unknown label '{value}' in '{path}{name}' (expected one of {string.Join(", ", labels)})");
    }

    /// <summary>A 0/1 integer (or true/false) label.</summary>
    public int BinaryLabel(string name)
    {
        if (json.TryGetProperty(name, out var value) && (value.ValueKind is JsonValueKind.True or JsonValueKind.False)) return value.GetBoolean() ? 1 : 0;
        int n = Int(name);
        return n is 0 or 1 ? n : throw TextLines.Error(at, $"unknown label {n} in '{path}{name}' (expected 0 or 1)");
    }

    /// <summary>A label that the unlabelled test split omits: null when absent.</summary>
    public int? OptionalLabel(string name, Func<JsonFields, string, int> read) => Has(name) ? read(this, name) : null;
}
