using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using UserNet.Capture;
using UserNet.Core;
using UserNet.Tracing;
using UserNet.Wire;

namespace UserNet.Replay;

/// <summary>What stack to replay a capture into.</summary>
public sealed record ReplayOptions
{
    /// <summary>The stack's address and prefix.</summary>
    public required Ipv4Subnet Address { get; init; }
    /// <summary>The stack's MAC; null takes the MAC the capture's frames address to <see cref="Address"/>.</summary>
    public MacAddress? Mac { get; init; }
    public Ipv4Address? Gateway { get; init; }
    /// <summary>Seeds the stack's choices (IP identification), so a replay gives the same bytes every run.</summary>
    public int Seed { get; init; } = 1;
    /// <summary>Serve echo (port 7) and discard (port 9) over UDP and TCP, as <c>usernet up</c> does by default.</summary>
    public bool Services { get; init; } = true;
}

/// <summary>The outcome of a replay: the transcript and every frame the stack sent, with its decision as comment.</summary>
public sealed record ReplayResult(string Transcript, IReadOnlyList<CaptureRecord> Sent, MacAddress Mac, string MacSource);

/// <summary>
/// Feeds each frame of a capture into a fresh stack, on the capture's own clock, and says in plain words what each
/// layer saw, what the stack decided and what it sent. Uses no wall clock and no unseeded randomness, so the same
/// capture gives the same transcript, byte for byte, every time.
/// </summary>
public static class PacketReplay
{
    /// <summary>Used when neither --mac nor the capture says what our MAC is: locally administered, fixed.</summary>
    public static readonly MacAddress DefaultMac = MacAddress.Parse("02:00:00:00:00:01");

