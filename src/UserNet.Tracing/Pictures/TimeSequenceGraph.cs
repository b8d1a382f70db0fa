using System.Text;
using UserNet.Wire;

namespace UserNet.Pictures;

/// <summary>
/// A time-sequence graph of one direction of one TCP connection, as tcptrace draws it (and Wireshark's "tcptrace"
/// graph): data segments as vertical bars over their sequence range, the receiver's ACKs as a step line, the ACK plus
/// the advertised window (scaled as the SYNs agreed, RFC 7323 section 2.2) as another, retransmissions in red, SACK
/// blocks (RFC 2018) as short bars at the ranges they report, and the stack's state changes along the time axis.
/// </summary>
internal static class TimeSequenceGraph
{
    private const int Width = 1100, Height = 470, Left = 90, Right = 1070, PlotTop = 46, PlotBottom = 360;
    private const string SegColour = "#1f3a93", RetxColour = "#c0392b", AckColour = "#1a9850", WindowColour = "#d4a017", SackColour = "#8e44ad", StateColour = "#6a3d9a";

    private static int _ids;

    public static void Write(TextWriter w, TcpConnection c, int d, List<FlowFrame> frames, int maxSegments)
    {
        int id = Interlocked.Increment(ref _ids);
        uint isn = c.Initial(d)!.Value;
        long Rel(uint x) => unchecked((int)(x - isn));
        int scale = c.Scale(1 - d);
        var segs = c.Segments.Where(s => s.Direction == d).ToList();
        bool capped = segs.Count > maxSegments;
        var drawn = capped ? segs.Take(maxSegments).ToList() : segs;
        // A capped graph shows the time its drawn segments span, and the ACKs, SACKs and state changes of that time.
        double until = capped ? drawn[^1].Time : double.PositiveInfinity;
        var acks = c.Segments.Where(s => s.Direction != d && s.Flags.HasFlag(TcpFlags.Ack) && s.Time <= until)
            .Select(s => (s.Time, Ack: Rel(s.Ack), Edge: Rel(s.Ack) + ((long)s.Window << (s.Flags.HasFlag(TcpFlags.Syn) ? 0 : scale)), s.Frame)).ToList();
        var sacks = c.Segments.Where(s => s.Direction != d && s.Time <= until).SelectMany(s => s.Sacks.Select(b => (s.Time, L: Rel(b.Left), R: Rel(b.Right), s.Frame))).ToList();
        var states = c.States.Where(s => s.Time <= until).ToList();
        int dataSegments = segs.Count(s => s.Length > 0), retransmissions = segs.Count(s => s.Length > 0 && s.Retransmission);

        var times = c.Segments.Where(s => s.Time <= until).Select(s => s.Time).ToList();
        double t0 = times.Min(), t1 = times.Max();
        if (t1 - t0 < 1e-6) t1 = t0 + 0.001;
        double pad = (t1 - t0) * 0.03;
        t0 -= pad; t1 += pad;
        long y0 = Math.Min(0, drawn.Min(s => Rel(s.Seq)));
        long y1 = Math.Max(drawn.Max(s => Rel(s.Seq) + s.Consumes), acks.Count > 0 ? acks.Max(a => a.Ack) : 0);
        if (sacks.Count > 0) y1 = Math.Max(y1, sacks.Max(s => s.R));
        long edge = acks.Count > 0 ? acks.Max(a => a.Edge) : y1;
        // A window far above the data would squash the data into a line: then the window line runs off the top.
        bool windowOffTop = edge > y1 + 3 * Math.Max(1, y1 - y0);
        if (!windowOffTop) y1 = Math.Max(y1, edge);
        if (y1 <= y0) y1 = y0 + 1;
        double yPad = (y1 - y0) * 0.05;
        double ylo = y0 - yPad, yhi = y1 + yPad;
        double X(double t) => Left + (t - t0) / (t1 - t0) * (Right - Left);
        double Y(double v) => PlotBottom - (v - ylo) / (yhi - ylo) * (PlotBottom - PlotTop);

        var sb = new StringBuilder();
        string name = c.Name(d);
        sb.Append("<div class=\"scroll\"><svg class=\"tsg\" data-connection=\"").Append(Html.Escape(name)).Append("\" width=\"").Append(Width).Append("\" height=\"").Append(Height)
          .Append("\" viewBox=\"0 0 ").Append(Width).Append(' ').Append(Height).Append("\" role=\"img\" aria-label=\"time-sequence graph\">\n");
        sb.Append("<defs><clipPath id=\"plot-").Append(id).Append("\"><rect x=\"").Append(Left).Append("\" y=\"").Append(PlotTop).Append("\" width=\"").Append(Right - Left)
          .Append("\" height=\"").Append(PlotBottom - PlotTop).Append("\"/></clipPath></defs>\n");
        sb.Append("<text class=\"title\" x=\"").Append(Left).Append("\" y=\"18\">").Append(Html.Escape(
            $"{name}: {dataSegments} data {(dataSegments == 1 ? "segment" : "segments")}, {retransmissions} {(retransmissions == 1 ? "retransmission" : "retransmissions")}"
)).Append("</text>\n");
        string subtitle = (scale > 0 ? $"receiver's window scale {scale} (its window counts units of {1 << scale} bytes)" : "no window scaling")
            + (windowOffTop ? $"; the window line reaches byte {edge}, off the top" : "");
        sb.Append("<text class=\"decision\" x=\"").Append(Left).Append("\" y=\"36\">").Append(Html.Escape(subtitle)).Append("</text>\n");

        // Axes, grid and ticks.
        foreach (double v in Ticks(ylo, yhi))
        {
            double y = Y(v);
            sb.Append("<line class=\"grid\" x1=\"").Append(Left).Append("\" y1=\"").Append(PageWriter.Num(y)).Append("\" x2=\"").Append(Right).Append("\" y2=\"").Append(PageWriter.Num(y)).Append("\"/>");
            sb.Append("<text x=\"").Append(Left - 6).Append("\" y=\"").Append(PageWriter.Num(y + 4)).Append("\" text-anchor=\"end\">").Append(PageWriter.Num(v)).Append("</text>\n");
        }
        foreach (double t in Ticks(t0, t1))
        {
            double x = X(t);
            sb.Append("<line class=\"grid\" x1=\"").Append(PageWriter.Num(x)).Append("\" y1=\"").Append(PlotTop).Append("\" x2=\"").Append(PageWriter.Num(x)).Append("\" y2=\"").Append(PlotBottom).Append("\"/>");
            sb.Append("<text x=\"").Append(PageWriter.Num(x)).Append("\" y=\"").Append(PlotBottom + 16).Append("\" text-anchor=\"middle\">").Append(PageWriter.Num(Math.Round(t, 6))).Append("</text>\n");
        }
        sb.Append("<line class=\"axis\" x1=\"").Append(Left).Append("\" y1=\"").Append(PlotBottom).Append("\" x2=\"").Append(Right).Append("\" y2=\"").Append(PlotBottom).Append("\"/>");
        sb.Append("<line class=\"axis\" x1=\"").Append(Left).Append("\" y1=\"").Append(PlotTop).Append("\" x2=\"").Append(Left).Append("\" y2=\"").Append(PlotBottom).Append("\"/>\n");
        sb.Append("<text class=\"axis-label\" x=\"").Append((Left + Right) / 2).Append("\" y=\"").Append(PlotBottom + 34).Append("\" text-anchor=\"middle\">time (seconds since the first frame)</text>");
        sb.Append("<text class=\"axis-label\" transform=\"translate(18,").Append((PlotTop + PlotBottom) / 2).Append(") rotate(-90)\" text-anchor=\"middle\">sequence number (bytes from the start)</text>\n");

        sb.Append("<g clip-path=\"url(#plot-").Append(id).Append(")\">\n");
        // The ACK line and the window line: steps, each value held until the next ACK.
        if (acks.Count > 0)
        {
            sb.Append("<path class=\"window-line\" fill=\"none\" stroke=\"").Append(WindowColour).Append("\" stroke-width=\"2\" d=\"").Append(Steps(acks.Select(a => (a.Time, (double)a.Edge)), X, Y, Right)).Append("\"><title>")
              .Append(Html.Escape("advertised window: the receiver's ACK plus the window it offers; the sender may send up to this line")).Append("</title></path>\n");
            sb.Append("<path class=\"ack-line\" fill=\"none\" stroke=\"").Append(AckColour).Append("\" stroke-width=\"2\" d=\"").Append(Steps(acks.Select(a => (a.Time, (double)a.Ack)), X, Y, Right)).Append("\"><title>")
              .Append(Html.Escape("ACK line: every byte below it has been acknowledged")).Append("</title></path>\n");
            // A dot per ACK while they are few enough to tell apart.
            foreach (var a in acks.Count <= 2000 ? acks : [])
                sb.Append("<circle class=\"ack\" cx=\"").Append(PageWriter.Num(X(a.Time))).Append("\" cy=\"").Append(PageWriter.Num(Y(a.Ack))).Append("\" r=\"2.5\" fill=\"").Append(AckColour).Append("\"><title>")
                  .Append(Html.Escape($"frame {Number(frames, a.Frame)}: ack {a.Ack}, window edge {a.Edge}")).Append("</title></circle>\n");
        }
        foreach (var s in sacks)
        {
            double x = X(s.Time) + 4;
            sb.Append("<line class=\"sack\" x1=\"").Append(PageWriter.Num(x)).Append("\" y1=\"").Append(PageWriter.Num(Y(s.L))).Append("\" x2=\"").Append(PageWriter.Num(x)).Append("\" y2=\"").Append(PageWriter.Num(Math.Min(Y(s.L) - 2, Y(s.R))))
              .Append("\" stroke=\"").Append(SackColour).Append("\" stroke-width=\"3\"><title>").Append(Html.Escape($"frame {Number(frames, s.Frame)}: SACK block {s.L}-{s.R} (the receiver holds these bytes beyond a gap)")).Append("</title></line>\n");
        }
        foreach (var s in drawn)
        {
            double x = X(s.Time);
            long lo = Rel(s.Seq);
            if (s.Length > 0)
            {
                double ya = Y(lo), yb = Math.Min(Y(lo + s.Length), ya - 3);
                string colour = s.Retransmission ? RetxColour : SegColour;
                sb.Append("<g class=\"seg").Append(s.Retransmission ? " retransmission" : "").Append("\" stroke=\"").Append(colour).Append("\" stroke-width=\"").Append(s.Retransmission ? "2.5" : "1.8").Append("\"><title>")
                  .Append(Html.Escape($"frame {Number(frames, s.Frame)}: bytes {lo}:{lo + s.Length} ({s.Length} bytes)" + (s.Retransmission ? ", a retransmission" : ""))).Append("</title>");
                sb.Append("<line x1=\"").Append(PageWriter.Num(x)).Append("\" y1=\"").Append(PageWriter.Num(ya)).Append("\" x2=\"").Append(PageWriter.Num(x)).Append("\" y2=\"").Append(PageWriter.Num(yb)).Append("\"/>");
                sb.Append("<line x1=\"").Append(PageWriter.Num(x - 3)).Append("\" y1=\"").Append(PageWriter.Num(ya)).Append("\" x2=\"").Append(PageWriter.Num(x + 3)).Append("\" y2=\"").Append(PageWriter.Num(ya)).Append("\"/>");
                sb.Append("<line x1=\"").Append(PageWriter.Num(x - 3)).Append("\" y1=\"").Append(PageWriter.Num(yb)).Append("\" x2=\"").Append(PageWriter.Num(x + 3)).Append("\" y2=\"").Append(PageWriter.Num(yb)).Append("\"/>");
                if (s.Retransmission)
                    sb.Append("<text class=\"tag\" x=\"").Append(PageWriter.Num(x + 6)).Append("\" y=\"").Append(PageWriter.Num(yb - 2)).Append("\" fill=\"").Append(RetxColour).Append("\" stroke=\"none\">R</text>");
                sb.Append("</g>\n");
            }
            foreach (var (flag, word) in new[] { (TcpFlags.Syn, "SYN"), (TcpFlags.Fin, "FIN"), (TcpFlags.Rst, "RST") })
            {
                if (!s.Flags.HasFlag(flag)) continue;
                long at = flag == TcpFlags.Fin ? lo + s.Length : lo;
                double y = Y(at);
                sb.Append("<g class=\"flag-mark\"><title>").Append(Html.Escape($"frame {Number(frames, s.Frame)}: {word} at {at}" + (s.Retransmission ? ", sent again" : ""))).Append("</title>")
                  .Append("<rect x=\"").Append(PageWriter.Num(x - 3)).Append("\" y=\"").Append(PageWriter.Num(y - 3)).Append("\" width=\"6\" height=\"6\" fill=\"").Append(s.Retransmission ? RetxColour : SegColour).Append("\"/>")
                  .Append("<text class=\"tag\" x=\"").Append(PageWriter.Num(x + 6)).Append("\" y=\"").Append(PageWriter.Num(y - 5)).Append("\">").Append(word).Append("</text></g>\n");
            }
        }
        sb.Append("</g>\n");

        // State changes along the time axis; a label goes on the first row where it overlaps no other.
        var rows = new List<List<(double From, double To)>>();
        foreach (var (frame, time, change) in states)
        {
            double x = X(time), width = change.Length * 6.2 + 6;
            // Near the right edge the label runs leftwards, so that it stays inside the picture.
            bool leftwards = x + width > Width - 4;
            var span = leftwards ? (From: x - width, To: x) : (From: x, To: x + width);
            int level = rows.FindIndex(r => r.All(o => o.To < span.From || o.From > span.To));
            if (level < 0) { rows.Add(new()); level = rows.Count - 1; }
            rows[level].Add(span);
            level = Math.Min(level, 3);
            double ly = PlotBottom + 50 + level * 13;
            sb.Append("<g class=\"state\"><title>").Append(Html.Escape($"frame {Number(frames, frame)}: {change}")).Append("</title>")
              .Append("<line x1=\"").Append(PageWriter.Num(x)).Append("\" y1=\"").Append(PlotBottom - 8).Append("\" x2=\"").Append(PageWriter.Num(x)).Append("\" y2=\"").Append(PageWriter.Num(ly - 9))
              .Append("\" stroke=\"").Append(StateColour).Append("\" stroke-width=\"1.5\" stroke-dasharray=\"2 2\"/>")
              .Append("<text class=\"state\" x=\"").Append(PageWriter.Num(leftwards ? x - 3 : x + 3)).Append("\" y=\"").Append(PageWriter.Num(ly)).Append(leftwards ? "\" text-anchor=\"end\">" : "\">")
              .Append(Html.Escape(change)).Append("</text></g>\n");
        }

        // The legend.
        int lx = Left, lyy = Height - 10;
        foreach (var (colour, text) in new[] { (SegColour, "data segment"), (RetxColour, "retransmission"), (AckColour, "ACK line"), (WindowColour, "ACK + advertised window"), (SackColour, "SACK block"), (StateColour, "state change") })
        {
            sb.Append("<rect x=\"").Append(lx).Append("\" y=\"").Append(lyy - 9).Append("\" width=\"14\" height=\"10\" fill=\"").Append(colour).Append("\"/>")
              .Append("<text class=\"axis-label\" x=\"").Append(lx + 18).Append("\" y=\"").Append(lyy).Append("\">").Append(text).Append("</text>");
            lx += 30 + text.Length * 7;
        }
        sb.Append("\n</svg></div>\n");
        if (capped)
            sb.Append("<p class=\"cap\">").Append(Html.Escape($"This graph draws the first {maxSegments} of {segs.Count} segments of {name} (the count in its title is of them all).")).Append("</p>\n");
        w.Write(sb);
    }

