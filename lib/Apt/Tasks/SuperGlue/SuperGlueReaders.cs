namespace Apt.Tasks.SuperGlue;

/// <summary>
/// Readers of the official SuperGLUE jsonl files. Labels are required except in files named test*
/// (the unlabelled split); a file mixes labelled and unlabelled examples at its peril: that is an error.
/// </summary>
public static class SuperGlueReaders
{
    public static readonly IReadOnlyList<string> BinaryLabels = ["False", "True"];
    /// <summary>CB's labels in the order of the Hugging Face super_glue loader.</summary>
    public static readonly IReadOnlyList<string> CbLabels = ["entailment", "contradiction", "neutral"];
    public static readonly IReadOnlyList<string> RteLabels = ["entailment", "not_entailment"];

    public static IReadOnlyList<BoolQExample> BoolQ(string file) => Read(file, j => new BoolQExample(
        j.String("question"), j.String("passage"), j.Int("idx"), Label(file, j, (f, n) => f.BinaryLabel(n)), j.At));

    public static IReadOnlyList<EntailmentExample> Cb(string file) => Entailment(file, CbLabels);

    public static IReadOnlyList<EntailmentExample> Rte(string file) => Entailment(file, RteLabels);

    static IReadOnlyList<EntailmentExample> Entailment(string file, IReadOnlyList<string> labels) => Read(file, j => new EntailmentExample(
        j.String("premise"), j.String("hypothesis"), j.Int("idx"), Label(file, j, (f, n) => f.StringLabel(n, labels)), j.At));

    public static IReadOnlyList<WicExample> Wic(string file) => Read(file, j =>
    {
        var example = new WicExample(j.String("word"), j.String("sentence1"), j.String("sentence2"),
            j.Int("start1"), j.Int("end1"), j.Int("start2"), j.Int("end2"), j.Int("idx"), Label(file, j, (f, n) => f.BinaryLabel(n)), j.At);
        CheckSpan(j.At, example.Sentence1, example.Start1, example.End1, "start1/end1");
        CheckSpan(j.At, example.Sentence2, example.Start2, example.End2, "start2/end2");
        return example;
    });

    public static IReadOnlyList<WscExample> Wsc(string file) => Read(file, j =>
    {
        var target = j.Object("target");
        return new WscExample(j.String("text"), target.String("span1_text"), target.Int("span1_index"),
            target.String("span2_text"), target.Int("span2_index"), j.Int("idx"), Label(file, j, (f, n) => f.BinaryLabel(n)), j.At);
    });

    public static IReadOnlyList<CopaExample> Copa(string file) => Read(file, j =>
    {
        string question = j.String("question");
        if (question is not ("cause" or "effect")) throw TextLines.Error(j.At, $"field 'question' is '{question}', expected 'cause' or 'effect'");
        var label = Label(file, j, (f, n) =>
        {
            int choice = f.Int(n);
            return choice is 0 or 1 ? choice : throw TextLines.Error(f.At, $"unknown label {choice} (expected 0 for choice1 or 1 for choice2)");
        });
        return new CopaExample(j.String("premise"), j.String("choice1"), j.String("choice2"), question, j.Int("idx"), label, j.At);
    });

    /// <summary>MultiRC: passage → questions → answers, flattened to one example per answer, in file order.</summary>
    public static IReadOnlyList<MultiRcExample> MultiRc(string file)
    {
        var keys = new Dictionary<string, SourceLocation>();
        return ReadMany(file, j =>
        {
            var passage = j.Object("passage");
            string paragraph = passage.String("text");
            int paragraphIdx = j.Int("idx");
            var examples = new List<MultiRcExample>();
            foreach (var question in passage.Array("questions"))
            {
                string key = Unique(keys, $"{paragraphIdx}/{question.Int("idx")}", j.At, "question");
                var answers = question.Array("answers").ToList();
                if (answers.Count == 0) throw TextLines.Error(j.At, $"question {key} has no answers");
                foreach (var answer in answers)
                    examples.Add(new MultiRcExample(paragraph, question.String("question"), answer.String("text"), key,
                        answer.Int("idx"), Label(file, answer, (f, n) => f.BinaryLabel(n)), j.At));
            }
            if (examples.Count == 0) throw TextLines.Error(j.At, "the passage has no questions");
            return examples;
        });
    }