    public static ReplayResult Run(IReadOnlyList<CaptureRecord> records, ReplayOptions options)
    {
        var ip = options.Address.Address;
        var (mac, macSource) = options.Mac is { } m ? (m, "given") : InferMac(records, ip) is { } found ? found : (DefaultMac, "default: the capture does not show one");
        var sink = new Collector();
        var stackOptions = new StackOptions { Address = options.Address, Gateway = options.Gateway, Mac = mac, Seed = options.Seed, Name = "replay" };
        using var stack = new NetStack(stackOptions, sink) { Observer = sink };
        var summary = new TcpdumpFormatter(new TcpdumpOptions { Timestamps = TimestampStyle.None });
        var sb = new StringBuilder();
        var sent = new List<CaptureRecord>();
        var pending = new List<CaptureRecord>(); // sent by this replay, not yet matched with a recorded frame of ours
        var issued = new HashSet<int>();         // recorded echo requests of a ping client that the replay has issued
        var pinger = new ReplayPinger();
        stack.EchoListener = pinger;
        // A capture made by usernet up --pcap marks what the recorded stack sent: the replay's services then run when
        // the recording shows the recorded ones ran (when it sent something the replay has not); otherwise after each frame.
        bool recording = records.Any(r => r.Comment?.StartsWith("tx: ", StringComparison.Ordinal) == true);
        var services = options.Services ? new ReplayServices(stack) : null;
        var said = new List<string>();
        // The peer acknowledges the ISNs the recorded stack chose: the replay's connections start from the same ones.
        var isns = RecordedInitialSequenceNumbers(records, mac, ip);
        if (isns.Count > 0)
            stack.Tcp.ReplayIsn = (localPort, remote, remotePort) =>
                isns.TryGetValue((localPort, remote, remotePort), out var q) && q.Count > 0 ? q.Dequeue() : null;
        sb.Append("replay: stack ").Append(options.Address.ToString()).Append(" mac ").Append(mac.ToString()).Append(" (").Append(macSource).Append("), ")
          .Append(records.Count).Append(records.Count == 1 ? " frame" : " frames").Append('\n');
        if (services is not null && records.Any(r => IsUdpOrTcp(r.Data)))
            sb.Append("replay: the stack serves echo (port 7) and discard (port 9) over udp and tcp, as usernet up does; the services run ")
              .Append(recording ? "when the recording shows the recorded ones ran (when it shows the stack sending what this replay has not yet)\n" : "after each frame\n");
        if (isns.Count > 0)
            sb.Append("replay: tcp connections start from the initial sequence numbers the recorded stack chose (read from its syn and syn-ack segments), so the peer's acknowledgments fit\n");
        long first = records.Count > 0 ? records[0].Timestamp : 0;
        var clock = TimeSpan.Zero;
        for (int i = 0; i < records.Count; i++)
        {
            var r = records[i];
            var time = TimeSpan.FromTicks(Math.Max(0, r.Timestamp - first) / 100);
            if (time < clock) time = clock;
            sb.Append('\n');
            // Timers first, on the capture's clock, each at its own deadline: ARP retries and expiry, TCP
            // retransmissions, delayed ACKs and TIME-WAIT happen when they would have.
            for (int n = 0; n < 10_000 && stack.NextDeadline is var due && due <= time; n++)
            {
                clock = due > clock ? due : clock;
                sink.Events.Clear();
                stack.Poll(clock);
                if (sink.Events.Count == 0) continue;
                sb.Append("timer ").Append(Seconds(clock.Ticks * 100)).Append(": a deadline of the stack's passed before the next frame\n");
                foreach (var e in sink.Events)
                    pending.Add(AppendSent(sb, summary, e, first + clock.Ticks * 100, sent, ""));
                sb.Append('\n');
            }
            clock = time;
            sink.Events.Clear();
            stack.Poll(time);
            foreach (var e in sink.Events)
                pending.Add(AppendSent(sb, summary, e, r.Timestamp, sent, "timer: "));
            sink.Events.Clear();
            sb.Append('#').Append(i + 1).Append(' ').Append(Seconds(r.Timestamp - first)).Append(' ').Append(summary.Format(r).Replace("\n", "\n    ")).Append('\n');
            if (r.LinkType != LinkTypes.Ethernet)
            {
                sb.Append("    not an ethernet frame (link type ").Append(r.LinkType).Append("): not fed to the stack\n");
                continue;
            }
            if (IsFromUs(r, mac))
            {
                // A frame the recorded stack sent (usernet up --pcap records both ways): feeding it back would only
                // show the stack ignoring itself. Say instead whether this replay sent the same frame.
                int match = Match(pending, r.Data);
                if (match < 0 && ApplicationRequestBehind(records, i, mac) is int source && issued.Add(source))
                {
                    // The recorded stack sent this because its ping client asked: ask the replay's stack the same.
                    var (to, id, seq, data) = EchoRequestOf(records[source].Data);
                    pinger.Requested.Add((id, seq));
                    sb.Append("    the ping client asks the stack to send an echo request to ").Append(to.ToString())
                      .Append(" id ").Append(id).Append(" seq ").Append(seq).Append('\n');
                    sink.Events.Clear();
                    stack.SendEchoRequest(to, id, seq, data, time);
                    foreach (var e in sink.Events) pending.Add(AppendSent(sb, summary, e, r.Timestamp, sent, ""));
                    sink.Events.Clear();
                    match = Match(pending, r.Data);
                }
                // The recorded stack sent this and the replay has not: its services may have run here. Let the
                // replay's run, a step at a time, until they send the same frame or have nothing left to do.
                while (match < 0 && services is not null && RunServices(sb, summary, services, said, sink, r.Timestamp, sent, pending))
                    match = Match(pending, r.Data);
                sb.Append("    sent by the stack in the recording").Append(r.Comment is { } c ? $" ({c})" : "");
                if (match < 0) sb.Append("; this replay did not send it\n");
                else if (SameIgnoringIpIdentification(pending[match].Data, r.Data)) sb.Append("; this replay sent the same frame\n");
                else
                    sb.Append("; this replay sent the same segment but for its window (").Append(TcpWindowField(pending[match].Data))
                      .Append(" here, ").Append(TcpWindowField(r.Data))
                      .Append(" recorded: the window counts what the application had read, and the recorded one ran on its own thread)\n");
                if (match >= 0) pending.RemoveAt(match);
                continue;
            }
            var frame = (byte[])r.Data.Clone(); // the stack may work in place; the capture stays as read
            stack.Receive(frame, time);
            var received = sink.Events.FirstOrDefault(e => e.Direction == FrameDirection.Received);
            Layer decidedAt = received?.Layer ?? Layer.Ethernet;
            var reassembled = decidedAt > Layer.Ipv4 ? ReassembledPayload(records, i) : null;
            foreach (var line in LayerLines(r.Data, decidedAt, mac, ip, reassembled)) sb.Append("    ").Append(line).Append('\n');
            string decision = string.IsNullOrEmpty(received?.Decision) ? "no decision recorded" : received!.Decision;
            sb.Append("    => ").Append(StackCounters.LayerName(decidedAt)).Append(": ").Append(decision).Append('\n');
            // A capture made by usernet up --pcap says what the recorded stack decided; a different decision now is
            // worth a learner's (and a reviewer's) attention.
            if (r.Comment is { } recorded && recorded.StartsWith("rx: ", StringComparison.Ordinal) && recorded[4..] != decision)
                sb.Append("    (the recorded stack decided otherwise: ").Append(recorded[4..]).Append(")\n");
            foreach (var e in sink.Events.Where(e => e.Direction == FrameDirection.Sent))
                pending.Add(AppendSent(sb, summary, e, r.Timestamp, sent, ""));
            if (!recording && services is not null)
                while (RunServices(sb, summary, services, said, sink, r.Timestamp, sent, pending)) { }
        }
        if (services is not null && records.Count > 0)
        {
            // What the services still had to do when the capture ended.
            var end = sb.Length;
            sb.Append("\nafter the last frame:\n");
            int before = sb.Length;
            while (RunServices(sb, summary, services, said, sink, records[^1].Timestamp, sent, pending)) { }
            if (sb.Length == before) sb.Length = end;
        }
        sb.Append('\n').Append("replay: ").Append(records.Count).Append(" in, ").Append(sent.Count).Append(" sent\n");
        if (recording && pending.Count > 0)
            sb.Append("replay: ").Append(pending.Count).Append(pending.Count == 1 ? " frame" : " frames")
              .Append(" this replay sent did not appear in the recording\n");
        return new ReplayResult(sb.ToString(), sent, mac, macSource);
    }

