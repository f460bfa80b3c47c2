using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;
using Apt.Backbone;
using Apt.Runs;
using Apt.Tasks;
using Apt.Tests.Backbone;
using Apt.Training;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Apt.Tests.Reliability;

/// <summary>
/// Files that are not what a reader expects, in the places the kit reads them: a device or a FIFO where a data file or
/// a vocabulary should be, files over 2 GiB (sparse, so they cost no disk), and selected weights of another shape.
/// Each is refused at once with one line naming the file, or read as it should be; none hangs or reads without end.
/// </summary>
public sealed class HostileInputFileTests(ITestOutputHelper output) : IDisposable
{
    readonly string _folder = Directory.CreateTempSubdirectory("apt-input-").FullName;

    string Sub(params string[] parts) => Path.Combine([_folder, .. parts]);

    /// <summary>A BoolQ data folder whose train.jsonl is <paramref name="target"/> through a symbolic link.</summary>
    string DataFolderLinkingTo(string target)
    {
        string folder = Sub("boolq");
        Directory.CreateDirectory(folder);
        File.CreateSymbolicLink(Path.Combine(folder, "train.jsonl"), target);
        return folder;
    }

    /// <summary>Runs <paramref name="read"/> with a deadline (a FIFO read would block for good) and returns
    /// its error.</summary>
    Exception ErrorWithin(TimeSpan deadline, Action read)
    {
        var task = Task.Run(() => Record.Exception(read));
        Assert.True(task.Wait(deadline), $"the read did not end within {deadline.TotalSeconds} s");
        Assert.NotNull(task.Result);
        Assert.DoesNotContain('\n', task.Result.Message);
        output.WriteLine($"{task.Result.GetType().Name}: {task.Result.Message}");
        return task.Result;
    }

    [Fact]
    public void DevZeroAsADataFileIsRefusedWithoutReadingIt()
    {
        string folder = DataFolderLinkingTo("/dev/zero");
        var error = ErrorWithin(TimeSpan.FromSeconds(10),
            () => TaskRegistry.Get("boolq").Load(DataSplit.Train, folder));
        Assert.IsType<InvalidDataException>(error);
        Assert.Equal($"{Path.Combine(folder, "train.jsonl")}: a character device, not a regular file " +
                     "(the kit reads only regular files: a device is endless and a FIFO blocks)", error.Message);
    }

    [DllImport("libc", SetLastError = true)]
    static extern int mkfifo([MarshalAs(UnmanagedType.LPUTF8Str)] string path, uint mode);

    [Fact]
    public void AFifoAsADataFileIsRefusedWithoutOpeningIt()
    {
        string fifo = Sub("fifo");
        Assert.Equal(0, mkfifo(fifo, Convert.ToUInt32("600", 8)));
        string folder = DataFolderLinkingTo(fifo);
        var error = ErrorWithin(TimeSpan.FromSeconds(10),
            () => TaskRegistry.Get("boolq").Load(DataSplit.Train, folder));
        Assert.IsType<InvalidDataException>(error);
        Assert.Contains($"{Path.Combine(folder, "train.jsonl")}: a FIFO (named pipe), not a regular file",
            error.Message);
    }

    [Fact]
    public void ADataFileOverTheLimitIsRefusedWithItsSizeBeforeItIsRead()
    {
        string folder = Sub("boolq");
        Directory.CreateDirectory(folder);
        string file = Path.Combine(folder, "train.jsonl");
        using (var sparse = new FileStream(file, FileMode.CreateNew))
            sparse.SetLength((5L << 30) / 2); // 2.5 GiB, no disk
        var error = ErrorWithin(TimeSpan.FromSeconds(10),
            () => TaskRegistry.Get("boolq").Load(DataSplit.Train, folder));
        Assert.IsType<InvalidDataException>(error);
        Assert.Equal($"{file}: 2.5 GiB, over the {InputFile.Size(InputFile.MaxBytes)} limit for a file the kit " +
            $"reads into memory " +
                     $"(set {InputFile.MaxMegabytesVariable} to raise it)", error.Message);
    }

