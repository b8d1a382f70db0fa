using System.Text;
using UserNet.Core;

namespace UserNet.Pictures;

/// <summary>
/// The ladder (sequence) diagram: one vertical lane per host, one horizontal arrow per frame in time order, each
/// labelled with its tcpdump line and, under it, the stack's decision; the whole story of a frame in its hover text.
/// </summary>
internal static class Ladder
{
    private const int RowHeight = 34, Top = 58, LaneStart = 170, LaneGap = 160, CharWidth = 7;

    private const string Blue = "#2b6cb0", Green = "#2f855a", Grey = "#718096", Red = "#c0392b", Orange = "#dd6b20";

    public static void Write(TextWriter w, List<FlowFrame> frames, Lanes lanes, HashSet<int> retransmitted, long start, int max)
    {
        int shown = Math.Min(frames.Count, Math.Max(0, max));
        int laneCount = Math.Max(1, lanes.Names.Count);
        int textX = LaneStart + (laneCount - 1) * LaneGap + 60;
        var lines = new List<(string Label, string Decision)>(shown);
        int widest = 0;
        for (int i = 0; i < shown; i++)
        {
            var line = (frames[i].Summary.Replace('\n', ' '), DecisionLine(frames[i]));
            lines.Add(line);
            widest = Math.Max(widest, Math.Max(line.Item1.Length, (int)(line.Item2.Length * 0.95)));
        }
        int width = Math.Max(1000, textX + widest * CharWidth + 30);
        int height = Top + shown * RowHeight + 16;

        var sb = new StringBuilder();
        sb.Append("<div class=\"scroll\"><svg class=\"ladder\" width=\"").Append(width).Append("\" height=\"").Append(height)
          .Append("\" viewBox=\"0 0 ").Append(width).Append(' ').Append(height).Append("\" role=\"img\" aria-label=\"ladder diagram\">\n");
        sb.Append("<defs>");
        foreach (var (name, colour) in new[] { ("blue", Blue), ("green", Green), ("grey", Grey), ("orange", Orange) })
            sb.Append("<marker id=\"head-").Append(name).Append("\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\">")
              .Append("<path d=\"M0,0 L10,5 L0,10 z\" fill=\"").Append(colour).Append("\"/></marker>");
        sb.Append("</defs>\n");
        sb.Append("<text class=\"lane\" x=\"10\" y=\"20\">frame</text><text class=\"lane\" x=\"60\" y=\"20\">time (s)</text>\n");
        sb.Append("<text class=\"lane\" x=\"").Append(textX).Append("\" y=\"20\">tcpdump line</text>")
          .Append("<text class=\"decision\" x=\"").Append(textX).Append("\" y=\"36\">").Append(Html.Escape(lanes.Stack is null ? "(recorded decision, where the capture has one)" : "the stack's decision")).Append("</text>\n");
        for (int l = 0; l < lanes.Names.Count; l++)
        {
            int x = LaneX(l);
            string name = lanes.Names[l];
            sb.Append("<text class=\"lane\" x=\"").Append(x).Append("\" y=\"20\" text-anchor=\"middle\">").Append(Html.Escape(name)).Append("</text>");
            string role = name == lanes.Stack ? "the stack" : name == Lanes.Broadcast ? "(everyone)" : name == "?" ? "(no address)" : "";
            if (role.Length > 0) sb.Append("<text class=\"decision\" x=\"").Append(x).Append("\" y=\"36\" text-anchor=\"middle\">").Append(role).Append("</text>");
            sb.Append("<line class=\"lane-line\" x1=\"").Append(x).Append("\" y1=\"").Append(Top - 12).Append("\" x2=\"").Append(x).Append("\" y2=\"").Append(height - 6).Append("\"/>\n");
        }
        for (int i = 0; i < shown; i++)
        {
            var f = frames[i];
            int y0 = Top + i * RowHeight;
            var (from, to) = lanes.Ends(f);
            int x1 = LaneX(lanes.IndexOf(from)), x2 = to == "?" ? x1 : LaneX(lanes.IndexOf(to));
            bool retx = retransmitted.Contains(i);
            string colour, head;
            bool fromStack = f.FromStack ?? (lanes.Stack is not null && from == lanes.Stack);
            bool toStack = f.FromStack == false || (f.FromStack is null && lanes.Stack is not null && to == lanes.Stack);
            if (f.Dropped) (colour, head) = (Red, "");
            else if (retx) (colour, head) = (Orange, "orange");
            else if (lanes.Stack is null) (colour, head) = x2 >= x1 ? (Blue, "blue") : (Green, "green");
            else if (fromStack) (colour, head) = (Green, "green");
            else if (toStack) (colour, head) = (Blue, "blue");
            else (colour, head) = (Grey, "grey");

            sb.Append("<g class=\"row").Append(f.Dropped ? " dropped" : "").Append(retx ? " retransmission" : "").Append(f.ReplayOnly ? " replay-only" : "")
              .Append("\" data-n=\"").Append(f.Number?.ToString() ?? "").Append("\">");
            sb.Append("<title>").Append(Html.Escape(Hover(f, from, to, retx, start))).Append("</title>");
            sb.Append("<rect class=\"hit\" x=\"0\" y=\"").Append(y0).Append("\" width=\"").Append(width).Append("\" height=\"").Append(RowHeight).Append("\" fill=\"transparent\"/>");
            sb.Append("<text class=\"num\" x=\"10\" y=\"").Append(y0 + 20).Append("\">").Append(f.Number is { } n ? "#" + n : "replay").Append("</text>");
            sb.Append("<text class=\"num\" x=\"60\" y=\"").Append(y0 + 20).Append("\">+").Append(PageWriter.Seconds((f.Record.Timestamp - start) / 1e9)).Append("</text>");
            int ay = y0 + 19;
            if (x1 == x2)
            {
                // To itself (or to no one the frame names): a small loop beside the lane.
                sb.Append("<path d=\"M").Append(x1).Append(',').Append(ay - 6).Append(" h24 v12 h-24\" fill=\"none\" stroke=\"").Append(colour)
                  .Append("\" stroke-width=\"2\"").Append(head.Length > 0 ? $" marker-end=\"url(#head-{head})\"" : "").Append("/>");
            }
            else
            {
                sb.Append("<line x1=\"").Append(x1).Append("\" y1=\"").Append(ay).Append("\" x2=\"").Append(x2).Append("\" y2=\"").Append(ay)
                  .Append("\" stroke=\"").Append(colour).Append("\" stroke-width=\"2\"").Append(f.ReplayOnly ? " stroke-dasharray=\"6 4\"" : "")
                  .Append(head.Length > 0 ? $" marker-end=\"url(#head-{head})\"" : "").Append("/>");
            }
            if (f.Dropped)
            {
                // The frame ends at its receiver: a cross where the stack dropped it.
                sb.Append("<path class=\"drop-mark\" d=\"M").Append(x2 - 6).Append(',').Append(ay - 6).Append(" l12,12 m0,-12 l-12,12\" stroke=\"").Append(Red).Append("\" stroke-width=\"3\"/>");
            }
            string? tag = f.Dropped ? "dropped" : retx ? "retransmission" : f.ReplayOnly ? "only in the replay" : null;
            if (tag is not null)
                sb.Append("<text class=\"tag\" x=\"").Append((x1 + x2) / 2 + (x1 == x2 ? 40 : 0)).Append("\" y=\"").Append(ay - 5)
                  .Append("\" text-anchor=\"middle\" fill=\"").Append(colour).Append("\">").Append(tag).Append("</text>");
            sb.Append("<text class=\"label\" x=\"").Append(textX).Append("\" y=\"").Append(y0 + 14).Append("\">").Append(Html.Escape(lines[i].Label)).Append("</text>");
            if (lines[i].Decision.Length > 0)
                sb.Append("<text class=\"decision").Append(f.Dropped ? " drop" : "").Append("\" x=\"").Append(textX).Append("\" y=\"").Append(y0 + 28).Append("\">")
                  .Append(Html.Escape(lines[i].Decision)).Append("</text>");
            sb.Append("</g>\n");
            if (sb.Length > 1 << 16) { w.Write(sb); sb.Clear(); }
        }
        sb.Append("</svg></div>\n");
        if (shown < frames.Count)
            sb.Append("<p class=\"cap\">").Append(Html.Escape($"The ladder shows the first {shown} of {frames.Count} frames; the other {frames.Count - shown} are left out so that the page stays usable (the table above and the graphs below count them all)."))
              .Append("</p>\n");
        w.Write(sb);
    }

