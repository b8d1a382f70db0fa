using PacketDotNet;
using UserNet.Core;
using UserNet.TestSupport;
using UserNet.Wire;
using static UserNet.TestSupport.TestStack;

namespace UserNet.Tests.Icmp;

/// <summary>
/// Protocol unreachable (RFC 1122 section 3.2.2.1) for a transport we do not speak: what it quotes (RFC 792), how often
/// it may be sent (RFC 1812 section 4.3.2.8), and when it must never be sent (RFC 1122 section 3.2.2).
/// </summary>
public class IcmpErrorTests
{
    /// <summary>An IANA number for experimentation (RFC 3692): no stack will ever speak it.</summary>
    private const byte UnknownProtocol = 253;

    private static byte[] Datagram(Ipv4Address destination, int payloadLength = 32, MacAddress? ethDestination = null, ushort identification = 0x1234)
    {
        var payload = new byte[payloadLength];
        new Random(payloadLength).NextBytes(payload);
        return Frames.Ipv4(ethDestination ?? OurMac, PeerMac, PeerIp, destination, UnknownProtocol, payload, identification: identification);
    }

    [Fact]
    public void Rfc1122_3_2_2_1_UnknownProtocol_GetsProtocolUnreachable_QuotingTheHeaderAndEightBytes()
    {
        using var s = new TestStack();
        s.LearnPeer();
        var offending = Datagram(OurIp);
        s.Receive(offending);

        Assert.Equal(1, s.Counters.DroppedFor(DropReason.Ipv4UnknownProtocol));
        var frame = Assert.Single(s.Sent);
        var eth = Dissect.Ethernet(frame);
        Assert.Equal(PeerMac, eth.Destination);
        Assert.Equal(OurMac, eth.Source);
        var ip = Dissect.Ipv4(frame);
        Assert.Equal(OurIp, ip.Source);
        Assert.Equal(PeerIp, ip.Destination);
        Assert.Equal(IpProtocol.Icmp, ip.Protocol);
        Assert.Equal(64, ip.Ttl);
        Assert.True(ip.ChecksumValid);
        Assert.Equal(20 + 8 + 28, ip.TotalLength);

        var icmp = Dissect.Icmp(frame);
        Assert.Equal(IcmpType.DestinationUnreachable, icmp.Type);
        Assert.Equal(IcmpUnreachableCode.Protocol, icmp.Code);
        Assert.Equal(0u, icmp.RestOfHeader); // "unused", zero
        Assert.True(icmp.ChecksumValid);
        // "Internet Header + 64 bits of Original Data Datagram"
        Assert.Equal(offending.AsSpan(EthernetFrame.HeaderLength, 20 + 8).ToArray(), icmp.Data);

        var pdn = Packet.ParsePacket(LinkLayers.Ethernet, frame).Extract<IcmpV4Packet>();
        Assert.Equal(IcmpV4TypeCode.UnreachableProtocol, pdn.TypeCode);
        Assert.True(pdn.ValidIcmpChecksum);
    }

    [Fact]
    public void Rfc792_QuoteOfAHeaderWithOptions_CoversTheOptionsAndEightBytes()
    {
        using var s = new TestStack();
        s.LearnPeer();
        var payload = new byte[16];
        new Random(4).NextBytes(payload);
        var offending = new byte[EthernetFrame.HeaderLength + 24 + payload.Length];
        EthernetFrame.Write(offending, OurMac, PeerMac, EtherType.Ipv4);
        var h = Ipv4Header.Write(offending.AsSpan(EthernetFrame.HeaderLength), PeerIp, OurIp, UnknownProtocol, 4 + payload.Length, 7);
        h.SetVersionAndHeaderLength(24);
        offending[EthernetFrame.HeaderLength + 20] = 0x01; // NOP, then End of Option List
        h.UpdateChecksum();
        payload.CopyTo(offending, EthernetFrame.HeaderLength + 24);
        s.Receive(offending);

        var icmp = Dissect.Icmp(Assert.Single(s.Sent));
        Assert.Equal(IcmpUnreachableCode.Protocol, icmp.Code);
        Assert.Equal(offending.AsSpan(EthernetFrame.HeaderLength, 24 + 8).ToArray(), icmp.Data);
    }

