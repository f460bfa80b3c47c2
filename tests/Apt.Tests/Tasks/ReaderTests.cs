using System.Text;
using Apt.Tasks;
using Apt.Tasks.Ner;
using Apt.Tasks.SuperGlue;

namespace Apt.Tests.Tasks;

/// <summary>Every reader reads its official format and refuses bad input with file, line and reason.</summary>
public sealed class ReaderTests
{
    static readonly string[] SuperGlueTasks = ["boolq", "cb", "copa", "rte", "wic", "wsc", "multirc", "record"];

    [Theory]
    [InlineData("boolq", 2)]
    [InlineData("cb", 3)]
    [InlineData("copa", 2)]
    [InlineData("rte", 2)]
    [InlineData("wic", 2)]
    [InlineData("wsc", 1)]
    [InlineData("multirc", 3)] // 1 passage, 2 questions, 3 answers → 3 examples
    [InlineData("record", 2)] // 1 query × 2 distinct entities (Lyon twice, Nantes)
    public void SuperGlueTrainFilesReadEveryExample(string task, int expected)
    {
        var examples = TaskRegistry.Get(task).Load(DataSplit.Train, FixtureFiles.Path("superglue", task));
        Assert.Equal(expected, examples.Count);
        Assert.All(examples, e => Assert.True(e.HasLabel));
        Assert.All(examples, e => Assert.EndsWith("train.jsonl", e.Location.File));
    }

    [Fact]
    public void FieldsLandInTheRightPlaces()
    {
        var cb = SuperGlueReaders.Cb(FixtureFiles.Path("superglue", "cb", "train.jsonl"));
        Assert.Equal(["neutral", "contradiction", "entailment"], cb.Select(e => SuperGlueReaders.CbLabels[e.Label!.Value]));
        Assert.Equal(2, cb[1].Location.Line);

        var multirc = SuperGlueReaders.MultiRc(FixtureFiles.Path("superglue", "multirc", "train.jsonl"));
        Assert.Equal(["0/0", "0/0", "0/1"], multirc.Select(e => e.QuestionKey));
        Assert.Equal([1, 0, 1], multirc.Select(e => e.Label!.Value));
        Assert.Equal("In August", multirc[1].Answer);

        var record = SuperGlueReaders.Record(FixtureFiles.Path("superglue", "record", "train.jsonl"));
        Assert.Equal(["Lyon", "Nantes"], record.Select(e => e.Entity));
        Assert.Equal([1, 0], record.Select(e => e.Label!.Value));
        Assert.Equal("Lyon remain first after the win over Nantes.", record[0].FilledQuery);
        Assert.Contains("- Lyon stay top", record[0].Passage);
        Assert.DoesNotContain("@highlight", record[0].Passage);

        var wsc = SuperGlueReaders.Wsc(FixtureFiles.Path("superglue", "wsc", "train.jsonl"));
        Assert.Equal(("trophy", 1, "it", 9), (wsc[0].Span1Text, wsc[0].Span1Index, wsc[0].Span2Text, wsc[0].Span2Index));
    }

    [Fact]
    public void UnlabelledTestSplitsAreAccepted()
    {
        var boolq = TaskRegistry.Get("boolq").Load(DataSplit.Test, FixtureFiles.Path("superglue", "boolq"));
        Assert.False(Assert.Single(boolq).HasLabel);
        var record = TaskRegistry.Get("record").Load(DataSplit.Test, FixtureFiles.Path("superglue", "record"));
        Assert.Equal(2, record.Count);
        Assert.All(record, e => Assert.False(e.HasLabel));
        var error = Assert.Throws<ArgumentException>(() => TaskRegistry.Get("boolq").Score(boolq, [new Prediction([0f, 1f])]));
        Assert.Contains("unlabelled", error.Message);
    }

