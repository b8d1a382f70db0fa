using System.Net;
using System.Net.Sockets;
using UserNet.Core;
using UserNet.Sockets;
using UserNet.Stack;
using UserNet.Devices;
using UserNet.Hosting;
using UserNet.Ip;
using UserNet.TestSupport;
using UserNet.Udp;
using UserNet.Wire;
using Xunit;

namespace UserNet.Tests.Ip;

/// <summary>Fragmentation on the way out and reassembly timeouts on the way in, seen on the wire.</summary>
public sealed class FragmentationTests
{
    [Fact]
    public void A_datagram_larger_than_the_mtu_leaves_as_fragments_that_parse_and_reassemble()
    {
        var s = TestStack.Started();
        s.LearnPeer();
        var data = new byte[4000];
        new Random(3).NextBytes(data);
        Assert.True(s.Stack.SendEchoRequest(TestStack.PeerIp, 1, 1, data, s.Now));
        Assert.Equal(3, s.Sent.Count); // 4008 bytes of ICMP in 1480-byte pieces

        var r = new Ipv4Reassembler(new());
        byte[]? whole = null;
        int expectedOffset = 0;
        foreach (var frame in s.Sent)
        {
            Assert.True(frame.Length <= 14 + 1500);
            // PacketDotNet, our independent oracle, reads each fragment the same way.
            var pd = PacketDotNet.Packet.ParsePacket(PacketDotNet.LinkLayers.Ethernet, frame).Extract<PacketDotNet.IPv4Packet>();
            Assert.True(pd.ValidIPChecksum);
            Assert.Equal(expectedOffset / 8, pd.FragmentOffset);
            Assert.Equal(Ipv4ParseError.None, Ipv4Header.TryParse(frame.AsSpan(14), out var h));
            Assert.Equal(expectedOffset, h.FragmentOffset);
            Assert.Equal(frame != s.Sent[^1], h.MoreFragments);
            expectedOffset += h.Payload.Length;
            if (r.Add(h, TimeSpan.Zero, out var d, out _) == Ipv4Reassembler.Result.Complete) whole = d.ToArray();
        }
        Assert.NotNull(whole);
        var icmp = new IcmpMessage(new Ipv4Header(whole).Payload);
        Assert.True(icmp.IsChecksumValid);
        Assert.Equal(data, icmp.Data.ToArray());
    }

    [Fact]
    public void Reassembly_timeout_sends_time_exceeded_code_1_quoting_the_first_fragment()
    {
        var s = TestStack.Started(o => new StackOptions { Address = o.Address, Mac = o.Mac, Reassembly = new ReassemblyOptions { Timeout = TimeSpan.FromSeconds(30) } });
        s.LearnPeer();
        var frags = Ipv4ReassemblerTests.Fragment(new byte[3000], 1480, id: 55);
        var first = new byte[14 + frags[0].Length];
        EthernetFrame.Write(first, TestStack.OurMac, TestStack.PeerMac, EtherType.Ipv4);
        frags[0].CopyTo(first, 14);
        s.Receive(first);
        Assert.Empty(s.Sent);
        Assert.Equal(s.Now + TimeSpan.FromSeconds(30), s.Stack.NextDeadline);

        s.Stack.Poll(s.Now + TimeSpan.FromSeconds(29));
        Assert.Empty(s.Sent);
        s.Stack.Poll(s.Now + TimeSpan.FromSeconds(30));
        var reply = Assert.Single(s.Sent);
        Assert.Equal(Ipv4ParseError.None, Ipv4Header.TryParse(reply.AsSpan(14), out var ip));
        var icmp = new IcmpMessage(ip.Payload);
        Assert.Equal(IcmpType.TimeExceeded, icmp.Type);
        Assert.Equal(1, icmp.Code); // fragment reassembly time exceeded (RFC 792)
        Assert.Equal(frags[0].AsSpan(0, 28).ToArray(), icmp.Data.ToArray());
        Assert.Equal(1, s.Stack.Counters.DroppedFor(DropReason.Ipv4ReassemblyTimeout));
    }

    [Fact]
    public async Task Dont_fragment_on_a_datagram_over_the_mtu_is_an_error_to_the_sender()
    {
        var (a, b) = MemoryLink.CreatePair();
        await using var hostA = new StackHost(a, new StackOptions { Address = Ipv4Subnet.Parse("10.0.0.1/24") });
        await hostA.StartAsync();
        using var sock = await UdpSocket.BindAsync(hostA);
        sock.DontFragment = true;
        var to = new IPEndPoint(IPAddress.Parse("10.0.0.2"), 9);
        var e = await Assert.ThrowsAsync<SocketException>(async () => await sock.SendToAsync(new byte[1473], to));
        Assert.Equal(SocketError.MessageSize, e.SocketErrorCode);
        Assert.Equal(1472, await sock.SendToAsync(new byte[1472], to)); // fits in one frame: fine
        _ = b;
    }
}
