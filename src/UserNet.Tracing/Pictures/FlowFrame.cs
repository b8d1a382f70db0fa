using System.Buffers.Binary;
using System.Net;
using UserNet.Capture;
using UserNet.Core;
using UserNet.Wire;

namespace UserNet.Pictures;

/// <summary>
/// One frame as the page draws it, whether it came from a capture's comments or from a replay: its number in the
/// capture (null for a frame only the replay sent); FromStack true when the stack sent it, false when it received it,
/// null when no stack said (a plain capture); the stack's decision, or null when none is known; and a note for the
/// hover text (a recorded comment, or the replay's comparison).
/// </summary>
internal sealed record FlowFrame(int? Number, CaptureRecord Record, string Summary, bool? FromStack, Layer Layer, string? Decision,
    bool Dropped, string? Note, bool ReplayOnly);

/// <summary>Who sent a frame and to whom, as the frame's own headers say.</summary>
internal readonly record struct FrameHosts(string? SourceIp, string? DestinationIp, MacAddress? SourceMac, MacAddress? DestinationMac)
{
    /// <summary>
    /// IPv4 (or IPv6) addresses when the frame has an IP header (even a damaged one, as long as the addresses are
    /// there), the sender and target of an ARP packet (no target for a gratuitous one), and the Ethernet MACs. Never throws.
    /// </summary>
    public static FrameHosts Of(CaptureRecord r)
    {
        var f = r.Data;
        int ip;
        ushort type;
        MacAddress? srcMac = null, dstMac = null;
        if (r.LinkType == LinkTypes.Raw)
        {
            ip = 0;
            type = f.Length > 0 && f[0] >> 4 == 6 ? EtherType.Ipv6 : EtherType.Ipv4;
        }
        else if (r.LinkType == LinkTypes.Ethernet && f.Length >= EthernetFrame.HeaderLength)
        {
            dstMac = MacAddress.Read(f);
            srcMac = MacAddress.Read(f.AsSpan(6));
            type = BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(12));
            ip = EthernetFrame.HeaderLength;
        }
        else return new FrameHosts(null, null, null, null);

        if (type == EtherType.Arp && f.Length >= ip + ArpPacket.Length)
        {
            var arp = new ArpPacket(f.AsSpan(ip));
            if (arp.IsEthernetIpv4)
            {
                var sender = arp.SenderProtocolAddress;
                var target = arp.TargetProtocolAddress;
                return new FrameHosts(sender.ToString(), target == sender ? null : target.ToString(), srcMac, dstMac);
            }
        }
        else if (type == EtherType.Ipv4 && f.Length >= ip + Ipv4Header.MinimumLength && f[ip] >> 4 == 4)
        {
            var src = new Ipv4Address(BinaryPrimitives.ReadUInt32BigEndian(f.AsSpan(ip + 12)));
            var dst = new Ipv4Address(BinaryPrimitives.ReadUInt32BigEndian(f.AsSpan(ip + 16)));
            return new FrameHosts(src.ToString(), dst.ToString(), srcMac, dstMac);
        }
        else if (type == EtherType.Ipv6 && f.Length >= ip + 40 && f[ip] >> 4 == 6)
        {
            var src = new IPAddress(f.AsSpan(ip + 8, 16));
            var dst = new IPAddress(f.AsSpan(ip + 24, 16));
            return new FrameHosts(src.ToString(), dst.ToString(), srcMac, dstMac);
        }
        return new FrameHosts(null, null, srcMac, dstMac);
    }
}
