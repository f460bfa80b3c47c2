using System.Diagnostics;
using System.Text.Json;
using Apt.Backbone;
using Apt.Prefix;
using Apt.Runs;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace Apt.Bench;

/// <summary>Runs every figure of the performance benchmark on the embedded MiniLM in one process (plus its children).</summary>
public static class Benchmarks
{
    const string BackboneName = "minilm";

    /// <summary>Runs the benchmark; <paramref name="progress"/> hears which figure is being taken.</summary>
    public static BenchReport Run(BenchSettings settings, Action<string>? progress = null)
    {
        var wall = Stopwatch.StartNew();
        double loadStart = Measure.LoadAverage();
        TorchRuntime.EnsureLoaded();
        using var backbone = PretrainedBackbone.Load(BackboneName);
        var config = backbone.Config;
        int b = settings.Batch, t = settings.Length, l = settings.PrefixLength;
        var peer = PyTorchPeer.Find(config, out string? peerSkipped);
        progress?.Invoke(peer is null ? $"PyTorch peer skipped: {peerSkipped}" : $"PyTorch peer: {peer.Description}");

        progress?.Invoke("(a, b) APT and PT-2 steps, APT for a first-token head, and the fp32 matmul peak, alternated");
        StepFigure apt, pt2, aptFirstToken;
        List<MatmulFigure> matmul;
        using (var shapes = new MatmulShapes(settings, config))
        using (var aptStep = new TrainingWorkload(backbone.Model, MethodCatalogue.Apt, l, b, t))
        using (var pt2Step = new TrainingWorkload(backbone.Model, MethodCatalogue.PTuningV2, l, b, t))
        using (var aptFirstTokenStep = new TrainingWorkload(backbone.Model, MethodCatalogue.Apt, l, b, t, firstTokenOnly: true))
        {
            // The peak is taken in the same rounds as the steps it divides: a change in the shared machine's load
            // then moves numerator and denominator alike.
            double load = Measure.LoadAverage();
            var ms = Measure.AlternatingMedianMs([() => aptStep.Step(), () => pt2Step.Step(), () => aptFirstTokenStep.Step(), .. shapes.Actions], settings.Repeats, settings.Warmup);
            apt = StepFigureOf(aptStep, ms[0], load);
            pt2 = StepFigureOf(pt2Step, ms[1], load);
            aptFirstToken = StepFigureOf(aptFirstTokenStep, ms[2], load);
            matmul = shapes.Figures(ms[3..], load);
        }

        progress?.Invoke(peer is null ? "(c) APT, PT-2 and FT steps in child processes" : "(c, g) APT, PT-2 and FT steps in child processes, each beside the PyTorch peer's");
        var peerSteps = new List<PeerStepFigure>();
        ChildStepFigure StepBesidePeer(string method)
        {
            var kit = RunChildStep(method, config, settings);
            if (peer is not null) peerSteps.Add(PeerStep(peer, kit, settings));
            return kit;
        }
        var aptChild = StepBesidePeer(MethodCatalogue.Apt.Name);
        var pt2Child = StepBesidePeer(MethodCatalogue.PTuningV2.Name);
        var ftChild = StepBesidePeer(MethodCatalogue.FineTune.Name);
        var aptReferenceChild = RunChildStep(MethodCatalogue.Apt.Name, config, settings, referenceKernels: true);

        progress?.Invoke(peer is null ? "(d) evaluation forward against ONNX Runtime" : "(d, g) evaluation forward against ONNX Runtime and the PyTorch peer");
        var eval = new List<EvalFigure> { EvalVersusOnnxRuntime(settings.Batch, t, settings, peer), EvalVersusOnnxRuntime(1, t, settings, peer) };

        progress?.Invoke("(e) memory growth in a child process");
        var memory = RunChildMemory(settings);

        progress?.Invoke("(f) scaling over sequence and prefix lengths");
        var scaling = new List<ScalingFigure>
        {
            Scan(backbone.Model, "sequence length", [.. settings.ScanLengths.Select(length => (length, l))], settings),
            Scan(backbone.Model, "prefix length", [.. settings.ScanPrefixes.Select(prefix => (t, prefix))], settings),
        };

        return new BenchReport(settings, backbone.Identity.Name, torch.get_num_threads(), Environment.ProcessorCount, TorchRuntime.LibTorchVersion,
            matmul, apt, pt2, aptFirstToken, aptChild, pt2Child, ftChild, aptReferenceChild, eval, memory, scaling,
            new PeerReport(peer?.Description, peerSkipped, peer?.Threads, peerSteps),
            loadStart, Measure.LoadAverage(), wall.Elapsed.TotalSeconds);
    }

