using UserNet.Core;
using UserNet.TestSupport;
using UserNet.Wire;
using static UserNet.TestSupport.TestStack;

namespace UserNet.Tests.Arp;

/// <summary>
/// Resolving a next hop (RFC 826, RFC 1122 section 2.3.2): one request at a time per address, retries at the
/// request interval up to the attempt limit, a bounded wait queue flushed by the reply, and expiry of what was learned.
/// </summary>
public class ArpResolutionTests
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    private static TestStack Stack(int attempts = 3, int queueLength = 8) =>
        new(Options(arpRequestInterval: Interval, arpRequestAttempts: attempts, arpQueueLength: queueLength));

    private static List<ArpFields> ArpRequestsFor(TestStack s, Ipv4Address target) =>
        s.Sent.Where(Dissect.IsArp).Select(Dissect.Arp).Where(a => a.Operation == ArpOperation.Request && a.TargetIp == target).ToList();

    private static List<byte[]> Datagrams(TestStack s) => s.Sent.Where(Dissect.IsIpv4).ToList();

    [Fact]
    public void Rfc826_UnresolvedNextHop_GetsABroadcastRequestAndTheDatagramWaits()
    {
        using var s = Stack();
        Assert.True(s.Ping(OtherIp));

        var frame = Assert.Single(s.Sent);
        var eth = Dissect.Ethernet(frame);
        Assert.Equal(MacAddress.Broadcast, eth.Destination);
        Assert.Equal(OurMac, eth.Source);
        var arp = Dissect.Arp(frame);
        Assert.Equal(ArpOperation.Request, arp.Operation);
        Assert.Equal(OurMac, arp.SenderMac);
        Assert.Equal(OurIp, arp.SenderIp);
        Assert.Equal(MacAddress.Zero, arp.TargetMac);
        Assert.Equal(OtherIp, arp.TargetIp);
        Assert.Equal(s.Now + Interval, s.Stack.NextDeadline);
    }

    [Fact]
    public void Rfc1122_2_3_2_1_NoSecondRequestBeforeTheIntervalPasses_EvenWithMoreDatagramsWaiting()
    {
        using var s = Stack();
        var t0 = s.Now;
        Assert.True(s.Ping(OtherIp, sequence: 1));

        s.Now = t0 + TimeSpan.FromMilliseconds(500);
        Assert.True(s.Ping(OtherIp, sequence: 2));
        s.Poll();
        s.Now = t0 + Interval - TimeSpan.FromTicks(1);
        Assert.True(s.Ping(OtherIp, sequence: 3));
        s.Poll();
        Assert.Single(ArpRequestsFor(s, OtherIp));

        s.Now = t0 + Interval;
        s.Poll();
        Assert.Equal(2, ArpRequestsFor(s, OtherIp).Count);
        Assert.Empty(Datagrams(s));
    }

    [Fact]
    public void Rfc1122_2_3_2_1_RetriesAtEachInterval_UpToTheAttemptLimit_ThenDropsAndCountsWhatWaited()
    {
        using var s = Stack(attempts: 3);
        var t0 = s.Now;
        s.Ping(OtherIp, sequence: 1);
        s.Ping(OtherIp, sequence: 2);

        for (int i = 1; i <= 2; i++)
        {
            s.Now = t0 + i * Interval;
            s.Poll();
            Assert.Equal(i + 1, ArpRequestsFor(s, OtherIp).Count);
            Assert.Equal(0, s.Counters.DroppedFor(DropReason.ArpUnresolved));
        }

        s.Now = t0 + 3 * Interval; // the third request has had its interval: give up
        s.Poll();
        Assert.Equal(3, ArpRequestsFor(s, OtherIp).Count);
        Assert.Equal(2, s.Counters.DroppedFor(DropReason.ArpUnresolved));
        Assert.Equal(TimeSpan.MaxValue, s.Stack.NextDeadline);

        s.Now = t0 + 10 * Interval;
        s.Poll();
        Assert.Equal(3, ArpRequestsFor(s, OtherIp).Count);

        // A late reply finds nothing waiting; nothing is sent.
        s.Receive(Frames.ArpReply(OtherMac, OtherIp, OurMac, OurIp));
        Assert.Empty(Datagrams(s));
    }

    [Fact]
    public void Rfc1122_2_3_2_1_AfterGivingUp_TheNextDatagramStartsAFreshResolution()
    {
        using var s = Stack(attempts: 1);
        s.Ping(OtherIp);
        s.Advance(Interval);
        s.Poll();
        Assert.Equal(1, s.Counters.DroppedFor(DropReason.ArpUnresolved));

        Assert.True(s.Ping(OtherIp, sequence: 2));
        Assert.Equal(2, ArpRequestsFor(s, OtherIp).Count);
        s.Receive(Frames.ArpReply(OtherMac, OtherIp, OurMac, OurIp));
        Assert.Equal(2, Dissect.Icmp(Assert.Single(Datagrams(s))).Sequence);
    }

    [Fact]
    public void Rfc1122_2_3_2_2_WaitQueueIsBounded_OverflowIsDroppedAndCounted()
    {
        using var s = Stack(queueLength: 3);
        for (ushort seq = 1; seq <= 3; seq++) Assert.True(s.Ping(OtherIp, seq));
        Assert.False(s.Ping(OtherIp, 4));
        Assert.False(s.Ping(OtherIp, 5));
        Assert.Equal(2, s.Counters.DroppedFor(DropReason.ArpQueueOverflow));
        Assert.Single(ArpRequestsFor(s, OtherIp));

        s.Receive(Frames.ArpReply(OtherMac, OtherIp, OurMac, OurIp));
        Assert.Equal(new ushort[] { 1, 2, 3 }, Datagrams(s).Select(f => Dissect.Icmp(f).Sequence).ToArray());
    }

    [Fact]
    public void Rfc826_ReplyFlushesWaitingDatagramsInOrder_ToTheRepliersMac()
    {
        using var s = Stack();
        for (ushort seq = 1; seq <= 3; seq++) s.Ping(OtherIp, seq);
        s.ClearSent();

        s.Advance(TimeSpan.FromMilliseconds(300));
        s.Receive(Frames.ArpReply(OtherMac, OtherIp, OurMac, OurIp));

        Assert.Equal(3, s.Sent.Count);
        for (int i = 0; i < 3; i++)
        {
            var frame = s.Sent[i];
            var eth = Dissect.Ethernet(frame);
            Assert.Equal(OtherMac, eth.Destination);
            Assert.Equal(OurMac, eth.Source);
            var ip = Dissect.Ipv4(frame);
            Assert.Equal(OurIp, ip.Source);
            Assert.Equal(OtherIp, ip.Destination);
            Assert.True(ip.ChecksumValid);
            var icmp = Dissect.Icmp(frame);
            Assert.Equal(IcmpType.EchoRequest, icmp.Type);
            Assert.Equal(i + 1, icmp.Sequence);
            Assert.True(icmp.ChecksumValid);
            Assert.Equal(Frames.PingData(), icmp.Data);
        }

        // Resolved now: the next datagram goes straight out, and no retry is pending.
        s.ClearSent();
        s.Advance(Interval);
        s.Poll();
        Assert.True(s.Ping(OtherIp, 4));
        Assert.Equal(OtherMac, Dissect.Ethernet(Assert.Single(s.Sent)).Destination);
    }

    [Fact]
    public void Rfc826_RequestFromTheHostWeAreResolving_AlsoFlushesWhatWaits()
    {
        using var s = Stack();
        s.Ping(OtherIp, 1);
        s.ClearSent();

        s.Receive(Frames.ArpRequest(OtherMac, OtherIp, OurIp));
        var datagram = Assert.Single(Datagrams(s));
        Assert.Equal(OtherMac, Dissect.Ethernet(datagram).Destination);
        Assert.Single(s.Sent, f => Dissect.IsArp(f) && Dissect.Arp(f).Operation == ArpOperation.Reply);
    }

    [Fact]
    public void Rfc1122_2_3_2_1_AnEntryInUseAtItsExpiryIsPolledByUnicastAndCarriesTrafficMeanwhile()
    {
        var lifetime = TimeSpan.FromSeconds(30);
        using var s = new TestStack(Options(arpEntryLifetime: lifetime));
        var learnedAt = s.Now;
        s.LearnPeer();

        s.Now = learnedAt + lifetime + TimeSpan.FromMilliseconds(1);
        Assert.True(s.Ping(PeerIp, 1));
        // The ping goes at once, to the MAC we had: nothing waits, nothing is lost while we ask (as Linux's STALE state).
        Assert.Equal(PeerMac, Dissect.Ethernet(Assert.Single(s.Sent)).Destination);
        Assert.True(Dissect.IsIpv4(Assert.Single(s.Sent)));
        s.ClearSent();

        s.Poll(); // the unicast poll: a request to that MAC, not a broadcast
        var poll = Assert.Single(s.Sent);
        Assert.Equal(PeerMac, Dissect.Ethernet(poll).Destination);
        Assert.Equal(ArpOperation.Request, Dissect.Arp(poll).Operation);
        Assert.Equal(PeerIp, Dissect.Arp(poll).TargetIp);
        s.ClearSent();

        s.Receive(Frames.ArpReply(PeerMac, PeerIp, OurMac, OurIp)); // it answers: good for another lifetime
        s.Now += TimeSpan.FromSeconds(5);
        s.Poll();
        Assert.Empty(s.Sent);
        Assert.True(s.Ping(PeerIp, 2));
        Assert.True(Dissect.IsIpv4(Assert.Single(s.Sent)));
        Assert.Equal(0, s.Counters.DroppedBy(Layer.Arp));
    }

    [Fact]
    public void Rfc1122_2_3_2_1_AnEntryThatAnswersNoUnicastPollIsForgottenAndResolvedAfreshByBroadcast()
    {
        var lifetime = TimeSpan.FromSeconds(30);
        using var s = new TestStack(Options(arpEntryLifetime: lifetime, arpRequestAttempts: 3));
        var learnedAt = s.Now;
        s.LearnPeer();
        s.Now = learnedAt + lifetime;
        Assert.True(s.Ping(PeerIp, 1));
        s.ClearSent();
        for (int i = 0; i < 3; i++)
        {
            s.Poll();
            Assert.Equal(PeerMac, Dissect.Ethernet(Assert.Single(s.Sent)).Destination); // polled where it was
            s.ClearSent();
            s.Now += TimeSpan.FromSeconds(1);
        }
        s.Poll(); // three unanswered: forgotten
        Assert.Empty(s.Sent);

        Assert.True(s.Ping(PeerIp, 2)); // now it waits for a broadcast request
        var arp = Assert.Single(s.Sent);
        Assert.Equal(MacAddress.Broadcast, Dissect.Ethernet(arp).Destination);
        Assert.Equal(ArpOperation.Request, Dissect.Arp(arp).Operation);
    }

    [Fact]
    public void ArpEntryLifetime_AnEntryNotUsedSinceItExpiredIsForgottenWithoutAPoll()
    {
        var lifetime = TimeSpan.FromSeconds(30);
        using var s = new TestStack(Options(arpEntryLifetime: lifetime));
        var learnedAt = s.Now;
        s.LearnPeer();
        s.Now = learnedAt + lifetime + TimeSpan.FromSeconds(1);
        s.Poll();
        Assert.Empty(s.Sent); // nobody asked for it: no poll

        Assert.True(s.Ping(PeerIp));
        Assert.Equal(MacAddress.Broadcast, Dissect.Ethernet(Assert.Single(s.Sent)).Destination);
    }

    [Fact]
    public void Rfc826_ConfirmingAnEntry_ExtendsItsLifetime()
    {
        var lifetime = TimeSpan.FromSeconds(30);
        using var s = new TestStack(Options(arpEntryLifetime: lifetime));
        s.LearnPeer();
        s.Advance(TimeSpan.FromSeconds(20));
        s.LearnPeer(); // asked again: refreshed
        s.Advance(TimeSpan.FromSeconds(20));
        s.Poll();

        Assert.True(s.Ping(PeerIp));
        Assert.True(Dissect.IsIpv4(Assert.Single(s.Sent)));
    }

    [Fact]
    public void ArpCacheCapacity_EvictingAnEntryWithWaitingDatagrams_CountsThemAsDropped()
    {
        using var s = new TestStack(Options(arpCacheCapacity: 1));
        Assert.True(s.Ping(OtherIp, 1)); // waits for 10.0.0.3
        Assert.True(s.Ping(PeerIp, 2));  // needs a second entry: 10.0.0.3's is evicted with its datagram

        Assert.Equal(1, s.Counters.DroppedBy(Layer.Arp));
    }
}
