using System.Net.Sockets;
using UserNet.Core;
using UserNet.Tcp;
using UserNet.TestSupport;
using UserNet.Wire;

namespace UserNet.Tests.Tcp;

/// <summary>
/// The stack-wide caps of <see cref="StackLimits"/> under a manual clock: each one bites at its number, with its
/// counter, and the stack goes on serving what is within it (and serves more again once room is made).
/// </summary>
public sealed class StackLimitsTests
{
    private static readonly TcpOptions Mss1460 = new() { Mss = 1460, SackPermitted = true };

    /// <summary>The peer's handshake from <paramref name="port"/>; leaves the peer pointed at that connection.</summary>
    private static void Handshake(TcpPeer p, ushort port)
    {
        p.RemotePort = port;
        p.Iss = 1_000_000u + port * 100_000u;
        p.Accept(Mss1460);
    }

    /// <summary>A SYN from <paramref name="port"/>; returns what the stack answered.</summary>
    private static List<Segment> Syn(TcpPeer p, ushort port, uint iss = 5_000_000)
    {
        p.Send(TcpFlags.Syn, iss, 0, options: Mss1460, fromPort: port);
        return p.Take();
    }

    // ------------------------------------------------------------------ connections

    [Fact]
    public void A_SYN_beyond_the_connection_limit_gets_nothing_and_is_counted_and_room_comes_back_when_one_ends()
    {
        var p = new TcpPeer(limits: new StackLimits { TcpConnections = 3 });
        p.Listen();
        for (ushort port = 41000; port < 41003; port++) Handshake(p, port);
        Assert.Equal(3, p.Stack.Tcp.ActiveConnectionCount);

        Assert.Empty(Syn(p, 41003));                               // no SYN-ACK, and no cookie either
        Assert.Equal(1, p.F.Counters.DroppedFor(DropReason.TcpConnectionLimit));
        Assert.Equal(3, p.Stack.Tcp.ConnectionCount);

        // One connection is reset by its peer: a new one fits again.
        p.RemotePort = 41000;
        p.Tcb = p.FindTcb();
        p.Send(TcpFlags.Rst, p.Tcb!.RcvNxt.Value, 0, fromPort: 41000);
        Assert.Equal(2, p.Stack.Tcp.ActiveConnectionCount);
        var answer = Syn(p, 41003);
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, Assert.Single(answer).Flags);
    }

    [Fact]
    public void One_peer_fills_its_own_limit_and_another_peer_still_connects()
    {
        var p = new TcpPeer(limits: new StackLimits { TcpConnectionsPerPeer = 2 });
        p.Listen();
        Handshake(p, 41000);
        Handshake(p, 41001);
        Assert.Empty(Syn(p, 41002));
        Assert.Equal(1, p.F.Counters.DroppedFor(DropReason.TcpPeerConnectionLimit));
        Assert.Equal(2, p.Stack.Tcp.ConnectionsWith(TestStack.PeerIp));

        // Another address is not held to this peer's count: its SYN makes a half-open connection.
        var buf = new byte[60];
        int hl = TcpSegment.WriteHeader(buf, 41002, TcpPeer.ServerPort, 9_000_000, 0, TcpFlags.Syn, 64240, Mss1460);
        var seg = new TcpSegment(buf.AsSpan(0, hl));
        seg.UpdateChecksum(TestStack.OtherIp, TestStack.OurIp);
        p.F.Receive(TestStack.IpFrame(IpProtocol.Tcp, seg.Buffer, src: TestStack.OtherIp));
        Assert.Equal(1, p.Stack.Tcp.ConnectionsWith(TestStack.OtherIp));
        Assert.Equal(1, p.Stack.Tcp.HalfOpenCount);

        // A connection in TIME-WAIT no longer counts for its peer.
        p.RemotePort = 41001;
        p.Tcb = p.FindTcb();
        CloseFromStack(p);
        Assert.Equal(1, p.Stack.Tcp.ConnectionsWith(TestStack.PeerIp));
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, Assert.Single(Syn(p, 41002)).Flags);
    }

    [Fact]
    public void A_connect_beyond_the_connection_limit_fails_with_NoBufferSpaceAvailable()
    {
        var p = new TcpPeer(limits: new StackLimits { TcpConnections = 1 });
        p.Connect();
        var e = Assert.Throws<SocketException>(() => p.Stack.Tcp.Connect(TestStack.PeerIp, 81, p.Settings, new UserNet.Sockets.TcpConnection(p.Stack, p.Settings)));
        Assert.Equal(SocketError.NoBufferSpaceAvailable, e.SocketErrorCode);
    }

    [Fact]
    public void Connections_in_TIME_WAIT_are_not_counted_against_the_connection_limit()
    {
        var p = new TcpPeer(limits: new StackLimits { TcpConnections = 1 });
        p.Listen();
        Handshake(p, 41000);
        CloseFromStack(p);
        Assert.Equal(TcpState.TimeWait, p.Tcb!.State);
        Assert.Equal(0, p.Stack.Tcp.ActiveConnectionCount);
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, Assert.Single(Syn(p, 41001)).Flags);
    }

    /// <summary>The stack closes first (FIN), the peer acknowledges it and closes too: the stack is in TIME-WAIT.</summary>
    private static void CloseFromStack(TcpPeer p)
    {
        p.AppClose();
        var fin = p.Take().Single(s => s.Has(TcpFlags.Fin));
        p.RcvNxt = fin.Seq + 1;
        p.SendFin();
        Assert.Equal(TcpFlags.Ack, p.TakeOne().Flags); // the ACK of the peer's FIN goes either way
    }

    [Fact]
    public void Past_the_TIME_WAIT_limit_a_closing_connection_acknowledges_the_FIN_and_is_gone_at_the_next_poll_as_Linux()
    {
        var p = new TcpPeer(limits: new StackLimits { TcpTimeWaitConnections = 1 });
        p.Listen();
        Handshake(p, 41000);
        CloseFromStack(p);
        var first = p.Tcb!;
        Handshake(p, 41001);
        CloseFromStack(p);
        var second = p.Tcb!;
        Assert.Equal(1, p.F.Counters.CountOf(TcpCounter.TimeWaitLimitReached));

        p.Advance(1);
        Assert.Equal(TcpState.Closed, second.State);   // cut short
        Assert.Equal(TcpState.TimeWait, first.State);  // keeps its 2 MSL
        Assert.Equal(1, p.Stack.Tcp.TimeWaitCount);
        p.Advance(TimeSpan.FromSeconds(61));
        Assert.Equal(TcpState.Closed, first.State);
        Assert.Equal(0, p.Stack.Tcp.TimeWaitCount);
    }

    // ------------------------------------------------------------------ half-open connections

    [Fact]
    public void A_SYN_beyond_the_half_open_limit_gets_a_SYN_cookie_and_keeps_no_state_RFC4987_3_6()
    {
        var p = new TcpPeer(limits: new StackLimits { TcpHalfOpenConnections = 2 });
        p.Listen(backlog: 100); // the listener has room: the stack-wide cap is what bites
        Syn(p, 41000);
        Syn(p, 41001);
        Assert.Equal(2, p.Stack.Tcp.HalfOpenCount);
        var synAck = Assert.Single(Syn(p, 41002));
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, synAck.Flags);
        Assert.Equal(2, p.Stack.Tcp.ConnectionCount);                  // nothing kept for the third
        Assert.Equal(1, p.F.Counters.CountOf(TcpCounter.HalfOpenLimitReached));
        Assert.Equal(1, p.F.Counters.CountOf(TcpCounter.SynCookiesSent));

        // The cookie's ACK establishes the connection all the same.
        p.Send(TcpFlags.Ack, 5_000_001, synAck.Seq + 1, fromPort: 41002);
        Assert.Equal(1, p.F.Counters.CountOf(TcpCounter.SynCookiesAccepted));
        Assert.True(p.Listener!.TryAccept(out _));
    }

    [Fact]
    public void Without_SYN_cookies_a_SYN_beyond_the_half_open_limit_is_dropped_and_counted()
    {
        var p = new TcpPeer(new TcpSettings { SynCookies = false }, limits: new StackLimits { TcpHalfOpenConnections = 1 });
        p.Listen(backlog: 100);
        Syn(p, 41000);
        Assert.Empty(Syn(p, 41001));
        Assert.Equal(1, p.F.Counters.DroppedFor(DropReason.TcpHalfOpenLimit));
        Assert.Equal(1, p.F.Counters.CountOf(TcpCounter.HalfOpenLimitReached));
        // The half-open one completes: room for the next.
        p.Send(TcpFlags.Ack, 5_000_001, p.FindTcb(41000)!.SndNxt.Value, fromPort: 41000);
        Assert.Equal(0, p.Stack.Tcp.HalfOpenCount);
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, Assert.Single(Syn(p, 41001)).Flags);
    }

    // ------------------------------------------------------------------ out-of-order data

    /// <summary>What one out-of-order range of <paramref name="bytes"/> is charged: its bytes and two 16 KiB blocks.</summary>
    private static long Charge(int bytes) => bytes + 2 * 16384;

    [Fact]
    public void Out_of_order_data_past_the_stack_limit_is_dropped_acknowledged_as_a_duplicate_and_not_SACKed()
    {
        var p = new TcpPeer(limits: new StackLimits { TcpOutOfOrderBytes = Charge(1000) * 2 });
        p.Listen();
        var data = new byte[1000];
        // Two connections each hold one out-of-order range: the cap is reached.
        foreach (ushort port in new ushort[] { 41000, 41001 })
        {
            Handshake(p, port);
            p.Timestamps = false;
            p.Send(TcpFlags.Ack, p.SndNxt + 1000, p.RcvNxt, data);
            p.Take();
        }
        Assert.Equal(2 * Charge(1000), p.Stack.Tcp.OutOfOrderCharged);

        // A third range, in the second connection: refused. Its duplicate ACK reports no block for it.
        p.Send(TcpFlags.Ack, p.SndNxt + 3000, p.RcvNxt, data);
        var ack = p.TakeOne();
        Assert.Equal(p.SndNxt, ack.Ack); // a duplicate ACK: nothing new in order
        Assert.DoesNotContain(ack.SackBlocks, b => b.Left == p.SndNxt + 3000);
        Assert.Equal(1, p.F.Counters.DroppedFor(DropReason.TcpOutOfOrderLimit));

        // Data that extends a range already held needs no new range, but more bytes: also refused at the cap.
        p.Send(TcpFlags.Ack, p.SndNxt + 2000, p.RcvNxt, data);
        Assert.Equal(2, p.F.Counters.DroppedFor(DropReason.TcpOutOfOrderLimit));

        // The second connection's hole fills: its range is delivered, its charge returns, new out-of-order data fits.
        p.SendData(data);
        p.SndNxt += 1000; // past the range that was held
        Assert.Equal(Charge(1000), p.Stack.Tcp.OutOfOrderCharged);
        p.Take();
        p.Send(TcpFlags.Ack, p.SndNxt + 3000, p.RcvNxt, data);
        Assert.Contains(p.TakeOne().SackBlocks, b => b.Left == p.SndNxt + 3000);
        Assert.Equal(2, p.F.Counters.DroppedFor(DropReason.TcpOutOfOrderLimit));

        // A connection that ends gives its charge back.
        p.Send(TcpFlags.Rst, p.SndNxt, 0);
        p.RemotePort = 41000;
        p.Send(TcpFlags.Rst, p.FindTcb()!.RcvNxt.Value, 0);
        Assert.Equal(0, p.Stack.Tcp.OutOfOrderCharged);
    }

    [Fact]
    public void In_order_data_is_taken_whatever_the_out_of_order_charge()
    {
        var p = new TcpPeer(limits: new StackLimits { TcpOutOfOrderBytes = 0 });
        p.Accept(Mss1460);
        p.Send(TcpFlags.Ack, p.SndNxt + 100, p.RcvNxt, new byte[100]);
        Assert.Equal(1, p.F.Counters.DroppedFor(DropReason.TcpOutOfOrderLimit));
        p.Take();
        p.SendData(new byte[500]);
        Assert.Equal(500, p.AppRead().Data.Length);
    }

    // ------------------------------------------------------------------ RST answers

    [Fact]
    public void RSTs_for_segments_of_no_connection_are_rate_limited_by_a_token_bucket()
    {
        var p = new TcpPeer(limits: new StackLimits { TcpResetsPerSecond = 10, TcpResetBurst = 5 });
        for (int i = 0; i < 20; i++) p.Send(TcpFlags.Ack, 100, 200, fromPort: (ushort)(30000 + i), toPort: 999);
        Assert.Equal(5, p.Take().Count(s => s.Has(TcpFlags.Rst)));
        Assert.Equal(15, p.F.Counters.CountOf(TcpCounter.ResetsRateLimited));
        Assert.Equal(20, p.F.Counters.DroppedFor(DropReason.TcpNoConnection)); // every segment is still counted as what it was

        p.Advance(100); // one token more at 10 a second
        for (int i = 0; i < 3; i++) p.Send(TcpFlags.Syn, 100, 0, fromPort: (ushort)(31000 + i), toPort: 999);
        Assert.Single(p.Take(), s => s.Has(TcpFlags.Rst));
    }

    [Fact]
    public void The_RST_that_ends_a_connection_of_ours_is_never_rate_limited()
    {
        var p = new TcpPeer(limits: new StackLimits { TcpResetsPerSecond = 1, TcpResetBurst = 1 });
        for (int i = 0; i < 3; i++) p.Send(TcpFlags.Ack, 100, 200, fromPort: (ushort)(30000 + i), toPort: 999);
        p.Take();
        var conn = p.Accept(Mss1460);
        conn.Abort();
        Assert.Single(p.Take(), s => s.Has(TcpFlags.Rst));
    }
}

internal static class TcpPeerLimitsExtensions
{
    /// <summary>The control block of the connection from the peer's <paramref name="remotePort"/>.</summary>
    public static TcpControlBlock? FindTcb(this TcpPeer p, ushort remotePort) =>
        p.Stack.Tcp.Connections.FirstOrDefault(c => c.RemotePort == remotePort && c.LocalPort == p.LocalPort);
}
