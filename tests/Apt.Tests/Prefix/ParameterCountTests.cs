using Apt.Prefix;
using static Apt.Tests.Prefix.PrefixTestKit;

namespace Apt.Tests.Prefix;

/// <summary>Trainable-parameter counts on MiniLM (L=6, d=384) against design.md §2's formulas.</summary>
public sealed class ParameterCountTests
{
    const int L = 6, d = 384, l = 16;

    static long Count(PrefixModule module, string namePrefix) =>
        module.TrainableParameters().Where(p => p.Name.StartsWith(namePrefix, StringComparison.Ordinal)).Sum(p => p.Parameter.numel());

    [Fact]
    public void MiniLmCountsAtPrefixLength16EqualTheFormulas()
    {
        var config = MiniLm.Config;
        Assert.Equal((L, d), (config.NumLayers, config.HiddenSize));

        using var pt2 = PrefixModule.Create(PrefixConfig.PTuningV2(l), config)!;
        Assert.Equal(2 * L * l * d, Count(pt2, "")); // PT-2: 2·L·l·d
        Assert.Equal(73_728, Count(pt2, ""));

        using var apt = PrefixModule.Create(PrefixConfig.Apt(l), config)!;
        Assert.Equal(2 * L * l * d, Count(apt, "prefix_encoder"));
        long gates = Count(apt, "token_gates") + Count(apt, "layer_gate");
        Assert.Equal(L * (d * l + l + 1), gates); // APT gates: L·(d·l + l + 1)
        Assert.Equal(36_966, gates);

        using var token = PrefixModule.Create(PrefixConfig.Ablation(GateGranularity.Token, l), config)!;
        Assert.Equal(L * (d * l + l), Count(token, "token_gates") + Count(token, "layer_gate"));
        using var layer = PrefixModule.Create(PrefixConfig.Ablation(GateGranularity.Layer, l), config)!;
        Assert.Equal(L, Count(layer, "token_gates") + Count(layer, "layer_gate"));

        const int r = 512;
        using var projected = PrefixModule.Create(PrefixConfig.PTuningV2(l) with { Projection = true }, config)!;
        Assert.Equal(l * d + (d * r + r) + (r * L * 2 * d + L * 2 * d), Count(projected, "")); // Embedding(l,d) → Linear(d,r) → Linear(r,2Ld)

        var report = ParameterReport.For("APT", PrefixConfig.Apt(l), config, headParameters: d * 2 + 2);
        Assert.Equal((73_728L, 36_966L, 770L, 0L), (report.Prefix, report.Gates, report.Head, report.BackboneTrainable));
        Assert.Equal(73_728 + 36_966 + 770, report.Trainable);
        long backbone = MiniLm.Model.parameters().Sum(p => p.numel());
        Assert.Equal(backbone, report.Backbone);
        Assert.Equal(22_713_216, backbone);
        Assert.Equal((73_728 + 36_966 + 770) / (double)backbone, report.ShareOfBackbone, 12);
        var ft = ParameterReport.For("FT", PrefixConfig.FineTune(), config, headParameters: 770);
        Assert.Equal((0L, 0L, backbone), (ft.Prefix, ft.Gates, ft.BackboneTrainable));
        Assert.Null(PrefixModule.Create(PrefixConfig.FineTune(), config));
    }

    [Theory]
    [InlineData("pt2", false)]
    [InlineData("apt", false)]
    [InlineData("token", false)]
    [InlineData("layer", false)]
    [InlineData("pt2plus", false)]
    [InlineData("apt", true)]
    public void TheReportCountsWhatTheModuleCreates(string method, bool projection)
    {
        var config = Configure(method, MiniLm.Config, l, projection);
        using var module = PrefixModule.Create(config, MiniLm.Config)!;
        var report = ParameterReport.For(method, config, MiniLm.Config, headParameters: 0);
        Assert.Equal(Count(module, "prefix_encoder"), report.Prefix);
        Assert.Equal(Count(module, "token_gates") + Count(module, "layer_gate"), report.Gates);
    }

    [Fact]
    public void PTuningV2PlusIsTheShortestPrefixWithAtLeastAptsParameters()
    {
        int length = PrefixConfig.EnlargedLength(MiniLm.Config, PrefixConfig.Apt(l));
        long apt = 2 * L * l * d + L * (d * l + l + 1); // 110,694
        Assert.Equal(25, length);
        Assert.True(2L * L * length * d >= apt);
        Assert.True(2L * L * (length - 1) * d < apt);
        Assert.Equal(25, PrefixConfig.PTuningV2Plus(MiniLm.Config, l).PrefixLength);
    }

    [Fact]
    public void WithProjectionTheSearchsClosedFormAgreesWithTheModules()
    {
        static long Trained(PrefixConfig config)
        {
            using var module = PrefixModule.Create(config, MiniLm.Config)!;
            return module.PrefixParameterCount + module.GateParameterCount;
        }
        var apt = PrefixConfig.Apt(l) with { Projection = true };
        int length = PrefixConfig.EnlargedLength(MiniLm.Config, apt);
        var plus = PrefixConfig.PTuningV2(length) with { Projection = true };
        Assert.True(Trained(plus) >= Trained(apt), $"PT-2+ at {length} trains fewer parameters than APT");
        Assert.True(Trained(plus with { PrefixLength = length - 1 }) < Trained(apt), $"PT-2+ at {length - 1} already reaches APT");
    }
}