    [Fact]
    public void Rfc792_QuoteOfADatagramShorterThanEightDataBytes_IsTheWholeDatagram_WithoutPadding()
    {
        using var s = new TestStack();
        s.LearnPeer();
        var offending = Datagram(OurIp, payloadLength: 3);
        var padded = offending.ToArray();
        Array.Resize(ref padded, EthernetFrame.MinimumLength);
        s.Receive(padded);

        var icmp = Dissect.Icmp(Assert.Single(s.Sent));
        Assert.Equal(offending.AsSpan(EthernetFrame.HeaderLength).ToArray(), icmp.Data); // 23 bytes, no padding quoted
    }

    [Fact]
    public void Rfc1812_4_3_2_8_ErrorsAreRateLimited_ByATokenBucketOnTheStacksClock()
    {
        using var s = new TestStack(Options(icmpErrorsPerSecond: 2, icmpErrorBurst: 2));
        s.LearnPeer();

        for (int i = 0; i < 5; i++) s.Receive(Datagram(OurIp, identification: (ushort)i));
        Assert.Equal(2, s.Sent.Count); // the burst
        Assert.Equal(3, s.Counters.DroppedFor(DropReason.IcmpErrorRateLimited));
        Assert.Equal(5, s.Counters.DroppedFor(DropReason.Ipv4UnknownProtocol));

        s.Advance(TimeSpan.FromMilliseconds(500)); // one token back at 2 per second
        s.Receive(Datagram(OurIp));
        s.Receive(Datagram(OurIp));
        Assert.Equal(3, s.Sent.Count);

        s.Advance(TimeSpan.FromSeconds(30)); // a long quiet spell (shorter than the ARP entry lifetime) refills only up to the burst
        for (int i = 0; i < 5; i++) s.Receive(Datagram(OurIp));
        Assert.Equal(5, s.Sent.Count);

        Assert.All(s.Sent, f => Assert.Equal(IcmpType.DestinationUnreachable, Dissect.Icmp(f).Type));
    }

    [Fact]
    public void Rfc1812_4_3_2_8_RateLimitOnErrors_DoesNotLimitEchoReplies()
    {
        using var s = new TestStack(Options(icmpErrorsPerSecond: 1, icmpErrorBurst: 1));
        s.LearnPeer();
        s.Receive(Datagram(OurIp));
        s.Receive(Datagram(OurIp));
        s.ClearSent();

        for (ushort seq = 1; seq <= 5; seq++) s.Receive(EchoFromPeer(seq));
        Assert.Equal(5, s.Sent.Count);
    }

    [Theory]
    [InlineData("255.255.255.255")]
    [InlineData("10.0.0.255")]
    public void Rfc1122_3_2_2_NoErrorAboutADatagramToABroadcastAddress(string destination)
    {
        using var s = new TestStack();
        s.LearnPeer();
        s.Receive(Datagram(Ipv4Address.Parse(destination), ethDestination: MacAddress.Broadcast));

        Assert.Empty(s.Sent);
        Assert.Equal(1, s.Counters.DroppedFor(DropReason.Ipv4UnknownProtocol));
    }

    [Fact]
    public void Rfc1122_3_2_2_NoErrorAboutADatagramThatCameAsALinkLayerBroadcast()
    {
        using var s = new TestStack();
        s.LearnPeer();
        s.Receive(Datagram(OurIp, ethDestination: MacAddress.Broadcast));

        Assert.Empty(s.Sent);
        Assert.Equal(1, s.Counters.DroppedFor(DropReason.Ipv4UnknownProtocol));
    }

    [Fact]
    public void Rfc1122_3_2_2_BroadcastDatagrams_DoNotSpendTheErrorBudget()
    {
        using var s = new TestStack(Options(icmpErrorsPerSecond: 1, icmpErrorBurst: 1));
        s.LearnPeer();
        for (int i = 0; i < 10; i++) s.Receive(Datagram(Ipv4Address.Broadcast, ethDestination: MacAddress.Broadcast));
        Assert.Equal(0, s.Counters.DroppedFor(DropReason.IcmpErrorRateLimited));

        s.Receive(Datagram(OurIp));
        Assert.Single(s.Sent);
    }
}
