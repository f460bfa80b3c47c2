using Apt.NotebookTwins;

// Writes every notebook's twin, notebooks/NN-name.cs beside notebooks/NN-name.ipynb.
string root = Directory.GetCurrentDirectory();
while (!File.Exists(Path.Combine(root, "AptNotebooks.sln")))
    root = Path.GetDirectoryName(root) ?? throw new InvalidOperationException("Run this inside the repository.");
foreach (string notebook in Directory.GetFiles(Path.Combine(root, "notebooks"), "*.ipynb").Order())
{
    string twin = NotebookTwin.TwinPath(notebook);
    string text = NotebookTwin.Generate(File.ReadAllText(notebook), Path.GetFileNameWithoutExtension(notebook));
    bool same = File.Exists(twin) && File.ReadAllText(twin) == text;
    if (!same) File.WriteAllText(twin, text);
    Console.WriteLine($"{(same ? "up to date" : "written")}: {Path.GetRelativePath(root, twin)}");
}
