using System.Net;
using System.Net.Sockets;
using UserNet.Core;
using UserNet.Sockets;
using UserNet.Stack;
using UserNet.Devices;
using UserNet.Hosting;
using UserNet.TestSupport;
using UserNet.Udp;
using UserNet.Wire;
using Xunit;

namespace UserNet.Tests.Udp;

/// <summary>RFC 768 and RFC 1122 section 4.1 on the bare core: checks, port unreachable, its limits.</summary>
public sealed class UdpLayerTests
{
    private static IcmpMessage ParseIcmp(byte[] frame, out Ipv4Address destination)
    {
        Assert.Equal(Ipv4ParseError.None, Ipv4Header.TryParse(frame.AsSpan(14), out var ip));
        Assert.Equal(IpProtocol.Icmp, ip.Protocol);
        destination = ip.Destination;
        var icmp = new IcmpMessage(ip.Payload);
        Assert.True(icmp.IsChecksumValid);
        return icmp;
    }

    [Fact]
    public void A_datagram_to_a_closed_port_gets_port_unreachable_quoting_header_and_8_bytes()
    {
        var s = TestStack.Started();
        s.LearnPeer();
        var frame = TestStack.UdpFrame(5000, 4444, "hello, anyone?"u8);
        s.Receive(frame);
        var reply = Assert.Single(s.Sent);
        var icmp = ParseIcmp(reply, out var to);
        Assert.Equal(TestStack.PeerIp, to);
        Assert.Equal(IcmpType.DestinationUnreachable, icmp.Type);
        Assert.Equal(IcmpUnreachableCode.Port, icmp.Code);
        Assert.Equal(frame.AsSpan(14, 20 + 8).ToArray(), icmp.Data.ToArray()); // RFC 792: IP header + 64 bits
        Assert.Equal(1, s.Stack.Counters.DroppedFor(DropReason.UdpNoSocket));
    }

    [Fact]
    public void Port_unreachable_is_rate_limited_by_a_token_bucket()
    {
        var s = TestStack.Started(o => new StackOptions { Address = o.Address, Mac = o.Mac, IcmpErrorsPerSecond = 10, IcmpErrorBurst = 5 });
        s.LearnPeer();
        for (int i = 0; i < 20; i++) s.Receive(TestStack.UdpFrame(5000, 4444, "x"u8));
        Assert.Equal(5, s.Sent.Count); // the burst
        s.Now += TimeSpan.FromMilliseconds(300); // refills 3 tokens at 10/s
        for (int i = 0; i < 20; i++) s.Receive(TestStack.UdpFrame(5000, 4444, "x"u8));
        Assert.Equal(8, s.Sent.Count);
        Assert.Equal(40, s.Stack.Counters.DroppedFor(DropReason.UdpNoSocket));
        Assert.Equal(32, s.Stack.Counters.DroppedFor(DropReason.IcmpErrorRateLimited));
    }

    [Fact]
    public void No_port_unreachable_for_a_broadcast_datagram()
    {
        var s = TestStack.Started();
        s.LearnPeer();
        var u = new byte[9];
        UdpDatagram.Write(u, 5000, 4444, 1).UpdateChecksum(TestStack.PeerIp, Ipv4Address.Broadcast);
        s.Receive(TestStack.IpFrame(IpProtocol.Udp, u, dst: Ipv4Address.Broadcast, ethDst: MacAddress.Broadcast));
        Assert.Empty(s.Sent);
        Assert.Equal(1, s.Stack.Counters.DroppedFor(DropReason.UdpNoSocket));
    }

    [Fact]
    public void Bad_checksum_and_bad_length_are_dropped_and_counted_without_an_answer()
    {
        var s = TestStack.Started();
        s.LearnPeer();
        var bad = TestStack.UdpFrame(5000, 4444, "data"u8);
        bad[34 + 6] ^= 0x55;
        s.Receive(bad);
        var longer = TestStack.UdpFrame(5000, 4444, "data"u8);
        longer[34 + 5] = 200; // length field beyond the IP payload
        s.Receive(longer);
        s.Receive(TestStack.IpFrame(IpProtocol.Udp, new byte[5]));
        Assert.Empty(s.Sent);
        Assert.Equal(1, s.Stack.Counters.DroppedFor(DropReason.UdpBadChecksum));
        Assert.Equal(1, s.Stack.Counters.DroppedFor(DropReason.UdpBadLength));
        Assert.Equal(1, s.Stack.Counters.DroppedFor(DropReason.UdpTruncated));
    }

