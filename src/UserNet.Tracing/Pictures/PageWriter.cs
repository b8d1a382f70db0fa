using System.Globalization;
using System.Text;
using UserNet.Core;
using UserNet.Wire;

namespace UserNet.Pictures;

/// <summary>Puts the page together: the heading, the per-layer table, the ladder and the TCP graphs.</summary>
internal static class PageWriter
{
    public static void Write(TextWriter w, List<FlowFrame> frames, PacketFlowOptions options, MacAddress? stackMac, bool replay)
    {
        long start = frames.Count == 0 ? 0 : frames.Min(f => f.Record.Timestamp);
        var retransmitted = new HashSet<int>();
        var connections = TcpFlows.Find(frames, start, retransmitted);
        var lanes = Lanes.Of(frames, stackMac);

        w.Write("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>");
        w.Write(Html.Escape($"packet flow: {options.Title}"));
        w.Write("</title>\n<style>\n");
        w.Write(Css);
        w.Write("</style>\n</head>\n<body>\n<h1>Packet flow: ");
        w.Write(Html.Escape(options.Title));
        w.Write("</h1>\n<p class=\"intro\">");
        int hosts = lanes.Names.Count(n => n != Lanes.Broadcast);
        w.Write(Html.Escape(replay
            ? $"{frames.Count(f => f.Number is not null)} frames of the capture replayed through a fresh stack"
              + (frames.Any(f => f.ReplayOnly) ? $", and {frames.Count(f => f.ReplayOnly)} frames only the replay sent" : "")
              + $"; {hosts} {(hosts == 1 ? "host" : "hosts")}."
            : $"{frames.Count} frames between {hosts} {(hosts == 1 ? "host" : "hosts")}."));
        w.Write(" Hover over a frame, a segment or a tick for its details.</p>\n");

        w.Write("<h2>Frames per layer</h2>\n");
        Summary.Write(w, frames, replay);

        w.Write("<h2>Ladder</h2>\n<p class=\"help\">");
        w.Write(Html.Escape("Time runs down the page. Each host is a vertical lane; each frame is an arrow from its sender to its receiver, "
            + "labelled with its tcpdump line and, under it, what the stack decided. "
            + (lanes.Stack is null ? "Blue: to the right; green: to the left; " : "Blue: to the stack; green: from the stack; grey: between other hosts; ")
            + "red with a cross: dropped by the stack; "
            + "orange: a TCP retransmission (the same sequence range sent again)"
            + (replay ? "; dashed: sent by this replay but not in the recording." : ".")));
        w.Write("</p>\n");
        Ladder.Write(w, frames, lanes, retransmitted, start, options.MaxLadderFrames);

        w.Write("<h2>TCP time-sequence graphs</h2>\n");
        var graphs = connections.SelectMany(c => new[] { (c, 0), (c, 1) })
            .Where(x => x.c.Segments.Any(s => s.Direction == x.Item2 && s.Length > 0)).ToList();
        if (graphs.Count == 0)
            w.Write("<p class=\"help\">No TCP connection in this capture carries data.</p>\n");
        else
        {
            w.Write("<p class=\"help\">");
            w.Write(Html.Escape("One graph per connection and direction that carries data, as tcptrace and Wireshark draw them. "
                + "Time runs to the right; up is the sequence number, in bytes from the start of that direction. "
                + "Each data segment is a vertical bar from its first byte to its last (red when it is a retransmission); "
                + "the green step line is the highest byte the receiver has acknowledged, the yellow one that plus the window it advertises "
                + "(the sender may send up to it); purple bars are the ranges the receiver reports holding beyond a gap (SACK blocks); "
                + "the ticks along the time axis are the stack's state changes."));
            w.Write("</p>\n");
            foreach (var (c, d) in graphs.Take(options.MaxGraphs)) TimeSequenceGraph.Write(w, c, d, frames, options.MaxGraphSegments);
            if (graphs.Count > options.MaxGraphs)
                w.Write($"<p class=\"cap\">{graphs.Count - options.MaxGraphs} more graphs are left out (the page draws at most {options.MaxGraphs}).</p>\n");
        }
        w.Write("</body>\n</html>\n");
    }