    private static string Number(List<FlowFrame> frames, int index) => frames[index].Number is { } n ? "#" + n : "(replay)";

    private static string Steps(IEnumerable<(double Time, double Value)> points, Func<double, double> x, Func<double, double> y, double end)
    {
        var sb = new StringBuilder();
        bool first = true;
        foreach (var (t, v) in points)
        {
            string px = PageWriter.Num(x(t)), py = PageWriter.Num(y(v));
            if (first) { sb.Append('M').Append(px).Append(',').Append(py); first = false; }
            else sb.Append(" H").Append(px).Append(" V").Append(py);
        }
        sb.Append(" H").Append(PageWriter.Num(end));
        return sb.ToString();
    }

    /// <summary>About six round values between <paramref name="lo"/> and <paramref name="hi"/> (steps of 1, 2 or 5 times a power of ten).</summary>
    internal static IEnumerable<double> Ticks(double lo, double hi)
    {
        double span = hi - lo;
        if (!(span > 0) || double.IsInfinity(span)) yield break;
        double raw = span / 6, mag = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        double step = raw / mag < 1.5 ? mag : raw / mag < 3.5 ? 2 * mag : raw / mag < 7.5 ? 5 * mag : 10 * mag;
        for (double v = Math.Ceiling(lo / step) * step; v <= hi + step * 1e-9; v += step) { double r = Math.Round(v / step) * step; yield return r == 0 ? 0 : r; } // never "-0"
    }
}