    [Fact]
    public void A_zero_checksum_means_none_and_is_accepted()
    {
        var s = TestStack.Started();
        s.LearnPeer();
        var f = TestStack.UdpFrame(5000, 4444, "x"u8);
        f[34 + 6] = 0; f[34 + 7] = 0;
        s.Receive(f);
        Assert.Equal(0, s.Stack.Counters.DroppedFor(DropReason.UdpBadChecksum));
        Assert.Equal(1, s.Stack.Counters.DroppedFor(DropReason.UdpNoSocket)); // got as far as demultiplexing
    }

    [Fact]
    public void No_icmp_error_about_an_icmp_error()
    {
        var s = TestStack.Started();
        s.LearnPeer();
        // An ICMP error message sent to us in a protocol we do not speak would need protocol unreachable;
        // but an ICMP error itself must never be answered with one (RFC 1122 3.2.2): send a bogus error type.
        var icmp = new byte[8 + 28];
        new IcmpMessage(icmp) { Type = IcmpType.DestinationUnreachable, Code = 3 }.UpdateChecksum();
        s.Receive(TestStack.IpFrame(IpProtocol.Icmp, icmp));
        Assert.Empty(s.Sent);
    }
}

/// <summary>UDP sockets between two stacks on the in-memory link.</summary>
public sealed class UdpSocketTests : IAsyncLifetime
{
    private StackHost _a = null!, _b = null!;
    private MemoryLinkEnd _linkA = null!;
    private static readonly IPAddress A = IPAddress.Parse("10.0.0.1"), B = IPAddress.Parse("10.0.0.2");

    public async Task InitializeAsync()
    {
        var (a, b) = MemoryLink.CreatePair();
        _linkA = a;
        _a = new StackHost(a, new StackOptions { Address = Ipv4Subnet.Parse("10.0.0.1/24"), Name = "a" });
        _b = new StackHost(b, new StackOptions { Address = Ipv4Subnet.Parse("10.0.0.2/24"), Name = "b", UdpReceiveQueueLength = 4 });
        await _a.StartAsync();
        await _b.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _a.DisposeAsync();
        await _b.DisposeAsync();
    }