    public static TheoryData<string, string, string, string> BadJsonLines => new()
    {
        // task, file name, content (line 2 is the bad one), expected reason
        { "boolq", "train.jsonl", "{\"question\": \"q\", \"passage\": \"p\", \"idx\": 0, \"label\": true}\n{\"question\": \"q\", \"passage\": ", "malformed JSON" },
        { "boolq", "train.jsonl", "{\"question\": \"q\", \"passage\": \"p\", \"idx\": 0, \"label\": true}\n{\"question\": \"q\", \"idx\": 1, \"label\": true}", "missing field 'passage'" },
        { "boolq", "train.jsonl", "{\"question\": \"q\", \"passage\": \"p\", \"idx\": 0, \"label\": true}\n{\"question\": \"q\", \"passage\": \"p\", \"idx\": 1}", "missing field 'label'" },
        { "boolq", "train.jsonl", "{\"question\": \"q\", \"passage\": \"p\", \"idx\": 0, \"label\": true}\n{\"question\": \"q\", \"passage\": \"p\", \"idx\": 1, \"label\": \"yes\"}", "field 'label' is String" },
        { "cb", "train.jsonl", "{\"premise\": \"a\", \"hypothesis\": \"b\", \"idx\": 0, \"label\": \"neutral\"}\n{\"premise\": \"a\", \"hypothesis\": \"b\", \"idx\": 1, \"label\": \"maybe\"}", "unknown label 'maybe'" },
        { "rte", "train.jsonl", "{\"premise\": \"a\", \"hypothesis\": \"b\", \"idx\": 0, \"label\": \"entailment\"}\n{\"premise\": \"a\", \"hypothesis\": \"b\", \"idx\": 1, \"label\": \"neutral\"}", "unknown label 'neutral'" },
        { "copa", "train.jsonl", "{\"premise\": \"a\", \"choice1\": \"b\", \"choice2\": \"c\", \"question\": \"cause\", \"idx\": 0, \"label\": 0}\n{\"premise\": \"a\", \"choice1\": \"b\", \"choice2\": \"c\", \"question\": \"cause\", \"idx\": 1, \"label\": 2}", "unknown label 2" },
        { "copa", "train.jsonl", "{\"premise\": \"a\", \"choice1\": \"b\", \"choice2\": \"c\", \"question\": \"cause\", \"idx\": 0, \"label\": 0}\n{\"premise\": \"a\", \"choice1\": \"b\", \"choice2\": \"c\", \"question\": \"why\", \"idx\": 1, \"label\": 0}", "expected 'cause' or 'effect'" },
        { "wic", "train.jsonl", "{\"word\": \"w\", \"sentence1\": \"w x\", \"sentence2\": \"w y\", \"idx\": 0, \"label\": true, \"start1\": 0, \"end1\": 1, \"start2\": 0, \"end2\": 1}\n{\"word\": \"w\", \"sentence1\": \"w x\", \"sentence2\": \"w y\", \"idx\": 1, \"label\": true, \"start1\": 0, \"end1\": 9, \"start2\": 0, \"end2\": 1}", "start1/end1" },
        { "wsc", "train.jsonl", "{\"text\": \"t\", \"target\": {\"span1_index\": 0, \"span1_text\": \"t\", \"span2_index\": 0, \"span2_text\": \"t\"}, \"idx\": 0, \"label\": true}\n{\"text\": \"t\", \"target\": {\"span1_index\": 0, \"span2_index\": 0, \"span2_text\": \"t\"}, \"idx\": 1, \"label\": true}", "missing field 'target.span1_text'" },
        { "multirc", "train.jsonl", "{\"idx\": 0, \"passage\": {\"text\": \"p\", \"questions\": [{\"question\": \"q\", \"idx\": 0, \"answers\": [{\"text\": \"a\", \"idx\": 0, \"label\": 1}]}]}}\n{\"idx\": 1, \"passage\": {\"text\": \"p\", \"questions\": [{\"question\": \"q\", \"idx\": 0, \"answers\": [{\"text\": \"a\", \"idx\": 0}]}]}}", "missing field 'passage.questions[0].answers[0].label'" },
        { "record", "train.jsonl", "{\"passage\": {\"text\": \"Ann met Bo.\", \"entities\": [{\"start\": 0, \"end\": 2}]}, \"qas\": [{\"query\": \"@placeholder left\", \"idx\": 0, \"answers\": [{\"text\": \"Ann\"}]}], \"idx\": 0}\n{\"passage\": {\"text\": \"Ann met Bo.\", \"entities\": [{\"start\": 0, \"end\": 40}]}, \"qas\": [], \"idx\": 1}", "outside the passage" },
        { "record", "train.jsonl", "{\"passage\": {\"text\": \"Ann met Bo.\", \"entities\": [{\"start\": 0, \"end\": 2}]}, \"qas\": [{\"query\": \"@placeholder left\", \"idx\": 0, \"answers\": [{\"text\": \"Ann\"}]}], \"idx\": 0}\n{\"passage\": {\"text\": \"Ann met Bo.\", \"entities\": [{\"start\": 0, \"end\": 2}]}, \"qas\": [{\"query\": \"Ann left\", \"idx\": 0, \"answers\": [{\"text\": \"Ann\"}]}], \"idx\": 1}", "no @placeholder" },
        { "boolq", "test.jsonl", "{\"question\": \"q\", \"passage\": \"p\", \"idx\": 0}\n{\"question\": \"q\", \"passage\": \"p\", \"idx\": 1, \"label\": true}", "a file is either labelled or not" },
        { "boolq", "train.jsonl", "{\"question\": \"q\", \"passage\": \"p\", \"idx\": 0, \"label\": true}\n[1, 2]", "expected a JSON object" },
    };

