using System.Text;
using UserNet.Core;
using UserNet.Tcp;
using UserNet.TestSupport;
using UserNet.Wire;

namespace UserNet.Tests.Tcp;

/// <summary>
/// A listener under a SYN flood (RFC 4987): spoofed SYNs from many addresses fill its backlog with half-open
/// connections, and then it answers SYNs with cookies (section 3.6) and keeps nothing, so a real client still
/// connects. The test plays both the flood and the client, segment by segment, as <see cref="TcpStateMachineTests"/> do.
/// </summary>
public sealed class SynFloodTests
{
    private static readonly TcpOptions LinuxSyn = new() { Mss = 1460, WindowScale = 7, SackPermitted = true, TimestampValue = 5000, TimestampEcho = 0 };

    /// <summary>
    /// <paramref name="count"/> SYNs from spoofed addresses on our subnet (10.0.0.10 to .209, then the next source port):
    /// nobody answers the stack's ARP for them, so their SYN-ACKs wait and are dropped, as on a real link.
    /// </summary>
    private static void Flood(TcpPeer p, int count, int portBase = 1024)
    {
        var buf = new byte[60];
        for (int i = 0; i < count; i++)
        {
            var src = new Ipv4Address(10, 0, 0, (byte)(10 + i % 200));
            ushort port = (ushort)(portBase + i / 200);
            int hl = TcpSegment.WriteHeader(buf, port, p.LocalPort, (uint)(7_000_000 + i * 7919), 0, TcpFlags.Syn, 64240,
                new TcpOptions { Mss = 1460, WindowScale = 7 });
            var seg = new TcpSegment(buf.AsSpan(0, hl));
            seg.UpdateChecksum(src, TestStack.OurIp);
            p.F.Receive(TestStack.IpFrame(IpProtocol.Tcp, seg.Buffer, src: src));
        }
    }

    /// <summary>A listener with <paramref name="backlog"/> half-open connections from the flood: it has no room.</summary>
    private static TcpPeer FullListener(int backlog = 4, TcpSettings? settings = null, IFrameObserver? observer = null)
    {
        var p = new TcpPeer(settings, observer: observer);
        p.Listen(backlog);
        Flood(p, backlog);
        Assert.Equal(backlog, p.Stack.Tcp.ConnectionCount);
        p.Take(); // only ARP for the spoofed addresses: their SYN-ACKs wait for it
        return p;
    }

    // =================================================================== the cookie's SYN-ACK

