using System.Text;
using System.Text.Json;

namespace Apt.NotebookTwins;

/// <summary>
/// A notebook's terminal twin: a .NET file-based app (<c>dotnet run notebooks/NN-name.cs</c>) with the notebook's code
/// cells in order and its markdown as comments, so the notebook stays the one source. The cells show things through
/// <c>Apt.Notebooks.Show</c>, which both hosts implement; only the first cell's host lines differ: the <c>#r</c> of the
/// notebook build becomes a <c>#:project</c> of the core library, and <c>NotebookHost.Use()</c> becomes
/// <c>TerminalHost.Use(…)</c> (charts and HTML as files, progress in the terminal).
/// </summary>
public static class NotebookTwin
{
    /// <summary>The first cell's reference to the notebook-side build (Apt.Notebooks with the library beside it).</summary>
    public const string NotebookReference = "#r \"../lib/Apt.Notebooks/bin/Release/net10.0/Apt.Notebooks.dll\"";

    const string NotebookHostCall = "NotebookHost.Use();";

    /// <summary>Where a notebook's twin lives: beside it, with the extension .cs.</summary>
    public static string TwinPath(string notebookPath) => Path.ChangeExtension(notebookPath, ".cs");

    /// <summary>Where a twin writes its charts and HTML, relative to the notebooks folder (git-ignored).</summary>
    public static string OutputFolder(string name) => $"../artifacts/notebooks/twins/{name}";

    /// <summary>The twin of the notebook <paramref name="name"/> (no extension), given its .ipynb JSON.</summary>
    /// <exception cref="InvalidDataException">A cell holds a notebook-only line that has no terminal form.</exception>
    public static string Generate(string notebookJson, string name)
    {
        using var notebook = JsonDocument.Parse(notebookJson);
        var body = new StringBuilder();
        bool referenced = false, hosted = false;
        int index = 0;
        foreach (var cell in notebook.RootElement.GetProperty("cells").EnumerateArray())
        {
            index++;
            string source = string.Concat(cell.GetProperty("source").EnumerateArray().Select(l => l.GetString()));
            var lines = source.Replace("\r\n", "\n").TrimEnd('\n').Split('\n');
            body.Append('\n');
            if (cell.GetProperty("cell_type").GetString() != "code")
            {
                foreach (string line in lines) body.Append(line.Length == 0 ? "//" : "// " + line.TrimEnd()).Append('\n');
                continue;
            }
            foreach (string line in lines)
            {
                string code = line.Trim();
                if (code == NotebookReference) referenced = true;
                else if (code.StartsWith(NotebookHostCall, StringComparison.Ordinal))
                {
                    hosted = true;
                    body.Append($"TerminalHost.Use(\"{OutputFolder(name)}\"); // charts and HTML as files, progress here\n");
                }
                else if (code.StartsWith("#r ", StringComparison.Ordinal) || code.StartsWith("#!", StringComparison.Ordinal)
                    || code.StartsWith("#i ", StringComparison.Ordinal))
                    throw new InvalidDataException(
                        $"{name}.ipynb, cell {index}: '{code}' is notebook-only and has no terminal form; " +
                        "reference the library with the first cell's #r and show things through Show.");
                else body.Append(line).Append('\n');
            }
        }
        if (!referenced || !hosted)
            throw new InvalidDataException(
                $"{name}.ipynb: the first code cell must hold `{NotebookReference}` and `{NotebookHostCall}`.");

        return "#:project ../lib/Apt/Apt.csproj\n" +
            // File-based apps default to native AOT, whose analyzers would flag the library's reflection (JSON, Plotly).
            "#:property PublishAot=false\n" +
            $"// The terminal twin of {name}.ipynb, generated from it by build/NotebookTwins: edit the notebook, then run\n" +
            "// `dotnet run --project build/NotebookTwins`. Run it from the repository:\n" +
            $"//     dotnet run notebooks/{name}.cs    (APT_NOTEBOOK_SMALL=1 for small mode)\n" +
            body;
    }
}
