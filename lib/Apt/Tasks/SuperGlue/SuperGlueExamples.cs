namespace Apt.Tasks.SuperGlue;

// The SuperGLUE examples, field names as in the official jsonl files. A null label means the
// unlabelled test split. Label ids follow the order of the task's label names.

/// <summary>BoolQ: does the passage answer the question with yes?</summary>
public sealed record BoolQExample(string Question, string Passage, int Idx, int? Label, SourceLocation Location) : TaskExample(Location)
{
    public override bool HasLabel => Label is not null;
}

/// <summary>CB and RTE: premise, hypothesis and an entailment label.</summary>
public sealed record EntailmentExample(string Premise, string Hypothesis, int Idx, int? Label, SourceLocation Location) : TaskExample(Location)
{
    public override bool HasLabel => Label is not null;
}

/// <summary>WiC: is <paramref name="Word"/> used in the same sense in both sentences? Offsets are character offsets, end exclusive.</summary>
public sealed record WicExample(string Word, string Sentence1, string Sentence2, int Start1, int End1, int Start2, int End2, int Idx, int? Label, SourceLocation Location) : TaskExample(Location)
{
    public override bool HasLabel => Label is not null;
}

/// <summary>WSC: does the pronoun (span 2) refer to span 1? Span indices are word indices.</summary>
public sealed record WscExample(string Text, string Span1Text, int Span1Index, string Span2Text, int Span2Index, int Idx, int? Label, SourceLocation Location) : TaskExample(Location)
{
    public override bool HasLabel => Label is not null;
}

/// <summary>COPA: which choice is the cause (or effect) of the premise? Label 0 = choice1.</summary>
public sealed record CopaExample(string Premise, string Choice1, string Choice2, string Question, int Idx, int? Label, SourceLocation Location) : TaskExample(Location)
{
    public override bool HasLabel => Label is not null;
}

/// <summary>
/// MultiRC, one example per answer option: the paragraph, the question and one answer, labelled
/// true/false. <paramref name="QuestionKey"/> ("paragraph idx/question idx") groups the answers of a question.
/// </summary>
public sealed record MultiRcExample(string Paragraph, string Question, string Answer, string QuestionKey, int AnswerIdx, int? Label, SourceLocation Location) : TaskExample(Location)
{
    public override bool HasLabel => Label is not null;
}

/// <summary>
/// ReCoRD, one binary example per candidate entity: the passage, the query with <c>@placeholder</c>,
/// the candidate and the gold answer texts of its query (empty on the test split).
/// <paramref name="QueryKey"/> ("passage idx/query idx") groups the candidates of a query.
/// </summary>
public sealed record RecordExample(string Passage, string Query, string Entity, string QueryKey, IReadOnlyList<string> Answers, bool Labelled, SourceLocation Location) : TaskExample(Location)
{
    public override bool HasLabel => Labelled;
    /// <summary>1 when the candidate is one of the gold answers.</summary>
    public int? Label => Labelled ? (Answers.Contains(Entity) ? 1 : 0) : null;
    /// <summary>The query with its placeholder filled by the candidate.</summary>
    public string FilledQuery => Query.Replace("@placeholder", Entity);
}
