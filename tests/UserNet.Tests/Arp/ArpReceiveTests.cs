using UserNet.Core;
using UserNet.TestSupport;
using UserNet.Wire;
using static UserNet.TestSupport.TestStack;

namespace UserNet.Tests.Arp;

/// <summary>
/// ARP packet reception (RFC 826 "Packet Reception"), address defence (RFC 5227 section 2.4) and the announcement
/// on start (RFC 5227 section 2.3), on a bare stack with a capturing link and a clock the test moves.
/// </summary>
public class ArpReceiveTests
{
    private static readonly MacAddress NewPeerMac = MacAddress.Parse("52:54:00:99:99:99");

    [Fact]
    public void Rfc826_RequestForOurAddress_IsAnsweredWithAReplyCarryingOurMac()
    {
        using var s = new TestStack();
        s.Receive(Frames.ArpRequest(PeerMac, PeerIp, OurIp));

        var frame = Assert.Single(s.Sent);
        var eth = Dissect.Ethernet(frame);
        Assert.Equal(PeerMac, eth.Destination); // unicast back to the asker
        Assert.Equal(OurMac, eth.Source);
        Assert.Equal(EtherType.Arp, eth.EtherType);

        var arp = Dissect.Arp(frame);
        Assert.Equal(ArpPacket.HardwareTypeEthernet, arp.HardwareType);
        Assert.Equal(EtherType.Ipv4, arp.ProtocolType);
        Assert.Equal(6, arp.HardwareLength);
        Assert.Equal(4, arp.ProtocolLength);
        Assert.Equal(ArpOperation.Reply, arp.Operation);
        Assert.Equal(OurMac, arp.SenderMac);
        Assert.Equal(OurIp, arp.SenderIp);
        Assert.Equal(PeerMac, arp.TargetMac);
        Assert.Equal(PeerIp, arp.TargetIp);

        Assert.Equal(1, s.Counters.ReceivedBy(Layer.Arp));
        Assert.Equal(1, s.Counters.SentBy(Layer.Arp));
    }

    [Fact]
    public void Rfc826_PaddedRequestOffTheWire_IsAnsweredToo()
    {
        using var s = new TestStack();
        var request = Frames.ArpRequest(PeerMac, PeerIp, OurIp);
        Array.Resize(ref request, EthernetFrame.MinimumLength);
        s.Receive(request);
        Assert.Equal(ArpOperation.Reply, Dissect.Arp(Assert.Single(s.Sent)).Operation);
    }

    [Fact]
    public void Rfc826_RequestForUs_TeachesUsTheSender_SoWeSendToItWithoutAsking()
    {
        using var s = new TestStack();
        s.LearnPeer();

        Assert.True(s.Ping(PeerIp));
        var frame = Assert.Single(s.Sent);
        Assert.Equal(PeerMac, Dissect.Ethernet(frame).Destination);
        Assert.Equal(IcmpType.EchoRequest, Dissect.Icmp(frame).Type);
    }

    [Fact]
    public void Rfc826_RequestForUs_TeachesUsTheSender_SoItsEchoRequestIsAnsweredDirectly()
    {
        using var s = new TestStack();
        s.LearnPeer();

        s.Receive(EchoFromPeer());
        var frame = Assert.Single(s.Sent); // the reply, with no ARP request before it
        Assert.Equal(PeerMac, Dissect.Ethernet(frame).Destination);
        Assert.Equal(IcmpType.EchoReply, Dissect.Icmp(frame).Type);
    }

    [Fact]
    public void Rfc826_ReplyAddressedToUs_IsLearned()
    {
        using var s = new TestStack();
        s.Receive(Frames.ArpReply(PeerMac, PeerIp, OurMac, OurIp));
        Assert.Empty(s.Sent); // a reply is not answered

        Assert.True(s.Ping(PeerIp));
        Assert.Equal(PeerMac, Dissect.Ethernet(Assert.Single(s.Sent)).Destination);
    }

