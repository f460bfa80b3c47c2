using Apt.Plotting;

namespace Apt.Reporting;

/// <summary>One line of a loss plot: the loss recorded at each optimiser step.</summary>
/// <param name="Name">Legend entry, e.g. "PT-2" or "APT seed 1".</param>
/// <param name="Steps">Optimiser steps, increasing.</param>
/// <param name="Losses">Loss at each step (same length as <paramref name="Steps"/>).</param>
public sealed record LossSeries(string Name, IReadOnlyList<int> Steps, IReadOnlyList<double> Losses);

/// <summary>One bar of an ablation chart: a metric's mean over seeds and its standard deviation (the error bar; null:
/// one run).</summary>
public sealed record MeanStd(string Category, double Mean, double? Std);

/// <summary>
/// The kit's charts. Each checks its input, describes the chart as a <see cref="FigureSpec"/> and returns a <see cref="Chart"/>
/// that a notebook displays and that saves as HTML or PNG.
/// </summary>
public static class Charts
{
    /// <summary>Loss against optimiser step, one line per series (training runs, methods, seeds).</summary>
    public static Chart LossCurves(IReadOnlyList<LossSeries> series, string title = "Training loss")
    {
        if (series.Count == 0) throw new ArgumentException("LossCurves needs at least one series.", nameof(series));
        foreach (var s in series)
            if (s.Steps.Count != s.Losses.Count)
                throw new ArgumentException($"Series '{s.Name}': {s.Steps.Count} steps but {s.Losses.Count} losses.", nameof(series));
        return new Chart(new FigureSpec(title, XTitle: "step", YTitle: "loss",
            [.. series.Select(s => new LineTrace(s.Name, [.. s.Steps.Select(step => (double)step)], [.. s.Losses]))]));
    }

    /// <summary>
    /// Dev score over epochs, one line per method (the mean over the seeds that reached each epoch): where the lines
    /// flatten, training has converged; a line still rising at its end has not.
    /// </summary>
    public static Chart DevCurves(IReadOnlyList<(string Method, double[] Epochs, double[] Scores)> curves, string metric, string title)
    {
        if (curves.Count == 0) throw new ArgumentException("DevCurves needs at least one curve.", nameof(curves));
        return new Chart(new FigureSpec(title, XTitle: "epoch", YTitle: metric, [.. curves.Select(c => new LineTrace(c.Method, c.Epochs, c.Scores))]));
    }

    /// <summary>
    /// Ablation bars: one bar per category at its mean, with ± one standard deviation as the error bar, labelled as the
    /// results table writes a cell (<see cref="ResultCell.MeanStdText"/>).
    /// </summary>
    public static Chart MeanStdBars(IReadOnlyList<MeanStd> bars, string metric, string title)
    {
        if (bars.Count == 0) throw new ArgumentException("MeanStdBars needs at least one bar.", nameof(bars));
        var column = new BarTrace(metric, [.. bars.Select(b => b.Category)], [.. bars.Select(b => b.Mean)],
            ErrorHalfWidths: [.. bars.Select(b => b.Std ?? 0)],
            Texts: [.. bars.Select(b => ResultCell.MeanStdText(b.Mean, b.Std))]);
        return new Chart(new FigureSpec(title, XTitle: "", YTitle: metric, [column]));
    }

    /// <summary>
    /// A heatmap of a matrix, e.g. the token-level gate α with rows = layers and columns = prefix tokens.
    /// Row 0 is drawn at the bottom, as layer 1 sits at the bottom of a Transformer.
    /// </summary>
    public static Chart Heatmap(double[,] values, IReadOnlyList<string> rowLabels, IReadOnlyList<string> columnLabels,
        string title, string rowTitle, string columnTitle, (double Min, double Max)? range = null)
    {
        int rows = values.GetLength(0), columns = values.GetLength(1);
        if (rowLabels.Count != rows || columnLabels.Count != columns)
            throw new ArgumentException($"Heatmap of {rows}×{columns} values needs {rows} row labels and {columns} column labels, got {rowLabels.Count} and {columnLabels.Count}.");
        double[][] z = [.. Enumerable.Range(0, rows).Select(r => Enumerable.Range(0, columns).Select(c => values[r, c]).ToArray())];
        var heatmap = new HeatmapTrace("", z, [.. columnLabels], [.. rowLabels], range?.Min, range?.Max);
        return new Chart(new FigureSpec(title, XTitle: columnTitle, YTitle: rowTitle, [heatmap]));
    }

