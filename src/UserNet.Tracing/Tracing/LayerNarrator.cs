using System.Buffers.Binary;
using System.Text;
using UserNet.Core;
using UserNet.Wire;

namespace UserNet.Tracing;

/// <summary>
/// Says in plain words what each layer saw of a received frame, one short line per layer it climbed, up to the layer
/// whose decision ended its way (for learners: <c>usernet replay</c> prints these beside the stack's decisions).
/// </summary>
public static class LayerNarrator
{
    /// <summary>One short line per layer the frame climbed, up to the layer whose decision ended its way.</summary>
    public static List<string> Lines(byte[] data, Layer decidedAt, MacAddress mac, Ipv4Address ip, byte[]? reassembled = null)
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

}