    /// <summary>The fp32 matmul peak alone (GFLOP/s): the highest of <see cref="MatmulShapes"/>, alternated.</summary>
    public static double MatmulPeak(BenchSettings settings, BertConfig config)
    {
        using var shapes = new MatmulShapes(settings, config);
        double load = Measure.LoadAverage();
        return shapes.Figures(Measure.AlternatingMedianMs([.. shapes.Actions], settings.Repeats, settings.Warmup),
            load).Max(m => m.Gflops);
    }

    static StepFigure StepFigureOf(TrainingWorkload w, double ms, double load) =>
        new(w.FirstTokenOnly ? $"{w.Label}, first token only" : w.Label, w.BatchSize, w.Length, w.Method.MaxLength, ms, w.BatchSize * w.Length / (ms / 1000), w.StepFlops / 1e9, w.StepFlops / 1e9 / (ms / 1000), load);

    /// <summary>
    /// The fp32 matmul rate: a square matmul of <see cref="BenchSettings.MatmulSize"/>, and the three linear
    /// shapes of MiniLM at the main batch (tokens × d → d, d → d_ff, d_ff → d), as actions for an alternation.
    /// The peak is the highest.
    /// </summary>
    sealed class MatmulShapes : IDisposable
    {
        readonly List<(string Shape, double Flops, torch.Tensor Input, torch.Tensor Weight, bool Linear)> _shapes = [];

        public MatmulShapes(BenchSettings settings, BertConfig config)
        {
            int n = settings.MatmulSize, tokens = settings.Batch * settings.Length, d = config.HiddenSize, ff = config.IntermediateSize;
            Add($"{n}³", n, n, n, linear: false);
            Add($"linear {tokens}×{d} → {d}", tokens, d, d, linear: true);
            Add($"linear {tokens}×{d} → {ff}", tokens, d, ff, linear: true);
            Add($"linear {tokens}×{ff} → {d}", tokens, ff, d, linear: true);
        }

        void Add(string shape, long m, long k, long nOut, bool linear) =>
            _shapes.Add((shape, 2.0 * m * k * nOut, randn(m, k), linear ? randn(nOut, k) : randn(k, nOut), linear));

        public IEnumerable<Action> Actions => _shapes.Select(s => (Action)(() =>
        {
            using var noGrad = no_grad();
            using var y = s.Linear ? nn.functional.linear(s.Input, s.Weight) : s.Input.matmul(s.Weight);
        }));

        /// <summary>The figures from the shapes' median times, in the order of <see cref="Actions"/>.</summary>
        public List<MatmulFigure> Figures(double[] medianMs, double load) =>
            [.. _shapes.Select((s, i) => new MatmulFigure(s.Shape, medianMs[i], s.Flops / 1e9 / (medianMs[i] / 1000), load))];

        public void Dispose()
        {
            foreach (var s in _shapes)
            {
                s.Input.Dispose();
                s.Weight.Dispose();
            }
        }
    }

    /// <summary>
    /// The frozen backbone's evaluation forward (eval mode, inference mode, pooled output included) against
    /// ONNX Runtime on the same model.onnx and inputs, with as many intra-op threads as torch has, in alternating
    /// blocks. Each side runs in a fresh child process of its own, as alike as the two can be: ONNX Runtime's idle
    /// workers spin after each run (in one process they slowed our next forward, batch 1 × 128: 27–29 ms alone,
    /// 43 ms alternating), and this process's own state after the training figures (its heap, the .NET thread
    /// pool's workers) is not what a process that only evaluates has. The PyTorch peer, where there is one, takes its
    /// blocks in the same rounds.
    /// </summary>
    static EvalFigure EvalVersusOnnxRuntime(int batch, int length, BenchSettings settings, PyTorchPeer? peer)
    {
        // Batch 1 runs are short: more of them for a steady median.
        int perBlock = batch == 1 ? settings.Repeats * 3 : Math.Max(1, settings.Repeats / 2);
        double load = Measure.LoadAverage();
        ChildRequest Request(string kind, int count) => new(kind, "", batch, length, 0, settings.Warmup, count, 0, 0);
        Func<int, IEnumerable<double>> Block(string kind, Func<ChildRequest, ChildResult> run) => count =>
            run(Request(kind, count)).Times ?? throw new InvalidOperationException($"bench child {kind} returned no times");
        List<Func<int, IEnumerable<double>>> blocks = [Block("eval", r => RunChild(r)), Block("onnx", r => RunChild(r))];
        if (peer is not null) blocks.Add(Block("eval", peer.Run));
        var ms = Measure.BlockAlternatingMedianMs(blocks, rounds: 3, perBlock);
        double? peerMs = peer is null ? null : ms[2];
        return new EvalFigure(batch, length, ms[0], ms[1], ms[0] / ms[1], load, peerMs, ms[0] / peerMs);
    }

