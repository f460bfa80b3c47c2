using System.Diagnostics;
using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.DotNet.Interactive;
using Microsoft.DotNet.Interactive.Commands;
using Microsoft.DotNet.Interactive.CSharp;
using Microsoft.DotNet.Interactive.Documents;
using Microsoft.DotNet.Interactive.Documents.Jupyter;
using Microsoft.DotNet.Interactive.Events;
using Microsoft.DotNet.Interactive.Formatting;

namespace Apt.NotebookRunner;

/// <summary>
/// Executes a C# <c>.ipynb</c> top to bottom with the .NET Interactive C# kernel, as VS Code's Polyglot Notebooks or
/// Jupyter's .NET kernel would, and writes the executed notebook with its outputs: in this process, or in a separate
/// <c>dotnet-interactive</c> kernel process (<see cref="NotebookKernel"/>).
/// Stops at the first failing cell with a <see cref="NotebookCellException"/> that names the notebook and the cell.
/// </summary>
public static partial class NotebookRunner
{
    /// <summary>The kernelspec the kit's notebooks carry (what the .NET Jupyter kernel and Polyglot Notebooks write).</summary>
    public const string KernelSpecName = ".net-csharp";

    const string CSharpKernelName = "csharp";

    /// <summary>Runs <paramref name="notebookPath"/>; returns each code cell's outputs, or throws on the first failure.</summary>
    /// <exception cref="InvalidDataException">The file is not a C# .NET Interactive notebook.</exception>
    /// <exception cref="NotebookCellException">A cell failed or timed out; the executed part is saved all the same.</exception>
    public static async Task<NotebookRun> RunAsync(string notebookPath, NotebookRunOptions options)
    {
        notebookPath = Path.GetFullPath(notebookPath);
        var kernels = KernelInfos();
        InteractiveDocument document = Read(notebookPath, kernels);
        string executedPath = Path.Combine(Path.GetFullPath(options.OutputFolder), Path.GetFileName(notebookPath));
        Directory.CreateDirectory(Path.GetDirectoryName(executedPath)!);

        var savedEnvironment = options.Environment.Keys.ToDictionary(k => k, Environment.GetEnvironmentVariable);
        string savedDirectory = Directory.GetCurrentDirectory();
        var clock = Stopwatch.StartNew();
        var cells = new List<CellRun>();
        try
        {
            foreach (var (name, value) in options.Environment) Environment.SetEnvironmentVariable(name, value);
            // Jupyter and VS Code start the kernel in the notebook's folder: relative #r paths and files resolve from there.
            string notebookFolder = Path.GetDirectoryName(notebookPath)!;
            Directory.SetCurrentDirectory(notebookFolder);
            bool inProcess = options.Kernel == NotebookKernel.InProcess;
            using var kernel = inProcess ? CreateKernel() : await ToolKernel.StartAsync(notebookFolder, options.CellTimeout);
            int executionCount = 0;
            for (int index = 0; index < document.Elements.Count; index++)
            {
                var element = document.Elements[index];
                if (!IsCSharp(element) || string.IsNullOrWhiteSpace(element.Contents)) continue;
                element.Outputs.Clear();
                element.ExecutionOrder = ++executionCount;
                string code = inProcess && options.RedirectLoadedReferences ? RedirectLoadedReferences(element.Contents) : element.Contents;
                string firstLine = FirstLine(element.Contents);

                var cellClock = Stopwatch.StartNew();
                var submission = kernel.SendAsync(new SubmitCode(code, CSharpKernelName));
                if (await Task.WhenAny(submission, Task.Delay(options.CellTimeout)) != submission)
                {
                    element.Outputs.Add(new ErrorElement(errorValue: $"cell did not finish within {options.CellTimeout}", errorName: "TimeoutException", stackTrace: []));
                    Write(document, executedPath, kernels);
                    throw new NotebookCellException(notebookPath, index, firstLine, executedPath, $"timed out after {options.CellTimeout}");
                }
                var result = await submission;
                var failure = CollectOutputs(result.Events, element);
                cells.Add(new CellRun(index, firstLine, cellClock.Elapsed, [.. element.Outputs.Select(ToCellOutput)]));
                if (failure is not null)
                {
                    Write(document, executedPath, kernels);
                    throw new NotebookCellException(notebookPath, index, firstLine, executedPath, failure);
                }
            }
            Write(document, executedPath, kernels);
        }
        finally
        {
            Directory.SetCurrentDirectory(savedDirectory);
            foreach (var (name, value) in savedEnvironment) Environment.SetEnvironmentVariable(name, value);
        }
        return new NotebookRun(notebookPath, executedPath, clock.Elapsed, cells);
    }

