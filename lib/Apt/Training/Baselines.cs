using Apt.Tasks;

namespace Apt.Training;

/// <summary>Reference points that need no training.</summary>
public static class Baselines
{
    /// <summary>
    /// The majority-class baseline: every example (every word, for tagging) gets the label most frequent in the
    /// training split, scored on the split the protocol reports (dev for SuperGLUE, test for NER).
    /// Multiple-choice tasks predict the first choice. Returns the task's selection metric.
    /// </summary>
    public static double MajorityClass(ITaskDefinition task, string folder, int? evalExamples = null)
    {
        var train = task.Load(DataSplit.Train, folder);
        var split = task.Kind == TaskKind.TokenClassification ? DataSplit.Test : DataSplit.Validation;
        var evaluated = task.Load(split, folder);
        if (evalExamples is int n && n < evaluated.Count) evaluated = [.. evaluated.Take(n)];
        string majority = train.SelectMany(task.GoldLabels).GroupBy(l => l).OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal).First().Key;
        int id = task.Kind == TaskKind.MultipleChoice ? 0 : task.Labels.ToList().IndexOf(majority);
        var predictions = evaluated.Select(example =>
        {
            float[] scores = new float[task.Labels.Count];
            scores[id] = 1;
            return task.Kind == TaskKind.TokenClassification
                ? new Prediction(scores, [.. task.GoldLabels(example).Select(_ => id)])
                : new Prediction(scores);
        }).ToList();
        return task.Score(evaluated, predictions).PrimaryValue;
    }
}
