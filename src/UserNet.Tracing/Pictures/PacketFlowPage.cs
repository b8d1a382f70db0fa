using UserNet.Capture;
using UserNet.Replay;
using UserNet.Tracing;

namespace UserNet.Pictures;

/// <summary>What a packet-flow page shows and how much of it.</summary>
public sealed record PacketFlowOptions
{
    /// <summary>The page's heading, usually the capture's file name.</summary>
    public string Title { get; init; } = "capture";
    /// <summary>The ladder draws at most this many frames (a line says how many it leaves out); the table counts them all.</summary>
    public int MaxLadderFrames { get; init; } = 2000;
    /// <summary>At most this many TCP time-sequence graphs (one per connection and direction that carries data).</summary>
    public int MaxGraphs { get; init; } = 16;
    /// <summary>A time-sequence graph draws at most this many segments of its direction.</summary>
    public int MaxGraphSegments { get; init; } = 4000;
}

/// <summary>
/// Writes one self-contained HTML page (inline SVG and CSS; nothing fetched, no script) that pictures a capture's
/// packet flow: a ladder diagram with one lane per host and one arrow per frame, labelled with its tcpdump line and
/// the stack's decision; a time-sequence graph per TCP connection and direction, as tcptrace draws it; and a table
/// of frames in, out and dropped per layer, with the reasons. Every string taken from a capture is HTML-escaped.
/// </summary>
public static class PacketFlowPage
{
    /// <summary>
    /// The page for a capture as it was recorded (<c>usernet trace -r FILE --html OUT</c>): one lane per host (IP
    /// address, or MAC for frames without one), and the recorded stack's decisions where the frames' comments carry
    /// them (<c>rx: ip checksum bad -> drop</c>, as <c>usernet up --pcap</c> writes them).
    /// </summary>
    public static void Write(TextWriter writer, IReadOnlyList<CaptureRecord> records, PacketFlowOptions? options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(records);
        var formatter = new TcpdumpFormatter(new TcpdumpOptions { Timestamps = TimestampStyle.None });
        var frames = new List<FlowFrame>(records.Count);
        for (int i = 0; i < records.Count; i++)
        {
            var r = records[i];
            string? comment = r.Comment;
            bool? fromStack = null;
            string? decision = null;
            if (comment is not null && comment.StartsWith("rx: ", StringComparison.Ordinal)) (fromStack, decision) = (false, comment[4..]);
            else if (comment is not null && comment.StartsWith("tx: ", StringComparison.Ordinal)) (fromStack, decision) = (true, comment[4..]);
            var layer = decision is null ? FrameLayers.Top(r) : FrameLayers.OfDecision(decision, r);
            string? note = decision is null ? comment : null;
            frames.Add(new FlowFrame(i + 1, r, formatter.Format(r), fromStack, layer, decision, FrameLayers.IsDrop(decision), note, ReplayOnly: false));
        }
        PageWriter.Write(writer, frames, options ?? new PacketFlowOptions(), stackMac: null, replay: false);
    }

    /// <summary>
    /// The page for a replay (<c>usernet replay FILE --html OUT</c>): the stack's lane and one per peer host, each
    /// frame of the capture with the replayed stack's decision, and the frames only this replay sent.
    /// </summary>
    public static void Write(TextWriter writer, ReplayResult replay, PacketFlowOptions? options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(replay);
        var frames = replay.Frames.Select(f => new FlowFrame(f.Number, f.Record, f.Summary, f.FromStack, f.Layer, f.Decision, f.Dropped, f.Note, ReplayOnly: f.Number is null)).ToList();
        PageWriter.Write(writer, frames, options ?? new PacketFlowOptions(), replay.Mac, replay: true);
    }
}