    /// <summary>The kernel a Polyglot/Jupyter C# notebook gets: C# with display()/HTML() helpers and value sharing.</summary>
    static Kernel CreateKernel()
    {
        var csharp = new CSharpKernel(CSharpKernelName).UseKernelHelpers().UseValueSharing();
        return new CompositeKernel { csharp }.UseDefault(CSharpKernelName);
    }

    static CompositeKernel UseDefault(this CompositeKernel kernel, string name)
    {
        kernel.DefaultKernelName = name;
        return kernel;
    }

    static KernelInfoCollection KernelInfos() => new()
    {
        new Microsoft.DotNet.Interactive.Documents.KernelInfo(CSharpKernelName, "C#", ["c#", "C#", "cs"]),
    };

    static InteractiveDocument Read(string path, KernelInfoCollection kernels)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Notebook {path} does not exist.", path);
        string json = File.ReadAllText(path);
        InteractiveDocument document;
        try
        {
            document = Notebook.Parse(json, kernels);
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{path}: not a readable .ipynb notebook ({e.Message}).", e);
        }
        string? kernelSpec = KernelSpecOf(document);
        if (kernelSpec != KernelSpecName)
            throw new InvalidDataException(
                $"{path}: metadata.kernelspec.name is '{kernelSpec ?? "missing"}', expected '{KernelSpecName}' (the .NET C# kernel), " +
                "so that Jupyter and VS Code open it with C#.");
        return document;
    }

    static string? KernelSpecOf(InteractiveDocument document)
    {
        if (!document.Metadata.TryGetValue("kernelspec", out var spec)) return null;
        return spec switch
        {
            IDictionary<string, object> map when map.TryGetValue("name", out var name) => name?.ToString(),
            System.Text.Json.JsonElement json when json.TryGetProperty("name", out var name) => name.GetString(),
            _ => null,
        };
    }

    static bool IsCSharp(InteractiveDocumentElement element) =>
        string.Equals(element.KernelName, CSharpKernelName, StringComparison.OrdinalIgnoreCase);

    static void Write(InteractiveDocument document, string path, KernelInfoCollection kernels)
    {
        string temporary = path + ".tmp";
        using (var stream = File.Create(temporary)) Notebook.Write(document, stream, kernels);
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>Turns the kernel's events into Jupyter outputs on <paramref name="element"/>; returns the error text if the cell failed.</summary>
    static string? CollectOutputs(IEnumerable<KernelEvent> events, InteractiveDocumentElement element)
    {
        // Updates of a displayed value replace its output, as in a live front end. This kernel version gives the
        // update events a value id of their own, so an unknown id claims the latest display not yet claimed.
        var displaysById = new Dictionary<string, DisplayElement>();
        var unclaimed = new List<DisplayElement>();
        string? failure = null;
        foreach (var e in events)
        {
            switch (e)
            {
                case StandardOutputValueProduced stdout:
                    AppendStream(element, "stdout", Text(stdout.FormattedValues));
                    break;
                case StandardErrorValueProduced stderr:
                    AppendStream(element, "stderr", Text(stderr.FormattedValues));
                    break;
                case ReturnValueProduced value:
                    var returned = new ReturnValueElement { ExecutionOrder = element.ExecutionOrder };
                    foreach (var formatted in value.FormattedValues.Where(f => !f.SuppressDisplay)) returned.Data[formatted.MimeType] = formatted.Value;
                    if (returned.Data.Count > 0) element.Outputs.Add(returned);
                    break;
                case DisplayedValueUpdated updated:
                    if (!displaysById.TryGetValue(updated.ValueId ?? "", out var target) && unclaimed.Count > 0)
                    {
                        target = unclaimed[^1];
                        unclaimed.RemoveAt(unclaimed.Count - 1);
                        if (updated.ValueId is not null) displaysById[updated.ValueId] = target;
                    }
                    if (target is null) break;
                    target.Data.Clear();
                    foreach (var formatted in updated.FormattedValues) target.Data[formatted.MimeType] = formatted.Value;
                    break;
                case DisplayedValueProduced displayed:
                    var display = new DisplayElement(displayed.FormattedValues.Where(f => !f.SuppressDisplay)
                        .ToDictionary(f => f.MimeType, f => (object)f.Value));
                    element.Outputs.Add(display);
                    if (displayed.ValueId is not null) displaysById[displayed.ValueId] = display;
                    unclaimed.Add(display);
                    break;
                case CommandFailed failed:
                    failure = failed.Message;
                    string name = failed.Exception?.GetType().Name ?? "Error";
                    string[] trace = failed.Exception?.StackTrace?.Split('\n') ?? [];
                    element.Outputs.Add(new ErrorElement(errorValue: failed.Exception?.Message ?? failed.Message, errorName: name, stackTrace: trace));
                    break;
            }
        }
        return failure;
    }

    static string Text(IEnumerable<FormattedValue> values) =>
        string.Concat(values.Where(v => v.MimeType == "text/plain").Select(v => v.Value));

    static void AppendStream(InteractiveDocumentElement element, string name, string text)
    {
        if (element.Outputs.Count > 0 && element.Outputs[^1] is TextElement last && last.Name == name)
            element.Outputs[^1] = new TextElement(text: last.Text + text, name: name);
        else
            element.Outputs.Add(new TextElement(text: text, name: name));
    }

    static CellOutput ToCellOutput(InteractiveDocumentOutputElement output) => output switch
    {
        TextElement text => new CellOutput("stream", new Dictionary<string, string> { [text.Name] = text.Text }),
        ReturnValueElement value => new CellOutput("execute_result", value.Data.ToDictionary(d => d.Key, d => d.Value?.ToString() ?? "")),
        DisplayElement display => new CellOutput("display_data", display.Data.ToDictionary(d => d.Key, d => d.Value?.ToString() ?? "")),
        ErrorElement error => new CellOutput("error", new Dictionary<string, string> { ["ename"] = error.ErrorName, ["evalue"] = error.ErrorValue }),
        _ => new CellOutput(output.GetType().Name, new Dictionary<string, string>()),
    };

    static string FirstLine(string code)
    {
        string line = code.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.Length > 0) ?? "";
        return line.Length > 80 ? line[..77] + "..." : line;
    }

    [GeneratedRegex("""^(?<lead>\s*#r\s+")(?<path>[^"]+\.dll)(?<tail>")""", RegexOptions.Multiline)]
    private static partial Regex FileReference();

    /// <summary>Rewrites <c>#r "path/X.dll"</c> to the location of X if this process has loaded it (see <see cref="NotebookRunOptions.RedirectLoadedReferences"/>).</summary>
    public static string RedirectLoadedReferences(string code) => FileReference().Replace(code, match =>
    {
        string? location = LoadableCopy(Path.GetFileNameWithoutExtension(match.Groups["path"].Value));
        return location is null ? match.Value : match.Groups["lead"].Value + location + match.Groups["tail"].Value;
    });

    /// <summary>Where this process has (or would) load the assembly of that name from: loaded already, or part of the app.</summary>
    static string? LoadableCopy(string name)
    {
        var loaded = AppDomain.CurrentDomain.GetAssemblies().FirstOrDefault(a =>
            !a.IsDynamic && a.Location.Length > 0 && string.Equals(a.GetName().Name, name, StringComparison.OrdinalIgnoreCase));
        if (loaded is not null) return loaded.Location;
        try
        {
            var fromApp = Assembly.Load(new AssemblyName(name));
            return fromApp.Location.Length > 0 ? fromApp.Location : null;
        }
        catch (FileNotFoundException)
        {
            return null; // not part of this app: the cell's own path stands
        }
    }
}
