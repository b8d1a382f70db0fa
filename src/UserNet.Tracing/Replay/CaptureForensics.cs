using System.Buffers.Binary;
using UserNet.Capture;
using UserNet.Wire;

namespace UserNet.Replay;

/// <summary>
/// What a capture tells about the stack that was recorded, read from its frames alone: its MAC, the initial sequence
/// numbers it chose, which echo requests its ping client made, which frames it sent, and whether a frame the replay
/// sent stands for one in the recording.
/// </summary>
internal static class CaptureForensics
{
    /// <summary>
    /// The initial sequence numbers the recorded stack chose: the sequence number of each SYN or SYN-ACK it sent, in
    /// order, by (our port, peer address, peer port). A retransmitted SYN carries the same number and is counted once.
    /// </summary>
    internal static Dictionary<(ushort, Ipv4Address, ushort), Queue<uint>> RecordedInitialSequenceNumbers(IReadOnlyList<CaptureRecord> records, MacAddress mac, Ipv4Address ip)
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

    /// <summary>
    /// What the recorded stack's SYNs and SYN-ACKs offered (null when it sent none): whether SACK-permitted and
    /// timestamps were on, and, per connection, the offset of its TSval clock from the capture's clock (TSval less the
    /// milliseconds since the first record), so that the replay sends the TSvals the peer echoed.
    /// </summary>
    internal static (bool? Sack, bool? Timestamps, Dictionary<(ushort, Ipv4Address, ushort), uint> Offsets) RecordedTcpOptions(
        IReadOnlyList<CaptureRecord> records, MacAddress mac, Ipv4Address ip)
    {
        bool? sack = null, ts = null;
        var offsets = new Dictionary<(ushort, Ipv4Address, ushort), uint>();
        long first = records.Count > 0 ? records[0].Timestamp : 0;
        foreach (var r in records)
        {
            if (r.LinkType != LinkTypes.Ethernet || !IsFromUs(r, mac) || !IsUdpOrTcp(r.Data)) continue;
            var copy = (byte[])r.Data.Clone();
            Ipv4Header.TryParse(copy.AsSpan(14), out var h);
            if (h.Protocol != IpProtocol.Tcp || h.Source != ip || !TcpSegment.TryParse(h.Payload, out var seg) || !seg.Has(TcpFlags.Syn)) continue;
            TcpOptions.TryParse(seg.Options, out var o);
            sack = (sack ?? false) || o.SackPermitted;
            ts = (ts ?? false) || o.TimestampValue is not null;
            if (o.TimestampValue is { } tsv)
            {
                uint ms = unchecked((uint)(Math.Max(0, r.Timestamp - first) / 1_000_000)); // records count nanoseconds
                offsets.TryAdd((seg.SourcePort, h.Destination, seg.DestinationPort), unchecked(tsv - ms));
            }
        }
        return (sack, ts, offsets);
    }

    /// <summary>The recorder's comment on a SYN-ACK whose ISN is a SYN cookie (the words of the stack's decision).</summary>
    internal const string SynCookieComment = "tx: tcp syn-ack (syn cookie)";

    /// <summary>How many connections the recorded stack opened itself: SYNs (without ACK) it sent, one per 4-tuple.</summary>
    internal static int RecordedClientConnections(IReadOnlyList<CaptureRecord> records, MacAddress mac, Ipv4Address ip)
    {
        var opened = new HashSet<(ushort, Ipv4Address, ushort)>();
        foreach (var r in records)
        {
            if (r.LinkType != LinkTypes.Ethernet || !IsFromUs(r, mac) || !IsUdpOrTcp(r.Data)) continue;
            var copy = (byte[])r.Data.Clone();
            Ipv4Header.TryParse(copy.AsSpan(14), out var h);
            if (h.Protocol == IpProtocol.Tcp && h.Source == ip && TcpSegment.TryParse(h.Payload, out var seg) && seg.Has(TcpFlags.Syn) && !seg.Has(TcpFlags.Ack))
                opened.Add((seg.SourcePort, h.Destination, seg.DestinationPort));
        }
        return opened.Count;
    }

