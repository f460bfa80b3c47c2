using System.Reflection;
using System.Runtime.Loader;
using Apt.Plotting;

namespace Apt.Reporting;

/// <summary>
/// Where <see cref="PlotlyFigures"/> runs: in this load context when Plotly.NET binds cleanly here, else in an isolated
/// <see cref="AssemblyLoadContext"/> with its own FSharp.Core. Either way it is called through the same string-only
/// members (figure spec JSON in, HTML/JSON/PNG bytes out), so both paths share one code path.
/// </summary>
/// <remarks>
/// Why: a host such as the <c>dotnet-interactive</c> kernel (VS Code Polyglot Notebooks, Jupyter's .NET kernel) ships
/// FSharp.Core 10.0 in its default context, and <c>#r</c> lets the default context answer every reference it can. Plotly.NET 6
/// asks for FSharp.Core 10.1, which the host lacks, so it gets ours; Giraffe.ViewEngine (which Plotly.NET uses to write HTML)
/// asks for 5.0, which the host's 10.0 satisfies. The two then disagree on <c>FSharpFunc</c> and Plotly.NET's initialisation
/// fails with <c>MissingMethodException: Giraffe.ViewEngine.Attributes.get__id()</c>. In the isolated context every
/// assembly found beside Apt.Plotting.dll is loaded from there, so all of them share one FSharp.Core.
/// </remarks>
internal sealed record PlottingBackend(
    Func<string, string> HtmlPage,
    Func<string, string> HtmlFragment,
    Func<string, string> FigureJson,
    Func<string> PlotlyJavaScript,
    Func<string, int, int, string, string[], Task<byte[]>> PngAsync,
    bool Isolated)
{
    static readonly Lazy<PlottingBackend> _current = new(Choose);

    /// <summary>The backend of this process, chosen on first use.</summary>
    public static PlottingBackend Current => _current.Value;

    static PlottingBackend Choose()
    {
        var plotting = typeof(PlotlyFigures).Assembly;
        return HostFSharpCoreIsOlder(plotting) ? LoadIsolated(plotting) : Bind(plotting, isolated: false);
    }

    /// <summary>
    /// True when the default load context resolves FSharp.Core to an older version than the one Apt.Plotting was built
    /// against: then references to older FSharp.Core versions (Giraffe.ViewEngine's) and to ours would bind to different copies.
    /// </summary>
    internal static bool HostFSharpCoreIsOlder(Assembly plotting)
    {
        Version needed = plotting.GetReferencedAssemblies().Single(r => r.Name == "FSharp.Core").Version!;
        try
        {
            return AssemblyLoadContext.Default.LoadFromAssemblyName(new AssemblyName("FSharp.Core")).GetName().Version < needed;
        }
        catch (FileNotFoundException)
        {
            return false; // the host has none: ours is the only one
        }
    }

    /// <summary>Loads a second copy of Apt.Plotting, with every dependency from its folder, into a context of its own.</summary>
    /// <exception cref="FileNotFoundException">The folder lacks FSharp.Core.dll (not a build output that carries its dependencies).</exception>
    internal static PlottingBackend LoadIsolated(Assembly plotting)
    {
        string folder = Path.GetDirectoryName(plotting.Location) is { Length: > 0 } found
            ? found
            : throw new InvalidOperationException("Apt.Plotting was loaded from memory, so its dependencies cannot be found for charting.");
        string fsharpCore = Path.Combine(folder, "FSharp.Core.dll");
        if (!File.Exists(fsharpCore))
            throw new FileNotFoundException(
                $"This process's FSharp.Core is older than Plotly.NET needs, and charts load their own from {folder}, which has no FSharp.Core.dll. " +
                "Reference the Release build of the library (dotnet build AptNotebooks.sln -c Release), which copies every dependency beside Apt.dll.", fsharpCore);
        var context = new FolderFirstLoadContext(folder);
        return Bind(context.LoadFromAssemblyPath(plotting.Location), isolated: true);
    }

    /// <summary>The string members of <see cref="PlotlyFigures"/> in <paramref name="plotting"/>, as delegates.</summary>
    static PlottingBackend Bind(Assembly plotting, bool isolated)
    {
        var figures = plotting.GetType(typeof(PlotlyFigures).FullName!, throwOnError: true)!;
        T Method<T>(string name) where T : Delegate =>
            figures.GetMethod(name, BindingFlags.Public | BindingFlags.Static)!.CreateDelegate<T>();
        return new PlottingBackend(
            Method<Func<string, string>>(nameof(PlotlyFigures.HtmlPage)),
            Method<Func<string, string>>(nameof(PlotlyFigures.HtmlFragment)),
            Method<Func<string, string>>(nameof(PlotlyFigures.FigureJson)),
            Method<Func<string>>(nameof(PlotlyFigures.PlotlyJavaScript)),
            Method<Func<string, int, int, string, string[], Task<byte[]>>>(nameof(PlotlyFigures.PngAsync)),
            isolated);
    }

    /// <summary>Loads any assembly present in <paramref name="folder"/> from there; the rest (the framework) from the default context.</summary>
    sealed class FolderFirstLoadContext(string folder) : AssemblyLoadContext("Apt.Plotting with its own FSharp.Core")
    {
        protected override Assembly? Load(AssemblyName name)
        {
            string path = Path.Combine(folder, name.Name + ".dll");
            return File.Exists(path) ? LoadFromAssemblyPath(path) : null;
        }
    }
}
