using System.Net;
using System.Text;
using Apt.Tasks.Metrics;

namespace Apt.Notebooks;

/// <summary>
/// A tagged sentence as HTML, spans coloured by how prediction and gold agree: green where a predicted span is
/// also gold, red where it is not (a false positive), amber underline for a gold span the model missed.
/// </summary>
public static class SpanView
{
    public static string Html(IReadOnlyList<string> words, IReadOnlyList<string> gold, IReadOnlyList<string> predicted)
    {
        var goldSpans = SpanMetric.Extract(gold).ToHashSet();
        var predictedSpans = SpanMetric.Extract(predicted).ToHashSet();
        var text = new StringBuilder("<div style=\"font-family:sans-serif;line-height:2\">");
        for (int i = 0; i < words.Count; i++)
        {
            Span? predictedHere = predictedSpans.Where(s => s.Start == i).Select(s => (Span?)s).FirstOrDefault();
            Span? missedHere = goldSpans.Where(s => s.Start == i && !predictedSpans.Contains(s)).Select(s => (Span?)s).FirstOrDefault();
            if (predictedHere is Span shown)
            {
                string colour = goldSpans.Contains(shown) ? "#b7e4c7" : "#f4a6a6";
                text.Append($"<span style=\"background:{colour};padding:2px 4px;border-radius:4px\" title=\"predicted {shown.Type}\">");
                text.Append(WebUtility.HtmlEncode(string.Join(' ', words.Skip(i).Take(shown.End - i + 1)))); // End is inclusive
                text.Append($" <sub>{WebUtility.HtmlEncode(shown.Type)}</sub></span> ");
                i = shown.End;
            }
            else if (missedHere is Span missed)
            {
                text.Append($"<span style=\"border-bottom:3px solid #e9a23b\" title=\"missed gold {missed.Type}\">");
                text.Append(WebUtility.HtmlEncode(string.Join(' ', words.Skip(i).Take(missed.End - i + 1))));
                text.Append($" <sub>{WebUtility.HtmlEncode(missed.Type)}</sub></span> ");
                i = missed.End;
            }
            else text.Append(WebUtility.HtmlEncode(words[i])).Append(' ');
        }
        return text.Append("</div>").ToString();
    }
}
