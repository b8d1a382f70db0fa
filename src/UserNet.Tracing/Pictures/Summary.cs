using System.Text;
using UserNet.Core;

namespace UserNet.Pictures;

/// <summary>
/// Frames in, out and dropped per layer (the layer whose decision ended a received frame's way, or that sent a
/// frame), with each drop reason and its count, as the stack's counters name them.
/// </summary>
internal static class Summary
{
    public static void Write(TextWriter w, List<FlowFrame> frames, bool replay)
    {
        var layers = Enum.GetValues<Layer>();
        var rows = layers.ToDictionary(l => l, _ => (In: 0, Out: 0, Unmarked: 0, Dropped: 0));
        var reasons = new SortedDictionary<(Layer, string), int>();
        foreach (var f in frames)
        {
            var r = rows[f.Layer];
            if (f.FromStack == true) r.Out++;
            else if (f.FromStack == false) r.In++;
            else r.Unmarked++;
            if (f.Dropped)
            {
                r.Dropped++;
                string reason = f.Decision!.EndsWith(" -> drop", StringComparison.Ordinal) ? f.Decision[..^" -> drop".Length] : f.Decision;
                reasons[(f.Layer, reason)] = reasons.GetValueOrDefault((f.Layer, reason)) + 1;
            }
            rows[f.Layer] = r;
        }
        bool unmarked = rows.Values.Any(r => r.Unmarked > 0);
        // A capture no stack commented on has no directions to count: one column of frames, then the drops (none).
        bool directions = rows.Values.Any(r => r.In + r.Out > 0);
        var sb = new StringBuilder();
        sb.Append("<p class=\"help\">").Append(Html.Escape(replay
            ? "What the replayed stack did with each frame, counted at the layer that decided: \"in\" are the frames it received, \"out\" the frames it sent (as recorded, and those only the replay sent), \"dropped\" the received frames it threw away, with the reason."
            : "Each frame counted at the layer of its decision (from the recorded comments: rx: received, tx: sent), or at its highest header when it has none.")).Append("</p>\n");
        sb.Append("<table class=\"summary\">\n<tr><th>layer</th>").Append(directions ? "<th>in</th><th>out</th>" : "")
          .Append(unmarked ? directions ? "<th>no decision recorded</th>" : "<th>frames</th>" : "").Append("<th>dropped</th></tr>\n");
        var total = (In: 0, Out: 0, Unmarked: 0, Dropped: 0);
        foreach (var l in layers)
        {
            var r = rows[l];
            if (r.In + r.Out + r.Unmarked == 0) continue;
            total = (total.In + r.In, total.Out + r.Out, total.Unmarked + r.Unmarked, total.Dropped + r.Dropped);
            Row(sb, "layer", StackCounters.LayerName(l), r, directions, unmarked);
            foreach (var ((layer, reason), count) in reasons)
            {
                if (layer != l) continue;
                sb.Append("<tr class=\"reason\"><td>").Append(Html.Escape(reason)).Append("</td>").Append(directions ? "<td></td><td></td>" : "").Append(unmarked ? "<td></td>" : "")
                  .Append("<td>").Append(count).Append("</td></tr>\n");
            }
        }
        Row(sb, "total", "all frames", total, directions, unmarked);
        sb.Append("</table>\n");
        w.Write(sb);
    }

    private static void Row(StringBuilder sb, string cls, string name, (int In, int Out, int Unmarked, int Dropped) r, bool directions, bool unmarked)
    {
        sb.Append("<tr class=\"").Append(cls).Append("\"><td>").Append(Html.Escape(name)).Append("</td>");
        if (directions) sb.Append("<td>").Append(r.In).Append("</td><td>").Append(r.Out).Append("</td>");
        if (unmarked) sb.Append("<td>").Append(r.Unmarked).Append("</td>");
        sb.Append("<td>").Append(r.Dropped).Append("</td></tr>\n");
    }
}