    [Theory]
    [MemberData(nameof(BadJsonLines))]
    public void SuperGlueReadersRejectBadLinesWithFileLineAndReason(string task, string fileName, string content, string reason)
    {
        using var scratch = new FixtureFiles.Scratch();
        string file = scratch.File(fileName, content);
        var error = Assert.Throws<InvalidDataException>(() => TaskRegistry.Get(task).Read(file));
        Assert.StartsWith($"{file}:2: ", error.Message);
        Assert.Contains(reason, error.Message);
    }

    [Fact]
    public void EveryReaderRejectsEmptyFilesAndInvalidUtf8()
    {
        using var scratch = new FixtureFiles.Scratch();
        foreach (string task in SuperGlueTasks.Concat(["conll03", "conll04", "ontonotes", "wordnet-wic", "brown-ner"]))
        {
            string empty = scratch.File($"{task}-empty.txt", "\n\n");
            var error = Assert.Throws<InvalidDataException>(() => TaskRegistry.Get(task).Read(empty));
            Assert.Equal($"{empty}:1: the file is empty (expected at least one example)", error.Message);

            byte[] bad = [.. Encoding.UTF8.GetBytes("{\"a\": 1}\nEU B-ORG\n"), .. Encoding.UTF8.GetBytes("x y z\nM"), 0xFF, 0xFE, (byte)'\n'];
            string invalid = scratch.File($"{task}-bad.txt", bad);
            error = Assert.Throws<InvalidDataException>(() => TaskRegistry.Get(task).Read(invalid));
            Assert.StartsWith($"{invalid}:4: invalid UTF-8", error.Message);
        }
    }

    [Fact]
    public void Conll2003ReadsFourColumnsSkipsDocstartAndConvertsIob1()
    {
        var sentences = TaskRegistry.Get("conll03").Load(DataSplit.Train, FixtureFiles.Path("ner", "conll03")).Cast<NerExample>().ToList();
        Assert.Equal(2, sentences.Count);
        Assert.Equal(["EU", "rejects", "German", "call", "."], sentences[0].Words);
        Assert.Equal(["B-ORG", "O", "B-MISC", "O", "O"], sentences[0].Tags); // I-ORG / I-MISC opened spans in IOB1
        Assert.Equal(["B-PER", "I-PER"], sentences[1].Tags);
        Assert.Equal(3, sentences[0].Location.Line);
        Assert.Equal(9, sentences[1].Location.Line);
    }