    /// <summary>An unfragmented (or first-fragment) IPv4 datagram carrying UDP or TCP.</summary>
    internal static bool IsUdpOrTcp(byte[] f)
    {
        if (f.Length < 14 + 20 + 8 || f[12] != 0x08 || f[13] != 0x00) return false;
        var copy = (byte[])f.Clone();
        if (Ipv4Header.TryParse(copy.AsSpan(14), out var h) != Ipv4ParseError.None || h.FragmentOffset != 0) return false;
        return h.Protocol is IpProtocol.Udp or IpProtocol.Tcp;
    }

    /// <summary>
    /// The index of the recorded echo request of ours that a ping client asked for and that frame <paramref name="i"/>
    /// (a frame we sent) stands for: the frame itself, or, for an ARP request, the echo request that waited for it.
    /// </summary>
    internal static int? ApplicationRequestBehind(IReadOnlyList<CaptureRecord> records, int i, MacAddress mac)
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

    internal static bool IsEchoRequest(byte[] f)
    {
        if (f.Length < 14 + 20 + 8 || f[12] != 0x08 || f[13] != 0x00) return false;
        if (Ipv4Header.TryParse(f.AsSpan(14), out var ip) != Ipv4ParseError.None || ip.Protocol != IpProtocol.Icmp || ip.IsFragment) return false;
        return ip.Payload.Length >= IcmpMessage.HeaderLength && ip.Payload[0] == IcmpType.EchoRequest;
    }

    internal static (Ipv4Address To, ushort Id, ushort Seq, byte[] Data) EchoRequestOf(byte[] f)
    {
        var copy = (byte[])f.Clone();
        Ipv4Header.TryParse(copy.AsSpan(14), out var ip); // checked by IsEchoRequest
        var m = new IcmpMessage(ip.Payload);
        return (ip.Destination, m.Identifier, m.SequenceNumber, m.Data.ToArray());
    }

    /// <summary>A recorded frame our stack sent: marked so by the recorder's comment, or from our MAC.</summary>
    internal static bool IsFromUs(CaptureRecord r, MacAddress mac) =>
        r.Comment?.StartsWith("tx: ", StringComparison.Ordinal) == true
        || (r.Comment is null && r.LinkType == LinkTypes.Ethernet && r.Data.Length >= 12 && MacAddress.Read(r.Data.AsSpan(6)) == mac);

    /// <summary>
    /// The frame the replay sent that stands for recorded frame <paramref name="recorded"/>: the same but for the IPv4
    /// identification, or else a TCP segment the same but for its window, or else for its window and timestamps; -1 when none.
    /// </summary>
    internal static int Match(List<CaptureRecord> pending, byte[] recorded)
    {
        int exact = pending.FindIndex(s => SameIgnoringIpIdentification(s.Data, recorded));
        if (exact >= 0) return exact;
        int window = pending.FindIndex(s => SameIgnoringIpIdentification(s.Data, recorded, ignoreTcpWindow: true));
        return window >= 0 ? window : pending.FindIndex(s => SameIgnoringIpIdentification(s.Data, recorded, ignoreTcpWindow: true, ignoreTcpTimestamps: true));
    }

    /// <summary>Where a TCP segment's timestamps option (RFC 7323 section 3.2: kind 8, length 10) holds TSval; -1 when it has none.</summary>
    internal static int TcpTimestampsAt(byte[] f)
    {
        if (f.Length < 34 || f[12] != 0x08 || f[13] != 0x00 || f[23] != IpProtocol.Tcp) return -1;
        int tcp = 14 + (f[14] & 0x0F) * 4;
        if (f.Length < tcp + TcpSegment.MinimumHeaderLength) return -1;
        int end = Math.Min(f.Length, tcp + (f[tcp + 12] >> 4) * 4);
        for (int i = tcp + TcpSegment.MinimumHeaderLength; i < end;)
        {
            byte kind = f[i];
            if (kind == 0) break;
            if (kind == 1) { i++; continue; }
            if (i + 1 >= end || f[i + 1] < 2) break;
            if (kind == 8 && f[i + 1] == 10 && i + 10 <= end) return i + 2;
            i += f[i + 1];
        }
        return -1;
    }

