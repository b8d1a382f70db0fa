using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Net;
using System.Text;
using Microsoft.Extensions.Logging;
using UserNet.Capture;
using UserNet.Core;
using UserNet.Icmp;
using UserNet.Services;
using UserNet.Sockets;
using UserNet.Stack;
using UserNet.Tcp;
using UserNet.Tracing;
using UserNet.Wire;

namespace UserNet.Replay;

/// <summary>
/// One replay of one capture: a fresh stack (a <see cref="NetStack"/> driven by hand, on the capture's clock), the
/// built-in services running on it through the ordinary sockets, and the transcript being written. A client of the
/// stack's public surface only: what it shows is what the stack did.
/// </summary>
internal sealed class ReplaySession : IDisposable
{
    private readonly IReadOnlyList<CaptureRecord> _records;
    private readonly ReplayOptions _options;
    private readonly Ipv4Address _ip;
    private readonly MacAddress _mac;
    private readonly string _macSource;
    private readonly Collector _sink = new();
    private readonly NetStack _stack;
    private readonly QueueScheduler _scheduler = new();
    private readonly Narration _narration = new();
    private readonly TcpdumpFormatter _summary = new(new TcpdumpOptions { Timestamps = TimestampStyle.None });
    private readonly StringBuilder _sb = new();
    private readonly List<CaptureRecord> _sent = new();
    /// <summary>The frames of the replay as the packet-flow page draws them: the capture's, and the replay's own.</summary>
    private readonly List<FrameEntry> _frames = new();
    /// <summary>The entry of each frame this replay sent, to mark it when a recorded frame turns out to be the same.</summary>
    private readonly Dictionary<CaptureRecord, FrameEntry> _sentEntries = new(ReferenceEqualityComparer.Instance);
    /// <summary>Sent by this replay, not yet matched with a recorded frame of ours.</summary>
    private readonly List<CaptureRecord> _pending = new();
    /// <summary>Recorded echo requests of a ping client that the replay has issued.</summary>
    private readonly HashSet<int> _issued = new();
    private readonly ReplayPinger _pinger = new();
    /// <summary>The replay's TCP clients: a connection for each one the recorded stack opened, by (our port, peer, peer port).</summary>
    private readonly Dictionary<(ushort, Ipv4Address, ushort), ReplayClient> _clients = new();
    /// <summary>The recorded stack marked what it sent (usernet up --pcap): services then run when the recording shows they ran.</summary>
    private readonly bool _recording;
    private readonly bool _services;
    private readonly Dictionary<(ushort, Ipv4Address, ushort), Queue<uint>> _isns;
    private readonly Dictionary<(ushort, Ipv4Address, ushort), uint> _tsOffsets;
    private readonly long _first;
    /// <summary>The recorded stack answered SYNs with SYN cookies: the replay's keeps no half-open connection.</summary>
    private readonly bool _cookies;
    /// <summary>The stack's clock: the time of the last frame or timer given to it.</summary>
    private TimeSpan _now;

    public ReplaySession(IReadOnlyList<CaptureRecord> records, ReplayOptions options)
    {
        _records = records;
        _options = options;
        _ip = options.Address.Address;
        (_mac, _macSource) = options.Mac is { } m ? (m, "given")
            : CaptureForensics.InferMac(records, _ip) is { } found ? found
            : (PacketReplay.DefaultMac, "default: the capture does not show one");
        _recording = records.Any(r => r.Comment?.StartsWith("tx: ", StringComparison.Ordinal) == true);
        // The peer acknowledges the ISNs the recorded stack chose: the replay's connections start from the same ones.
        _isns = CaptureForensics.RecordedInitialSequenceNumbers(records, _mac, _ip);
        // ... and offers what it offered (SACK, timestamps), with the TSvals it sent, which the peer echoes.
        (bool? sack, bool? timestamps, _tsOffsets) = CaptureForensics.RecordedTcpOptions(records, _mac, _ip);
        // ... and when it answered SYNs with cookies (a full queue, or usernet up --limit tcp-half-open=0), keeps no
        // half-open connection either, so that its listeners answer with cookies too.
        _cookies = records.Any(r => r.Comment == CaptureForensics.SynCookieComment);
        _stack = new NetStack(new StackOptions
        {
            Address = options.Address,
            Gateway = options.Gateway,
            Mac = _mac,
            Seed = options.Seed,
            Name = "replay",
            Observer = _sink,
            TcpInitialSequenceNumbers = _isns.Count == 0 ? null : RecordedIsn,
            TcpTimestampOffsets = _tsOffsets.Count == 0 ? null : RecordedTimestampOffset,
            Tcp = new TcpSettings { Sack = sack ?? true, Timestamps = timestamps ?? true },
            Limits = _cookies ? new StackLimits { TcpHalfOpenConnections = 0 } : new StackLimits(),
        }, _sink)
        {
            // Application code (the services) runs only when the replay gives it a turn.
            ApplicationScheduler = _scheduler,
            EchoListener = _pinger,
        };
        _first = records.Count > 0 ? records[0].Timestamp : 0;
        if (options.Services) _services = StartServices();
    }

