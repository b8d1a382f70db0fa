using UserNet.TestSupport;
using UserNet.Wire;

namespace UserNet.Tests.Wire;

/// <summary>
/// The views read real packets: each frame below is written out as a capture tool shows it, and every field is checked
/// against the value a person reads off the dump (RFC 826 for ARP, RFC 791 for IPv4, RFC 792 for ICMP).
/// </summary>
public class KnownPacketTests
{
    /// <summary>Linux at 10.0.0.1 asking who has 10.0.0.2, padded to the 60-byte Ethernet minimum as it arrives off a wire.</summary>
    private const string ArpRequestDump = """
        ff ff ff ff ff ff 52 54 00 12 34 56 08 06 00 01
        08 00 06 04 00 01 52 54 00 12 34 56 0a 00 00 01
        00 00 00 00 00 00 0a 00 00 02 00 00 00 00 00 00
        00 00 00 00 00 00 00 00 00 00 00 00
        """;

    /// <summary>10.0.0.2 answering that it is at 02:00:00:00:00:02.</summary>
    private const string ArpReplyDump = """
        52 54 00 12 34 56 02 00 00 00 00 02 08 06 00 01
        08 00 06 04 00 02 02 00 00 00 00 02 0a 00 00 02
        52 54 00 12 34 56 0a 00 00 01
        """;

    /// <summary>
    /// iputils ping 10.0.0.2 from 10.0.0.1: DF set, TTL 64, identifier 0x0d2f, sequence 1, 56 data bytes
    /// (a 16-byte struct timeval, then 0x10..0x37).
    /// </summary>
    private const string EchoRequestDump = """
        02 00 00 00 00 02 52 54 00 12 34 56 08 00 45 00
        00 54 1c 46 40 00 40 01 0a 61 0a 00 00 01 0a 00
        00 02 08 00 03 1b 0d 2f 00 01 80 99 66 66 00 00
        00 00 40 e2 01 00 00 00 00 00 10 11 12 13 14 15
        16 17 18 19 1a 1b 1c 1d 1e 1f 20 21 22 23 24 25
        26 27 28 29 2a 2b 2c 2d 2e 2f 30 31 32 33 34 35
        36 37
        """;

    /// <summary>
    /// An IGMPv2 membership report for 224.0.0.251 as Linux sends it: IHL 6 for the Router Alert option
    /// (RFC 2113: 94 04 00 00), TOS 0xc0, TTL 1, DF.
    /// </summary>
    private const string IgmpWithRouterAlertDump = """
        01 00 5e 00 00 fb 52 54 00 12 34 56 08 00 46 c0
        00 20 00 00 40 00 01 02 41 6f c0 a8 01 05 e0 00
        00 fb 94 04 00 00 16 00 09 04 e0 00 00 fb
        """;

    [Fact]
    public void Rfc826_ArpRequest_EveryFieldReadsAsCaptured()
    {
        var frame = Hex.Bytes(ArpRequestDump);
        Assert.Equal(60, frame.Length);

        Assert.True(EthernetFrame.TryParse(frame, out var eth));
        Assert.Equal(MacAddress.Broadcast, eth.Destination);
        Assert.True(eth.Destination.IsBroadcast);
        Assert.Equal(MacAddress.Parse("52:54:00:12:34:56"), eth.Source);
        Assert.Equal(EtherType.Arp, eth.EtherType);
        Assert.Equal(46, eth.Payload.Length);

        Assert.True(ArpPacket.TryParse(eth.Payload, out var arp));
        Assert.Equal(ArpPacket.HardwareTypeEthernet, arp.HardwareType);
        Assert.Equal(EtherType.Ipv4, arp.ProtocolType);
        Assert.Equal(6, arp.HardwareLength);
        Assert.Equal(4, arp.ProtocolLength);
        Assert.True(arp.IsEthernetIpv4);
        Assert.Equal(ArpOperation.Request, arp.Operation);
        Assert.Equal(MacAddress.Parse("52:54:00:12:34:56"), arp.SenderHardwareAddress);
        Assert.Equal(Ipv4Address.Parse("10.0.0.1"), arp.SenderProtocolAddress);
        Assert.Equal(MacAddress.Zero, arp.TargetHardwareAddress);
        Assert.Equal(Ipv4Address.Parse("10.0.0.2"), arp.TargetProtocolAddress);
    }

    [Fact]
    public void Rfc826_ArpReply_EveryFieldReadsAsCaptured()
    {
        var frame = Hex.Bytes(ArpReplyDump);
        Assert.Equal(42, frame.Length);

        Assert.True(EthernetFrame.TryParse(frame, out var eth));
        Assert.Equal(MacAddress.Parse("52:54:00:12:34:56"), eth.Destination);
        Assert.Equal(MacAddress.Parse("02:00:00:00:00:02"), eth.Source);
        Assert.Equal(EtherType.Arp, eth.EtherType);

        Assert.True(ArpPacket.TryParse(eth.Payload, out var arp));
        Assert.True(arp.IsEthernetIpv4);
        Assert.Equal(ArpOperation.Reply, arp.Operation);
        Assert.Equal(MacAddress.Parse("02:00:00:00:00:02"), arp.SenderHardwareAddress);
        Assert.Equal(Ipv4Address.Parse("10.0.0.2"), arp.SenderProtocolAddress);
        Assert.Equal(MacAddress.Parse("52:54:00:12:34:56"), arp.TargetHardwareAddress);
        Assert.Equal(Ipv4Address.Parse("10.0.0.1"), arp.TargetProtocolAddress);
    }

