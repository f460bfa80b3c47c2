using System.Globalization;

namespace Apt.Backbone;

/// <summary>
/// The C++ runtime versions (GLIBCXX_*, CXXABI_*) that the native libraries beside libLibTorchSharp ask of libstdc++
/// beyond what Debian 12's provides. A TorchSharp upgrade that raises one of them would fail to load there with only
/// the loader's message, so <c>aptnb doctor</c> lists them and says which the system lacks.
/// </summary>
public static class CxxRuntimeNeeds
{
    /// <summary>The newest of each version family that Debian 12's libstdc++ (GCC 12) defines.</summary>
    public static readonly IReadOnlyDictionary<string, Version> Debian12 = new Dictionary<string, Version>
    {
        ["GLIBCXX"] = new(3, 4, 30),
        ["CXXABI"] = new(1, 3, 13),
    };

    /// <summary>Debian 12's newest versions as one line: "GLIBCXX_3.4.30, CXXABI_1.3.13".</summary>
    public static string Debian12Text => string.Join(", ", Debian12.Select(v => $"{v.Key}_{v.Value}"));

    /// <summary>A version that <paramref name="Library"/> asks for; weak ones do not stop the load.</summary>
    public sealed record Need(string Library, string Version, bool Weak);

    /// <summary>
    /// The requirements of every shared library in <paramref name="nativeFolder"/> on a C++ runtime version newer than
    /// Debian 12's, sorted by library; files that are not ELF are passed over.
    /// </summary>
    public static IReadOnlyList<Need> BeyondDebian12(string nativeFolder) =>
    [
        .. Directory.EnumerateFiles(nativeFolder, "*.so*").Order(StringComparer.Ordinal).SelectMany(library =>
        {
            try
            {
                return ElfVersionNeed.Requirements(library).Where(r => IsBeyondDebian12(r.Version))
                    .Select(r => new Need(Path.GetFileName(library), r.Version, r.Weak));
            }
            catch (InvalidDataException)
            {
                return [];
            }
        }),
    ];

    /// <summary>
    /// Whether a version name (GLIBCXX_3.4.32) is newer than Debian 12's of its family; other families and names
    /// without a numeric version (CXXABI_TM_1, which Debian 12 has) are not.
    /// </summary>
    public static bool IsBeyondDebian12(string version)
    {
        int underscore = version.IndexOf('_');
        return underscore > 0
            && Debian12.TryGetValue(version[..underscore], out var newest)
            && Version.TryParse(version[(underscore + 1)..], out var asked)
            && asked > newest;
    }

    /// <summary>
    /// Doctor's line: the needs beyond Debian 12, each with its library and whether it is weak or the system's
    /// libstdc++ (<paramref name="systemLibStdCxx"/>, null when none was found) defines it; healthy when every need is
    /// one or the other.
    /// </summary>
    public static Finding Examine(string nativeFolder, string? systemLibStdCxx)
    {
        var needs = BeyondDebian12(nativeFolder);
        bool Met(Need need) =>
            need.Weak || systemLibStdCxx is not null && ElfVersionNeed.Defines(systemLibStdCxx, need.Version);
        string listed = needs.Count == 0
            ? "none"
            : string.Join("; ", needs.Select(n => string.Create(CultureInfo.InvariantCulture,
                $"{n.Version} ({n.Library}, " +
                    $"{(n.Weak ? "weak" : Met(n) ? "the system has it" : "the system lacks it")})")));
        var unmet = needs.Where(n => !Met(n)).Select(n => n.Version).Distinct().ToList();
        return new Finding("C++ runtime", $"beyond Debian 12's {Debian12Text}: {listed}", unmet.Count == 0,
            $"libtorch will not load while the system's libstdc++ lacks {string.Join(", ", unmet)}: install a " +
                $"newer libstdc++6, " +
            "or mark the requirement weak as build/LibTorchSharp.targets does for GLIBCXX_3.4.32 (only safe " +
                "when no symbol " +
            "the libraries call stands behind it)");
    }
}
