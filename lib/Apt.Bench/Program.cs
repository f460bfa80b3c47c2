using Apt.Backbone;
using Apt.Bench;
using Spectre.Console;

// Apt.Bench: [--quick] [--profile] [--length <tokens>] [--batch <examples>] [--json <file>] [--doc
// <docs/performance.md>] [--from <bench.json>] [--quickstart <runs/quickstart/work.json>]; --quickstart measures the
// matmul peak alone and prints the quickstart's
// efficiency (h); --profile prints where a training step's time goes instead; --length changes the main shape's tokens
// per example (default
// 128); --doc writes the run's table into the doc (PerformanceDoc), and with --from it takes the run from a JSON instead of measuring. The hidden "--child <request> <result file>" is how the
// benchmark runs a figure in a fresh process of its own (peak memory per method, memory growth).
TorchRuntime.RestartWithAllocatorTunables();
try
{
    if (args.Length == 3 && args[0] == "--child")
    {
        Benchmarks.RunAsChild(args[1], args[2]);
        return 0;
    }
    bool quick = false, profile = false;
    string? json = null, doc = null, from = null, quickstart = null;
    int? length = null, batch = null;
    for (int i = 0; i < args.Length; i++)
    {
        switch (args[i])
        {
            case "--quick": quick = true; break;
            case "--profile": profile = true; break;
            case "--json" when i + 1 < args.Length: json = args[++i]; break;
            case "--doc" when i + 1 < args.Length: doc = args[++i]; break;
            case "--from" when i + 1 < args.Length: from = args[++i]; break;
            case "--quickstart" when i + 1 < args.Length: quickstart = args[++i]; break;
            case "--length" when i + 1 < args.Length && int.TryParse(args[i + 1], out int tokens) && tokens > 0: length = tokens; i++; break;
            case "--batch" when i + 1 < args.Length && int.TryParse(args[i + 1], out int examples) && examples > 0: batch = examples; i++; break;
            default:
                throw new ArgumentException($"unknown argument '{args[i]}'; usage: apt-bench [--quick] [--profile] " +
                    $"[--length <tokens>] [--batch <examples>] [--json <file>] [--doc <file.md>] [--from " +
                    $"<bench.json>] [--quickstart <work.json>]");
        }
    }
    if (doc is not null) PerformanceDoc.Read(doc); // a wrong doc fails now, not after the measuring
    if (from is not null)
    {
        if (doc is null) throw new ArgumentException("--from <bench.json> needs --doc <file.md>: it regenerates the doc's table from a run without measuring");
        PerformanceDoc.Update(doc, BenchReport.FromJson(from));
        AnsiConsole.MarkupLine($"wrote the table of {Markup.Escape(from)} into {Markup.Escape(doc)}");
        return 0;
    }
    var settings = quick ? BenchSettings.Smoke : BenchSettings.Full;
    if (length is int tokensPerExample) settings = settings with { Length = tokensPerExample };
    if (batch is int examplesPerBatch) settings = settings with { Batch = examplesPerBatch };
    if (quickstart is not null)
    {
        JobEfficiency.Run(quickstart, settings, AnsiConsole.Console);
        return 0;
    }
    if (profile)
    {
        StepProfile.Run(settings, AnsiConsole.Console);
        return 0;
    }
    var report = Benchmarks.Run(settings, step => AnsiConsole.MarkupLine($"[grey]{Markup.Escape(step)} (load {Measure.LoadAverage():F1})[/]"));
    report.Print(AnsiConsole.Console);
    if (json is not null)
    {
        Apt.AtomicFile.WriteAllText(json, report.ToJson());
        AnsiConsole.MarkupLine($"wrote {Markup.Escape(json)}");
    }
    if (doc is not null)
    {
        PerformanceDoc.Update(doc, report);
        AnsiConsole.MarkupLine($"wrote the run's table into {Markup.Escape(doc)}");
    }
    return 0;
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"apt-bench: {e.Message}");
    return 2;
}