    /// <summary>The child's side of <see cref="EvalVersusOnnxRuntime"/> for this kit: the backbone's forward, warmed up, then timed runs.</summary>
    static ChildResult EvalBlock(ChildRequest request, BertModel model)
    {
        using var input = new SyntheticBatch(model.Config, request.Batch, request.Length, OnnxInputSeed);
        model.eval();
        void Forward()
        {
            using var scope = NewDisposeScope();
            using var inference = inference_mode();
            var output = model.Forward(input.Ids, input.TypeIds, input.AttentionMask);
            _ = output.Pooled?.data<float>()[0];
        }
        return TimedRuns(Forward, request);
    }

    static ChildResult TimedRuns(Action run, ChildRequest request)
    {
        for (int i = 0; i < request.Warmup; i++) run();
        double[] times = [.. Measure.TimedBlock(run, request.Repeats)];
        return new ChildResult(Measure.Median(times), 0, Measure.ResidentMiB().Peak, 0, 0, Measure.LoadAverage(), times);
    }

    const int OnnxInputSeed = 3;

    /// <summary>The child's side of <see cref="EvalVersusOnnxRuntime"/>: an ONNX Runtime session on model.onnx, warmed up, then timed runs.</summary>
    static ChildResult OnnxRuntimeBlock(ChildRequest request, BertConfig config)
    {
        var embedded = EmbeddedBackbones.Find(BackboneName)!;
        using var options = new SessionOptions
        {
            IntraOpNumThreads = torch.get_num_threads(),
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        };
        using var session = new InferenceSession(embedded.ReadResource("model.onnx"), options);
        using var input = new SyntheticBatch(config, request.Batch, request.Length, OnnxInputSeed);
        DenseTensor<long> Ort(torch.Tensor x) => new(x.contiguous().data<long>().ToArray(), [.. x.shape.Select(s => (int)s)]);
        var inputs = new[]
        {
            NamedOnnxValue.CreateFromTensor("input_ids", Ort(input.Ids)),
            NamedOnnxValue.CreateFromTensor("attention_mask", Ort(input.AttentionMask)),
            NamedOnnxValue.CreateFromTensor("token_type_ids", Ort(input.TypeIds)),
        }.Where(i => session.InputMetadata.ContainsKey(i.Name)).ToList();
        return TimedRuns(() =>
        {
            using var results = session.Run(inputs);
        }, request);
    }

    /// <summary>
    /// APT step time over (length, prefix) points, the points' steps taken in turn (A, B, C, A, B, C, …) so that a
    /// change in the shared machine's load touches every point alike instead of bending the fitted exponent.
    /// </summary>
    static ScalingFigure Scan(BertModel model, string axis, IReadOnlyList<(int Length, int Prefix)> points, BenchSettings settings)
    {
        var steps = points.Select(point => new TrainingWorkload(model, MethodCatalogue.Apt, point.Prefix, settings.Batch, point.Length)).ToList();
        var figures = new List<StepFigure>();
        try
        {
            double load = Measure.LoadAverage();
            var ms = Measure.AlternatingMedianMs([.. steps.Select(step => (Action)(() => step.Step()))], settings.ScanRepeats, warmup: 1);
            figures.AddRange(steps.Select((step, i) => StepFigureOf(step, ms[i], load)));
        }
        finally
        {
            foreach (var step in steps) step.Dispose();
        }
        // x: the step's token count for the length scan; the attended length T + P for the prefix scan (prefix 0 has no log).
        bool byLength = points.Select(p => p.Length).Distinct().Count() > 1;
        double[] x = [.. figures.Select(p => byLength ? (double)p.Batch * p.Length : p.Length + p.Prefix)];
        double measured = Measure.GrowthExponent(x, [.. figures.Select(p => p.MedianMs)]);
        double flops = Measure.GrowthExponent(x, [.. figures.Select(p => p.StepGflop)]);
        return new ScalingFigure(axis, figures, byLength ? "tokens B·T" : "attended length T + P", x, measured, flops);
    }

    // ---- child processes: peak memory needs a fresh process per method ----

    /// <summary>What a child process measures. Kind "step": median step time and peak memory; "memory": RSS after early and late steps; "eval" and "onnx": this kit's and ONNX Runtime's forward times.</summary>
    public sealed record ChildRequest(string Kind, string Method, int Batch, int Length, int Prefix, int Warmup, int Repeats, int EarlySteps, int LateSteps);

    /// <summary>What a child process reports back.</summary>
    public sealed record ChildResult(double MedianMs, double RssAfterLoadMiB, double PeakRssMiB, double EarlyRssMiB, double LateRssMiB, double LoadAverage, double[]? Times = null);