    internal static uint TcpTsval(byte[] f) => BinaryPrimitives.ReadUInt32BigEndian(f.AsSpan(TcpTimestampsAt(f)));

    /// <summary>
    /// Equal frames, except for the IPv4 identification (and so the header checksum), which a seeded replay picks anew;
    /// with <paramref name="ignoreTcpWindow"/> also a TCP segment's window (and so its checksum).
    /// </summary>
    internal static bool SameIgnoringIpIdentification(byte[] a, byte[] b, bool ignoreTcpWindow = false, bool ignoreTcpTimestamps = false)
    {
        if (a.Length != b.Length) return false;
        bool ipv4 = a.Length >= 34 && a[12] == 0x08 && a[13] == 0x00;
        int window = -1, checksum = -1, timestamps = -1;
        if (ignoreTcpTimestamps)
        {
            timestamps = TcpTimestampsAt(a);
            if (timestamps < 0 || timestamps != TcpTimestampsAt(b)) return false;
        }
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
            if (timestamps >= 0 && i >= timestamps && i < timestamps + 8) continue;
            if (a[i] != b[i]) return false;
        }
        return true;
    }

    internal static ushort TcpWindowField(byte[] f) => BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(14 + (f[14] & 0x0F) * 4 + 14));

    /// <summary>
    /// The MAC the capture's frames give to <paramref name="ip"/>: from an ARP packet that says it (as sender or
    /// resolved target), or from an IPv4 frame sent from or unicast to that address.
    /// </summary>
    internal static (MacAddress Mac, string Source)? InferMac(IReadOnlyList<CaptureRecord> records, Ipv4Address ip)
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

    /// <summary>
    /// Which host of the capture the recorded stack was. A capture <c>usernet up --pcap</c> wrote says it: the frames
    /// the stack sent carry a <c>tx:</c> comment, and their source is its address. Otherwise the stack is taken to be the
    /// host that answers: echo requests first (RFC 792's echo reply), then connection requests (a SYN-ACK), then ARP
    /// requests (RFC 826's reply), the first of these that one host alone does. Neither comment nor frame states a prefix,
    /// so /24 is assumed and the reason says so. Null when the capture does not tell; then the candidates are named.
    /// </summary>
    internal static (Ipv4Address? Address, string Reason, List<Ipv4Address> Candidates) InferStackAddress(IReadOnlyList<CaptureRecord> records)
    {
        var marked = new SortedSet<Ipv4Address>(AddressOrder);
        var echo = new SortedSet<Ipv4Address>(AddressOrder);
        var synAck = new SortedSet<Ipv4Address>(AddressOrder);
        var arp = new SortedSet<Ipv4Address>(AddressOrder);
        var seen = new SortedSet<Ipv4Address>(AddressOrder);
        foreach (var r in records)
        {
            if (r.LinkType != LinkTypes.Ethernet || r.Data.Length < EthernetFrame.HeaderLength) continue;
            var f = r.Data;
            bool tx = r.Comment?.StartsWith("tx: ", StringComparison.Ordinal) == true;
            ushort type = BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(12));
            if (type == EtherType.Arp && f.Length >= 14 + ArpPacket.Length)
            {
                var a = new ArpPacket(f.AsSpan(14));
                if (!a.IsEthernetIpv4 || !IsHost(a.SenderProtocolAddress)) continue;
                seen.Add(a.SenderProtocolAddress);
                if (tx) marked.Add(a.SenderProtocolAddress);
                if (a.Operation == ArpOperation.Reply) arp.Add(a.SenderProtocolAddress);
            }
            else if (type == EtherType.Ipv4)
            {
                var copy = (byte[])f.Clone();
                if (Ipv4Header.TryParse(copy.AsSpan(14), out var h) != Ipv4ParseError.None || !IsHost(h.Source)) continue;
                seen.Add(h.Source);
                if (IsHost(h.Destination)) seen.Add(h.Destination);
                if (tx) marked.Add(h.Source);
                if (h.FragmentOffset != 0) continue;
                if (h.Protocol == IpProtocol.Icmp && h.Payload.Length >= IcmpMessage.HeaderLength && h.Payload[0] == IcmpType.EchoReply) echo.Add(h.Source);
                else if (h.Protocol == IpProtocol.Tcp && TcpSegment.TryParse(h.Payload, out var seg) && seg.Has(TcpFlags.Syn) && seg.Has(TcpFlags.Ack)) synAck.Add(h.Source);
            }
        }
        if (marked.Count == 1)
            return (marked.Min, $"from the recorded stack's comments: its \"tx:\" frames come from {marked.Min}; prefix /24 assumed", []);
        if (marked.Count > 1) return (null, "", [.. marked]);
        foreach (var answered in new[] { echo, synAck, arp })
        {
            if (answered.Count > 1) return (null, "", [.. answered]);
            if (answered.Count == 0) continue;
            var host = answered.Min;
            var what = new List<string>();
            if (arp.Contains(host)) what.Add($"ARP for {host}");
            if (echo.Contains(host)) what.Add("echo requests");
            if (synAck.Contains(host)) what.Add("connection requests");
            var list = what.Count == 1 ? what[0] : string.Join(", ", what[..^1]) + " and " + what[^1];
            return (host, $"the host that answers {list}; prefix /24 assumed", []);
        }
        return (null, "", [.. seen]);
    }

    /// <summary>What <c>usernet up --pcap</c> writes as the capture's section comment: <c>usernet stack A.B.C.D/N</c>.</summary>
    internal const string StackCommentPrefix = "usernet stack ";

    /// <summary>The stack's address and prefix a section comment states (<see cref="StackCommentPrefix"/>), or null.</summary>
    internal static Ipv4Subnet? StatedStack(string? sectionComment)
    {
        if (sectionComment is null) return null;
        foreach (var line in sectionComment.Split('\n'))
        {
            if (!line.StartsWith(StackCommentPrefix, StringComparison.Ordinal)) continue;
            var word = line[StackCommentPrefix.Length..].Split(' ')[0];
            int slash = word.IndexOf('/');
            if (slash > 0 && Ipv4Address.TryParse(word[..slash], out var a) && int.TryParse(word[(slash + 1)..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int n) && n is >= 0 and <= 32)
                return new Ipv4Subnet(a, n);
        }
        return null;
    }

    /// <summary>Whether <paramref name="ip"/> is a source, destination, ARP sender or ARP target in any frame.</summary>
    internal static bool Mentions(IReadOnlyList<CaptureRecord> records, Ipv4Address ip)
    {
        foreach (var r in records)
        {
            var f = r.Data;
            int at = r.LinkType == LinkTypes.Ethernet ? EthernetFrame.HeaderLength : r.LinkType == LinkTypes.Raw ? 0 : -1;
            if (at < 0 || f.Length < at) continue;
            ushort type = r.LinkType == LinkTypes.Raw ? EtherType.Ipv4 : f.Length >= 14 ? BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(12)) : (ushort)0;
            if (type == EtherType.Arp && f.Length >= at + ArpPacket.Length)
            {
                var a = new ArpPacket(f.AsSpan(at));
                if (a.SenderProtocolAddress == ip || a.TargetProtocolAddress == ip) return true;
            }
            else if (type == EtherType.Ipv4 && f.Length >= at + Ipv4Header.MinimumLength && f[at] >> 4 == 4)
            {
                var h = new Ipv4Header(f.AsSpan(at));
                if (h.Source == ip || h.Destination == ip) return true;
            }
        }
        return false;
    }

    /// <summary>An address a host can have: not 0.0.0.0, broadcast, multicast or loopback.</summary>
    private static bool IsHost(Ipv4Address a) => a != Ipv4Address.Any && !a.IsLimitedBroadcast && !a.IsMulticast && !a.IsLoopback;

    private static readonly Comparer<Ipv4Address> AddressOrder = Comparer<Ipv4Address>.Create((a, b) => a.Value.CompareTo(b.Value));

    internal static bool IsUnicast(MacAddress m) => !m.IsMulticast && m != MacAddress.Zero;

}