    /// <summary>Gives the services one turn, writing what they did and sent. False when they had nothing to do.</summary>
    private static bool RunServices(StringBuilder sb, TcpdumpFormatter summary, ReplayServices services, List<string> said, Collector sink, long timestamp, List<CaptureRecord> sent, List<CaptureRecord> pending)
    {
        said.Clear();
        sink.Events.Clear();
        if (!services.Turn(said)) return false;
        foreach (var line in said) sb.Append("    ").Append(line).Append('\n');
        foreach (var e in sink.Events.Where(e => e.Direction == FrameDirection.Sent))
            pending.Add(AppendSent(sb, summary, e, timestamp, sent, ""));
        sink.Events.Clear();
        return true;
    }

    /// <summary>
    /// The initial sequence numbers the recorded stack chose: the sequence number of each SYN or SYN-ACK it sent, in
    /// order, by (our port, peer address, peer port). A retransmitted SYN carries the same number and is counted once.
    /// </summary>
    private static Dictionary<(ushort, Ipv4Address, ushort), Queue<uint>> RecordedInitialSequenceNumbers(IReadOnlyList<CaptureRecord> records, MacAddress mac, Ipv4Address ip)
    {
        var isns = new Dictionary<(ushort, Ipv4Address, ushort), Queue<uint>>();
        foreach (var r in records)
        {
            if (r.LinkType != LinkTypes.Ethernet || !IsFromUs(r, mac) || !IsUdpOrTcp(r.Data)) continue;
            var copy = (byte[])r.Data.Clone();
            Ipv4Header.TryParse(copy.AsSpan(14), out var h); // checked by IsUdpOrTcp
            if (h.Protocol != IpProtocol.Tcp || h.Source != ip || !TcpSegment.TryParse(h.Payload, out var seg) || !seg.Has(TcpFlags.Syn)) continue;
            var key = (seg.SourcePort, h.Destination, seg.DestinationPort);
            if (!isns.TryGetValue(key, out var q)) isns[key] = q = new Queue<uint>();
            if (q.Count == 0 || q.Last() != seg.SequenceNumber) q.Enqueue(seg.SequenceNumber);
        }
        return isns;
    }