    [Fact]
    public void DevZeroAsAVocabularyIsRefusedNamingIt()
    {
        string model = Directory.CreateDirectory(Sub("model")).FullName;
        BertTestFolder.Write(model);
        string vocab = Path.Combine(model, "vocab.txt");
        File.Delete(vocab);
        File.CreateSymbolicLink(vocab, "/dev/zero");
        var error = ErrorWithin(TimeSpan.FromSeconds(10), () => PretrainedBackbone.Load(model).Dispose());
        Assert.IsType<InvalidDataException>(error);
        Assert.StartsWith($"{vocab}: a character device, not a regular file", error.Message);
    }

    [Fact]
    public void TensorsBeyondTwoGibibytesInASparseWeightFileAreRead()
    {
        const long Offset = (5L << 30) / 2; // the tensor's data starts 2.5 GiB into the data section
        float[] values = [1.5f, -2f, 3.25f, 1e-3f];
        string header = $"{{\"far\":{{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[{Offset},{Offset + 16}]}}}}";
        byte[] json = Encoding.UTF8.GetBytes(header.PadRight((header.Length + 7) / 8 * 8));
        string path = Sub("far.safetensors");
        using (var file = new FileStream(path, FileMode.CreateNew))
        {
            Span<byte> length = stackalloc byte[8];
            BinaryPrimitives.WriteInt64LittleEndian(length, json.Length);
            file.Write(length);
            file.Write(json);
            file.Position = 8 + json.Length + Offset; // a hole of 2.5 GiB: no disk
            file.Write(MemoryMarshal.AsBytes(values.AsSpan()));
        }
        Assert.True(new FileInfo(path).Length > 2L << 30);
        var entry = Assert.Single(SafeTensors.ReadHeader(path).Tensors);
        Assert.Equal((Offset, Offset + 16), (entry.Begin, entry.End));
        var tensors = SafeTensors.Read(path, out _);
        using var far = tensors["far"];
        Assert.Equal([2L, 2], far.shape);
        Assert.Equal(values, far.data<float>().ToArray());
    }

    [Fact]
    public void AModelFolderWhoseWeightFileIsOverTwoGibibytesLoads()
    {
        const long Hole = (2L << 30) + (1 << 20); // every tensor moves just over 2 GiB further in: a hole, no disk
        string model = Directory.CreateDirectory(Sub("model")).FullName;
        BertTestFolder.Write(model);
        string weights = Path.Combine(model, "model.safetensors");
        byte[] bytes = File.ReadAllBytes(weights);
        var original = SafeTensors.Read(weights, out _);
        int length = (int)BinaryPrimitives.ReadInt64LittleEndian(bytes);
        var header = System.Text.Json.Nodes.JsonNode.Parse(Encoding.UTF8.GetString(bytes, 8, length))!.AsObject();
        foreach (var (_, entry) in header.Where(h => h.Key != "__metadata__"))
        {
            var offsets = entry!["data_offsets"]!.AsArray();
            entry["data_offsets"] = new System.Text.Json.Nodes.JsonArray(
                offsets[0]!.GetValue<long>() + Hole, offsets[1]!.GetValue<long>() + Hole);
        }
        byte[] json = Encoding.UTF8.GetBytes(header.ToJsonString());
        using (var file = new FileStream(weights, FileMode.Create))
        {
            file.Write(BitConverter.GetBytes((long)json.Length));
            file.Write(json);
            file.Position += Hole;
            file.Write(bytes.AsSpan(8 + length));
        }
        Assert.True(new FileInfo(weights).Length > 2L << 30);
        using var loaded = PretrainedBackbone.Load(model);
        var word = loaded.Model.state_dict()["embeddings.word_embeddings.weight"];
        Assert.True(word.eq(original["bert.embeddings.word_embeddings.weight"]).all().item<bool>());
        foreach (var tensor in original.Values) tensor.Dispose();
    }

