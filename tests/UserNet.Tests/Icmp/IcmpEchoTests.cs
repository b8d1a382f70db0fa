using System.Net;
using PacketDotNet;
using ArpOperation = UserNet.Wire.ArpOperation;
using UserNet.Core;
using UserNet.TestSupport;
using UserNet.Wire;
using static UserNet.TestSupport.TestStack;

namespace UserNet.Tests.Icmp;

/// <summary>Echo (RFC 792, RFC 1122 section 3.2.2.6) on a bare stack whose ARP cache already knows the peer.</summary>
public class IcmpEchoTests
{
    [Fact]
    public void Rfc792_EchoRequest_GetsAReply_AddressesSwapped_SameIdSequenceAndData()
    {
        using var s = new TestStack();
        s.LearnPeer();
        s.Receive(EchoFromPeer(sequence: 1, identifier: 0x0d2f));

        var frame = Assert.Single(s.Sent);
        var eth = Dissect.Ethernet(frame);
        Assert.Equal(PeerMac, eth.Destination);
        Assert.Equal(OurMac, eth.Source);
        Assert.Equal(EtherType.Ipv4, eth.EtherType);

        var ip = Dissect.Ipv4(frame);
        Assert.Equal(OurIp, ip.Source);
        Assert.Equal(PeerIp, ip.Destination);
        Assert.Equal(IpProtocol.Icmp, ip.Protocol);
        Assert.Equal(64, ip.Ttl);
        Assert.Equal(20, ip.HeaderLength);
        Assert.Equal(84, ip.TotalLength);
        Assert.Equal(0, ip.FlagsAndFragmentOffset & 0x3FFF); // not a fragment
        Assert.True(ip.ChecksumValid);

        var icmp = Dissect.Icmp(frame);
        Assert.Equal(IcmpType.EchoReply, icmp.Type);
        Assert.Equal(0, icmp.Code);
        Assert.Equal(0x0d2f, icmp.Identifier);
        Assert.Equal(1, icmp.Sequence);
        Assert.Equal(Frames.PingData(), icmp.Data);
        Assert.True(icmp.ChecksumValid);

        Assert.Equal(1, s.Counters.ReceivedBy(Layer.Icmp));
        Assert.Equal(1, s.Counters.SentBy(Layer.Icmp));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(55)]
    [InlineData(56)]
    [InlineData(57)]
    [InlineData(1000)]
    [InlineData(1472)] // the largest echo a 1500-byte MTU carries
    public void Rfc1122_3_2_2_6_EchoDataIsReturnedEntire_AndPacketDotNetAgreesTheChecksumsAreValid(int dataLength)
    {
        using var s = new TestStack();
        s.LearnPeer();
        var data = new byte[dataLength];
        new Random(dataLength).NextBytes(data);
        s.Receive(Frames.EchoRequest(OurMac, PeerMac, PeerIp, OurIp, 0x4242, 0x8001, data));

        var frame = Assert.Single(s.Sent);
        var pdn = Packet.ParsePacket(LinkLayers.Ethernet, frame);
        var ip = pdn.Extract<IPv4Packet>();
        Assert.True(ip.ValidIPChecksum);
        Assert.Equal(IPAddress.Parse("10.0.0.2"), ip.SourceAddress);
        Assert.Equal(IPAddress.Parse("10.0.0.1"), ip.DestinationAddress);
        Assert.Equal(64, ip.TimeToLive);
        var icmp = pdn.Extract<IcmpV4Packet>();
        Assert.Equal(IcmpV4TypeCode.EchoReply, icmp.TypeCode);
        Assert.Equal(0x4242, icmp.Id);
        Assert.Equal(0x8001, icmp.Sequence);
        Assert.True(icmp.ValidIcmpChecksum);
        Assert.Equal(data, icmp.Data);
    }

    [Fact]
    public void Rfc792_EchoRequestPaddedToTheEthernetMinimum_IsAnsweredWithoutThePadding()
    {
        using var s = new TestStack();
        s.LearnPeer();
        var request = EchoFromPeer(dataLength: 4); // 14 + 20 + 12 = 46 bytes on the wire before padding
        Array.Resize(ref request, EthernetFrame.MinimumLength);
        s.Receive(request);

        var icmp = Dissect.Icmp(Assert.Single(s.Sent));
        Assert.Equal(Frames.PingData(4), icmp.Data);
        Assert.True(icmp.ChecksumValid);
    }

