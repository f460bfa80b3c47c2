using System.Globalization;
using Apt.Backbone;
using Spectre.Console;

namespace Apt.Cli;

/// <summary>
/// Range checks of command-line options, run by Spectre before a command starts (nothing is loaded yet): the first
/// failing check becomes the one-line "error: …" of <see cref="CliErrors"/>, exit code 2.
/// </summary>
static class SettingRanges
{
    /// <summary>The first error among <paramref name="checks"/> (null is a pass), or success.</summary>
    public static ValidationResult First(params string?[] checks) =>
        checks.FirstOrDefault(c => c is not null) is { } error ? ValidationResult.Error(error) : ValidationResult.Success();

    public static string? AtLeast(string option, int value, int minimum) =>
        value >= minimum ? null : $"{option} {value} is out of range (expected at least {minimum})";

    public static string? AtLeast(string option, int? value, int minimum) => value is int n ? AtLeast(option, n, minimum) : null;

    public static string? Positive(string option, double value) =>
        value > 0 && double.IsFinite(value) ? null : $"{option} {Show(value)} is out of range (expected a positive, finite number)";

    public static string? NonNegative(string option, double value) =>
        value >= 0 && double.IsFinite(value) ? null : $"{option} {Show(value)} is out of range (expected 0 or a positive, finite number)";

    /// <summary>A probability or ratio in [0, 1).</summary>
    public static string? Fraction(string option, double value) =>
        value is >= 0 and < 1 ? null : $"{option} {Show(value)} is out of range (expected at least 0 and below 1)";

    public static string? OneOf(string option, string value, IReadOnlyList<string> known, StringComparison comparison = StringComparison.Ordinal) =>
        known.Any(k => string.Equals(k, value, comparison)) ? null : $"unknown {option[2..]} '{value}' (expected one of {string.Join(", ", known)})";

    /// <summary>An embedded backbone's key or an existing folder (whose files are checked when it loads).</summary>
    public static string? Backbone(string option, string value) =>
        EmbeddedBackbones.Find(value) is not null || Directory.Exists(value) ? null
            : $"{option} '{value}' is neither an embedded backbone ({string.Join(", ", EmbeddedBackbones.All.Select(b => b.Key))}) nor a model folder";

    static string Show(double value) => value.ToString(CultureInfo.InvariantCulture);
}