    /// <summary>An unfragmented (or first-fragment) IPv4 datagram carrying UDP or TCP.</summary>
    private static bool IsUdpOrTcp(byte[] f)
    {
        if (f.Length < 14 + 20 + 8 || f[12] != 0x08 || f[13] != 0x00) return false;
        var copy = (byte[])f.Clone();
        if (Ipv4Header.TryParse(copy.AsSpan(14), out var h) != Ipv4ParseError.None || h.FragmentOffset != 0) return false;
        return h.Protocol is IpProtocol.Udp or IpProtocol.Tcp;
    }

    /// <summary>
    /// For the fragment that completed a datagram: the whole payload, put together from it and the fragments of the
    /// same datagram (source, destination, protocol, identification) before it in the capture; else null.
    /// </summary>
    private static byte[]? ReassembledPayload(IReadOnlyList<CaptureRecord> records, int i)
    {
        var last = records[i].Data;
        if (last.Length < 34 || last[12] != 0x08 || last[13] != 0x00) return null;
        var lh = new Ipv4Header(last.AsSpan(14));
        if (!lh.IsFragment) return null;
        var pieces = new List<(int Offset, byte[] Data, bool Last)>();
        for (int j = 0; j <= i; j++)
        {
            var f = (byte[])records[j].Data.Clone();
            if (records[j].LinkType != LinkTypes.Ethernet || f.Length < 34 || f[12] != 0x08 || f[13] != 0x00) continue;
            if (Ipv4Header.TryParse(f.AsSpan(14), out var h) != Ipv4ParseError.None || !h.IsFragment) continue;
            if (h.Source != lh.Source || h.Destination != lh.Destination || h.Protocol != lh.Protocol || h.Identification != lh.Identification) continue;
            pieces.Add((h.FragmentOffset, h.Payload.ToArray(), !h.MoreFragments));
        }
        if (!pieces.Any(p => p.Last)) return null;
        var end = pieces.First(p => p.Last);
        var whole = new byte[end.Offset + end.Data.Length];
        foreach (var p in pieces)
            if (p.Offset + p.Data.Length <= whole.Length) p.Data.CopyTo(whole, p.Offset);
        return whole;
    }

    private static CaptureRecord AppendSent(StringBuilder sb, TcpdumpFormatter summary, FrameEvent e, long timestamp, List<CaptureRecord> sent, string prefix)
    {
        var record = CaptureRecord.Ethernet(timestamp, e.Frame, PcapNgRecorder.Comment(FrameDirection.Sent, e.Decision));
        sent.Add(record);
        sb.Append("    ").Append(prefix).Append("sent: ").Append(summary.Format(record)).Append("  (").Append(e.Decision).Append(")\n");
        return record;
    }