    private uint? RecordedTimestampOffset(Ipv4Address local, ushort localPort, Ipv4Address remote, ushort remotePort) =>
        _tsOffsets.TryGetValue((localPort, remote, remotePort), out var o) ? o : null;

    private uint? RecordedIsn(Ipv4Address local, ushort localPort, Ipv4Address remote, ushort remotePort) =>
        _isns.TryGetValue((localPort, remote, remotePort), out var q) && q.Count > 0 ? q.Dequeue() : null;

    /// <summary>Echo and discard on ports 7 and 9, UDP and TCP, as <c>usernet up</c> serves by default.</summary>
    private bool StartServices()
    {
        var start = StackServices.StartAsync(_stack, ["echo", "discard"], _narration);
        while (!start.IsCompleted && _scheduler.TryTake(out var work)) _stack.RunApplicationWork(work, _now);
        if (!start.IsCompleted) throw new InvalidOperationException("the services did not start on the replay's stack");
        start.GetAwaiter().GetResult(); // bound on a fresh stack: nothing can be in the way
        _narration.Lines.Clear();
        return true;
    }

    public ReplayResult Run()
    {
        var records = _records;
        if (_options.AddressSource is { } why)
            _sb.Append("replay: the stack is ").Append(_options.Address.ToString()).Append(" mac ").Append(_mac.ToString())
              .Append(" (").Append(why).Append("; mac ").Append(_macSource).Append("), ");
        else
            _sb.Append("replay: stack ").Append(_options.Address.ToString()).Append(" mac ").Append(_mac.ToString()).Append(" (").Append(_macSource).Append("), ");
        _sb.Append(records.Count).Append(records.Count == 1 ? " frame" : " frames").Append('\n');
        if (_services && records.Any(r => CaptureForensics.IsUdpOrTcp(r.Data)))
            _sb.Append("replay: the stack serves echo (port 7) and discard (port 9) over udp and tcp, as usernet up does; the services run ")
              .Append(_recording ? "when the recording shows the recorded ones ran (when it shows the stack sending what this replay has not yet)\n" : "after each frame\n");
        if (_isns.Count > 0)
            _sb.Append("replay: tcp connections start from the initial sequence numbers the recorded stack chose (read from its syn and syn-ack segments), so the peer's acknowledgments fit\n");
        if (_cookies)
            _sb.Append("replay: the recorded stack answered syns with syn cookies (its listener's queue was full, or it kept no half-open connection): this replay's stack keeps none either (tcp-half-open=0), so it answers with cookies too\n");
        if (CaptureForensics.RecordedClientConnections(records, _mac, _ip) > 0)
            _sb.Append("replay: the recorded stack opened tcp connections (a client of it, such as usernet nc): when the recording shows it sending a syn, data or a fin that this replay has not, the replay's client connects from the same port, writes the same bytes or finishes sending\n");
        for (int i = 0; i < records.Count; i++) Step(i);
        if (_services && records.Count > 0)
        {
            // What the services still had to do when the capture ended.
            var end = _sb.Length;
            _sb.Append("\nafter the last frame:\n");
            int before = _sb.Length;
            while (RunServices(records[^1].Timestamp)) { }
            if (_sb.Length == before) _sb.Length = end;
        }
        _sb.Append('\n').Append("replay: ").Append(records.Count).Append(" in, ").Append(_sent.Count).Append(" sent\n");
        if (_recording && _pending.Count > 0)
            _sb.Append("replay: ").Append(_pending.Count).Append(_pending.Count == 1 ? " frame" : " frames")
              .Append(" this replay sent did not appear in the recording\n");
        return new ReplayResult(_sb.ToString(), _sent, _mac, _macSource)
        {
            Frames = _frames.Where(f => !f.Matched)
                .Select(f => new ReplayFrame(f.Record, f.Number, f.FromStack, f.Summary, f.Layer, f.Decision, f.Dropped, f.Note)).ToArray(),
        };
    }

