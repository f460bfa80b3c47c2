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

    /// <summary>How run-folder records are parsed: a key given twice is an error (which of the two
    /// would count?).</summary>
    public static readonly JsonDocumentOptions Records = new() { AllowDuplicateProperties = false };

    /// <summary>
    /// A JSON error's reason without System.Text.Json's position suffix (the caller names the line), on one line and
    /// short: the reason may quote the damaged text itself.
    /// </summary>
    public static string Reason(JsonException e)
    {
        string reason = e.Message.Split(" Path:")[0].Split(" LineNumber")[0].TrimEnd('.', ' ',
            '|').ReplaceLineEndings(" ");
        return reason.Length <= MaxReason ? reason : reason[..MaxReason] + "…";
    }

    const int MaxReason = 200;
}