    private static CancellationToken Soon => new CancellationTokenSource(TimeSpan.FromSeconds(5)).Token;

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(1472)]
    [InlineData(1473)]
    [InlineData(65507)]
    public async Task A_datagram_of_any_size_arrives_whole_with_its_sender(int size)
    {
        using var server = await UdpSocket.BindAsync(_b, 5000);
        using var client = await UdpSocket.BindAsync(_a);
        Assert.InRange(client.LocalEndPoint.Port, 49152, 65535);
        var data = new byte[size];
        Random.Shared.NextBytes(data);
        var receive = server.ReceiveFromAsync(new byte[65535 + 1], Soon);
        Assert.Equal(size, await client.SendToAsync(data, new IPEndPoint(B, 5000), Soon));
        var r = await receive;
        Assert.Equal(size, r.ReceivedBytes);
        Assert.Equal(new IPEndPoint(A, client.LocalEndPoint.Port), r.RemoteEndPoint);
    }

    [Fact]
    public async Task Sending_more_than_65507_bytes_is_refused_with_message_size()
    {
        using var client = await UdpSocket.BindAsync(_a);
        var e = await Assert.ThrowsAsync<SocketException>(async () => await client.SendToAsync(new byte[65508], new IPEndPoint(B, 9)));
        Assert.Equal(SocketError.MessageSize, e.SocketErrorCode);
    }

    [Fact]
    public async Task Binding_a_port_twice_fails_with_address_in_use()
    {
        using var first = await UdpSocket.BindAsync(_b, 6000);
        var e = await Assert.ThrowsAsync<SocketException>(() => UdpSocket.BindAsync(_b, 6000));
        Assert.Equal(SocketError.AddressAlreadyInUse, e.SocketErrorCode);
        first.Dispose();
        await Task.Delay(50);
        using var again = await UdpSocket.BindAsync(_b, 6000); // free again once closed
    }

    [Fact]
    public async Task A_connected_socket_hears_connection_refused_from_a_closed_port()
    {
        using var client = await UdpSocket.BindAsync(_a);
        await client.ConnectAsync(new IPEndPoint(B, 4444));
        await client.SendAsync("knock knock"u8.ToArray(), Soon);
        var e = await Assert.ThrowsAsync<SocketException>(async () => await client.ReceiveAsync(new byte[100], Soon));
        Assert.Equal(SocketError.ConnectionRefused, e.SocketErrorCode);
        Assert.Equal(SocketError.ConnectionRefused, client.LastError);
    }

    [Fact]
    public async Task A_connected_socket_only_receives_from_its_peer()
    {
        using var server = await UdpSocket.BindAsync(_b, 5001);
        using var peer = await UdpSocket.BindAsync(_a, 7001);
        using var stranger = await UdpSocket.BindAsync(_a, 7002);
        await server.ConnectAsync(new IPEndPoint(A, 7001));
        await stranger.SendToAsync("not you"u8.ToArray(), new IPEndPoint(B, 5001));
        await peer.SendToAsync("you"u8.ToArray(), new IPEndPoint(B, 5001));
        var buf = new byte[10];
        int n = await server.ReceiveAsync(buf, Soon);
        Assert.Equal("you", System.Text.Encoding.ASCII.GetString(buf, 0, n));
    }

    [Fact]
    public async Task A_full_receive_queue_drops_and_counts_new_datagrams()
    {
        using var server = await UdpSocket.BindAsync(_b, 5002); // queue length 4 on stack b
        using var client = await UdpSocket.BindAsync(_a);
        // ARP resolved first: otherwise the first datagrams wait behind it (8 at most) and the count depends on how soon the reply comes.
        Assert.NotNull(await _a.Pinger.PingAsync(Ipv4Address.Parse("10.0.0.2"), 1, 1));
        for (int i = 0; i < 10; i++) await client.SendToAsync(new[] { (byte)i }, new IPEndPoint(B, 5002));
        await Task.Delay(200);
        Assert.Equal(6, server.DroppedDatagrams);
        Assert.Equal(6, _b.Counters.DroppedFor(DropReason.UdpReceiveQueueFull));
        var buf = new byte[1];
        for (int i = 0; i < 4; i++)
        {
            await server.ReceiveFromAsync(buf, Soon);
            Assert.Equal(i, buf[0]); // the oldest were kept, in order
        }
    }

    [Fact]
    public async Task Receive_honours_cancellation()
    {
        using var server = await UdpSocket.BindAsync(_b, 5003);
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await server.ReceiveFromAsync(new byte[10], cts.Token));
    }

    [Fact]
    public async Task A_lossy_link_loses_some_datagrams_and_the_stacks_keep_working()
    {
        Assert.NotNull(await _a.Pinger.PingAsync(Ipv4Address.Parse("10.0.0.2"), 1, 1)); // ARP resolved before the loss starts
        _linkA.LossRate = 0.3;
        _linkA.FaultRandom = new Random(42);
        using var server = await UdpSocket.BindAsync(_b, 5004);
        using var client = await UdpSocket.BindAsync(_a);
        int got = 0;
        using var cts = new CancellationTokenSource();
        var reading = Task.Run(async () =>
        {
            var buf = new byte[200];
            try { while (true) { await server.ReceiveFromAsync(buf, cts.Token); got++; } }
            catch (OperationCanceledException) { }
        });
        for (int i = 0; i < 50; i++)
        {
            await client.SendToAsync(new byte[100], new IPEndPoint(B, 5004));
            await Task.Delay(2); // stack b's queue holds 4; the reader keeps up at this pace
        }
        await Task.Delay(300);
        cts.Cancel();
        await reading;
        Assert.InRange(got, 20, 48); // some lost, most through, and the stacks still work
        Assert.True(_linkA.Lost > 0);
    }
}