    [Fact]
    public void ATensorLargerThanOneReadChunkRoundTrips()
    {
        string path = Sub("large.safetensors");
        // 20 MB: more than one 16 MiB chunk
        using var large = arange(5_000_000, ScalarType.Float32).reshape(1000, 5000);
        using var half = arange(3_000_000, ScalarType.Float32).to_type(ScalarType.Float16); // widened when read
        SafeTensors.Write(path, new Dictionary<string, Tensor> { ["large"] = large, ["half"] = half });
        var read = SafeTensors.Read(path, out _);
        using var readLarge = read["large"];
        using var readHalf = read["half"];
        Assert.True(readLarge.eq(large).all().item<bool>());
        Assert.True(readHalf.eq(half.to_type(ScalarType.Float32)).all().item<bool>());
    }

    [Fact]
    public void SelectedWeightsOfAnotherShapeAreRefusedWithTheTensorAndBothShapes()
    {
        string model = Directory.CreateDirectory(Sub("model")).FullName;
        BertTestFolder.Write(model);
        string data = Sub("data");
        Directory.CreateDirectory(Path.Combine(data, "rte"));
        foreach (string split in new[] { "train", "val" })
            File.Copy(Tasks.FixtureFiles.Path("superglue", "rte", "train.jsonl"),
                Path.Combine(data, "rte", split + ".jsonl"));
        using var backbone = PretrainedBackbone.Load(model);
        var config = new ExperimentConfig
        {
            Task = "rte", Backbone = model, Method = "pt2", MaxLength = 32,
            Prefix = MethodCatalogue.Get("pt2")
                .Configure(new MethodInputs(backbone.Config, PrefixLength: 4, Projection: false, Probe: null)).Prefix,
            Trainer = new TrainerConfig { Seed = 1 },
        };
        using var trainable = new Experiment(data).Build(config, TaskRegistry.Get("rte"), backbone);
        var run = RunFolder.OpenOrCreate(Sub("run"), config);
        var (name, parameter) = trainable.TrainableParameters.First(p => p.Key.StartsWith("prefix.",
            StringComparison.Ordinal));
        long[] wider = [parameter.shape[0] + 2, .. parameter.shape[1..]];
        using var replacement = zeros(wider);
        SafeTensors.Write(run.SelectedTrainablePath,
            trainable.TrainableParameters.ToDictionary(p => p.Key, p => p.Key == name ? replacement : (Tensor)p.Value));
        var error = ErrorWithin(TimeSpan.FromSeconds(30), () => trainable.LoadSelected(run));
        Assert.IsType<InvalidDataException>(error);
        Assert.Equal($"{run.SelectedTrainablePath}: the selected weights do not fit this model's " +
            $"trainable parameters " +
                     "(saved by another method, prefix length or backbone?). " +
                     $"Wrong shapes (1): {name}: file [{string.Join(", ", wider)}], model " +
                         $"[{string.Join(", ", parameter.shape)}].",
            error.Message);
    }

    /// <summary>
    /// A static check of lib/: no file is opened for reading except through <see cref="InputFile"/>, whose checks
    /// would otherwise be skipped by the one reader that forgot them. The kernel's own /proc files are allowed, and
    /// Apt.Bench, which reads only what it wrote itself.
    /// </summary>
    [Fact]
    public void EveryFileTheLibraryReadsOpensThroughInputFile()
    {
        var read = new Regex(@"\b(?:File\.(?:ReadAll\w*|ReadLines|OpenRead|OpenText|Open)|ZipFile\.Open\w*)\(");
        var offenders = new List<string>();
        foreach (string path in Directory.EnumerateFiles(Path.Combine(TestPaths.RepoRoot, "lib"), "*.cs",
            SearchOption.AllDirectories))
        {
            string relative = Path.GetRelativePath(TestPaths.RepoRoot, path).Replace('\\', '/');
            if (relative.Contains("/obj/") || relative.Contains("/bin/") || relative.StartsWith("lib/Apt.Bench/")
                || relative == "lib/Apt/InputFile.cs") continue;
            foreach (var (line, number) in File.ReadLines(path).Select((l, i) => (l, i + 1)))
                if (read.IsMatch(line) && !line.Contains("\"/proc/", StringComparison.Ordinal))
                    offenders.Add($"{relative}:{number}: {line.Trim()}");
        }
        Assert.True(offenders.Count == 0, "files opened without InputFile:\n" + string.Join("\n", offenders));
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