    /// <summary>APT's token gate probe: α averaged over a data set, layers × prefix tokens, on the fixed scale [0, 1].</summary>
    public static Chart GateHeatmap(double[,] alpha, string title = "Token gate α (layer × prefix token)") =>
        Heatmap(alpha,
            [.. Enumerable.Range(1, alpha.GetLength(0)).Select(i => $"layer {i}")],
            [.. Enumerable.Range(1, alpha.GetLength(1)).Select(j => $"p{j}")],
            title, rowTitle: "layer", columnTitle: "prefix token", range: (0, 1));

    /// <summary>
    /// One run's token gate α with each layer's tokens sorted from the most open (<see cref="ProbeAcrossSeeds.SortedAlpha"/>):
    /// columns are ranks, since a prefix token's index means nothing outside its run.
    /// </summary>
    public static Chart SortedGateHeatmap(double[,] sortedAlpha, string title) =>
        Heatmap(sortedAlpha,
            [.. Enumerable.Range(1, sortedAlpha.GetLength(0)).Select(i => $"layer {i}")],
            [.. Enumerable.Range(1, sortedAlpha.GetLength(1)).Select(j => $"#{j}")],
            title, rowTitle: "layer", columnTitle: "prefix tokens, most open gate first", range: (0, 1));

    /// <summary>Pairwise cosine similarities of texts (e.g. <c>SentenceEmbeddings.Similarities</c>), labelled by the texts, shortened.</summary>
    public static Chart SimilarityMatrix(IReadOnlyList<string> texts, float[,] similarities, string title = "Cosine similarity of sentence embeddings")
    {
        var values = new double[similarities.GetLength(0), similarities.GetLength(1)];
        for (int i = 0; i < values.GetLength(0); i++) for (int j = 0; j < values.GetLength(1); j++) values[i, j] = similarities[i, j];
        string[] labels = [.. texts.Select(t => t.Length <= 28 ? t : t[..27] + "…")];
        return Heatmap(values, labels, labels, title, rowTitle: "", columnTitle: "");
    }

    /// <summary>
    /// A benchmark scan: measured step time over x, beside the time the FLOP model predicts from the first point
    /// (time ∝ FLOPs): where the two lines part, the step grows faster than its arithmetic.
    /// </summary>
    public static Chart Scaling(BenchScaling scan)
    {
        double msPerGflop = scan.MeasuredMs[0] / scan.StepGflop[0];
        return new Chart(new FigureSpec($"Step time over {scan.Axis} (time exponent {scan.MeasuredExponent:F2}, FLOP model {scan.FlopExponent:F2})",
            XTitle: scan.XMeaning, YTitle: "step time, ms",
            [new LineTrace("measured", scan.X, scan.MeasuredMs), new LineTrace("∝ FLOPs (from the first point)", scan.X, [.. scan.StepGflop.Select(g => g * msPerGflop)])]));
    }

    /// <summary>APT's layer gate probe: λ per layer as bars, with optional spread over examples or seeds.</summary>
    public static Chart LayerBars(IReadOnlyList<double> values, string valueTitle = "λ", string title = "Layer gate λ per layer",
        IReadOnlyList<double>? spread = null)
    {
        if (spread is not null && spread.Count != values.Count)
            throw new ArgumentException($"LayerBars: {values.Count} values but {spread.Count} spreads.", nameof(spread));
        var column = new BarTrace(valueTitle, [.. values.Select((_, i) => $"layer {i + 1}")], [.. values], ErrorHalfWidths: spread?.ToArray());
        return new Chart(new FigureSpec(title, XTitle: "layer", YTitle: valueTitle, [column]));
    }
}