    [Fact]
    public void Rfc826_RequestForAnotherHost_IsNotAnsweredAndNotLearned()
    {
        using var s = new TestStack();
        s.Receive(Frames.ArpRequest(PeerMac, PeerIp, OtherIp));

        Assert.Empty(s.Sent);
        Assert.Equal(1, s.Counters.DroppedFor(DropReason.ArpNotForUs));

        // Nothing was learned: sending to the peer has to ask for it first.
        Assert.True(s.Ping(PeerIp));
        var arp = Dissect.Arp(Assert.Single(s.Sent));
        Assert.Equal(ArpOperation.Request, arp.Operation);
        Assert.Equal(PeerIp, arp.TargetIp);
    }

    [Fact]
    public void Rfc826_MergeRule_RequestForAnotherHost_UpdatesAnEntryWeAlreadyHave()
    {
        using var s = new TestStack();
        s.LearnPeer();

        // The peer's interface changed and it asks for someone else; we are not the target but we know the sender.
        s.Receive(Frames.ArpRequest(NewPeerMac, PeerIp, OtherIp));
        Assert.Empty(s.Sent);

        Assert.True(s.Ping(PeerIp));
        Assert.Equal(NewPeerMac, Dissect.Ethernet(Assert.Single(s.Sent)).Destination);
    }

    [Fact]
    public void Rfc5227_2_3_Start_AnnouncesOurAddressWithAGratuitousRequest()
    {
        using var s = new TestStack();
        s.Start();

        var frame = Assert.Single(s.Sent);
        var eth = Dissect.Ethernet(frame);
        Assert.Equal(MacAddress.Broadcast, eth.Destination);
        Assert.Equal(OurMac, eth.Source);
        var arp = Dissect.Arp(frame);
        Assert.Equal(ArpOperation.Request, arp.Operation);
        Assert.Equal(OurMac, arp.SenderMac);
        Assert.Equal(OurIp, arp.SenderIp);
        Assert.Equal(MacAddress.Zero, arp.TargetMac); // RFC 5227: SHOULD be zero
        Assert.Equal(OurIp, arp.TargetIp);             // sender and target are both our address
    }

    [Fact]
    public void Rfc5227_OurOwnAnnouncementComingBack_IsNotAConflict()
    {
        using var s = new TestStack();
        s.Receive(Frames.Arp(ArpOperation.Request, MacAddress.Broadcast, OurMac, OurMac, OurIp, MacAddress.Zero, OurIp));
        Assert.Empty(s.Sent);
        Assert.Equal(0, s.Counters.DroppedFor(DropReason.ArpAddressConflict));
    }

    [Fact]
    public void Rfc5227_2_1_1_ProbeForOurAddress_IsAnsweredSoTheProberSeesTheConflict()
    {
        using var s = new TestStack();
        // A probe: sender IP all zeros, asking who has our address.
        s.Receive(Frames.Arp(ArpOperation.Request, MacAddress.Broadcast, OtherMac, OtherMac, Ipv4Address.Any, MacAddress.Zero, OurIp));

        var arp = Dissect.Arp(Assert.Single(s.Sent));
        Assert.Equal(ArpOperation.Reply, arp.Operation);
        Assert.Equal(OurIp, arp.SenderIp);
        Assert.Equal(OtherMac, arp.TargetMac);
        Assert.Equal(Ipv4Address.Any, arp.TargetIp);
    }

    public static TheoryData<string> ConflictForms => new() { "request for another host", "gratuitous request", "gratuitous reply", "reply to us" };

    private static byte[] Conflict(string form, MacAddress from) => form switch
    {
        "request for another host" => Frames.ArpRequest(from, OurIp, PeerIp),
        "gratuitous reply" => Frames.Arp(ArpOperation.Reply, MacAddress.Broadcast, from, from, OurIp, MacAddress.Broadcast, OurIp),
        "reply to us" => Frames.ArpReply(from, OurIp, OurMac, OurIp),
        "gratuitous request" => Frames.Arp(ArpOperation.Request, MacAddress.Broadcast, from, from, OurIp, MacAddress.Zero, OurIp),
        _ => throw new ArgumentOutOfRangeException(nameof(form)),
    };