    /// <summary>Frame <paramref name="i"/>: the timers due before it, then the frame itself.</summary>
    private void Step(int i)
    {
        var r = _records[i];
        var time = TimeSpan.FromTicks(Math.Max(0, r.Timestamp - _first) / 100);
        if (time < _now) time = _now;
        _sb.Append('\n');
        RunTimersUntil(time, r.Timestamp);
        string summary = _summary.Format(r);
        _sb.Append('#').Append(i + 1).Append(' ').Append(Seconds(r.Timestamp - _first)).Append(' ').Append(summary.Replace("\n", "\n    ")).Append('\n');
        var entry = new FrameEntry(r, i + 1, summary);
        _frames.Add(entry);
        if (r.LinkType != LinkTypes.Ethernet)
        {
            entry.Decision = $"not an ethernet frame (link type {r.LinkType}): not fed to the stack";
            _sb.Append("    ").Append(entry.Decision).Append('\n');
            return;
        }
        if (CaptureForensics.IsFromUs(r, _mac)) Compare(i, time, entry);
        else Feed(r, time, entry);
    }

    /// <summary>Timers first, on the capture's clock, each at its own deadline: ARP retries and expiry, TCP
    /// retransmissions, delayed ACKs and TIME-WAIT happen when they would have.</summary>
    private void RunTimersUntil(TimeSpan time, long timestamp)
    {
        for (int n = 0; n < 10_000 && _stack.NextDeadline is var due && due <= time; n++)
        {
            _now = due > _now ? due : _now;
            _sink.Events.Clear();
            _stack.Poll(_now);
            if (_sink.Events.Count == 0) continue;
            _sb.Append("timer ").Append(Seconds(_now.Ticks * 100)).Append(": a deadline of the stack's passed before the next frame\n");
            foreach (var e in _sink.Events) _pending.Add(AppendSent(e, _first + _now.Ticks * 100, ""));
            _sb.Append('\n');
        }
        _now = time;
        _sink.Events.Clear();
        _stack.Poll(time);
        foreach (var e in _sink.Events) _pending.Add(AppendSent(e, timestamp, "timer: "));
        _sink.Events.Clear();
    }

    /// <summary>
    /// A frame the recorded stack sent (usernet up --pcap records both ways): feeding it back would only show the stack
    /// ignoring itself. Say instead whether this replay sent the same frame.
    /// </summary>
    private void Compare(int i, TimeSpan time, FrameEntry entry)
    {
        var r = _records[i];
        int match = CaptureForensics.Match(_pending, r.Data);
        if (match < 0 && CaptureForensics.ApplicationRequestBehind(_records, i, _mac) is int source && _issued.Add(source))
        {
            // The recorded stack sent this because its ping client asked: ask the replay's stack the same.
            var (to, id, seq, data) = CaptureForensics.EchoRequestOf(_records[source].Data);
            _pinger.Requested.Add((id, seq));
            _sb.Append("    the ping client asks the stack to send an echo request to ").Append(to.ToString())
              .Append(" id ").Append(id).Append(" seq ").Append(seq).Append('\n');
            _sink.Events.Clear();
            _stack.SendEchoRequest(to, id, seq, data, time);
            foreach (var e in _sink.Events) _pending.Add(AppendSent(e, r.Timestamp, ""));
            _sink.Events.Clear();
            match = CaptureForensics.Match(_pending, r.Data);
        }
        // The recorded stack's own client (usernet nc) opened a connection, wrote or finished here: the replay's does too.
        if (match < 0 && ActAsClient(r, time))
            match = CaptureForensics.Match(_pending, r.Data);
        // The recorded stack sent this and the replay has not: its services may have run here. Let the replay's run, a
        // step at a time, until they send the same frame or have nothing left to do.
        while (match < 0 && _services && RunServices(r.Timestamp))
            match = CaptureForensics.Match(_pending, r.Data);
        int noteStart = _sb.Append("    ").Length;
        _sb.Append("sent by the stack in the recording").Append(r.Comment is { } c ? $" ({c})" : "");
        if (match < 0) _sb.Append("; this replay did not send it");
        else if (CaptureForensics.SameIgnoringIpIdentification(_pending[match].Data, r.Data)) _sb.Append("; this replay sent the same frame");
        else if (!CaptureForensics.SameIgnoringIpIdentification(_pending[match].Data, r.Data, ignoreTcpWindow: true))
            _sb.Append("; this replay sent the same segment but for its timestamps (TSval ").Append(CaptureForensics.TcpTsval(_pending[match].Data))
              .Append(" here, ").Append(CaptureForensics.TcpTsval(r.Data))
              .Append(" recorded: a timestamp is the sender's clock when it sent, and the replay's services ran at another moment)");
        else
            _sb.Append("; this replay sent the same segment but for its window (").Append(CaptureForensics.TcpWindowField(_pending[match].Data))
              .Append(" here, ").Append(CaptureForensics.TcpWindowField(r.Data))
              .Append(" recorded: the window counts what the application had read, and the recorded one ran on its own thread)");
        entry.Note = _sb.ToString(noteStart, _sb.Length - noteStart);
        _sb.Append('\n');
        entry.FromStack = true;
        if (match >= 0 && _sentEntries.TryGetValue(_pending[match], out var sent))
        {
            // The replay's own frame and the recorded one are the same: the page draws the recorded one, with the replay's decision.
            sent.Matched = true;
            (entry.Layer, entry.Decision) = (sent.Layer, sent.Decision);
        }
        else
        {
            entry.Layer = FrameLayers.Top(r);
            entry.Decision = r.Comment?.StartsWith("tx: ", StringComparison.Ordinal) == true ? r.Comment[4..] : "sent by the recorded stack";
        }
        if (match >= 0) _pending.RemoveAt(match);
    }

