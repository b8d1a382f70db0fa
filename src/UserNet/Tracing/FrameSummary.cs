using System.Text;
using UserNet.Wire;

namespace UserNet.Tracing;

/// <summary>
/// One line saying what a frame is, in tcpdump's words where it has them
/// (<c>ARP, Request who-has 10.0.0.2 tell 10.0.0.1</c>, <c>IP 10.0.0.1 > 10.0.0.2: ICMP echo request, id 7, seq 1, length 64</c>).
/// Never throws, whatever the bytes.
/// </summary>
public static class FrameSummary
{
    public static string Describe(ReadOnlySpan<byte> frame)
    {
        var sb = new StringBuilder(96);
        Describe(frame, sb);
        return sb.ToString();
    }

    public static void Describe(ReadOnlySpan<byte> frameBytes, StringBuilder sb)
    {
        // The views take Span<byte> for building; describing never writes, so a copy-free cast is safe here.
        var frame = System.Runtime.InteropServices.MemoryMarshal.CreateSpan(
            ref System.Runtime.InteropServices.MemoryMarshal.GetReference(frameBytes), frameBytes.Length);
        if (!EthernetFrame.TryParse(frame, out var eth)) { sb.Append("[|ether] truncated frame, length ").Append(frame.Length); return; }
        switch (eth.EtherType)
        {
            case EtherType.Arp: DescribeArp(eth.Payload, sb); break;
            case EtherType.Ipv4: DescribeIpv4(eth.Payload, sb); break;
            case EtherType.Ipv6: sb.Append("IP6, length ").Append(eth.Payload.Length); break;
            default: sb.Append("ethertype 0x").Append(eth.EtherType.ToString("x4")).Append(", length ").Append(frame.Length); break;
        }
    }

    private static void DescribeArp(Span<byte> p, StringBuilder sb)
    {
        if (!ArpPacket.TryParse(p, out var arp)) { sb.Append("ARP, truncated [|arp]"); return; }
        if (!arp.IsEthernetIpv4) { sb.Append("ARP, unsupported hardware/protocol format"); return; }
        switch (arp.Operation)
        {
            case ArpOperation.Request:
                sb.Append("ARP, Request who-has ").Append(arp.TargetProtocolAddress.ToString());
                if (arp.TargetProtocolAddress == arp.SenderProtocolAddress) sb.Append(" (announcement)");
                else sb.Append(" tell ").Append(arp.SenderProtocolAddress.ToString());
                break;
            case ArpOperation.Reply:
                sb.Append("ARP, Reply ").Append(arp.SenderProtocolAddress.ToString()).Append(" is-at ").Append(arp.SenderHardwareAddress.ToString());
                break;
            default:
                sb.Append("ARP, unknown operation ").Append((ushort)arp.Operation);
                break;
        }
        sb.Append(", length ").Append(p.Length);
    }

    private static void DescribeIpv4(Span<byte> p, StringBuilder sb)
    {
        if (p.Length < Ipv4Header.MinimumLength) { sb.Append("IP truncated-ip, length ").Append(p.Length); return; }
        var ip = new Ipv4Header(p);
        if (ip.Version != 4) { sb.Append("IP version ").Append(ip.Version).Append(", length ").Append(p.Length); return; }
        if (ip.HeaderLength < Ipv4Header.MinimumLength) { sb.Append("IP bad-hlen ").Append(ip.HeaderLength); return; }
        sb.Append("IP ").Append(ip.Source.ToString()).Append(" > ").Append(ip.Destination.ToString()).Append(": ");
        if (ip.TotalLength > p.Length || ip.TotalLength < ip.HeaderLength || ip.HeaderLength > p.Length)
        {
            sb.Append("truncated-ip - ").Append(ip.TotalLength - p.Length).Append(" bytes missing!");
            return;
        }
        if (!ip.IsChecksumValid) sb.Append("[bad ip cksum] ");
        if (ip.FragmentOffset != 0)
        {
            sb.Append("ip-proto-").Append(ip.Protocol).Append(" fragment at ").Append(ip.FragmentOffset);
            return;
        }
        var payload = ip.Payload;
        switch (ip.Protocol)
        {
            case IpProtocol.Icmp: DescribeIcmp(payload, sb); break;
            case IpProtocol.Udp: sb.Append("UDP, length ").Append(Math.Max(0, payload.Length - 8)); break;
            case IpProtocol.Tcp: sb.Append("TCP, length ").Append(payload.Length); break;
            default: sb.Append("ip-proto-").Append(ip.Protocol).Append(' ').Append(payload.Length); break;
        }
    }

    private static void DescribeIcmp(Span<byte> p, StringBuilder sb)
    {
        if (!IcmpMessage.TryParse(p, out var icmp)) { sb.Append("ICMP [|icmp]"); return; }
        sb.Append("ICMP ");
        switch (icmp.Type)
        {
            case IcmpType.EchoRequest:
            case IcmpType.EchoReply:
                sb.Append(icmp.Type == IcmpType.EchoRequest ? "echo request" : "echo reply")
                  .Append(", id ").Append(icmp.Identifier).Append(", seq ").Append(icmp.SequenceNumber);
                break;
            case IcmpType.DestinationUnreachable:
                sb.Append(icmp.Code switch
                {
                    IcmpUnreachableCode.Protocol => "protocol unreachable",
                    IcmpUnreachableCode.Port => "port unreachable",
                    IcmpUnreachableCode.Host => "host unreachable",
                    IcmpUnreachableCode.Network => "net unreachable",
                    IcmpUnreachableCode.FragmentationNeeded => "need to frag",
                    _ => "unreachable code " + icmp.Code,
                });
                break;
            case IcmpType.TimeExceeded:
                sb.Append(icmp.Code == 1 ? "ip reassembly time exceeded" : "time exceeded in-transit");
                break;
            default:
                sb.Append("type-#").Append(icmp.Type);
                break;
        }
        if (!icmp.IsChecksumValid) sb.Append(" [bad icmp cksum]");
        sb.Append(", length ").Append(p.Length);
    }
}
