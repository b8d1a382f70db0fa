using UserNet.Core;
using UserNet.TestSupport;
using UserNet.Wire;
using static UserNet.TestSupport.TestStack;

namespace UserNet.Tests.Ip;

/// <summary>
/// Input checks (RFC 791, RFC 1122 sections 3.2.1 and 3.2.2.6): every malformed or unacceptable frame is dropped under
/// its own reason with nothing sent, and the stack answers the next valid echo as if nothing had happened.
/// </summary>
public class Ipv4InputTests
{
    private const int Ip = EthernetFrame.HeaderLength; // where the IP header starts in a frame

    /// <summary>Recomputes the IP header checksum over <paramref name="headerLength"/> bytes after a deliberate change.</summary>
    private static byte[] FixIpChecksum(byte[] frame, int headerLength = Ipv4Header.MinimumLength)
    {
        frame[Ip + 10] = frame[Ip + 11] = 0;
        ushort c = InternetChecksum.Compute(frame.AsSpan(Ip, headerLength));
        frame[Ip + 10] = (byte)(c >> 8);
        frame[Ip + 11] = (byte)c;
        return frame;
    }

    private static byte[] EchoFrom(Ipv4Address source, Ipv4Address destination, MacAddress? ethDestination = null) =>
        Frames.EchoRequest(ethDestination ?? OurMac, PeerMac, source, destination, 0x0d2f, 1, Frames.PingData());

    /// <summary>Each case: what is wrong with the frame, and the reason it must be dropped for.</summary>
    private static readonly Dictionary<string, (Func<byte[]> Frame, DropReason Reason)> Cases = new()
    {
        ["frame shorter than an Ethernet header"] = (() => EchoFromPeer()[..13], DropReason.EthernetTooShort),
        ["Ethernet destination another host's MAC"] = (() => EchoFrom(PeerIp, OurIp, OtherMac), DropReason.EthernetNotForUs),
        ["EtherType we do not speak (IPv6)"] = (() => { var f = EchoFromPeer(); f[12] = 0x86; f[13] = 0xdd; return f; }, DropReason.EthernetUnknownType),
        ["truncated ARP (27 bytes)"] = (() => Frames.ArpRequest(PeerMac, PeerIp, OurIp)[..(Ip + 27)], DropReason.ArpTruncated),
        ["truncated IP header (19 bytes)"] = (() => EchoFromPeer()[..(Ip + 19)], DropReason.Ipv4Truncated),
        ["IP version 6 under EtherType IPv4"] = (() => { var f = EchoFromPeer(); f[Ip] = 0x65; return FixIpChecksum(f); }, DropReason.Ipv4BadVersion),
        ["IHL 4, below the minimum of 5"] = (() => { var f = EchoFromPeer(); f[Ip] = 0x44; return FixIpChecksum(f); }, DropReason.Ipv4BadHeaderLength),
        ["IHL 15, beyond the datagram"] = (() => { var f = EchoFromPeer(dataLength: 0); f[Ip] = 0x4f; return f; }, DropReason.Ipv4BadHeaderLength),
        ["total length beyond the frame"] = (() => { var f = EchoFromPeer(); f[Ip + 2] = 0; f[Ip + 3] = 85; return FixIpChecksum(f); }, DropReason.Ipv4BadTotalLength),
        ["total length below the header length"] = (() => { var f = EchoFromPeer(); f[Ip + 2] = 0; f[Ip + 3] = 19; return FixIpChecksum(f); }, DropReason.Ipv4BadTotalLength),
        ["bad IP header checksum"] = (() => { var f = EchoFromPeer(); f[Ip + 8] ^= 0x01; return f; }, DropReason.Ipv4BadChecksum),
        ["source is loopback (127.0.0.1)"] = (() => EchoFrom(Ipv4Address.Parse("127.0.0.1"), OurIp), DropReason.Ipv4BadSource),
        ["source is multicast (224.0.0.5)"] = (() => EchoFrom(Ipv4Address.Parse("224.0.0.5"), OurIp), DropReason.Ipv4BadSource),
        ["source is the limited broadcast"] = (() => EchoFrom(Ipv4Address.Broadcast, OurIp), DropReason.Ipv4BadSource),
        ["source is our subnet's broadcast"] = (() => EchoFrom(DirectedBroadcast, OurIp), DropReason.Ipv4BadSource),
        ["source is 0.0.0.0"] = (() => EchoFrom(Ipv4Address.Any, OurIp), DropReason.Ipv4BadSource),
        ["source is class E (240.0.0.1)"] = (() => EchoFrom(Ipv4Address.Parse("240.0.0.1"), OurIp), DropReason.Ipv4BadSource),
        ["source is our own address"] = (() => EchoFrom(OurIp, OurIp), DropReason.Ipv4BadSource),
        ["destination another host's address"] = (() => EchoFrom(PeerIp, OtherIp), DropReason.Ipv4NotForUs),
        ["a fragment (MF set) whose data is not a multiple of 8 bytes"] = (() => { var f = EchoFromPeer(dataLength: 57); f[Ip + 6] = 0x20; return FixIpChecksum(f); }, DropReason.Ipv4FragmentMalformed),
        ["ICMP shorter than its 8-byte header"] = (() => Frames.Ipv4(OurMac, PeerMac, PeerIp, OurIp, IpProtocol.Icmp, new byte[] { 8, 0, 0xf7, 0xff }), DropReason.IcmpTruncated),
        ["bad ICMP checksum"] = (() => { var f = EchoFromPeer(); f[^1] ^= 0x01; return f; }, DropReason.IcmpBadChecksum),
        ["echo to the limited broadcast"] = (() => EchoFrom(PeerIp, Ipv4Address.Broadcast, MacAddress.Broadcast), DropReason.IcmpEchoToBroadcast),
        ["echo to our subnet's broadcast"] = (() => EchoFrom(PeerIp, DirectedBroadcast, MacAddress.Broadcast), DropReason.IcmpEchoToBroadcast),
        ["echo to our address in a link-layer broadcast"] = (() => EchoFrom(PeerIp, OurIp, MacAddress.Broadcast), DropReason.IcmpEchoToBroadcast),
    };

