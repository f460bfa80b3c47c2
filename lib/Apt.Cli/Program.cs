using Apt.Cli;
using Apt.Cli.Commands;
using Spectre.Console.Cli;

// The `apt` command: parses arguments and calls the library; no logic of its own lives here.
var app = new CommandApp();
app.Configure(config =>
{
    config.SetApplicationName("apt");
    config.PropagateExceptions();
    config.AddCommand<DoctorCommand>("doctor").WithDescription("Check the runtime, libtorch and the embedded backbones; prints a remedy for each problem.");
    config.AddCommand<EncodeCommand>("encode").WithDescription("Encode sentences with a backbone and print their cosine similarities (mean-pooled, normalised).");
    config.AddCommand<ParamsCommand>("params").WithDescription("Count a method's trainable parameters (prefix, gates, head) and their share of the backbone.");
});
return CliErrors.Run(() => app.Run(args));
