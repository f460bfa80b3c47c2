using System.Text.Json;
using System.Text.Json.Serialization;

namespace Apt.Training;

/// <summary>The JSON shape of every training record: camelCase, enums as names, NaN allowed (a metric can be undefined).</summary>
public static class TrainingJson
{
    public static readonly JsonSerializerOptions Indented = Create(indented: true);
    public static readonly JsonSerializerOptions Line = Create(indented: false);

    static JsonSerializerOptions Create(bool indented) => new()
    {
        WriteIndented = indented,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter() },
    };
}
