using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Apt.Backbone;
using static TorchSharp.torch;

namespace Apt.Prefix;

/// <summary>
/// What the gates did over a data set: per layer and prefix token the mean and standard deviation of
/// α over examples, and per layer those of λ. Sample standard deviations (n − 1; 0 for one example).
/// Rows of <see cref="AlphaMean"/> and <see cref="AlphaStd"/> have the layer's prefix length.
/// </summary>
/// <param name="Method">The gates probed: APT (both), PT-2 (none), else the granularity's name (token, layer).</param>
/// <param name="Layers">L.</param>
/// <param name="Tokens">Prefix length per layer.</param>
/// <param name="Examples">Examples probed.</param>
/// <param name="AlphaMean">[layer][token] mean α.</param>
/// <param name="AlphaStd">[layer][token] standard deviation of α.</param>
/// <param name="LambdaMean">[layer] mean λ.</param>
/// <param name="LambdaStd">[layer] standard deviation of λ (0 unless λ depends on the example, which it does not in APT).</param>
public sealed record GateProbeResult(
    [property: JsonPropertyName("method")] string Method,
    [property: JsonPropertyName("layers")] int Layers,
    [property: JsonPropertyName("tokens")] int[] Tokens,
    [property: JsonPropertyName("examples")] long Examples,
    [property: JsonPropertyName("alpha_mean")] double[][] AlphaMean,
    [property: JsonPropertyName("alpha_std")] double[][] AlphaStd,
    [property: JsonPropertyName("lambda_mean")] double[] LambdaMean,
    [property: JsonPropertyName("lambda_std")] double[] LambdaStd)
{
    /// <summary>|λ̄_i|·mean_j(ᾱ_ij) per layer: how much prefix each layer lets through (PT-2*'s weights).</summary>
    [JsonIgnore]
    public double[] LayerWeights => [.. Enumerable.Range(0, Layers).Select(i => Math.Abs(LambdaMean[i]) * (AlphaMean[i].Length == 0 ? 0 : AlphaMean[i].Average()))];

    static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    /// <summary>Writes the result as JSON (atomic).</summary>
    public void SaveJson(string path) => AtomicFile.WriteAllText(path, JsonSerializer.Serialize(this, Json));

    /// <summary>
    /// Writes one row per layer and prefix token (atomic), long format for charts:
    /// <c>layer,token,alpha_mean,alpha_std,lambda_mean,lambda_std,examples</c>.
    /// </summary>
    public void SaveCsv(string path)
    {
        var text = new StringBuilder("layer,token,alpha_mean,alpha_std,lambda_mean,lambda_std,examples\n");
        for (int i = 0; i < Layers; i++)
            for (int j = 0; j < Tokens[i]; j++)
                text.Append(CultureInfo.InvariantCulture, $"{i},{j},{AlphaMean[i][j]:R},{AlphaStd[i][j]:R},{LambdaMean[i]:R},{LambdaStd[i]:R},{Examples}\n");
        AtomicFile.WriteAllText(path, text.ToString());
    }

    /// <summary>Reads a result written by <see cref="SaveJson"/>; errors name the file and line.</summary>
    public static GateProbeResult Load(string path)
    {
        GateProbeResult? result;
        try { result = JsonSerializer.Deserialize<GateProbeResult>(InputFile.ReadAllText(path), Json); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: line {e.LineNumber + 1}: not a gate probe: {e.Message}", e); }
        if (result is null || result.Tokens is null || result.AlphaMean is null || result.AlphaStd is null || result.LambdaMean is null || result.LambdaStd is null)
            throw new InvalidDataException($"{path}: a gate probe needs method, layers, tokens, examples, alpha_mean, alpha_std, lambda_mean and lambda_std");
        if (result.Tokens.Length != result.Layers || result.AlphaMean.Length != result.Layers || result.LambdaMean.Length != result.Layers)
            throw new InvalidDataException($"{path}: tokens, alpha_mean and lambda_mean must have one entry per layer ({result.Layers})");
        return result;
    }
}

/// <summary>Runs a trained prefix model over data without building a graph and records its gates.</summary>
public static class GateProbe
{
    /// <summary>
    /// Records α (layers × prefix tokens) and λ (layers) for every example of <paramref name="batches"/>
    /// (eval mode, no_grad; the modules' training modes are restored afterwards).
    /// </summary>
    public static GateProbeResult Run(BertModel backbone, PrefixModule prefix, IEnumerable<TokenBatch> batches)
    {
        int layers = prefix.BackboneConfig.NumLayers;
        int[] tokens = [.. Enumerable.Range(0, layers).Select(prefix.Config.LengthOf)];
        var alphaSum = tokens.Select(t => new double[t]).ToArray();
        var alphaSquares = tokens.Select(t => new double[t]).ToArray();
        var lambdaSum = new double[layers];
        var lambdaSquares = new double[layers];
        long examples = 0;

        void Observe(int layer, Tensor alpha, Tensor lambda)
        {
            using var cpu = alpha.cpu().to_type(ScalarType.Float64); // (B, l)
            double[] values = cpu.data<double>().ToArray();
            int length = tokens[layer];
            long batch = alpha.shape[0];
            for (long b = 0; b < batch; b++)
                for (int j = 0; j < length; j++)
                {
                    double a = values[b * length + j];
                    alphaSum[layer][j] += a;
                    alphaSquares[layer][j] += a * a;
                }
            double l = lambda.cpu().to_type(ScalarType.Float64).item<double>();
            lambdaSum[layer] += batch * l;
            lambdaSquares[layer] += batch * l * l;
        }

        bool backboneTraining = backbone.training, prefixTraining = prefix.training;
        backbone.eval();
        prefix.eval();
        prefix.GateObserver = Observe;
        try
        {
            using var noGrad = no_grad();
            foreach (var batch in batches)
            {
                using var scope = NewDisposeScope();
                backbone.Forward(batch.Ids, batch.TypeIds, batch.AttentionMask, prefix, firstTokenOnly: true); // only the gates are read, each from its layer's input: the last layer's output is not
                examples += batch.Size;
            }
        }
        finally
        {
            prefix.GateObserver = null;
            backbone.train(backboneTraining);
            prefix.train(prefixTraining);
        }
        if (examples == 0) throw new ArgumentException("the gate probe got no examples", nameof(batches));

        double Mean(double sum) => sum / examples;
        double Std(double sum, double squares) =>
            examples < 2 ? 0 : Math.Sqrt(Math.Max(0, (squares - sum * sum / examples) / (examples - 1)));
        return new GateProbeResult(
            GatesLabel(prefix.Config.Granularity), layers, tokens, examples,
            [.. alphaSum.Select(row => row.Select(Mean).ToArray())],
            [.. alphaSum.Select((row, i) => row.Select((s, j) => Std(s, alphaSquares[i][j])).ToArray())],
            [.. lambdaSum.Select(Mean)],
            [.. lambdaSum.Select((s, i) => Std(s, lambdaSquares[i]))]);
    }

    /// <summary>The gates a probe read, as its "method" field names them.</summary>
    static string GatesLabel(GateGranularity gates) => gates switch
    {
        GateGranularity.Both => "APT",
        GateGranularity.None => "PT-2",
        _ => gates.ToString().ToLowerInvariant(), // token, layer
    };
}
