using System.Buffers.Binary;
using UserNet.Capture;
using UserNet.Core;
using UserNet.Wire;

namespace UserNet.Tracing;

/// <summary>
/// Which layer a frame or a decision belongs to, read from the bytes or the words alone, for frames whose layer no
/// stack told us (a capture's frames, a recorded decision comment).
/// </summary>
internal static class FrameLayers
{
    /// <summary>The stack's drops end so (<c>ip checksum bad -> drop</c>; see DropReasons in the library).</summary>
    public static bool IsDrop(string? decision) => decision is not null && decision.EndsWith("-> drop", StringComparison.Ordinal);

    /// <summary>
    /// The highest layer the frame's headers name: TCP, UDP or ICMP inside an unfragmented (or first-fragment) IPv4
    /// datagram, IPv4 for any other datagram, ARP, else Ethernet. Never throws.
    /// </summary>
    public static Layer Top(CaptureRecord r)
    {
        var f = r.Data;
        int ip;
        if (r.LinkType == LinkTypes.Raw) ip = 0;
        else if (r.LinkType == LinkTypes.Ethernet && f.Length >= EthernetFrame.HeaderLength)
        {
            ushort type = BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(12));
            if (type == EtherType.Arp) return Layer.Arp;
            if (type != EtherType.Ipv4) return Layer.Ethernet;
            ip = EthernetFrame.HeaderLength;
        }
        else return Layer.Ethernet;
        if (f.Length < ip + Ipv4Header.MinimumLength || f[ip] >> 4 != 4) return r.LinkType == LinkTypes.Raw ? Layer.Ethernet : Layer.Ipv4;
        bool firstFragment = (BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(ip + 6)) & 0x1FFF) == 0;
        if (!firstFragment) return Layer.Ipv4;
        return f[ip + 9] switch
        {
            IpProtocol.Tcp => Layer.Tcp,
            IpProtocol.Udp => Layer.Udp,
            IpProtocol.Icmp => Layer.Icmp,
            _ => Layer.Ipv4,
        };
    }

    /// <summary>
    /// The layer a recorded decision names by its first word (<c>ip checksum bad -> drop</c> is the IPv4 layer's), or
    /// the frame's highest layer when the words name none.
    /// </summary>
    public static Layer OfDecision(string decision, CaptureRecord r)
    {
        int space = decision.IndexOf(' ');
        string first = space < 0 ? decision : decision[..space];
        return first switch
        {
            "ethernet" or "frame" => Layer.Ethernet,
            "arp" => Layer.Arp,
            "ip" or "ipv4" => Layer.Ipv4,
            "icmp" => Layer.Icmp,
            "udp" => Layer.Udp,
            "tcp" => Layer.Tcp,
            _ => Top(r),
        };
    }
}
