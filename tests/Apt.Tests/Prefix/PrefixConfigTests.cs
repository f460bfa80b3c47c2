using Apt.Prefix;
using static Apt.Tests.Prefix.PrefixTestKit;

namespace Apt.Tests.Prefix;

/// <summary>Configs refuse inconsistent fields with a message naming the field, and survive JSON.</summary>
public sealed class PrefixConfigTests
{
    [Theory]
    [InlineData("apt-without-gates", "granularity")]
    [InlineData("pt2-with-gates", "granularity must be None")]
    [InlineData("negative-length", "prefix_length")]
    [InlineData("lengths-per-layer-count", "layer_lengths has 3 entries but the backbone has 2 layers")]
    [InlineData("zero-layer-length", "every entry of layer_lengths must be ≥ 1")]
    [InlineData("projection-with-lengths", "projection with per-layer lengths")]
    [InlineData("too-long", "prefix config: prefix length 64 + 1 tokens exceed the backbone's")]
    [InlineData("dropout", "dropout")]
    public void InconsistentConfigsAreRefusedWithTheFieldNamed(string case_, string expected)
    {
        var config = case_ switch
        {
            "apt-without-gates" => PrefixConfig.Apt() with { Granularity = GateGranularity.None },
            "pt2-with-gates" => PrefixConfig.PTuningV2() with { Granularity = GateGranularity.Token },
            "negative-length" => PrefixConfig.PTuningV2(-1),
            "lengths-per-layer-count" => PrefixConfig.PTuningV2() with { LayerLengths = [1, 2, 3] },
            "zero-layer-length" => PrefixConfig.PTuningV2() with { LayerLengths = [0, 2] },
            "projection-with-lengths" => PrefixConfig.PTuningV2() with { LayerLengths = [1, 2], Projection = true },
            "too-long" => PrefixConfig.PTuningV2(64),
            _ => PrefixConfig.Apt() with { Dropout = 1.0 },
        };
        var error = Assert.Throws<ArgumentException>(() => PrefixModule.Create(config, TinyConfig));
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void ConfigsRoundTripThroughJsonWithTheirDefaults()
    {
        var config = PrefixConfig.Apt(12) with { GatePooling = GatePooling.First, LayerGate = LayerGateForm.Sigmoid, LayerLengths = [3, 5] };
        string json = config.ToJson();
        Assert.Contains("\"gate_pooling\": \"first\"", json);
        Assert.Contains("\"method\": \"apt\"", json);
        var read = PrefixConfig.FromJson(json, "test.json");
        Assert.Equal(json, read.ToJson());
        Assert.Equal([3, 5], read.LayerLengths!);

        var defaults = PrefixConfig.FromJson("{}", "empty.json");
        Assert.Equal((PrefixMethod.Apt, GateGranularity.Both, 16, false, 512, 0.1, true, GatePooling.Mean, LayerGateForm.Free),
            (defaults.Method, defaults.Granularity, defaults.PrefixLength, defaults.Projection, defaults.ProjectionHidden, defaults.Dropout, defaults.ShiftPositions, defaults.GatePooling, defaults.LayerGate));

        var error = Assert.Throws<InvalidDataException>(() => PrefixConfig.FromJson("{\n \"method\": \"lora\" }", "bad.json"));
        Assert.Contains("bad.json: line 2", error.Message);
    }
}