    public static TheoryData<string> Malformed => new(Cases.Keys);

    private static long TotalDrops(StackCounters c) => Enum.GetValues<DropReason>().Sum(c.DroppedFor);

    [Theory]
    [MemberData(nameof(Malformed))]
    public void BadFrame_IsDroppedForItsReason_NothingIsSent_AndTheNextEchoIsStillAnswered(string what)
    {
        using var s = new TestStack();
        s.LearnPeer();
        var (frame, reason) = Cases[what];

        s.Receive(frame());
        Assert.Empty(s.Sent);
        Assert.Equal(1, s.Counters.DroppedFor(reason));
        Assert.Equal(1, TotalDrops(s.Counters));
        Assert.Equal(1, s.Counters.DroppedBy(DropReasons.LayerOf(reason)));

        s.Receive(EchoFromPeer(sequence: 2));
        var reply = Dissect.Icmp(Assert.Single(s.Sent));
        Assert.Equal(IcmpType.EchoReply, reply.Type);
        Assert.Equal(2, reply.Sequence);
        Assert.True(reply.ChecksumValid);
    }

    [Fact]
    public void EveryMalformedFrameInARow_LeavesTheStackAnswering()
    {
        using var s = new TestStack();
        s.LearnPeer();
        ushort seq = 100;
        foreach (var (what, (frame, _)) in Cases)
        {
            s.Receive(frame());
            s.Receive(EchoFromPeer(sequence: ++seq));
            Assert.True(s.Sent.Count == 1, $"after '{what}' the echo got {s.Sent.Count} frames");
            Assert.Equal(seq, Dissect.Icmp(s.Sent[0]).Sequence);
            s.ClearSent();
        }
        Assert.Equal(Cases.Count, TotalDrops(s.Counters));
    }

    [Fact]
    public void Rfc791_FrameLargerThanTheMtu_IsDropped()
    {
        using var s = new TestStack();
        s.LearnPeer();
        s.Receive(Frames.EchoRequest(OurMac, PeerMac, PeerIp, OurIp, 1, 1, new byte[1473]));
        Assert.Empty(s.Sent);
        Assert.Equal(1, s.Counters.DroppedFor(DropReason.EthernetTooLarge));
    }

    [Fact]
    public void Rfc791_HeaderWithOptions_IsAcceptedAndTheEchoAnswered()
    {
        // A 24-byte header (a NOP option padded with End of Option List) in front of an echo request.
        using var s = new TestStack();
        s.LearnPeer();
        var icmp = Frames.IcmpEcho(IcmpType.EchoRequest, 3, 4, Frames.PingData());
        var frame = new byte[Ip + 24 + icmp.Length];
        EthernetFrame.Write(frame, OurMac, PeerMac, EtherType.Ipv4);
        Ipv4Header.Write(frame.AsSpan(Ip), PeerIp, OurIp, IpProtocol.Icmp, 4 + icmp.Length, 9);
        frame[Ip] = 0x46;
        frame[Ip + 20] = 0x01; // NOP, then End of Option List
        icmp.CopyTo(frame, Ip + 24);
        s.Receive(FixIpChecksum(frame, 24));

        var reply = Dissect.Icmp(Assert.Single(s.Sent));
        Assert.Equal(IcmpType.EchoReply, reply.Type);
        Assert.Equal(4, reply.Sequence);
        Assert.Equal(Frames.PingData(), reply.Data);
        Assert.True(reply.ChecksumValid);
    }
}