    [Fact]
    public void Rfc826_ArpPacketShorterThan28Bytes_IsTruncated()
    {
        var frame = Hex.Bytes(ArpReplyDump);
        Assert.False(ArpPacket.TryParse(frame.AsSpan(EthernetFrame.HeaderLength, ArpPacket.Length - 1), out _));
        Assert.True(ArpPacket.TryParse(frame.AsSpan(EthernetFrame.HeaderLength, ArpPacket.Length), out _));
    }

    [Fact]
    public void Rfc792_LinuxPingEchoRequest_EveryFieldReadsAsCaptured()
    {
        var frame = Hex.Bytes(EchoRequestDump);
        Assert.Equal(98, frame.Length);

        Assert.True(EthernetFrame.TryParse(frame, out var eth));
        Assert.Equal(MacAddress.Parse("02:00:00:00:00:02"), eth.Destination);
        Assert.Equal(MacAddress.Parse("52:54:00:12:34:56"), eth.Source);
        Assert.Equal(EtherType.Ipv4, eth.EtherType);

        Assert.Equal(Ipv4ParseError.None, Ipv4Header.TryParse(eth.Payload, out var ip));
        Assert.Equal(4, ip.Version);
        Assert.Equal(5, ip.Ihl);
        Assert.Equal(20, ip.HeaderLength);
        Assert.Equal(0, ip.TypeOfService);
        Assert.Equal(84, ip.TotalLength);
        Assert.Equal(0x1c46, ip.Identification);
        Assert.Equal(0x4000, ip.FlagsAndFragmentOffset);
        Assert.True(ip.DontFragment);
        Assert.False(ip.MoreFragments);
        Assert.Equal(0, ip.FragmentOffset);
        Assert.False(ip.IsFragment);
        Assert.Equal(64, ip.TimeToLive);
        Assert.Equal(IpProtocol.Icmp, ip.Protocol);
        Assert.Equal(0x0a61, ip.HeaderChecksum);
        Assert.True(ip.IsChecksumValid);
        Assert.Equal(Ipv4Address.Parse("10.0.0.1"), ip.Source);
        Assert.Equal(Ipv4Address.Parse("10.0.0.2"), ip.Destination);
        Assert.Equal(0, ip.Options.Length);
        Assert.Equal(64, ip.Payload.Length);

        Assert.True(IcmpMessage.TryParse(ip.Payload, out var icmp));
        Assert.Equal(IcmpType.EchoRequest, icmp.Type);
        Assert.Equal(0, icmp.Code);
        Assert.Equal(0x031b, icmp.Checksum);
        Assert.True(icmp.IsChecksumValid);
        Assert.Equal(0x0d2f, icmp.Identifier);
        Assert.Equal(1, icmp.SequenceNumber);
        Assert.Equal(0x0d2f0001u, icmp.RestOfHeader);
        Assert.Equal(56, icmp.Data.Length);
        Assert.Equal(1_718_000_000L, BitConverter.ToInt64(icmp.Data[..8]));
        Assert.Equal(123_456L, BitConverter.ToInt64(icmp.Data[8..16]));
        for (int i = 16; i < 56; i++) Assert.Equal((byte)i, icmp.Data[i]);
    }

    [Fact]
    public void Rfc791_HeaderWithRouterAlertOption_Ihl6_EveryFieldReadsAsCaptured()
    {
        var frame = Hex.Bytes(IgmpWithRouterAlertDump);
        Assert.True(EthernetFrame.TryParse(frame, out var eth));
        Assert.Equal(MacAddress.Parse("01:00:5e:00:00:fb"), eth.Destination);
        Assert.True(eth.Destination.IsMulticast);
        Assert.Equal(EtherType.Ipv4, eth.EtherType);

        Assert.Equal(Ipv4ParseError.None, Ipv4Header.TryParse(eth.Payload, out var ip));
        Assert.Equal(4, ip.Version);
        Assert.Equal(6, ip.Ihl);
        Assert.Equal(24, ip.HeaderLength);
        Assert.Equal(0xc0, ip.TypeOfService);
        Assert.Equal(32, ip.TotalLength);
        Assert.Equal(0, ip.Identification);
        Assert.True(ip.DontFragment);
        Assert.False(ip.MoreFragments);
        Assert.False(ip.IsFragment);
        Assert.Equal(1, ip.TimeToLive);
        Assert.Equal(2, ip.Protocol); // IGMP
        Assert.Equal(0x416f, ip.HeaderChecksum);
        Assert.True(ip.IsChecksumValid);
        Assert.Equal(Ipv4Address.Parse("192.168.1.5"), ip.Source);
        Assert.Equal(Ipv4Address.Parse("224.0.0.251"), ip.Destination);
        Assert.True(ip.Destination.IsMulticast);
        Assert.Equal(Hex.Bytes("94 04 00 00"), ip.Options.ToArray());
        // The payload starts after the options, not at byte 20.
        Assert.Equal(Hex.Bytes("16 00 09 04 e0 00 00 fb"), ip.Payload.ToArray());
    }

    [Fact]
    public void Rfc791_FragmentFields_ReadFlagsAndOffsetInEightByteUnits()
    {
        var frame = Hex.Bytes(EchoRequestDump);
        var ip = new Ipv4Header(frame.AsSpan(EthernetFrame.HeaderLength));
        ip.FlagsAndFragmentOffset = 0x2000 | 185; // MF, offset 185 * 8 = 1480
        Assert.True(ip.MoreFragments);
        Assert.False(ip.DontFragment);
        Assert.Equal(1480, ip.FragmentOffset);
        Assert.True(ip.IsFragment);

        ip.FlagsAndFragmentOffset = 185; // the last fragment: offset only
        Assert.False(ip.MoreFragments);
        Assert.True(ip.IsFragment);
    }
}