    /// <summary>A frame from the peer: into the stack, then what each layer saw, what the stack decided and sent.</summary>
    private void Feed(CaptureRecord r, TimeSpan time, FrameEntry entry)
    {
        var frame = (byte[])r.Data.Clone(); // the stack may work in place; the capture stays as read
        _sink.Reassembled = null;
        _stack.Receive(frame, time);
        var received = _sink.Events.FirstOrDefault(e => e.Direction == FrameDirection.Received);
        Layer decidedAt = received?.Layer ?? Layer.Ethernet;
        var reassembled = decidedAt > Layer.Ipv4 ? _sink.Reassembled : null;
        foreach (var line in LayerNarrator.Lines(r.Data, decidedAt, _mac, _ip, reassembled)) _sb.Append("    ").Append(line).Append('\n');
        string decision = string.IsNullOrEmpty(received?.Decision) ? "no decision recorded" : received!.Decision;
        _sb.Append("    => ").Append(StackCounters.LayerName(decidedAt)).Append(": ").Append(decision).Append('\n');
        (entry.Layer, entry.Decision, entry.Dropped) = (decidedAt, decision, FrameLayers.IsDrop(decision));
        // A capture made by usernet up --pcap says what the recorded stack decided; a different decision now is worth a
        // learner's (and a reviewer's) attention.
        if (r.Comment is { } recorded && recorded.StartsWith("rx: ", StringComparison.Ordinal) && recorded[4..] != decision)
        {
            entry.Note = $"the recorded stack decided otherwise: {recorded[4..]}";
            _sb.Append("    (").Append(entry.Note).Append(")\n");
        }
        foreach (var e in _sink.Events.Where(e => e.Direction == FrameDirection.Sent))
            _pending.Add(AppendSent(e, r.Timestamp, ""));
        if (!_recording && _services)
            while (RunServices(r.Timestamp)) { }
    }

    /// <summary>
    /// Gives the services one turn: the next piece of application code waiting to run (a read that completed, an
    /// accept, a send's result), as one step of the stack, so what it wrote and read reaches the stack together
    /// afterwards, as a host's loop would take it. Writes what they did and sent; false when nothing was waiting.
    /// </summary>
    private bool RunServices(long timestamp)
    {
        if (!_scheduler.TryTake(out var work)) return false;
        _narration.Lines.Clear();
        _sink.Events.Clear();
        _stack.RunApplicationWork(work, _now);
        foreach (var line in _narration.Lines) _sb.Append("    ").Append(line).Append('\n');
        foreach (var e in _sink.Events.Where(e => e.Direction == FrameDirection.Sent))
            _pending.Add(AppendSent(e, timestamp, ""));
        _sink.Events.Clear();
        return true;
    }