    /// <summary>
    /// The index of the recorded echo request of ours that a ping client asked for and that frame <paramref name="i"/>
    /// (a frame we sent) stands for: the frame itself, or, for an ARP request, the echo request that waited for it.
    /// </summary>
    private static int? ApplicationRequestBehind(IReadOnlyList<CaptureRecord> records, int i, MacAddress mac)
    {
        var f = records[i].Data;
        if (IsEchoRequest(f)) return i;
        if (f.Length < 14 + ArpPacket.Length || f[12] != 0x08 || f[13] != 0x06) return null;
        var target = new ArpPacket(f.AsSpan(14)).TargetProtocolAddress;
        for (int j = i + 1; j < records.Count; j++)
        {
            var g = records[j].Data;
            if (IsFromUs(records[j], mac) && IsEchoRequest(g) && new Ipv4Header(g.AsSpan(14)).Destination == target) return j;
        }
        return null;
    }

    private static bool IsEchoRequest(byte[] f)
    {
        if (f.Length < 14 + 20 + 8 || f[12] != 0x08 || f[13] != 0x00) return false;
        if (Ipv4Header.TryParse(f.AsSpan(14), out var ip) != Ipv4ParseError.None || ip.Protocol != IpProtocol.Icmp || ip.IsFragment) return false;
        return ip.Payload.Length >= IcmpMessage.HeaderLength && ip.Payload[0] == IcmpType.EchoRequest;
    }

    private static (Ipv4Address To, ushort Id, ushort Seq, byte[] Data) EchoRequestOf(byte[] f)
    {
        var copy = (byte[])f.Clone();
        Ipv4Header.TryParse(copy.AsSpan(14), out var ip); // checked by IsEchoRequest
        var m = new IcmpMessage(ip.Payload);
        return (ip.Destination, m.Identifier, m.SequenceNumber, m.Data.ToArray());
    }

    /// <summary>The replay's ping client: it takes the replies to the requests it made.</summary>
    private sealed class ReplayPinger : IEchoReplyListener
    {
        public readonly HashSet<(ushort, ushort)> Requested = new();
        public bool OnEchoReply(Ipv4Address from, ushort identifier, ushort sequence, byte ttl, ReadOnlySpan<byte> data, TimeSpan time) =>
            Requested.Contains((identifier, sequence));
    }

    /// <summary>A recorded frame our stack sent: marked so by the recorder's comment, or from our MAC.</summary>
    private static bool IsFromUs(CaptureRecord r, MacAddress mac) =>
        r.Comment?.StartsWith("tx: ", StringComparison.Ordinal) == true
        || (r.Comment is null && r.LinkType == LinkTypes.Ethernet && r.Data.Length >= 12 && MacAddress.Read(r.Data.AsSpan(6)) == mac);

    /// <summary>
    /// The frame the replay sent that stands for recorded frame <paramref name="recorded"/>: the same but for the IPv4
    /// identification, or else a TCP segment the same but for its window; -1 when none.
    /// </summary>
    private static int Match(List<CaptureRecord> pending, byte[] recorded)
    {
        int exact = pending.FindIndex(s => SameIgnoringIpIdentification(s.Data, recorded));
        return exact >= 0 ? exact : pending.FindIndex(s => SameIgnoringIpIdentification(s.Data, recorded, ignoreTcpWindow: true));
    }

    /// <summary>
    /// Equal frames, except for the IPv4 identification (and so the header checksum), which a seeded replay picks anew;
    /// with <paramref name="ignoreTcpWindow"/> also a TCP segment's window (and so its checksum).
    /// </summary>
    private static bool SameIgnoringIpIdentification(byte[] a, byte[] b, bool ignoreTcpWindow = false)
    {
        if (a.Length != b.Length) return false;
        bool ipv4 = a.Length >= 34 && a[12] == 0x08 && a[13] == 0x00;
        int window = -1, checksum = -1;
        if (ignoreTcpWindow)
        {
            if (!ipv4 || a[23] != IpProtocol.Tcp || a[14] != b[14] || (BinaryPrimitives.ReadUInt16BigEndian(a.AsSpan(20)) & 0x3FFF) != 0) return false;
            int tcp = 14 + (a[14] & 0x0F) * 4;
            if (a.Length < tcp + TcpSegment.MinimumHeaderLength) return false;
            window = tcp + 14;
            checksum = tcp + 16;
        }
        for (int i = 0; i < a.Length; i++)
        {
            if (ipv4 && (i is 18 or 19 or 24 or 25)) continue;
            if (i == window || i == window + 1 || i == checksum || i == checksum + 1) continue;
            if (a[i] != b[i]) return false;
        }
        return true;
    }

