using System.ComponentModel;
using Apt.Backbone;
using Spectre.Console.Cli;

namespace Apt.Cli.Commands;

/// <summary>The option every verb that trains or evaluates shares: which compute path the model runs on (<see cref="ComputePath"/>).</summary>
public class ComputeSettings : CommandSettings
{
    [CommandOption("--kernels")]
    [Description("auto (the fast CPU kernels on float32 CPU tensors, libtorch elsewhere) or reference (libtorch only, as on a GPU). Default: APT_KERNELS, else auto.")]
    public string? Kernels { get; init; }
}

/// <summary>Applies <see cref="ComputeSettings.Kernels"/> before the verb runs; a bad value is a one-line error.</summary>
public sealed class ComputePathInterceptor : ICommandInterceptor
{
    public void Intercept(CommandContext context, CommandSettings settings)
    {
        if (settings is ComputeSettings { Kernels: { } kernels }) ComputePath.Choice = ComputePath.Parse(kernels, "--kernels");
    }
}