    [Fact]
    public void Iob1ConversionKeepsBetweenSpanBoundaries()
    {
        Assert.Equal(["B-PER", "I-PER", "B-PER", "B-LOC", "O", "B-LOC"], Iob.Iob1ToIob2(["I-PER", "I-PER", "B-PER", "I-LOC", "O", "I-LOC"]));
    }

    [Fact]
    public void Conll04AndOntoNotesReadWordTagColumnsWithTheirLabelSets()
    {
        var conll04 = TaskRegistry.Get("conll04");
        Assert.Equal(9, conll04.Labels.Count);
        var sentences = conll04.Load(DataSplit.Train, FixtureFiles.Path("ner", "conll04")).Cast<NerExample>().ToList();
        Assert.Equal([5, 3], sentences.Select(s => s.Words.Count));
        Assert.Equal(["B-Peop", "I-Peop", "O", "B-Loc", "O"], sentences[0].Tags); // a tab also separates columns
        var ontonotes = TaskRegistry.Get("ontonotes");
        Assert.Equal(37, ontonotes.Labels.Count);
        var onto = ontonotes.Load(DataSplit.Train, FixtureFiles.Path("ner", "ontonotes")).Cast<NerExample>().ToList();
        Assert.Equal(["B-CARDINAL", "B-NORP", "O"], onto[1].Tags);
    }

    [Fact]
    public void ColumnLayoutIsConfigurable()
    {
        using var scratch = new FixtureFiles.Scratch();
        string file = scratch.File("train.txt", "1 Obama NNP B-PERSON\n2 spoke VBD O\n");
        var task = ((NerTask)TaskRegistry.Get("ontonotes")).WithColumns(new ConllColumns { Count = 4, Word = 1, Tag = 3 });
        var sentence = (NerExample)Assert.Single(task.Read(file));
        Assert.Equal(["Obama", "spoke"], sentence.Words);
        Assert.Equal(["B-PERSON", "O"], sentence.Tags);
    }

    [Theory]
    [InlineData("conll03", "EU NNP B-NP I-ORG\nrejects VBZ B-VP\n", "3 columns, expected 4")]
    [InlineData("conll03", "EU NNP B-NP I-ORG\nrejects VBZ B-VP I-PERSON\n", "unknown tag 'I-PERSON'")]
    [InlineData("conll04", "John B-Peop\nSmith I-PER\n", "unknown tag 'I-PER'")]
    [InlineData("ontonotes", "Obama B-PERSON\nspoke O extra\n", "3 columns, expected 2")]
    [InlineData("brown-ner", "Atlanta B-NP\nis B-ORG\n", "unknown tag 'B-ORG'")]
    public void ColumnReadersRejectBadLinesWithFileLineAndReason(string task, string content, string reason)
    {
        using var scratch = new FixtureFiles.Scratch();
        string file = scratch.File("train.txt", content);
        var error = Assert.Throws<InvalidDataException>(() => TaskRegistry.Get(task).Read(file));
        Assert.StartsWith($"{file}:2: ", error.Message);
        Assert.Contains(reason, error.Message);
    }

    [Fact]
    public void NoSentenceIsDroppedSilently()
    {
        using var scratch = new FixtureFiles.Scratch();
        var lines = new StringBuilder("-DOCSTART- O\n\n");
        for (int s = 0; s < 50; s++) lines.Append($"w{s} O\nX B-NP\n\n\n");
        var read = TaskRegistry.Get("brown-ner").Read(scratch.File("train.txt", lines.ToString()));
        Assert.Equal(50, read.Count);
        Assert.Equal(Enumerable.Range(0, 50).Select(s => $"w{s}"), read.Cast<NerExample>().Select(e => e.Words[0]));
    }

    [Fact]
    public void MissingSplitFileNamesTheExpectedNames()
    {
        var error = Assert.Throws<FileNotFoundException>(() => TaskRegistry.Get("cb").Load(DataSplit.Validation, FixtureFiles.Path("superglue", "cb")));
        Assert.Contains("val.jsonl", error.Message);
        Assert.Throws<ArgumentException>(() => TaskRegistry.Get("glue"));
    }
}