    private static int LaneX(int lane) => LaneStart + lane * LaneGap;

    /// <summary>The line under the tcpdump line: what the stack decided, in its words.</summary>
    private static string DecisionLine(FlowFrame f)
    {
        string layer = StackCounters.LayerName(f.Layer);
        string text = f.Decision is null ? f.Note ?? ""
            : f.FromStack == true ? $"sent by the stack ({layer}): {f.Decision}"
            : $"=> {layer}: {f.Decision}";
        if (f.Decision is not null && f.Note is { } note && !note.Contains("this replay sent the same frame", StringComparison.Ordinal))
        {
            // "sent by the stack in the recording (tx: ...); this replay did not send it": the line already says the first half.
            const string Recorded = "sent by the stack in the recording";
            int semi = note.LastIndexOf("; ", StringComparison.Ordinal);
            text += " (" + (note.StartsWith(Recorded, StringComparison.Ordinal) && semi > 0 ? note[(semi + 2)..] : note) + ")";
        }
        return text;
    }

    private static string Hover(FlowFrame f, string from, string to, bool retx, long start)
    {
        var sb = new StringBuilder();
        sb.Append(f.Number is { } n ? $"frame #{n}" : "a frame only this replay sent").Append(", +").Append(PageWriter.Seconds((f.Record.Timestamp - start) / 1e9))
          .Append(" s, ").Append(f.Record.OriginalLength).Append(" bytes, ").Append(from).Append(" -> ").Append(to).Append('\n');
        sb.Append(f.Summary).Append('\n');
        if (f.Decision is not null)
            sb.Append(f.FromStack == true ? "sent by the stack, " : "received by the stack, ").Append(StackCounters.LayerName(f.Layer)).Append(" layer: ").Append(f.Decision).Append('\n');
        if (f.Dropped) sb.Append("the stack dropped this frame\n");
        if (retx) sb.Append("a retransmission: this sequence range was sent before\n");
        if (f.Note is { } note) sb.Append(note).Append('\n');
        if (f.Record.Comment is { } c && c != f.Note && (f.Decision is null || !c.EndsWith(f.Decision, StringComparison.Ordinal))) sb.Append("recorded comment: ").Append(c).Append('\n');
        return sb.ToString().TrimEnd('\n');
    }
}
