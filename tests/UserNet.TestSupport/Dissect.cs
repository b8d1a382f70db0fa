using Xunit;
using UserNet.Wire;

namespace UserNet.TestSupport;

public sealed record EthernetFields(MacAddress Destination, MacAddress Source, ushort EtherType, int FrameLength);

public sealed record ArpFields(ushort HardwareType, ushort ProtocolType, byte HardwareLength, byte ProtocolLength,
    ArpOperation Operation, MacAddress SenderMac, Ipv4Address SenderIp, MacAddress TargetMac, Ipv4Address TargetIp);

public sealed record Ipv4Fields(Ipv4Address Source, Ipv4Address Destination, byte Protocol, byte Ttl, int HeaderLength,
    int TotalLength, ushort FlagsAndFragmentOffset, bool ChecksumValid, byte[] Header, byte[] Payload);

public sealed record IcmpFields(byte Type, byte Code, ushort Identifier, ushort Sequence, uint RestOfHeader, bool ChecksumValid, byte[] Data);

/// <summary>Reads what the stack sent into plain records, so tests can assert on them outside ref-struct scope.</summary>
public static class Dissect
{
    public static EthernetFields Ethernet(byte[] frame)
    {
        Assert.True(EthernetFrame.TryParse(frame, out var eth), "frame shorter than an Ethernet header");
        return new EthernetFields(eth.Destination, eth.Source, eth.EtherType, frame.Length);
    }

    public static bool IsArp(byte[] frame) => Ethernet(frame).EtherType == EtherType.Arp;
    public static bool IsIpv4(byte[] frame) => Ethernet(frame).EtherType == EtherType.Ipv4;

    public static ArpFields Arp(byte[] frame)
    {
        Assert.Equal(EtherType.Arp, Ethernet(frame).EtherType);
        Assert.True(ArpPacket.TryParse(frame.AsSpan(EthernetFrame.HeaderLength), out var a), "ARP packet truncated");
        return new ArpFields(a.HardwareType, a.ProtocolType, a.HardwareLength, a.ProtocolLength, a.Operation,
            a.SenderHardwareAddress, a.SenderProtocolAddress, a.TargetHardwareAddress, a.TargetProtocolAddress);
    }

    public static Ipv4Fields Ipv4(byte[] frame)
    {
        Assert.Equal(EtherType.Ipv4, Ethernet(frame).EtherType);
        var err = Ipv4Header.TryParse(frame.AsSpan(EthernetFrame.HeaderLength), out var ip);
        Assert.Equal(Ipv4ParseError.None, err);
        return new Ipv4Fields(ip.Source, ip.Destination, ip.Protocol, ip.TimeToLive, ip.HeaderLength, ip.TotalLength,
            ip.FlagsAndFragmentOffset, ip.IsChecksumValid, ip.Buffer[..ip.HeaderLength].ToArray(), ip.Payload.ToArray());
    }

    public static IcmpFields Icmp(byte[] frame)
    {
        var ip = Ipv4(frame);
        Assert.Equal(IpProtocol.Icmp, ip.Protocol);
        Assert.True(IcmpMessage.TryParse(ip.Payload, out var m), "ICMP message truncated");
        return new IcmpFields(m.Type, m.Code, m.Identifier, m.SequenceNumber, m.RestOfHeader, m.IsChecksumValid, m.Data.ToArray());
    }
}