    /// <summary>
    /// A TCP segment of ours in the recording that this replay has not sent, on a connection the recorded stack opened:
    /// its SYN makes the replay's client connect from the same port; its data (the bytes not yet written) and its FIN
    /// make the client write them and finish sending. True when the client did something.
    /// </summary>
    private bool ActAsClient(CaptureRecord r, TimeSpan time)
    {
        if (!CaptureForensics.IsUdpOrTcp(r.Data)) return false;
        var copy = (byte[])r.Data.Clone();
        Ipv4Header.TryParse(copy.AsSpan(14), out var h);
        if (h.Protocol != IpProtocol.Tcp || h.Source != _ip || !TcpSegment.TryParse(h.Payload, out var seg)) return false;
        var key = (seg.SourcePort, h.Destination, seg.DestinationPort);
        if (seg.Has(TcpFlags.Syn))
        {
            if (seg.Has(TcpFlags.Ack) || _clients.ContainsKey(key)) return false;
            var client = new ReplayClient(seg.SequenceNumber);
            _clients[key] = client;
            _sb.Append("    the client asks the stack to connect from port ").Append(seg.SourcePort).Append(" to ").Append(h.Destination.ToString())
              .Append(" port ").Append(seg.DestinationPort).Append('\n');
            _sink.Events.Clear();
            client.Run = RunClientAsync(client, new IPEndPoint(h.Destination.ToIPAddress(), seg.DestinationPort), seg.SourcePort);
            foreach (var e in _sink.Events.Where(e => e.Direction == FrameDirection.Sent)) _pending.Add(AppendSent(e, r.Timestamp, ""));
            _sink.Events.Clear();
            return true;
        }
        if (!_clients.TryGetValue(key, out var c) || c.Finished) return false;
        long offset = unchecked(seg.SequenceNumber - c.Isn - 1);
        var data = seg.Payload;
        long fresh = offset + data.Length - c.Written;
        bool fin = seg.Has(TcpFlags.Fin);
        if (fresh <= 0 && !fin) return false; // a retransmission: the stack's business, not the client's
        // The client acts once its connection is made (the SYN-ACK's completion waits in the scheduler).
        while (c.Connection is null && !c.Run!.IsCompleted && RunServices(r.Timestamp)) { }
        if (c.Connection is not { } conn) return false;
        byte[] bytes = fresh > 0 ? data[(int)(data.Length - fresh)..].ToArray() : [];
        if (bytes.Length > 0)
            _sb.Append("    the client writes ").Append(bytes.Length).Append(bytes.Length == 1 ? " byte" : " bytes").Append(Quote(bytes)).Append('\n');
        if (fin) _sb.Append("    the client finishes sending (its end of input: fin after the data)\n");
        c.Written += bytes.Length;
        c.Finished = fin;
        _narration.Lines.Clear();
        _sink.Events.Clear();
        _stack.RunApplicationWork(() => _ = WriteAsync(conn.Output, bytes, fin), time);
        foreach (var e in _sink.Events.Where(e => e.Direction == FrameDirection.Sent)) _pending.Add(AppendSent(e, r.Timestamp, ""));
        _sink.Events.Clear();
        return true;
    }

    private static async Task WriteAsync(PipeWriter output, byte[] bytes, bool complete)
    {
        if (bytes.Length > 0) await output.WriteAsync(bytes);
        if (complete) await output.CompleteAsync();
    }

