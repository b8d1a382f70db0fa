using UserNet.TestSupport;
using UserNet.Wire;
using static UserNet.TestSupport.TestStack;

namespace UserNet.Tests.Ip;

/// <summary>Choosing the next hop for what we send (RFC 1122 section 3.3.1) and the link address for it.</summary>
public class Ipv4RoutingTests
{
    [Fact]
    public void Rfc1122_3_3_1_OffLinkDestination_GoesToTheGatewaysMac()
    {
        var remote = Ipv4Address.Parse("192.0.2.7");
        using var s = new TestStack(Options(gateway: PeerIp));
        Assert.True(s.Ping(remote));

        var arp = Dissect.Arp(Assert.Single(s.Sent));
        Assert.Equal(PeerIp, arp.TargetIp); // we ask for the gateway, not the remote host
        s.ClearSent();

        s.Receive(Frames.ArpReply(PeerMac, PeerIp, OurMac, OurIp));
        var frame = Assert.Single(s.Sent);
        Assert.Equal(PeerMac, Dissect.Ethernet(frame).Destination);
        Assert.Equal(remote, Dissect.Ipv4(frame).Destination);
    }

    [Theory]
    [InlineData("255.255.255.255")]
    [InlineData("10.0.0.255")]
    public void Rfc1122_3_3_6_BroadcastDestination_GoesToTheEthernetBroadcastWithoutArp(string destination)
    {
        using var s = new TestStack();
        Assert.True(s.Ping(Ipv4Address.Parse(destination)));

        var frame = Assert.Single(s.Sent);
        Assert.Equal(MacAddress.Broadcast, Dissect.Ethernet(frame).Destination);
        Assert.Equal(Ipv4Address.Parse(destination), Dissect.Ipv4(frame).Destination);
    }

    [Fact]
    public void Rfc3021_OnA31BitPrefix_ThePeerIsResolvedByArp_NotBroadcast()
    {
        // 10.0.0.2/31: the link holds 10.0.0.2 (us) and 10.0.0.3 (the peer); there is no broadcast address.
        using var s = new TestStack(Options(address: "10.0.0.2/31"));
        Assert.True(s.Ping(OtherIp));

        var arp = Dissect.Arp(Assert.Single(s.Sent));
        Assert.Equal(ArpOperation.Request, arp.Operation);
        Assert.Equal(OtherIp, arp.TargetIp);
    }

    [Fact]
    public void Rfc3021_OnA31BitPrefix_AnEchoFromThePeerIsAnsweredToItsMac()
    {
        using var s = new TestStack(Options(address: "10.0.0.2/31"));
        s.Receive(Frames.ArpRequest(OtherMac, OtherIp, OurIp));
        s.ClearSent();
        s.Receive(Frames.EchoRequest(OurMac, OtherMac, OtherIp, OurIp, 1, 1, Frames.PingData()));

        var frame = Assert.Single(s.Sent);
        Assert.Equal(OtherMac, Dissect.Ethernet(frame).Destination);
        Assert.Equal(IcmpType.EchoReply, Dissect.Icmp(frame).Type);
    }
}
