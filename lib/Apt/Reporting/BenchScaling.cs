using System.Text.Json;

namespace Apt.Reporting;

/// <summary>
/// One scaling scan of <c>Apt.Bench --json</c> (figure f): the step time and the FLOP model's step GFLOP at
/// each point of an axis (sequence length or prefix length), with the fitted growth exponents.
/// </summary>
public sealed record BenchScaling(string Axis, string XMeaning, double[] X, double[] MeasuredMs, double[] StepGflop, double MeasuredExponent, double FlopExponent)
{
    /// <summary>The scans of a benchmark JSON file; errors name the file and what was expected.</summary>
    public static IReadOnlyList<BenchScaling> Read(string benchJsonPath)
    {
        if (!File.Exists(benchJsonPath)) throw new FileNotFoundException($"{benchJsonPath}: no such benchmark file " +
            $"(write one with Apt.Bench --json <file>)", benchJsonPath);
        try
        {
            using var document = JsonDocument.Parse(InputFile.ReadAllText(benchJsonPath));
            if (!document.RootElement.TryGetProperty("scaling", out var scans) || scans.ValueKind != JsonValueKind.Array)
                throw new InvalidDataException($"{benchJsonPath}: expected an Apt.Bench --json file with a " +
                    $"\"scaling\" array");
            return [.. scans.EnumerateArray().Select((scan, i) => Scan(scan, $"{benchJsonPath}: scaling[{i}]"))];
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{benchJsonPath}: line {e.LineNumber + 1}: not valid JSON ({e.Message})", e);
        }
    }

    static BenchScaling Scan(JsonElement scan, string where)
    {
        JsonElement Field(JsonElement element, string name) =>
            element.TryGetProperty(name, out var value) ? value : throw new InvalidDataException($"{where}: expected a \"{name}\" field");
        var points = Field(scan, "points").EnumerateArray().ToList();
        double[] x = [.. Field(scan, "x").EnumerateArray().Select(v => v.GetDouble())];
        if (points.Count < 2 || x.Length != points.Count)
            throw new InvalidDataException($"{where}: expected at least 2 points and one x per point (got {points.Count} points, {x.Length} x values)");
        return new BenchScaling(Field(scan, "axis").GetString()!, Field(scan, "xMeaning").GetString()!, x,
            [.. points.Select(p => Field(p, "medianMs").GetDouble())], [.. points.Select(p => Field(p, "stepGflop").GetDouble())],
            Field(scan, "measuredExponent").GetDouble(), Field(scan, "flopExponent").GetDouble());
    }
}