    [Fact]
    public void A_SYN_to_a_full_listener_gets_a_SYN_ACK_whose_ISN_is_a_cookie_and_no_state_is_kept_RFC4987_3_6()
    {
        var p = FullListener();
        var synAck = p.SendSyn(new TcpOptions { Mss = 1460, WindowScale = 7 });
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, synAck.Flags);
        Assert.Equal(TcpPeer.DefaultPeerIss + 1, synAck.Ack);
        Assert.Equal((ushort)1460, synAck.Options.Mss);  // ours (RFC 9293 3.7.1: what we can receive)
        Assert.Equal(65535, synAck.Window);              // a SYN's window is never scaled
        // No timestamps from the peer: the cookie has room for the MSS only, so nothing else is offered (as Linux).
        Assert.Null(synAck.Options.WindowScale);
        Assert.False(synAck.Options.SackPermitted);
        Assert.Null(synAck.Options.TimestampValue);
        Assert.Equal(4, p.Stack.Tcp.ConnectionCount);     // nothing kept for it
        Assert.Null(p.FindTcb());
        Assert.Equal(1, p.F.Counters.CountOf(TcpCounter.SynCookiesSent));
        Assert.Equal(0, p.F.Counters.DroppedFor(DropReason.TcpBacklogFull));
    }

    [Fact]
    public void The_ACK_with_data_establishes_from_the_cookie_and_the_application_reads_the_data()
    {
        var p = FullListener();
        var synAck = p.SendSyn(new TcpOptions { Mss = 1460, WindowScale = 7 });
        p.SendData("hello"u8);
        Assert.True(p.Listener!.TryAccept(out var conn), "the cookie's connection reaches the accept queue");
        p.Tcb = p.FindTcb();
        Assert.NotNull(p.Tcb);
        Assert.Equal(TcpState.Established, p.Tcb!.State);
        Assert.Equal(TcpState.Established, conn.State);
        Assert.Equal(synAck.Seq + 1, p.Tcb.SndUna.Value);  // ISS was the cookie
        Assert.Equal(p.SndNxt, p.Tcb.RcvNxt.Value);        // IRS = SEG.SEQ - 1, and the 5 bytes are in
        Assert.Equal(1460, p.Tcb.SendMss);
        var (data, done) = p.AppRead();
        Assert.Equal("hello", Encoding.ASCII.GetString(data));
        Assert.False(done);
        Assert.Equal(1, p.F.Counters.CountOf(TcpCounter.SynCookiesAccepted));

        // And back: the stack's data starts just after the cookie.
        p.AppWrite("world"u8);
        var seg = p.Take().Single(s => s.Payload.Length > 0);
        Assert.Equal(synAck.Seq + 1, seg.Seq);
        Assert.Equal(p.SndNxt, seg.Ack);
        Assert.Equal("world", Encoding.ASCII.GetString(seg.Payload));
    }

    [Fact]
    public void Without_timestamps_the_cookie_says_only_the_MSS_class_and_neither_side_scales()
    {
        var p = FullListener();
        p.SendSyn(new TcpOptions { Mss = 1400, WindowScale = 7, SackPermitted = true });
        p.Send(TcpFlags.Ack, p.SndNxt, p.RcvNxt, window: 1000);
        Assert.True(p.Listener!.TryAccept(out _));
        var tcb = p.Tcb = p.FindTcb()!;
        Assert.Equal(1300, tcb.SendMss);        // the class below 1400
        Assert.Equal(1000u, tcb.SndWnd);        // not scaled: the SYN-ACK offered no window scale
        Assert.False(tcb.SackPermitted);
        Assert.False(tcb.TimestampsEnabled);
        p.AppWrite("x"u8);
        Assert.Equal(65535, p.Take().Single(s => s.Payload.Length > 0).Window); // our window is not scaled either
    }

    [Fact]
    public void With_timestamps_our_TSval_carries_window_scale_and_SACK_and_the_TSecr_brings_them_back_as_Linux()
    {
        var p = FullListener();
        var synAck = p.SendSyn(LinuxSyn);
        Assert.Equal((ushort)1460, synAck.Options.Mss);
        Assert.Equal((byte)5, synAck.Options.WindowScale);   // ours, for a 1 MiB buffer
        Assert.True(synAck.Options.SackPermitted);
        Assert.Equal(5000u, synAck.Options.TimestampEcho);
        uint tsVal = synAck.Options.TimestampValue!.Value;
        Assert.Equal(7u | SynCookies.SackBit, tsVal & SynCookies.TimestampOptionMask);

        p.Send(TcpFlags.Ack, p.SndNxt, p.RcvNxt, window: 1000, options: new TcpOptions { TimestampValue = 5001, TimestampEcho = tsVal });
        Assert.True(p.Listener!.TryAccept(out _));
        var tcb = p.Tcb = p.FindTcb()!;
        Assert.Equal(1000u << 7, tcb.SndWnd);  // the peer's shift, from the TSecr
        Assert.True(tcb.SackPermitted);
        Assert.True(tcb.TimestampsEnabled);
        Assert.Equal(5001u, tcb.TsRecent);
        Assert.Equal(1460, tcb.SendMss);
        p.AppWrite("x"u8);
        Assert.Equal((1 << 20) >> 5, p.Take().Single(s => s.Payload.Length > 0).Window); // our window, scaled by 5
    }

    [Fact]
    public void A_peer_that_did_not_scale_gets_no_window_scale_even_with_timestamps()
    {
        var p = FullListener();
        var synAck = p.SendSyn(new TcpOptions { Mss = 1460, TimestampValue = 77, TimestampEcho = 0 });
        Assert.Null(synAck.Options.WindowScale);
        Assert.False(synAck.Options.SackPermitted);
        uint tsVal = synAck.Options.TimestampValue!.Value;
        Assert.Equal(SynCookies.WindowScaleMask, tsVal & SynCookies.TimestampOptionMask);
        p.Send(TcpFlags.Ack, p.SndNxt, p.RcvNxt, window: 1000, options: new TcpOptions { TimestampValue = 78, TimestampEcho = tsVal });
        var tcb = p.FindTcb()!;
        Assert.Equal(1000u, tcb.SndWnd);
        Assert.False(tcb.SackPermitted);
    }

    // =================================================================== bad cookies

    [Fact]
    public void An_ACK_with_a_bad_cookie_gets_a_RST_and_no_state()
    {
        var p = FullListener();
        var synAck = p.SendSyn();
        p.Send(TcpFlags.Ack, p.SndNxt, synAck.Seq + 1001);         // not our cookie + 1
        var rst = p.TakeOne();
        Assert.Equal(TcpFlags.Rst, rst.Flags);
        Assert.Equal(synAck.Seq + 1001, rst.Seq);                   // RFC 9293 3.10.7.2: <SEQ=SEG.ACK><CTL=RST>
        p.Send(TcpFlags.Ack, p.SndNxt + 1000, synAck.Seq + 1);      // the right cookie, another peer ISN
        Assert.Equal(TcpFlags.Rst, p.TakeOne().Flags);
        Assert.Equal(4, p.Stack.Tcp.ConnectionCount);
        Assert.Equal(2, p.F.Counters.CountOf(TcpCounter.SynCookiesRejected));
        Assert.Equal(0, p.F.Counters.CountOf(TcpCounter.SynCookiesAccepted));
    }

    [Fact]
    public void A_stale_cookie_is_rejected_after_MAX_SYNCOOKIE_AGE()
    {
        var p = FullListener();
        var synAck = p.SendSyn();
        // Two and a half minutes on: the flood's half-open connections gave up; a new flood fills the queue again.
        for (int i = 0; i < 150; i++) p.Advance(1000);
        Assert.Equal(0, p.Stack.Tcp.ConnectionCount);
        Flood(p, 5, portBase: 3000);
        p.Take();
        p.Send(TcpFlags.Ack, p.SndNxt, synAck.Seq + 1);
        Assert.Equal(TcpFlags.Rst, p.TakeOne().Flags);
        Assert.Equal(1, p.F.Counters.CountOf(TcpCounter.SynCookiesRejected));
        Assert.Null(p.FindTcb());
    }

    [Fact]
    public void An_ACK_is_not_taken_for_a_cookie_when_the_queue_has_not_overflowed_lately()
    {
        var p = new TcpPeer();
        p.Listen();
        p.Send(TcpFlags.Ack, 1, 12345);
        Assert.Equal(TcpFlags.Rst, p.TakeOne().Flags);
        Assert.Equal(0, p.F.Counters.CountOf(TcpCounter.SynCookiesRejected)); // not checked at all: no cookie was sent
    }

    // =================================================================== limits

    [Fact]
    public void A_good_cookie_while_the_accept_queue_is_full_is_dropped_and_its_retransmission_connects_later()
    {
        var p = FullListener(backlog: 2);
        for (ushort port = 40000; port < 40002; port++)
        {
            p.RemotePort = port;
            p.SendSyn();
            p.SendAck();
        }
        Assert.Equal(4, p.Stack.Tcp.ConnectionCount); // two half-open from the flood, two established from cookies
        p.RemotePort = 40002;
        p.SendSyn();
        p.SendData("late"u8);
        p.ExpectNothing();                            // dropped, as Linux does: the peer retransmits
        Assert.Null(p.FindTcb());
        Assert.Equal(1, p.F.Counters.DroppedFor(DropReason.TcpAcceptQueueFull));

        Assert.True(p.Listener!.TryAccept(out _));
        p.SndNxt -= 4;
        p.SendData("late"u8);                         // the retransmission
        Assert.NotNull(p.FindTcb());
        Assert.Equal(3, p.F.Counters.CountOf(TcpCounter.SynCookiesAccepted));
    }

    [Fact]
    public void With_SYN_cookies_off_a_SYN_to_a_full_listener_is_dropped()
    {
        var p = FullListener(settings: new TcpSettings { SynCookies = false });
        p.Send(TcpFlags.Syn, p.Iss, 0, options: new TcpOptions { Mss = 1460 });
        p.ExpectNothing();
        Assert.Equal(1, p.F.Counters.DroppedFor(DropReason.TcpBacklogFull));
        Assert.Equal(0, p.F.Counters.CountOf(TcpCounter.SynCookiesSent));
    }

    [Fact]
    public void Twenty_thousand_spoofed_SYNs_leave_the_connection_table_bounded_and_a_real_client_still_connects()
    {
        var p = new TcpPeer();
        p.Listen(backlog: 128);
        Flood(p, 20_000);
        Assert.True(p.Stack.Tcp.ConnectionCount <= 128, $"{p.Stack.Tcp.ConnectionCount} connections");
        Assert.Equal(20_000 - 128, p.F.Counters.CountOf(TcpCounter.SynCookiesSent));
        // 200 spoofed addresses: the stack asked for each once, and their SYN-ACKs wait in ARP's bounded queues.
        int arpRequests = p.F.Sent.Count(f => EthernetFrame.TryParse(f, out var e) && e.EtherType == EtherType.Arp);
        Assert.True(arpRequests <= 200, $"{arpRequests} ARP requests");
        p.Take();

        p.SendSyn(LinuxSyn);
        var synAck = p.SynAck!;
        p.Send(TcpFlags.Ack, p.SndNxt, p.RcvNxt, "GET / HTTP/1.0\r\n\r\n"u8,
            options: new TcpOptions { TimestampValue = 5001, TimestampEcho = synAck.Options.TimestampValue });
        Assert.True(p.Listener!.TryAccept(out _));
        p.Tcb = p.FindTcb();
        Assert.Equal("GET / HTTP/1.0\r\n\r\n", Encoding.ASCII.GetString(p.AppRead().Data));
        Assert.True(p.Stack.Tcp.ConnectionCount <= 129);

        // The flood's half-open connections give up after their SYN-ACK retries; the real one stays.
        for (int i = 0; i < 70; i++) p.Advance(1000);
        Assert.Equal(1, p.Stack.Tcp.ConnectionCount);
        Assert.Equal(TcpState.Established, p.Tcb!.State);
    }

    [Fact]
    public void A_cookie_ISN_the_selector_chose_as_a_replay_does_is_accepted_when_its_ACK_comes()
    {
        const uint Recorded = 0xC0FFEE00;
        var p = new TcpPeer(isnSelector: (_, _, _, port) => port == TcpPeer.PeerPort ? Recorded : null);
        p.Listen(backlog: 4);
        Flood(p, 4);
        p.Take();
        var synAck = p.SendSyn(new TcpOptions { Mss = 1440 });
        Assert.Equal(Recorded, synAck.Seq);                 // the recorded stack's cookie, not ours
        p.SendData("replayed"u8);
        Assert.True(p.Listener!.TryAccept(out _));
        var tcb = p.FindTcb()!;
        Assert.Equal(TcpState.Established, tcb.State);
        Assert.Equal(1440, tcb.SendMss);
        Assert.Equal(1, p.F.Counters.CountOf(TcpCounter.SynCookiesAccepted));
    }

    // =================================================================== odd flags, and what the trace says

    [Fact]
    public void A_SYN_FIN_to_a_listener_gets_nothing_and_makes_no_state_as_Linux()
    {
        var p = new TcpPeer();
        p.Listen();
        p.Send(TcpFlags.Syn | TcpFlags.Fin, p.Iss, 0, options: new TcpOptions { Mss = 1460 });
        p.ExpectNothing();
        Assert.Equal(0, p.Stack.Tcp.ConnectionCount);
        p.Send(TcpFlags.Syn | TcpFlags.Rst, p.Iss, 0);
        p.ExpectNothing();
        Assert.Equal(0, p.Stack.Tcp.ConnectionCount);

        var full = FullListener();
        full.Send(TcpFlags.Syn | TcpFlags.Fin, full.Iss, 0, options: new TcpOptions { Mss = 1460 });
        full.ExpectNothing();
        Assert.Equal(0, full.F.Counters.CountOf(TcpCounter.SynCookiesSent));
    }

    [Fact]
    public void The_trace_says_in_plain_words_what_was_decided()
    {
        var trace = new DecisionLog();
        var p = FullListener(observer: trace);
        trace.Lines.Clear();
        var synAck = p.SendSyn();
        p.Send(TcpFlags.Ack, p.SndNxt, synAck.Seq + 999);
        p.SendAck();
        p.Send(TcpFlags.Syn | TcpFlags.Fin, p.Iss, 0, fromPort: 40999);
        Assert.Equal(
        [
            "in  tcp syn while the listener's queue is full -> syn cookie sent, no state kept",
            "out tcp syn-ack (syn cookie)",
            "in  tcp ack with a bad syn cookie -> rst",
            "out tcp rst",
            "in  tcp ack validates a syn cookie -> ESTABLISHED (LISTEN -> ESTABLISHED)",
            "in  tcp syn+fin to a listener -> ignored",
        ], trace.Lines);
    }

    private sealed class DecisionLog : IFrameObserver
    {
        public List<string> Lines { get; } = new();
        public void OnFrame(FrameDirection direction, ReadOnlySpan<byte> frame, Layer layer, string decision, TimeSpan time) =>
            Lines.Add((direction == FrameDirection.Received ? "in  " : "out ") + decision);
    }
}