    [Theory]
    [MemberData(nameof(ConflictForms))]
    public void Rfc5227_2_4_FrameClaimingOurAddressFromAnotherMac_IsDroppedCountedAndNeverLearned(string form)
    {
        using var s = new TestStack();
        s.Receive(Conflict(form, OtherMac));

        Assert.Equal(1, s.Counters.DroppedFor(DropReason.ArpAddressConflict));
        Assert.Equal(0, s.Counters.ReceivedBy(Layer.Arp));
        // Never learned: nothing we send goes to the claimant's MAC as if it were a mapping we trust.
        s.Ping(OurIp);
        s.Ping(PeerIp);
        Assert.DoesNotContain(s.Sent, f => Dissect.IsIpv4(f) && Dissect.Ethernet(f).Destination == OtherMac);
    }

    [Theory]
    [MemberData(nameof(ConflictForms))]
    public void Rfc5227_2_4_FrameClaimingOurAddress_IsAnsweredWithADefendingAnnouncement(string form)
    {
        using var s = new TestStack();
        s.Receive(Conflict(form, OtherMac));

        var frame = Assert.Single(s.Sent);
        Assert.Equal(MacAddress.Broadcast, Dissect.Ethernet(frame).Destination);
        var arp = Dissect.Arp(frame);
        Assert.Equal(ArpOperation.Request, arp.Operation);
        Assert.Equal(OurMac, arp.SenderMac);
        Assert.Equal(OurIp, arp.SenderIp);
        Assert.Equal(OurIp, arp.TargetIp);
    }

    [Fact]
    public void Rfc5227_2_4_WeDefendAtMostOncePerDefendInterval()
    {
        using var s = new TestStack(Options(arpDefendInterval: TimeSpan.FromSeconds(10)));
        var conflict = Conflict("gratuitous request", OtherMac);

        s.Receive(conflict);
        Assert.Single(s.Sent);

        s.Advance(TimeSpan.FromSeconds(1));
        s.Receive(conflict);
        s.Advance(TimeSpan.FromSeconds(8.9));
        s.Receive(conflict);
        Assert.Single(s.Sent); // still only the first defence
        Assert.Equal(3, s.Counters.DroppedFor(DropReason.ArpAddressConflict));

        s.Advance(TimeSpan.FromSeconds(0.1)); // 10 s after the first defence
        s.Receive(conflict);
        Assert.Equal(2, s.Sent.Count);
        Assert.Equal(OurIp, Dissect.Arp(s.Sent[1]).TargetIp);
    }

    [Fact]
    public void Rfc826_HardwareTypeOtherThanEthernet_IsDroppedAsUnsupported()
    {
        using var s = new TestStack();
        var frame = Frames.ArpRequest(PeerMac, PeerIp, OurIp);
        frame[EthernetFrame.HeaderLength + 1] = 6; // IEEE 802 networks
        s.Receive(frame);
        Assert.Empty(s.Sent);
        Assert.Equal(1, s.Counters.DroppedFor(DropReason.ArpUnsupportedFormat));
    }

    [Fact]
    public void Rfc826_OperationOtherThanRequestOrReply_IsDroppedAsUnsupported()
    {
        using var s = new TestStack();
        var frame = Frames.ArpRequest(PeerMac, PeerIp, OurIp);
        frame[EthernetFrame.HeaderLength + 7] = 3; // RARP request
        s.Receive(frame);
        Assert.Empty(s.Sent);
        Assert.Equal(1, s.Counters.DroppedFor(DropReason.ArpUnsupportedFormat));
    }

    [Theory]
    [InlineData("ff:ff:ff:ff:ff:ff", "10.0.0.1")]
    [InlineData("01:00:5e:00:00:01", "10.0.0.1")]
    [InlineData("00:00:00:00:00:00", "10.0.0.1")]
    [InlineData("52:54:00:12:34:56", "224.0.0.1")]
    [InlineData("52:54:00:12:34:56", "255.255.255.255")]
    [InlineData("52:54:00:12:34:56", "127.0.0.1")]
    public void Rfc826_SenderThatIsNoUnicastHost_IsDroppedAndNotAnswered(string senderMac, string senderIp)
    {
        using var s = new TestStack();
        s.Receive(Frames.Arp(ArpOperation.Request, MacAddress.Broadcast, PeerMac, MacAddress.Parse(senderMac), Ipv4Address.Parse(senderIp), MacAddress.Zero, OurIp));
        Assert.Empty(s.Sent);
        Assert.Equal(1, s.Counters.DroppedFor(DropReason.ArpBadSender));
    }
}