    private const string Css = """
        body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; margin: 24px; color: #222; background: #fff; }
        h1 { font-size: 22px; margin: 0 0 6px 0; }
        h2 { font-size: 17px; margin: 28px 0 6px 0; border-bottom: 1px solid #ddd; padding-bottom: 3px; }
        p.intro, p.help { max-width: 70em; font-size: 13px; color: #444; margin: 4px 0 10px 0; }
        p.cap { font-size: 13px; color: #a33; font-weight: 600; }
        table.summary { border-collapse: collapse; font-size: 13px; }
        table.summary th, table.summary td { border: 1px solid #ccc; padding: 3px 10px; text-align: right; }
        table.summary th:first-child, table.summary td:first-child { text-align: left; }
        table.summary tr.reason td { color: #a33; font-size: 12px; }
        table.summary tr.reason td:first-child { padding-left: 26px; }
        table.summary tr.total td { font-weight: 600; background: #f5f5f5; }
        .scroll { overflow-x: auto; }
        svg { display: block; }
        svg text { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 11px; fill: #222; }
        svg text.lane { font-family: system-ui, "DejaVu Sans", sans-serif; font-size: 12px; font-weight: 600; }
        svg text.decision { fill: #555; font-size: 10.5px; }
        svg text.decision.drop { fill: #c0392b; font-weight: 600; }
        svg text.num { fill: #777; }
        svg text.tag { font-family: system-ui, "DejaVu Sans", sans-serif; font-size: 10px; font-weight: 600; }
        svg .lane-line { stroke: #bbb; stroke-width: 1.5; }
        svg .row:hover rect.hit { fill: #fff6d5; }
        svg .axis { stroke: #444; stroke-width: 1; }
        svg .grid { stroke: #eee; stroke-width: 1; }
        svg text.axis-label { font-family: system-ui, "DejaVu Sans", sans-serif; font-size: 12px; }
        svg text.title { font-family: system-ui, "DejaVu Sans", sans-serif; font-size: 13px; font-weight: 600; }
        svg text.state { font-family: system-ui, "DejaVu Sans", sans-serif; font-size: 10px; fill: #6a3d9a; }
        """;

    public static string Num(double v) => v.ToString("0.##", CultureInfo.InvariantCulture);
    public static string Seconds(double v) => v.ToString("0.000000", CultureInfo.InvariantCulture);
}

/// <summary>Writes text into HTML (and inline SVG) so that it shows as the same text and never as markup.</summary>
internal static class Html
{
    public static string Escape(string? s)
    {
        if (string.IsNullOrEmpty(s)) return "";
        var sb = new StringBuilder(s.Length + 16);
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            switch (c)
            {
                case '&': sb.Append("&amp;"); break;
                case '<': sb.Append("&lt;"); break;
                case '>': sb.Append("&gt;"); break;
                case '"': sb.Append("&quot;"); break;
                case '\'': sb.Append("&#39;"); break;
                case '\n' or '\t': sb.Append(c); break;
                // Control characters and lone surrogates have no place in a page; show that something was there.
                case < ' ' or '\u007f': sb.Append('\uFFFD'); break;
                default:
                    if (char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])) sb.Append(c).Append(s[++i]);
                    else if (char.IsSurrogate(c)) sb.Append('\uFFFD');
                    else sb.Append(c);
                    break;
            }
        }
        return sb.ToString();
    }
}

/// <summary>The ladder's lanes: the stack first (when there is one), then each host in order of its first frame.</summary>
internal sealed class Lanes
{
    public List<string> Names { get; } = new();
    public string? Stack { get; private set; }
    private readonly Dictionary<string, int> _index = new();
    private readonly Dictionary<MacAddress, string> _ipOfMac = new();
    public const string Broadcast = "broadcast";

    public int IndexOf(string host) => _index[host];

    /// <summary>The lanes of the frame's sender and receiver.</summary>
    public (string From, string To) Ends(FlowFrame f)
    {
        var h = FrameHosts.Of(f.Record);
        string from = h.SourceIp ?? Name(h.SourceMac) ?? "?";
        string to = h.DestinationIp ?? (h.DestinationMac is { IsBroadcast: true } ? Broadcast : Name(h.DestinationMac)) ?? "?";
        // A broadcast the stack received (and decided on) ends in the stack's lane, where its decision was made.
        if (to is Broadcast or "?" && f.FromStack == false && Stack is { } s) to = s;
        return (from, to);
    }

    private string? Name(MacAddress? mac) => mac is { } m ? _ipOfMac.TryGetValue(m, out var ip) ? ip : m.ToString() : null;

    public static Lanes Of(List<FlowFrame> frames, MacAddress? stackMac)
    {
        var lanes = new Lanes();
        // A MAC stands for the IP address its frames came from, so a frame too damaged to show its addresses still
        // lands in its sender's lane.
        foreach (var f in frames)
        {
            var h = FrameHosts.Of(f.Record);
            if (h.SourceIp is { } ip && h.SourceMac is { } mac && !mac.IsMulticast && ip != "127.0.0.1") lanes._ipOfMac.TryAdd(mac, ip);
        }
        if (stackMac is { } sm && lanes._ipOfMac.TryGetValue(sm, out var stackIp)) lanes.Stack = stackIp;
        else lanes.Stack = frames.Where(f => f.FromStack == true).Select(f => FrameHosts.Of(f.Record).SourceIp).FirstOrDefault(ip => ip is not null);
        if (lanes.Stack is { } s) lanes.Add(s);
        bool broadcast = false;
        foreach (var f in frames)
        {
            var (from, to) = lanes.Ends(f);
            lanes.Add(from);
            if (to == Broadcast) broadcast = true; else if (to != "?") lanes.Add(to);
        }
        if (broadcast) lanes.Add(Broadcast);
        return lanes;
    }

    private void Add(string host)
    {
        if (_index.ContainsKey(host)) return;
        _index[host] = Names.Count;
        Names.Add(host);
    }
}