    [Fact]
    public void Rfc1624_EchoReplyToAnAllZeroRequest_StillHasAValidChecksum()
    {
        // Identifier 0, sequence 0, zero data: the reply message is all zeros except its checksum. RFC 1624 section 3
        // warns that equation 3 then gives 0x0000 where only 0xFFFF makes the message sum to all ones.
        using var s = new TestStack();
        s.LearnPeer();
        s.Receive(Frames.EchoRequest(OurMac, PeerMac, PeerIp, OurIp, 0, 0, new byte[16]));

        var icmp = Dissect.Icmp(Assert.Single(s.Sent));
        Assert.Equal(IcmpType.EchoReply, icmp.Type);
        Assert.True(icmp.ChecksumValid);
    }

    [Fact]
    public void Rfc792_EchoFromAnUnknownHost_IsAnsweredOnceItsAddressResolves()
    {
        using var s = new TestStack();
        s.Receive(EchoFromPeer(sequence: 5));

        var arp = Dissect.Arp(Assert.Single(s.Sent));
        Assert.Equal(ArpOperation.Request, arp.Operation);
        Assert.Equal(PeerIp, arp.TargetIp);

        s.Receive(Frames.ArpReply(PeerMac, PeerIp, OurMac, OurIp));
        var reply = s.Sent.Last();
        Assert.Equal(PeerMac, Dissect.Ethernet(reply).Destination);
        Assert.Equal(5, Dissect.Icmp(reply).Sequence);
    }

    [Fact]
    public void Rfc792_EchoReplyMatchingNoPing_IsDroppedAndCounted()
    {
        using var s = new TestStack();
        s.LearnPeer();
        s.Receive(Frames.Ipv4(OurMac, PeerMac, PeerIp, OurIp, IpProtocol.Icmp, Frames.IcmpEcho(IcmpType.EchoReply, 1, 1, Frames.PingData())));
        Assert.Empty(s.Sent);
        Assert.Equal(1, s.Counters.DroppedFor(DropReason.IcmpUnmatchedReply));
    }

    [Fact]
    public void Rfc1122_3_2_2_IcmpTypeWeDoNotHandle_IsDroppedSilently()
    {
        using var s = new TestStack();
        s.LearnPeer();
        var timestamp = Frames.IcmpEcho(IcmpType.Timestamp, 1, 1, new byte[12]);
        s.Receive(Frames.Ipv4(OurMac, PeerMac, PeerIp, OurIp, IpProtocol.Icmp, timestamp));
        Assert.Empty(s.Sent);
        Assert.Equal(1, s.Counters.DroppedFor(DropReason.IcmpUnhandledType));
    }

    [Fact]
    public void Rfc792_OurEchoRequest_IsWellFormed()
    {
        using var s = new TestStack();
        s.LearnPeer();
        Assert.True(s.Ping(PeerIp, sequence: 9, identifier: 0x77));

        var frame = Assert.Single(s.Sent);
        var ip = Dissect.Ipv4(frame);
        Assert.Equal(OurIp, ip.Source);
        Assert.Equal(PeerIp, ip.Destination);
        Assert.Equal(64, ip.Ttl);
        Assert.True(ip.ChecksumValid);
        var icmp = Dissect.Icmp(frame);
        Assert.Equal(IcmpType.EchoRequest, icmp.Type);
        Assert.Equal(0, icmp.Code);
        Assert.Equal(0x77, icmp.Identifier);
        Assert.Equal(9, icmp.Sequence);
        Assert.True(icmp.ChecksumValid);
        Assert.Equal(Frames.PingData(), icmp.Data);
    }

    [Fact]
    public void Rfc791_EchoLargerThanTheLargestDatagram_IsRefusedAndCounted()
    {
        using var s = new TestStack();
        s.LearnPeer();
        Assert.False(s.Ping(PeerIp, dataLength: 65535 - 20 - 8 + 1));
        Assert.Empty(s.Sent);
        Assert.Equal(1, s.Counters.DroppedFor(DropReason.Ipv4TooBig));
    }

    [Fact]
    public void Rfc1122_3_3_1_EchoOffLinkWithNoGateway_IsRefusedAndCounted()
    {
        using var s = new TestStack();
        Assert.False(s.Ping(Ipv4Address.Parse("192.0.2.1")));
        Assert.Empty(s.Sent);
        Assert.Equal(1, s.Counters.DroppedFor(DropReason.Ipv4NoRoute));
    }
}