    /// <summary>The client: connects, then reads what arrives (so its window stays open, as the recorded one's did) until the peer's FIN.</summary>
    private async Task RunClientAsync(ReplayClient c, IPEndPoint remote, int localPort)
    {
        TcpConnection conn;
        try { conn = await TcpConnection.ConnectAsync(_stack, remote, localPort); }
        catch (System.Net.Sockets.SocketException e) { _narration.Lines.Add($"the client's connection failed: {e.SocketErrorCode}"); return; }
        c.Connection = conn;
        _narration.Lines.Add($"the client is connected: {conn.LocalEndPoint} <-> {conn.RemoteEndPoint}");
        try
        {
            while (true)
            {
                var result = await conn.Input.ReadAsync();
                if (result.Buffer.Length > 0)
                    _narration.Lines.Add($"the client reads {result.Buffer.Length} {(result.Buffer.Length == 1 ? "byte" : "bytes")}{Quote(result.Buffer.ToArray())}");
                conn.Input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted) { _narration.Lines.Add("the client reads the end of the stream (the peer's fin)"); break; }
            }
        }
        catch (System.Net.Sockets.SocketException e) { _narration.Lines.Add($"the client's read fails: {e.SocketErrorCode}"); }
    }

    /// <summary>Bytes as a learner reads them: printable text in quotes (up to 60 characters), else nothing.</summary>
    private static string Quote(byte[] b)
    {
        if (b.Length == 0 || b.Any(x => x is (< 0x20 or > 0x7e) and not (byte)'\n')) return "";
        var text = Encoding.ASCII.GetString(b, 0, Math.Min(b.Length, 60)).Replace("\n", "\\n");
        return $": \"{text}{(b.Length > 60 ? "..." : "")}\"";
    }

    /// <summary>A connection the recorded stack opened, replayed: its recorded ISN (to place its data) and what the client did.</summary>
    private sealed class ReplayClient(uint isn)
    {
        public uint Isn { get; } = isn;
        public Task? Run { get; set; }
        public TcpConnection? Connection { get; set; }
        public long Written { get; set; }
        public bool Finished { get; set; }
    }

    private CaptureRecord AppendSent(FrameEvent e, long timestamp, string prefix)
    {
        var record = CaptureRecord.Ethernet(timestamp, e.Frame, PcapNgRecorder.Comment(FrameDirection.Sent, e.Decision));
        _sent.Add(record);
        string summary = _summary.Format(record);
        _sb.Append("    ").Append(prefix).Append("sent: ").Append(summary).Append("  (").Append(e.Decision).Append(")\n");
        var entry = new FrameEntry(record, null, summary) { FromStack = true, Layer = e.Layer, Decision = e.Decision, Note = "sent by this replay" };
        _frames.Add(entry);
        _sentEntries[record] = entry;
        return record;
    }

    private static string Seconds(long nanos) =>
        "+" + (nanos / 1_000_000_000).ToString(CultureInfo.InvariantCulture) + "." + (nanos % 1_000_000_000 / 1000).ToString("D6", CultureInfo.InvariantCulture);

    public void Dispose() => _stack.Dispose();

    /// <summary>One frame on its way to <see cref="ReplayResult.Frames"/>; a frame this replay sent is left out when the recording shows it.</summary>
    private sealed class FrameEntry(CaptureRecord record, int? number, string summary)
    {
        public CaptureRecord Record { get; } = record;
        public int? Number { get; } = number;
        public string Summary { get; } = summary;
        public bool FromStack { get; set; }
        public Layer Layer { get; set; }
        public string Decision { get; set; } = "";
        public bool Dropped { get; set; }
        public string? Note { get; set; }
        public bool Matched { get; set; }
    }

    private sealed record FrameEvent(FrameDirection Direction, byte[] Frame, Layer Layer, string Decision);

    /// <summary>The stack's device and observer in one: keeps what happened during one call into the stack.</summary>
    private sealed class Collector : IFrameTransmitter, IFrameObserver
    {
        public readonly List<FrameEvent> Events = new();
        /// <summary>The payload of the datagram the last frame completed, as the stack's reassembler put it together.</summary>
        public byte[]? Reassembled;
        public void Transmit(ReadOnlySpan<byte> frame) { } // the observer sees every sent frame, with its decision
        public void OnFrame(FrameDirection direction, ReadOnlySpan<byte> frame, Layer layer, string decision, TimeSpan time) =>
            Events.Add(new FrameEvent(direction, frame.ToArray(), layer, decision));
        public void OnReassembled(ReadOnlySpan<byte> datagram, TimeSpan time) =>
            Reassembled = datagram[((datagram[0] & 0x0F) * 4)..].ToArray();
    }

    /// <summary>The replay's ping client: it takes the replies to the requests it made.</summary>
    private sealed class ReplayPinger : IEchoReplyListener
    {
        public readonly HashSet<(ushort, ushort)> Requested = new();
        public bool OnEchoReply(Ipv4Address from, ushort identifier, ushort sequence, byte ttl, ReadOnlySpan<byte> data, TimeSpan time) =>
            Requested.Contains((identifier, sequence));
    }

    /// <summary>Where the sockets continue application code: a queue the replay takes from, one piece at a time.</summary>
    private sealed class QueueScheduler : PipeScheduler
    {
        private readonly Queue<(Action<object?> Action, object? State)> _work = new();
        public override void Schedule(Action<object?> action, object? state) => _work.Enqueue((action, state));

        public bool TryTake(out Action work)
        {
            if (!_work.TryDequeue(out var w)) { work = null!; return false; }
            work = () => w.Action(w.State);
            return true;
        }
    }

    /// <summary>The services' account of what they do (they log it at Debug level), kept as transcript lines.</summary>
    private sealed class Narration : ILogger
    {
        public readonly List<string> Lines = new();
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Lines.Add(formatter(state, exception));
    }
}