    private static ushort TcpWindowField(byte[] f) => BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(14 + (f[14] & 0x0F) * 4 + 14));

    private static string Seconds(long nanos) =>
        "+" + (nanos / 1_000_000_000).ToString(CultureInfo.InvariantCulture) + "." + (nanos % 1_000_000_000 / 1000).ToString("D6", CultureInfo.InvariantCulture);

    /// <summary>
    /// The MAC the capture's frames give to <paramref name="ip"/>: from an ARP packet that says it (as sender or
    /// resolved target), or from an IPv4 frame sent from or unicast to that address.
    /// </summary>
    public static (MacAddress Mac, string Source)? InferMac(IReadOnlyList<CaptureRecord> records, Ipv4Address ip)
    {
        for (int i = 0; i < records.Count; i++)
        {
            var f = records[i].Data;
            if (records[i].LinkType != LinkTypes.Ethernet || f.Length < EthernetFrame.HeaderLength) continue;
            ushort type = BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(12));
            var dst = MacAddress.Read(f); var src = MacAddress.Read(f.AsSpan(6));
            MacAddress? found = null;
            string how = "";
            if (type == EtherType.Arp && f.Length >= 14 + ArpPacket.Length)
            {
                var arp = new ArpPacket(f.AsSpan(14));
                if (arp.IsEthernetIpv4 && arp.SenderProtocolAddress == ip && IsUnicast(arp.SenderHardwareAddress)) { found = arp.SenderHardwareAddress; how = "arp sender"; }
                else if (arp.IsEthernetIpv4 && arp.Operation == ArpOperation.Reply && arp.TargetProtocolAddress == ip && IsUnicast(arp.TargetHardwareAddress)) { found = arp.TargetHardwareAddress; how = "arp reply target"; }
            }
            else if (type == EtherType.Ipv4 && f.Length >= 14 + Ipv4Header.MinimumLength && f[14] >> 4 == 4)
            {
                var h = new Ipv4Header(f.AsSpan(14));
                if (h.Destination == ip && IsUnicast(dst)) { found = dst; how = "ipv4 destination"; }
                else if (h.Source == ip && IsUnicast(src)) { found = src; how = "ipv4 source"; }
            }
            if (found is { } mac) return (mac, $"taken from frame {i + 1}, {how}");
        }
        return null;
    }

    private static bool IsUnicast(MacAddress m) => !m.IsMulticast && m != MacAddress.Zero;

    /// <summary>One short line per layer the frame climbed, up to the layer whose decision ended its way.</summary>
    internal static List<string> LayerLines(byte[] data, Layer decidedAt, MacAddress mac, Ipv4Address ip, byte[]? reassembled = null)
    {
        var lines = new List<string>();
        var f = data.AsSpan();
        if (f.Length < EthernetFrame.HeaderLength) { lines.Add($"ethernet: {f.Length} bytes, shorter than an ethernet header (14)"); return lines; }
        var dst = MacAddress.Read(f); var src = MacAddress.Read(f[6..]);
        ushort type = BinaryPrimitives.ReadUInt16BigEndian(f[12..]);
        string to = dst == mac ? $"to us ({dst})" : dst.IsBroadcast ? "to everyone (broadcast)" : $"to {dst}, not us";
        string typeName = type switch { EtherType.Arp => "ARP", EtherType.Ipv4 => "IPv4", EtherType.Ipv6 => "IPv6", _ => $"0x{type:x4}" };
        lines.Add($"ethernet: {to} from {src}, type {typeName}, {f.Length} bytes");
        if (decidedAt == Layer.Ethernet) return lines;
        var p = f[14..];
        if (type == EtherType.Arp)
        {
            if (p.Length < ArpPacket.Length) { lines.Add($"arp: only {p.Length} bytes, a packet needs {ArpPacket.Length}"); return lines; }
            var arp = new ArpPacket(p);
            if (!arp.IsEthernetIpv4) { lines.Add($"arp: hardware type {arp.HardwareType}, protocol 0x{arp.ProtocolType:x4}: not ethernet/ipv4"); return lines; }
            var target = arp.TargetProtocolAddress == ip ? $"{arp.TargetProtocolAddress} (us)" : arp.TargetProtocolAddress.ToString();
            lines.Add(arp.Operation switch
            {
                ArpOperation.Request => $"arp: request: who has {target}? tell {arp.SenderProtocolAddress} at {arp.SenderHardwareAddress}",
                ArpOperation.Reply => $"arp: reply: {arp.SenderProtocolAddress} is at {arp.SenderHardwareAddress}, to {target}",
                _ => $"arp: operation {(ushort)arp.Operation} from {arp.SenderProtocolAddress}",
            });
            return lines;
        }
        if (type != EtherType.Ipv4) return lines;
        if (p.Length < Ipv4Header.MinimumLength) { lines.Add($"ipv4: only {p.Length} bytes, a header needs at least 20"); return lines; }
        var h = new Ipv4Header(p);
        if (h.Version != 4) { lines.Add($"ipv4: version {h.Version}, not 4"); return lines; }
        if (h.HeaderLength < Ipv4Header.MinimumLength || h.HeaderLength > p.Length) { lines.Add($"ipv4: header length {h.HeaderLength} bytes, impossible"); return lines; }
        string proto = h.Protocol switch { IpProtocol.Icmp => "ICMP", IpProtocol.Udp => "UDP", IpProtocol.Tcp => "TCP", _ => $"{h.Protocol}" };
        var sb = new StringBuilder();
        sb.Append("ipv4: ").Append(h.Source.ToString()).Append(" -> ").Append(h.Destination.ToString()).Append(h.Destination == ip ? " (us)" : "")
          .Append(", checksum ").Append(h.IsChecksumValid ? "ok" : "BAD").Append(", ttl ").Append(h.TimeToLive)
          .Append(", protocol ").Append(proto).Append(", total length ").Append(h.TotalLength);
        if (h.TotalLength > p.Length) sb.Append(" (only ").Append(p.Length).Append(" bytes arrived)");
        if (h.IsFragment) sb.Append(", fragment at offset ").Append(h.FragmentOffset).Append(h.MoreFragments ? ", more follow" : ", the last");
        lines.Add(sb.ToString());
        if (decidedAt == Layer.Ipv4 || h.TotalLength > p.Length || h.TotalLength < h.HeaderLength) return lines;
        var payload = p[h.HeaderLength..h.TotalLength];
        if (h.IsFragment && reassembled is not null)
        {
            lines.Add($"ipv4: the last missing piece: with the fragments before it, a datagram of {reassembled.Length} bytes of {proto} goes up");
            payload = reassembled;
        }
        if (h.Protocol == IpProtocol.Icmp)
        {
            if (payload.Length < IcmpMessage.HeaderLength) { lines.Add($"icmp: only {payload.Length} bytes, a header needs 8"); return lines; }
            var icmp = new IcmpMessage(payload);
            string what = icmp.Type switch
            {
                IcmpType.EchoRequest => $"echo request id {icmp.Identifier} seq {icmp.SequenceNumber}",
                IcmpType.EchoReply => $"echo reply id {icmp.Identifier} seq {icmp.SequenceNumber}",
                IcmpType.DestinationUnreachable => $"destination unreachable, code {icmp.Code}",
                IcmpType.TimeExceeded => $"time exceeded, code {icmp.Code}",
                _ => $"type {icmp.Type} code {icmp.Code}",
            };
            lines.Add($"icmp: {what}, {payload.Length - IcmpMessage.HeaderLength} bytes of data, checksum {(icmp.IsChecksumValid ? "ok" : "BAD")}");
        }
        else if (h.Protocol == IpProtocol.Udp && payload.Length >= UdpDatagram.HeaderLength)
        {
            var udp = new UdpDatagram(payload);
            int length = udp.Length;
            if (length < UdpDatagram.HeaderLength || length > payload.Length)
                lines.Add($"udp: port {udp.SourcePort} -> port {udp.DestinationPort}, length field {length} but {payload.Length} bytes");
            else
                lines.Add($"udp: port {udp.SourcePort} -> port {udp.DestinationPort}, {length - UdpDatagram.HeaderLength} bytes of data, checksum {(new UdpDatagram(payload[..length]).IsChecksumValid(h.Source, h.Destination) ? "ok" : "BAD")}");
        }
        else if (h.Protocol == IpProtocol.Tcp && TcpSegment.TryParse(payload, out var seg))
        {
            var t = new StringBuilder();
            t.Append("tcp: port ").Append(seg.SourcePort).Append(" -> port ").Append(seg.DestinationPort).Append(", ").Append(FlagNames(seg.Flags))
             .Append(", seq ").Append(seg.SequenceNumber);
            if (seg.Has(TcpFlags.Ack)) t.Append(", ack ").Append(seg.AcknowledgmentNumber);
            t.Append(", window ").Append(seg.Window);
            if (seg.Options.Length > 0 && TcpOptions.TryParse(seg.Options, out var o))
            {
                var names = new List<string>();
                if (o.Mss is { } mss) names.Add($"mss {mss}");
                if (o.WindowScale is { } ws) names.Add($"window scale {ws}");
                if (o.SackPermitted) names.Add("sack permitted");
                if (o.TimestampValue is not null) names.Add("timestamps");
                if (names.Count > 0) t.Append(", options ").Append(string.Join(", ", names));
            }
            t.Append(", ").Append(seg.Payload.Length).Append(" bytes of data, checksum ").Append(seg.IsChecksumValid(h.Source, h.Destination) ? "ok" : "BAD");
            lines.Add(t.ToString());
        }
        else if (h.Protocol is IpProtocol.Udp or IpProtocol.Tcp)
            lines.Add($"{proto.ToLowerInvariant()}: only {payload.Length} bytes, shorter than a header");
        return lines;
    }

    /// <summary>The control bits set, in tcpdump's order, by RFC 9293's names: "SYN ACK", "PSH ACK".</summary>
    private static string FlagNames(TcpFlags flags)
    {
        var names = new List<string>();
        foreach (var (f, name) in new[] { (TcpFlags.Syn, "SYN"), (TcpFlags.Fin, "FIN"), (TcpFlags.Rst, "RST"), (TcpFlags.Psh, "PSH"), (TcpFlags.Ack, "ACK"), (TcpFlags.Urg, "URG"), (TcpFlags.Ece, "ECE"), (TcpFlags.Cwr, "CWR") })
            if ((flags & f) != 0) names.Add(name);
        return names.Count == 0 ? "no flags" : string.Join(' ', names);
    }

    private sealed record FrameEvent(FrameDirection Direction, byte[] Frame, Layer Layer, string Decision);

    /// <summary>The stack's device and observer in one: keeps what happened during one call into the stack.</summary>
    private sealed class Collector : IFrameTransmitter, IFrameObserver
    {
        public readonly List<FrameEvent> Events = new();
        public void Transmit(ReadOnlySpan<byte> frame) { } // the observer sees every sent frame, with its decision
        public void OnFrame(FrameDirection direction, ReadOnlySpan<byte> frame, Layer layer, string decision, TimeSpan time) =>
            Events.Add(new FrameEvent(direction, frame.ToArray(), layer, decision));
    }
}
