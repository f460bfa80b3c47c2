using Apt.Prefix;
using Apt.Runs;
using static Apt.Tests.Prefix.PrefixTestKit;

namespace Apt.Tests.Runs;

/// <summary>The catalogue's entries agree with the configurations they build.</summary>
public sealed class MethodCatalogueTests
{
    [Fact]
    public void EachEntrysFlagsDescribeWhatItBuilds()
    {
        Assert.Equal(MethodCatalogue.Names.Count, MethodCatalogue.Names.Distinct().Count());
        // A probe of TinyConfig's two layers, as PT-2* needs one.
        var probe = new GateProbeResult("APT", 2, [2, 2], 1, [[0.5, 0.5], [0.9, 0.9]], [[0, 0], [0, 0]], [1, 1], [0, 0]);
        foreach (var entry in MethodCatalogue.All)
        {
            var configured = entry.Configure(new MethodInputs(TinyConfig, 2, Projection: false, probe));
            var prefix = configured.Prefix;
            prefix.Validate(TinyConfig);
            Assert.True(entry.Probed == (prefix.HasTokenGate || prefix.HasLayerGate), $"{entry.Name}: Probed");
            Assert.True(entry.NeedsProbe == (prefix.LayerLengths is not null), $"{entry.Name}: NeedsProbe");
            Assert.True(entry.UsesPrefixLength == (prefix.PrefixLength > 0), $"{entry.Name}: UsesPrefixLength");
            Assert.Equal(entry == MethodCatalogue.LowRank, configured.Lora is not null);
            Assert.Same(entry, MethodCatalogue.Get(entry.Name));
        }
    }
}