    /// <summary>A training step in its own process; with <paramref name="referenceKernels"/> on the libtorch reference path (<see cref="ComputePath"/>), which shows what the CPU kernels buy.</summary>
    static ChildStepFigure RunChildStep(string method, BertConfig config, BenchSettings settings, bool referenceKernels = false)
    {
        var request = new ChildRequest("step", method, settings.Batch, settings.Length, settings.PrefixLength, settings.Warmup, Math.Max(3, settings.Repeats - 2), 0, 0);
        var result = RunChild(request, referenceKernels ? "reference" : null);
        bool fullFineTuning = MethodCatalogue.Get(method) == MethodCatalogue.FineTune;
        int prefix = fullFineTuning ? 0 : request.Prefix;
        double stepGflop = FlopModel.TrainingStep(config, request.Batch, request.Length, prefix, fullFineTuning) / 1e9;
        string label = MethodCatalogue.Label(method);
        return new ChildStepFigure(referenceKernels ? $"{label}, reference kernels" : label, request.Batch, request.Length, prefix,
            result.MedianMs, stepGflop, result.RssAfterLoadMiB, result.PeakRssMiB, result.LoadAverage);
    }

    /// <summary>The PyTorch peer's step for the method of <paramref name="kit"/>, in its own process, right after the kit's child.</summary>
    static PeerStepFigure PeerStep(PyTorchPeer peer, ChildStepFigure kit, BenchSettings settings)
    {
        string method = MethodCatalogue.All.Single(m => m.Label == kit.Method).Name;
        var result = peer.Run(new ChildRequest("step", method, kit.Batch, kit.Length, kit.Prefix, settings.Warmup, Math.Max(3, settings.Repeats - 2), 0, 0));
        return new PeerStepFigure(kit.Method, result.MedianMs, kit.StepGflop, result.PeakRssMiB, kit.MedianMs / result.MedianMs, result.LoadAverage);
    }

    static MemoryGrowthFigure RunChildMemory(BenchSettings settings)
    {
        var request = new ChildRequest("memory", MethodCatalogue.Apt.Name, settings.MemoryBatch, settings.MemoryLength, settings.PrefixLength, 0, 0, settings.MemoryEarlySteps, settings.MemoryLateSteps);
        var r = RunChild(request);
        return new MemoryGrowthFigure("APT", request.Batch, request.Length, request.EarlySteps, r.EarlyRssMiB, request.LateSteps, r.LateRssMiB,
            (r.LateRssMiB - r.EarlyRssMiB) / r.EarlyRssMiB, r.LoadAverage);
    }

    /// <summary>Starts this program again (<c>dotnet Apt.Bench.dll --child …</c>) and reads its result file.</summary>
    static ChildResult RunChild(ChildRequest request, string? kernels = null) =>
        ChildProcess.RunForResult<ChildResult>($"bench child {request.Kind} {request.Method}", Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet",
            [typeof(Benchmarks).Assembly.Location, "--child", JsonSerializer.Serialize(request)],
            kernels is null ? [] : [(ComputePath.EnvironmentVariable, kernels)]);

    /// <summary>The child's side: loads the backbone, measures, writes the result file.</summary>
    public static void RunAsChild(string requestJson, string resultPath)
    {
        var request = JsonSerializer.Deserialize<ChildRequest>(requestJson) ?? throw new ArgumentException("empty child request");
        TorchRuntime.EnsureLoaded();
        using var backbone = PretrainedBackbone.Load(BackboneName);
        if (request.Kind is "onnx" or "eval")
        {
            var times = request.Kind == "onnx" ? OnnxRuntimeBlock(request, backbone.Config) : EvalBlock(request, backbone.Model);
            AtomicFile.WriteAllText(resultPath, JsonSerializer.Serialize(times));
            return;
        }
        using var step = new TrainingWorkload(backbone.Model, MethodCatalogue.Get(request.Method), request.Prefix, request.Batch, request.Length);
        double afterLoad = Measure.ResidentMiB().Current;
        double load = Measure.LoadAverage();
        ChildResult result;
        if (request.Kind == "step")
        {
            double ms = Measure.MedianMs(() => step.Step(), request.Repeats, request.Warmup);
            result = new ChildResult(ms, afterLoad, Measure.ResidentMiB().Peak, 0, 0, load);
        }
        else
        {
            for (int i = 0; i < request.EarlySteps; i++) step.Step();
            double early = Measure.ResidentMiB().Current;
            for (int i = request.EarlySteps; i < request.LateSteps; i++) step.Step();
            result = new ChildResult(0, afterLoad, Measure.ResidentMiB().Peak, early, Measure.ResidentMiB().Current, load);
        }
        AtomicFile.WriteAllText(resultPath, JsonSerializer.Serialize(result));
    }
}