    /// <summary>
    /// ReCoRD: the passage's entities (character spans, end inclusive, as in the official files) are the
    /// candidates of each query; one example per distinct entity text, in order of first appearance.
    /// The passage's "@highlight\n" markers become "- ", as Hugging Face's loader does.
    /// </summary>
    public static IReadOnlyList<RecordExample> Record(string file)
    {
        var keys = new Dictionary<string, SourceLocation>();
        return ReadMany(file, j =>
        {
            var passage = j.Object("passage");
            string text = passage.String("text");
            var entities = new List<string>();
            foreach (var entity in passage.Array("entities"))
            {
                int start = entity.Int("start"), end = entity.Int("end");
                if (start < 0 || end < start || end >= text.Length)
                    throw TextLines.Error(j.At,
                        $"entity span {start}..{end} lies outside the passage ({text.Length} characters)");
                if (SplitsCharacter(text, start, end + 1))
                    throw TextLines.Error(j.At,
                        $"entity span {start}..{end} cuts a character of the passage in two (expected offsets in " +
                        $"UTF-16 code units)");
                string name = text[start..(end + 1)];
                if (!entities.Contains(name)) entities.Add(name);
            }
            if (entities.Count == 0) throw TextLines.Error(j.At,
                "the passage has no entities (no candidates for its queries)");
            string cleaned = text.Replace("@highlight\n", "- ");
            var examples = new List<RecordExample>();
            int passageIdx = j.Int("idx");
            foreach (var qa in j.Array("qas"))
            {
                string query = qa.String("query");
                if (!query.Contains("@placeholder")) throw TextLines.Error(j.At,
                    $"query {qa.Int("idx")} has no @placeholder");
                bool labelled = qa.Has("answers") || !IsTestFile(file);
                var answers = labelled ? qa.Array("answers").Select(a => a.String("text")).Distinct().ToList() : [];
                if (labelled && answers.Count == 0) throw TextLines.Error(j.At,
                    $"query {qa.Int("idx")} has an empty 'answers' list");
                string key = Unique(keys, $"{passageIdx}/{qa.Int("idx")}", j.At, "query");
                examples.AddRange(entities.Select(e => new RecordExample(cleaned, query, e, key, answers,
                    labelled, j.At)));
            }
            if (examples.Count == 0) throw TextLines.Error(j.At, "the passage has no queries ('qas' is empty)");
            return examples;
        });
    }

    /// <summary>
    /// <paramref name="key"/> ("passage idx/question idx"), refused if an earlier line already used it: the scorer
    /// groups answers by it, so a repeated key would merge different questions into one.
    /// </summary>
    static string Unique(Dictionary<string, SourceLocation> seen, string key, SourceLocation at, string what)
    {
        if (seen.TryGetValue(key, out var first))
            throw TextLines.Error(at,
                $"{what} {key} (passage idx/{what} idx) repeats the one at line {first.Line}; expected " +
                "each pair once: the scorer groups answers by it and would merge the two into one");
        seen[key] = at;
        return key;
    }

    static void CheckSpan(SourceLocation at, string sentence, int start, int end, string fields)
    {
        if (start < 0 || end <= start || end > sentence.Length)
            throw TextLines.Error(at, $"{fields} = {start}/{end} do not lie inside the sentence ({sentence.Length} characters)");
        if (SplitsCharacter(sentence, start, end))
            throw TextLines.Error(at, $"{fields} = {start}/{end} cut a character of the sentence in two (expected offsets in UTF-16 code units)");
    }

    /// <summary>Whether [start, end) begins or ends between the two halves of a surrogate pair (an emoji, say).</summary>
    static bool SplitsCharacter(string text, int start, int end) =>
        char.IsLowSurrogate(text[start]) || (end < text.Length && char.IsLowSurrogate(text[end]));

    static bool IsTestFile(string file) => Path.GetFileName(file).StartsWith("test", StringComparison.OrdinalIgnoreCase);

    /// <summary>The label, or null in a test file that has none; absent elsewhere it is a missing field.</summary>
    static int? Label(string file, JsonFields json, Func<JsonFields, string, int> read) =>
        json.Has("label") || !IsTestFile(file) ? read(json, "label") : null;

    static IReadOnlyList<T> Read<T>(string file, Func<JsonFields, T> parse) where T : TaskExample =>
        ReadMany<T>(file, j => [parse(j)]);

    static IReadOnlyList<T> ReadMany<T>(string file, Func<JsonFields, IEnumerable<T>> parse) where T : TaskExample
    {
        var examples = new List<T>();
        foreach (var (at, json) in TextLines.ReadJsonObjects(file))
            examples.AddRange(parse(new JsonFields(json, at)));
        var mixed = examples.FirstOrDefault(e => e.HasLabel != examples[0].HasLabel);
        if (mixed is not null)
            throw TextLines.Error(mixed.Location, $"this example {(mixed.HasLabel ? "has" : "lacks")} a label while {examples[0].Location} {(mixed.HasLabel ? "lacks" : "has")} one; a file is either labelled or not");
        return examples;
    }
}
