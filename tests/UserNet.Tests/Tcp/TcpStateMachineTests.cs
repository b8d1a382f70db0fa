using System.Net.Sockets;
using CsCheck;
using UserNet.Tcp;
using UserNet.Wire;

namespace UserNet.Tests.Tcp;

/// <summary>
/// Segment-level tests of the TCP state machine over a bare stack and a clock the test moves. The test is the peer:
/// it sends crafted segments and checks, field by field, the segments the stack sends back. Each test names the
/// rule and the RFC section it checks.
/// </summary>
public sealed class TcpStateMachineTests
{
    private static readonly TimeSpan Ms = TimeSpan.FromMilliseconds(1);
    private static TimeSpan Milliseconds(double ms) => TimeSpan.FromMilliseconds(ms);

    // =================================================================== opening (RFC 9293 3.5)

    [Fact]
    public void Passive_open_SYN_gets_SYN_ACK_with_MSS_and_window_scale_and_the_ACK_establishes_RFC9293_3_5()
    {
        var p = new TcpPeer();
        var listener = p.Listen();

        var synAck = p.SendSyn(new TcpOptions { Mss = 1460, WindowScale = 7 });
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, synAck.Flags);
        Assert.Equal(TcpPeer.ServerPort, synAck.SourcePort);
        Assert.Equal(TcpPeer.PeerPort, synAck.DestinationPort);
        Assert.Equal(TcpPeer.DefaultPeerIss + 1, synAck.Ack); // ack = the peer's ISN + 1: the SYN takes one number
        Assert.Equal((ushort)1460, synAck.Options.Mss);       // 1500 MTU - 20 IP - 20 TCP
        Assert.Equal((byte)5, synAck.Options.WindowScale);    // a 1 MiB receive buffer needs shift 5 (RFC 7323 2.3)
        Assert.Equal(65535, synAck.Window);                   // the window in a SYN is never scaled (RFC 7323 2.2)
        Assert.Empty(synAck.Payload);
        Assert.Equal(TcpState.SynReceived, p.FindTcb()!.State);
        Assert.False(listener.TryAccept(out _), "nothing is accepted before the handshake completes");

        // The third segment of the handshake: ACK of our SYN.
        p.Send(TcpFlags.Ack, p.SndNxt, synAck.Seq + 1);
        p.ExpectNothing();
        Assert.True(listener.TryAccept(out var conn));
        Assert.Equal(TcpState.Established, conn!.State);
        Assert.Equal(TcpState.Established, p.FindTcb()!.State);
    }

    [Fact]
    public void Passive_open_offers_window_scale_only_when_the_peer_did_RFC7323_2_2()
    {
        var p = new TcpPeer();
        p.Listen();
        var synAck = p.SendSyn(new TcpOptions { Mss = 1460 });
        Assert.Equal((ushort)1460, synAck.Options.Mss);
        Assert.Null(synAck.Options.WindowScale);
    }

    [Fact]
    public void Active_open_sends_SYN_with_MSS_and_the_SYN_ACK_gets_an_ACK_and_ESTABLISHED_RFC9293_3_5()
    {
        var p = new TcpPeer();
        var tcb = p.StartConnect();
        var syn = p.TakeOne();
        Assert.Equal(TcpFlags.Syn, syn.Flags);
        Assert.Equal(TcpPeer.PeerPort, syn.DestinationPort);
        Assert.Equal(tcb.LocalPort, syn.SourcePort);
        Assert.Equal(0u, syn.Ack);
        Assert.Equal((ushort)1460, syn.Options.Mss);
        Assert.NotNull(syn.Options.WindowScale);
        Assert.Empty(syn.Payload);
        Assert.Equal(TcpState.SynSent, tcb.State);

        p.Send(TcpFlags.Syn | TcpFlags.Ack, p.Iss, syn.Seq + 1, options: new TcpOptions { Mss = 1460 });
        var ack = p.TakeOne();
        Assert.Equal(TcpFlags.Ack, ack.Flags);
        Assert.Equal(syn.Seq + 1, ack.Seq);
        Assert.Equal(p.Iss + 1, ack.Ack);
        Assert.Empty(ack.Payload);
        Assert.Equal(TcpState.Established, tcb.State);
        Assert.Equal(TcpState.Established, p.Connection!.State);
    }

    [Fact]
    public void Simultaneous_open_SYN_crossing_SYN_then_SYN_ACK_establishes_RFC9293_figure_8()
    {
        var p = new TcpPeer();
        var tcb = p.StartConnect();
        var syn = p.TakeOne();                                   // line 2: our SYN

        p.Send(TcpFlags.Syn, p.Iss, 0, options: new TcpOptions { Mss = 1460 }); // line 3: the peer's SYN crosses it
        Assert.Equal(TcpState.SynReceived, tcb.State);
        var synAck = p.TakeOne();                                // line 5: our SYN-ACK
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, synAck.Flags);
        Assert.Equal(syn.Seq, synAck.Seq);
        Assert.Equal(p.Iss + 1, synAck.Ack);

        // Line 6: the peer, in SYN-RECEIVED too, sends its SYN-ACK <SEQ=ISS><ACK=our ISS+1>.
        p.Send(TcpFlags.Syn | TcpFlags.Ack, p.Iss, syn.Seq + 1);
        Assert.Equal(TcpState.Established, tcb.State);
    }

    [Fact]
    public void Simultaneous_open_SYN_crossing_SYN_goes_SYN_RECEIVED_and_an_ACK_establishes_RFC9293_3_5()
    {
        var p = new TcpPeer();
        var tcb = p.StartConnect();
        var syn = p.TakeOne();
        p.Send(TcpFlags.Syn, p.Iss, 0, options: new TcpOptions { Mss = 1460 });
        Assert.Equal(TcpState.SynReceived, tcb.State);
        var synAck = p.TakeOne();
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, synAck.Flags);
        Assert.Equal(syn.Seq, synAck.Seq);
        Assert.Equal(p.Iss + 1, synAck.Ack);
        Assert.Equal((ushort)1460, synAck.Options.Mss);

        p.Send(TcpFlags.Ack, p.Iss + 1, syn.Seq + 1);
        p.ExpectNothing();
        Assert.Equal(TcpState.Established, tcb.State);
        Assert.Equal(TcpState.Established, p.Connection!.State);
    }

    // =================================================================== closing (RFC 9293 3.6)

    [Fact]
    public void We_close_first_FIN_WAIT_1_FIN_WAIT_2_TIME_WAIT_then_CLOSED_after_2MSL_RFC9293_3_6()
    {
        var p = new TcpPeer(new TcpSettings { TimeWait = TimeSpan.FromSeconds(1) });
        p.Accept();
        var tcb = p.Tcb!;

        p.AppClose();
        var fin = p.TakeOne();
        Assert.Equal(TcpFlags.Fin | TcpFlags.Ack, fin.Flags);
        Assert.Equal(p.StackIss + 1, fin.Seq);
        Assert.Equal(p.SndNxt, fin.Ack);
        Assert.Equal(TcpState.FinWait1, tcb.State);

        p.RcvNxt = fin.Seq + 1;
        p.SendAck();                                  // the peer acknowledges our FIN
        p.ExpectNothing();
        Assert.Equal(TcpState.FinWait2, tcb.State);

        p.SendFin();                                  // and later closes too
        var ack = p.TakeOne();
        Assert.Equal(TcpFlags.Ack, ack.Flags);
        Assert.Equal(fin.Seq + 1, ack.Seq);
        Assert.Equal(p.SndNxt, ack.Ack);              // covers the peer's FIN
        Assert.Equal(TcpState.TimeWait, tcb.State);
        var entered = p.Now;
        Assert.Equal(entered + TimeSpan.FromSeconds(1), p.Stack.NextDeadline);

        p.At(entered + TimeSpan.FromSeconds(1) - Ms);
        Assert.Equal(TcpState.TimeWait, tcb.State);
        p.At(entered + TimeSpan.FromSeconds(1));
        Assert.Equal(TcpState.Closed, tcb.State);
        Assert.Null(p.FindTcb());
        Assert.True(p.Connection!.Closed.IsCompleted);
        p.ExpectNothing();
    }

    [Fact]
    public void Peer_closes_first_CLOSE_WAIT_we_still_send_half_close_then_LAST_ACK_and_CLOSED_RFC9293_3_6()
    {
        var p = new TcpPeer();
        p.Accept();
        var tcb = p.Tcb!;

        p.SendFin();
        var ack = p.TakeOne();
        Assert.Equal(TcpFlags.Ack, ack.Flags);
        Assert.Equal(p.SndNxt, ack.Ack);
        Assert.Equal(TcpState.CloseWait, tcb.State);
        var (none, ended) = p.AppRead();
        Assert.Empty(none);
        Assert.True(ended, "the application sees the end of the stream");

        // Half-close: the peer finished sending, we have not.
        p.AppWrite("still talking"u8);
        var data = p.TakeAndReceive().Single();
        Assert.Equal(p.StackIss + 1, data.Seq);
        Assert.Equal("still talking"u8.ToArray(), data.Payload);
        Assert.Equal(p.SndNxt, data.Ack);
        Assert.Equal(TcpState.CloseWait, tcb.State);
        p.SendAck();
        p.ExpectNothing();

        p.AppClose();
        var fin = p.TakeOne();
        Assert.Equal(TcpFlags.Fin | TcpFlags.Ack, fin.Flags);
        Assert.Equal(p.StackIss + 1 + 13, fin.Seq);
        Assert.Equal(TcpState.LastAck, tcb.State);

        p.RcvNxt = fin.Seq + 1;
        p.SendAck();
        p.ExpectNothing();
        Assert.Equal(TcpState.Closed, tcb.State);
        Assert.Null(p.FindTcb());
        Assert.True(p.Connection!.Closed.IsCompleted);
    }

    [Fact]
    public void Simultaneous_close_FIN_crossing_FIN_goes_CLOSING_then_TIME_WAIT_RFC9293_figure_13()
    {
        var p = new TcpPeer(new TcpSettings { TimeWait = TimeSpan.FromSeconds(1) });
        p.Accept();
        var tcb = p.Tcb!;
        p.AppClose();
        var fin = p.TakeOne();
        Assert.Equal(TcpState.FinWait1, tcb.State);

        // The peer's FIN crosses ours: it does not acknowledge our FIN.
        p.SendFin(ack: fin.Seq);
        var ack = p.TakeOne();
        Assert.Equal(TcpFlags.Ack, ack.Flags);
        Assert.Equal(fin.Seq + 1, ack.Seq);
        Assert.Equal(p.SndNxt, ack.Ack);
        Assert.Equal(TcpState.Closing, tcb.State);

        p.SendAck(ack: fin.Seq + 1);
        p.ExpectNothing();
        Assert.Equal(TcpState.TimeWait, tcb.State);
        p.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(TcpState.Closed, tcb.State);
    }

    [Fact]
    public void A_retransmitted_FIN_in_TIME_WAIT_is_ACKed_again_and_restarts_the_2MSL_timer_RFC9293_3_10_7_4()
    {
        var p = new TcpPeer(new TcpSettings { TimeWait = TimeSpan.FromSeconds(1) });
        p.Accept();
        var tcb = p.Tcb!;
        p.AppClose();
        var fin = p.TakeOne();
        p.RcvNxt = fin.Seq + 1;
        p.SendFin();
        p.TakeOne();
        Assert.Equal(TcpState.TimeWait, tcb.State);
        var entered = p.Now;

        // Our ACK of the FIN was lost: the peer sends the FIN again.
        p.At(entered + Milliseconds(600));
        p.Send(TcpFlags.Fin | TcpFlags.Ack, p.SndNxt - 1, p.RcvNxt);
        var again = p.TakeOne();
        Assert.Equal(TcpFlags.Ack, again.Flags);
        Assert.Equal(fin.Seq + 1, again.Seq);
        Assert.Equal(p.SndNxt, again.Ack);
        Assert.Equal(p.Now + TimeSpan.FromSeconds(1), p.Stack.NextDeadline);

        p.At(entered + Milliseconds(1100));              // past the first 2 MSL, not the restarted one
        Assert.Equal(TcpState.TimeWait, tcb.State);
        p.At(entered + Milliseconds(1600));
        Assert.Equal(TcpState.Closed, tcb.State);
    }

    // =================================================================== RST and SYN (RFC 9293 3.10.7.4, RFC 5961)

    [Fact]
    public void RST_with_the_exact_sequence_number_resets_the_connection_RFC5961_3_2()
    {
        var p = new TcpPeer();
        var conn = p.Accept();
        p.Send(TcpFlags.Rst, p.SndNxt, 0);
        p.ExpectNothing();
        Assert.Equal(TcpState.Closed, p.Tcb!.State);
        Assert.Null(p.FindTcb());
        Assert.Equal(SocketError.ConnectionReset, TcpPeer.ReadError(conn.Input).SocketErrorCode);
        Assert.True(conn.Closed.IsCompleted);
    }

    [Fact]
    public void RST_in_the_window_but_not_exact_gets_a_challenge_ACK_and_changes_nothing_RFC5961_3_2()
    {
        var p = new TcpPeer();
        p.Accept();
        p.Send(TcpFlags.Rst, p.SndNxt + 100, 0);
        var challenge = p.TakeOne();
        Assert.Equal(TcpFlags.Ack, challenge.Flags);
        Assert.Equal(p.StackIss + 1, challenge.Seq); // SND.NXT
        Assert.Equal(p.SndNxt, challenge.Ack);       // RCV.NXT
        Assert.Equal(TcpState.Established, p.Tcb!.State);

        // The connection still works.
        p.SendData("ok"u8);
        Assert.Equal("ok"u8.ToArray(), p.AppRead().Data);
    }

    [Fact]
    public void RST_outside_the_window_is_ignored_RFC5961_3_2()
    {
        var p = new TcpPeer();
        p.Accept();
        p.Send(TcpFlags.Rst, p.SndNxt - 1, 0);
        p.Send(TcpFlags.Rst, p.SndNxt + 1_000_000, 0);
        p.Send(TcpFlags.Rst | TcpFlags.Ack, p.SndNxt + 0x8000_0000, p.RcvNxt);
        p.ExpectNothing();
        Assert.Equal(TcpState.Established, p.Tcb!.State);
    }

    [Fact]
    public void RST_in_SYN_SENT_with_an_acceptable_ACK_refuses_the_connection_RFC9293_3_10_7_3()
    {
        var p = new TcpPeer();
        var tcb = p.StartConnect();
        var syn = p.TakeOne();
        p.Send(TcpFlags.Rst | TcpFlags.Ack, 0, syn.Seq + 1);
        p.ExpectNothing();
        Assert.Equal(TcpState.Closed, tcb.State);
        Assert.Equal(SocketError.ConnectionRefused, TcpPeer.ReadError(p.Connection!.Input).SocketErrorCode);
        Assert.True(p.Connection!.Closed.IsCompleted);
    }

    [Fact]
    public void RST_in_SYN_SENT_without_ACK_or_with_an_unacceptable_ACK_is_ignored_RFC9293_3_10_7_3()
    {
        var p = new TcpPeer();
        var tcb = p.StartConnect();
        var syn = p.TakeOne();
        p.Send(TcpFlags.Rst, 0, 0);
        p.Send(TcpFlags.Rst | TcpFlags.Ack, 0, syn.Seq + 2);  // acknowledges something never sent
        p.Send(TcpFlags.Rst | TcpFlags.Ack, 0, syn.Seq);      // acknowledges nothing (SEG.ACK =< ISS)
        p.ExpectNothing();                                     // never a RST for a RST
        Assert.Equal(TcpState.SynSent, tcb.State);

        // The real SYN-ACK still completes the handshake.
        p.Send(TcpFlags.Syn | TcpFlags.Ack, p.Iss, syn.Seq + 1, options: new TcpOptions { Mss = 1460 });
        Assert.Equal(TcpState.Established, tcb.State);
    }

    [Fact]
    public void SYN_in_ESTABLISHED_gets_a_challenge_ACK_whatever_its_sequence_number_RFC5961_4_2()
    {
        var p = new TcpPeer();
        p.Accept();
        foreach (var seq in new[] { p.SndNxt, p.SndNxt + 1000, p.Iss, p.Iss - 5000 })
        {
            p.Send(TcpFlags.Syn, seq, 0, options: new TcpOptions { Mss = 1460 });
            var challenge = p.TakeOne();
            Assert.Equal(TcpFlags.Ack, challenge.Flags);
            Assert.Equal(p.StackIss + 1, challenge.Seq);
            Assert.Equal(p.SndNxt, challenge.Ack);
            Assert.Equal(TcpState.Established, p.Tcb!.State);
        }
    }

    [Fact]
    public void ACK_of_data_not_yet_sent_gets_an_ACK_and_the_segment_is_dropped_RFC9293_3_10_7_4_RFC5961_5_2()
    {
        var p = new TcpPeer();
        p.Accept();
        p.Send(TcpFlags.Ack | TcpFlags.Psh, p.SndNxt, p.RcvNxt + 1000, "hello"u8);
        var ack = p.TakeOne();
        Assert.Equal(TcpFlags.Ack, ack.Flags);
        Assert.Equal(p.StackIss + 1, ack.Seq);
        Assert.Equal(p.SndNxt, ack.Ack);                 // the data was not taken
        Assert.Empty(p.AppRead().Data);
        Assert.Equal(TcpState.Established, p.Tcb!.State);

        p.SendData("hello"u8);                           // the same bytes with a sane ACK are taken
        Assert.Equal("hello"u8.ToArray(), p.AppRead().Data);
    }

    [Fact]
    public void Challenge_ACKs_are_rate_limited_RFC5961_7()
    {
        var p = new TcpPeer(stackDefaults: new TcpSettings { ChallengeAcksPerSecond = 2 });
        p.Accept();
        for (int i = 0; i < 5; i++) p.Send(TcpFlags.Rst, p.SndNxt + 100, 0);
        Assert.Equal(2, p.Take().Count);
        for (int i = 0; i < 3; i++) p.Send(TcpFlags.Syn, p.SndNxt, 0);
        p.ExpectNothing();

        p.Advance(TimeSpan.FromSeconds(1));              // the bucket refills
        for (int i = 0; i < 5; i++) p.Send(TcpFlags.Rst, p.SndNxt + 100, 0);
        Assert.Equal(2, p.Take().Count);
        Assert.Equal(TcpState.Established, p.Tcb!.State);
    }

    // =================================================================== no connection (RFC 9293 3.10.7.1)

    [Fact]
    public void SYN_to_a_closed_port_gets_RST_ACK_with_ack_SEG_SEQ_plus_1_RFC9293_3_10_7_1()
    {
        var p = new TcpPeer();
        p.Send(TcpFlags.Syn, 5000, 0, options: new TcpOptions { Mss = 1460 }, toPort: 81);
        var rst = p.TakeOne();
        Assert.Equal(TcpFlags.Rst | TcpFlags.Ack, rst.Flags);
        Assert.Equal(0u, rst.Seq);
        Assert.Equal(5001u, rst.Ack);
        Assert.Equal((ushort)81, rst.SourcePort);
        Assert.Equal(TcpPeer.PeerPort, rst.DestinationPort);
        Assert.Empty(rst.Payload);
    }

    [Fact]
    public void Segment_without_ACK_to_a_closed_port_gets_ack_SEG_SEQ_plus_SEG_LEN_RFC9293_3_10_7_1()
    {
        var p = new TcpPeer();
        p.Send(TcpFlags.Fin | TcpFlags.Psh, 7000, 0, "abc"u8, toPort: 81); // 3 bytes and a FIN: SEG.LEN = 4
        var rst = p.TakeOne();
        Assert.Equal(TcpFlags.Rst | TcpFlags.Ack, rst.Flags);
        Assert.Equal(0u, rst.Seq);
        Assert.Equal(7004u, rst.Ack);
    }

    [Fact]
    public void ACK_bearing_segment_to_a_closed_port_gets_RST_with_seq_SEG_ACK_RFC9293_3_10_7_1()
    {
        var p = new TcpPeer();
        p.Send(TcpFlags.Ack | TcpFlags.Psh, 5000, 777_777, "data"u8, toPort: 81);
        var rst = p.TakeOne();
        Assert.Equal(TcpFlags.Rst, rst.Flags);
        Assert.Equal(777_777u, rst.Seq);
        Assert.Equal((ushort)81, rst.SourcePort);
    }

    [Fact]
    public void RST_to_a_closed_port_gets_nothing_RFC9293_3_10_7_1()
    {
        var p = new TcpPeer();
        p.Send(TcpFlags.Rst, 5000, 0, toPort: 81);
        p.Send(TcpFlags.Rst | TcpFlags.Ack, 5000, 1234, toPort: 81);
        p.ExpectNothing();
    }

    [Fact]
    public void ACK_to_a_listener_gets_RST_with_seq_SEG_ACK_and_RST_to_a_listener_is_ignored_RFC9293_3_10_7_2()
    {
        var p = new TcpPeer();
        p.Listen();
        p.Send(TcpFlags.Ack, 5000, 4242);
        var rst = p.TakeOne();
        Assert.Equal(TcpFlags.Rst, rst.Flags);
        Assert.Equal(4242u, rst.Seq);
        p.Send(TcpFlags.Rst, 5000, 0);
        p.ExpectNothing();
        Assert.Null(p.FindTcb());
    }

    // =================================================================== retransmission timing (RFC 6298)

    [Fact]
    public void First_retransmission_at_the_initial_RTO_of_1s_then_doubling_RFC6298_2_1_and_5_5()
    {
        var p = new TcpPeer();
        var tcb = p.StartConnect();
        var t0 = p.Now;
        var syn = p.TakeOne();
        Assert.Equal(t0 + TimeSpan.FromSeconds(1), p.Stack.NextDeadline);

        p.At(t0 + TimeSpan.FromSeconds(1) - Ms);
        p.ExpectNothing();
        p.At(t0 + TimeSpan.FromSeconds(1));
        var again = p.TakeOne();
        Assert.Equal(TcpFlags.Syn, again.Flags);
        Assert.Equal(syn.Seq, again.Seq);

        // Backoff: 2 s, then 4 s.
        Assert.Equal(TimeSpan.FromSeconds(2), p.RunNextTimer());
        Assert.Equal(syn.Seq, p.TakeOne().Seq);
        Assert.Equal(TimeSpan.FromSeconds(4), p.RunNextTimer());
        Assert.Equal(syn.Seq, p.TakeOne().Seq);
        Assert.Equal(TcpState.SynSent, tcb.State);
    }

    [Fact]
    public void RTO_from_a_measured_RTT_is_at_least_MinRetransmitTimeout_RFC6298_2_4()
    {
        var p = new TcpPeer(new TcpSettings { MinRetransmitTimeout = Milliseconds(200) });
        p.Listen();
        p.SendSyn();
        p.Advance(10);                                   // RTT 10 ms: SRTT + 4 RTTVAR = 30 ms
        p.Send(TcpFlags.Ack, p.SndNxt, p.RcvNxt);
        Assert.True(p.Listener!.TryAccept(out _));
        var tcb = p.Tcb = p.FindTcb()!;
        Assert.Equal(Milliseconds(200), tcb.RetransmitTimeout);

        p.AppWrite(TcpPeer.Bytes(100));
        var sent = p.TakeOne();
        var t = p.Now;
        Assert.Equal(t + Milliseconds(200), p.Stack.NextDeadline);
        p.At(t + Milliseconds(199));
        p.ExpectNothing();
        p.At(t + Milliseconds(200));
        var again = p.TakeOne();
        Assert.Equal(sent.Seq, again.Seq);
        Assert.Equal(sent.Payload, again.Payload);
        Assert.Equal(Milliseconds(400), tcb.RetransmitTimeout); // backed off
    }

    [Fact]
    public void RTO_is_SRTT_plus_4_RTTVAR_and_follows_later_samples_RFC6298_2_2_and_2_3()
    {
        var p = new TcpPeer();
        p.Listen();
        p.SendSyn();
        p.Advance(300);                                  // first sample R = 300 ms: SRTT 300, RTTVAR 150
        p.Send(TcpFlags.Ack, p.SndNxt, p.RcvNxt);
        var tcb = p.Tcb = p.FindTcb()!;
        Assert.Equal(Milliseconds(900), tcb.RetransmitTimeout);

        p.AppWrite(TcpPeer.Bytes(100));
        p.TakeAndReceive();
        Assert.Equal(p.Now + Milliseconds(900), p.Stack.NextDeadline);
        p.Advance(100);                                  // R' = 100 ms: RTTVAR = 3/4 150 + 1/4 200 = 162.5, SRTT = 7/8 300 + 1/8 100 = 275
        p.SendAck();
        Assert.Equal(Milliseconds(275 + 4 * 162.5), tcb.RetransmitTimeout);
        Assert.Equal(TimeSpan.MaxValue, p.Stack.Tcp.NextDeadline); // everything acknowledged: timer off (5.2)
    }

    [Fact]
    public void Karn_no_RTT_sample_from_a_retransmitted_segment_and_the_backed_off_RTO_stays_RFC6298_3_and_5_7()
    {
        var p = new TcpPeer();
        p.Listen();
        p.SendSyn();
        p.Advance(300);
        p.Send(TcpFlags.Ack, p.SndNxt, p.RcvNxt);
        var tcb = p.Tcb = p.FindTcb()!;
        Assert.Equal(Milliseconds(900), tcb.RetransmitTimeout);

        var t = p.Now;
        p.AppWrite(TcpPeer.Bytes(100));
        p.TakeAndReceive();
        p.At(t + Milliseconds(900));
        Assert.Single(p.Take());                         // retransmitted
        Assert.Equal(Milliseconds(1800), tcb.RetransmitTimeout);
        p.At(t + Milliseconds(950));
        p.SendAck();                                     // ambiguous: for the original or the retransmission?
        Assert.Equal(Milliseconds(1800), tcb.RetransmitTimeout);

        // A fresh segment gives a valid sample: 100 ms, as if the 950 ms one never happened.
        p.AppWrite(TcpPeer.Bytes(100));
        p.TakeAndReceive();
        p.Advance(100);
        p.SendAck();
        Assert.Equal(Milliseconds(275 + 4 * 162.5), tcb.RetransmitTimeout);
    }

    [Fact]
    public void RTO_is_3s_after_the_handshake_when_the_SYN_was_retransmitted_RFC6298_5_7()
    {
        var p = new TcpPeer();
        var tcb = p.StartConnect();
        var syn = p.TakeOne();
        p.RunNextTimer();                                // the SYN is resent after 1 s; RTO backs off to 2 s
        p.TakeOne();
        p.Send(TcpFlags.Syn | TcpFlags.Ack, p.Iss, syn.Seq + 1, options: new TcpOptions { Mss = 1460 });
        Assert.Equal(TcpState.Established, tcb.State);
        Assert.Equal(TimeSpan.FromSeconds(3), tcb.RetransmitTimeout);
    }

    [Fact]
    public void SYN_retries_exhausted_the_connect_fails_with_TimedOut_RFC9293_3_8_3()
    {
        var p = new TcpPeer(new TcpSettings { SynRetries = 2 });
        var tcb = p.StartConnect();
        p.TakeOne();
        p.RunNextTimer();
        Assert.Equal(TcpFlags.Syn, p.TakeOne().Flags);
        p.RunNextTimer();
        Assert.Equal(TcpFlags.Syn, p.TakeOne().Flags);
        p.RunNextTimer();
        p.ExpectNothing();                               // no RST: the peer never answered
        Assert.Equal(TcpState.Closed, tcb.State);
        Assert.Equal(SocketError.TimedOut, TcpPeer.ReadError(p.Connection!.Input).SocketErrorCode);
        Assert.True(p.Connection!.Closed.IsCompleted);
        Assert.Equal(TimeSpan.MaxValue, p.Stack.Tcp.NextDeadline);
    }

    [Fact]
    public void Data_retries_exhausted_the_connection_fails_and_sends_RST_RFC9293_3_8_3()
    {
        var p = new TcpPeer(new TcpSettings { DataRetries = 2 });
        var conn = p.Accept();
        var tcb = p.Tcb!;
        p.AppWrite(TcpPeer.Bytes(100));
        var first = p.TakeOne();
        for (int i = 0; i < 2; i++)
        {
            p.RunNextTimer();
            var again = p.TakeOne();
            Assert.Equal(first.Seq, again.Seq);
            Assert.Equal(first.Payload, again.Payload);
        }
        p.RunNextTimer();
        var rst = p.TakeOne();
        Assert.True(rst.Has(TcpFlags.Rst));
        Assert.Equal(p.StackIss + 1 + 100, rst.Seq);     // SND.NXT
        Assert.Equal(TcpState.Closed, tcb.State);
        Assert.Equal(SocketError.TimedOut, TcpPeer.ReadError(conn.Input).SocketErrorCode);
        Assert.True(conn.Closed.IsCompleted);
    }

    [Fact]
    public void After_a_retransmission_timeout_pure_ACKs_carry_the_highest_sequence_number_sent_so_the_peer_accepts_them_RFC9293_3_10_7_4()
    {
        // Both sides time out with their ACKs lost: each goes back to its SND.UNA. Segments that carry only old data
        // are unacceptable to the other side, which answers with an ACK; if that ACK carried the rewound SND.NXT, it
        // would be unacceptable in turn, and neither side would ever read the other's acknowledgment.
        var p = new TcpPeer();
        p.Accept(new TcpOptions { Mss = 1000 });
        p.SendData(TcpPeer.Bytes(1000));
        p.SendData(TcpPeer.Bytes(1000));
        p.Take();                                        // the stack has the peer's 2000 bytes; its ACK is lost
        p.AppWrite(TcpPeer.Bytes(3000));
        Assert.Equal(3, p.TakeAndReceive().Count);       // the peer has the stack's 3000 bytes; its ACKs are lost
        p.RunNextTimer();                                // RTO: SND.NXT goes back to SND.UNA, one segment resent
        Assert.Equal(p.StackIss + 1, p.TakeOne().Seq);
        // The peer, timed out too, resends its first segment: old data to the stack, whose ACK field is not read.
        p.Send(TcpFlags.Ack, p.Iss + 1, p.RcvNxt, TcpPeer.Bytes(1000));
        var ack = p.TakeOne();
        Assert.Equal(TcpFlags.Ack, ack.Flags);
        Assert.Equal(p.Iss + 1 + 2000, ack.Ack);
        // SND.MAX, which the peer accepts; SND.NXT (ISS + 1001) would be below the peer's RCV.NXT (ISS + 3001).
        Assert.Equal(p.StackIss + 1 + 3000, ack.Seq);
    }

    // =================================================================== congestion control (RFC 5681, RFC 6582)

    [Fact]
    public void Fast_retransmit_after_three_duplicate_ACKs_resends_the_oldest_segment_before_the_RTO_RFC5681_3_2()
    {
        var p = new TcpPeer();
        p.Accept(new TcpOptions { Mss = 1000 });
        var data = TcpPeer.Bytes(6000);
        p.AppWrite(data);
        var segs = p.Take();
        Assert.Equal(6, segs.Count);
        Assert.All(segs, s => Assert.Equal(1000, s.Payload.Length));
        var rto = p.Stack.NextDeadline;

        uint una = p.StackIss + 1;                       // segment 1 was lost; 2, 3 and 4 each bring a duplicate
        p.SendAck(una);
        p.ExpectNothing();
        p.SendAck(una);
        p.ExpectNothing();
        p.SendAck(una);
        var fast = p.TakeOne();
        Assert.Equal(una, fast.Seq);
        Assert.Equal(data[..1000], fast.Payload);
        Assert.True(p.Now < rto, "sent at once, not at the retransmission timeout");
    }

    [Fact]
    public void Partial_ACK_in_fast_recovery_resends_the_next_hole_RFC6582_3_2_step_4()
    {
        var p = new TcpPeer();
        p.Accept(new TcpOptions { Mss = 1000 });
        var data = TcpPeer.Bytes(6000);
        p.AppWrite(data);
        Assert.Equal(6, p.Take().Count);
        uint una = p.StackIss + 1;
        for (int i = 0; i < 3; i++) p.SendAck(una);
        Assert.Equal(una, p.TakeOne().Seq);              // fast retransmit of segment 1

        // Segments 1 and 2 are now in; 3 was lost too: the ACK is partial (below "recover").
        p.SendAck(una + 2000);
        var hole = p.TakeOne();
        Assert.Equal(una + 2000, hole.Seq);
        Assert.Equal(data[2000..3000], hole.Payload);

        // The full ACK ends recovery without sending anything more.
        p.SendAck(una + 6000);
        p.ExpectNothing();
        Assert.Equal(TimeSpan.MaxValue, p.Stack.Tcp.NextDeadline);
    }

    // =================================================================== zero window (RFC 1122 4.2.2.17)

    [Fact]
    public void Zero_window_no_data_is_sent_persist_probes_back_off_and_data_flows_when_it_opens_RFC1122_4_2_2_17()
    {
        var p = new TcpPeer();
        p.Accept(finalAckWindow: 0);
        var tcb = p.Tcb!;
        Assert.Equal(0u, tcb.SndWnd);

        var data = TcpPeer.Bytes(100);
        p.AppWrite(data);
        p.ExpectNothing();

        var rto = tcb.RetransmitTimeout;
        var intervals = new List<TimeSpan>();
        for (int i = 0; i < 3; i++)
        {
            intervals.Add(p.RunNextTimer());
            var probe = p.TakeOne();
            Assert.Equal(TcpFlags.Ack, probe.Flags);
            Assert.Equal(p.StackIss, probe.Seq);         // SND.UNA - 1: an old number the peer must answer
            Assert.Empty(probe.Payload);
            p.SendAck(window: 0);                        // still closed
            p.ExpectNothing();
        }
        Assert.Equal(new[] { rto, rto * 2, rto * 4 }, intervals);

        p.SendAck(window: 1000);                         // the window opens
        var seg = p.TakeOne();
        Assert.Equal(p.StackIss + 1, seg.Seq);
        Assert.Equal(data, seg.Payload);
    }

    // =================================================================== acknowledgments (RFC 1122 4.2.3.2)

    [Fact]
    public void Delayed_ACK_one_full_segment_is_acknowledged_after_DelayedAckTimeout_RFC1122_4_2_3_2()
    {
        var p = new TcpPeer(new TcpSettings { DelayedAckTimeout = Milliseconds(40) });
        p.Accept();
        p.SendData(TcpPeer.Bytes(1460));
        p.ExpectNothing();
        Assert.Equal(p.Now + Milliseconds(40), p.Stack.NextDeadline);
        p.Advance(39);
        p.ExpectNothing();
        p.Advance(1);
        var ack = p.TakeOne();
        Assert.Equal(TcpFlags.Ack, ack.Flags);
        Assert.Equal(p.SndNxt, ack.Ack);
    }

    [Fact]
    public void Delayed_ACK_two_full_segments_are_acknowledged_at_once_RFC1122_4_2_3_2()
    {
        var p = new TcpPeer();
        p.Accept();
        p.SendData(TcpPeer.Bytes(1460));
        p.ExpectNothing();
        p.SendData(TcpPeer.Bytes(1460, 1));
        var ack = p.TakeOne();
        Assert.Equal(p.SndNxt, ack.Ack);
        Assert.Equal(TimeSpan.MaxValue, p.Stack.Tcp.NextDeadline); // no delayed ACK left pending
    }

    // =================================================================== Nagle (RFC 896, RFC 1122 4.2.3.4)

    [Fact]
    public void Nagle_a_second_small_write_waits_for_the_ACK_of_the_first_RFC896()
    {
        var p = new TcpPeer();
        p.Accept();
        p.AppWrite("first....."u8);
        var first = p.TakeAndReceive().Single();
        Assert.Equal(10, first.Payload.Length);
        p.AppWrite("second...."u8);
        p.ExpectNothing();                               // a small segment is in flight

        p.SendAck();
        var second = p.TakeOne();
        Assert.Equal(first.Seq + 10, second.Seq);
        Assert.Equal("second...."u8.ToArray(), second.Payload);
    }

    [Fact]
    public void Nagle_off_with_NoDelay_a_second_small_write_goes_at_once_RFC1122_4_2_3_4()
    {
        var p = new TcpPeer(new TcpSettings { NoDelay = true });
        p.Accept();
        p.AppWrite("first....."u8);
        var first = p.TakeOne();
        p.AppWrite("second...."u8);
        var second = p.TakeOne();
        Assert.Equal(first.Seq + 10, second.Seq);
        Assert.Equal("second...."u8.ToArray(), second.Payload);
    }

    // =================================================================== reassembly and sequence numbers

    [Fact]
    public void Out_of_order_segments_get_duplicate_ACKs_and_the_gap_filler_is_ACKed_with_all_RFC9293_3_10_7_4()
    {
        var p = new TcpPeer();
        p.Accept();
        var data = TcpPeer.Bytes(300);
        uint s = p.SndNxt;

        p.Send(TcpFlags.Ack, s + 100, p.RcvNxt, data.AsSpan(100, 100));
        var dup1 = p.TakeOne();
        Assert.Equal(s, dup1.Ack);
        p.Send(TcpFlags.Ack, s + 200, p.RcvNxt, data.AsSpan(200, 100));
        var dup2 = p.TakeOne();
        Assert.Equal(s, dup2.Ack);
        Assert.Empty(p.AppRead().Data);                  // nothing in order yet

        p.Send(TcpFlags.Ack, s, p.RcvNxt, data.AsSpan(0, 100));
        var ack = p.TakeOne();
        Assert.Equal(s + 300, ack.Ack);
        Assert.Equal(data, p.AppRead().Data);
    }

    [Fact]
    public void Sequence_numbers_wrap_data_across_2_to_the_32_is_delivered_intact_RFC9293_3_4()
    {
        var p = new TcpPeer { Iss = uint.MaxValue - 99 };  // the first data byte is 2^32 - 99
        p.Accept();
        var data = TcpPeer.Bytes(300);
        uint s = p.SndNxt;

        // The middle segment crosses the wrap; it and the last one arrive before the first.
        p.Send(TcpFlags.Ack, s + 100, p.RcvNxt, data.AsSpan(100, 100));
        Assert.Equal(s, p.TakeOne().Ack);
        p.Send(TcpFlags.Ack, s + 200, p.RcvNxt, data.AsSpan(200, 100));
        Assert.Equal(s, p.TakeOne().Ack);
        p.Send(TcpFlags.Ack, s, p.RcvNxt, data.AsSpan(0, 100));
        var ack = p.TakeOne();
        Assert.Equal(201u, ack.Ack);                     // 2^32 - 99 + 300, modulo 2^32
        Assert.Equal(unchecked(s + 300), ack.Ack);
        p.SndNxt = ack.Ack;

        p.SendData(TcpPeer.Bytes(50, 3));                // and on after the wrap
        Assert.Equal(data.Concat(TcpPeer.Bytes(50, 3)), p.AppRead().Data);
    }

    [Fact]
    public void SeqNumber_compares_modulo_2_to_the_32_RFC9293_3_4()
    {
        var high = new SeqNumber(0xFFFF_FFF0);
        var low = new SeqNumber(0x10);
        Assert.True(high < low);
        Assert.True(low > high);
        Assert.True(high <= low);
        Assert.False(high > low);
        Assert.Equal(low, high + 0x20);
        Assert.Equal(high, low - 0x20);
        Assert.Equal(0x20, low - high);
        Assert.Equal(-0x20, high - low);
        Assert.Equal(low, SeqNumber.Max(high, low));
        Assert.Equal(high, SeqNumber.Min(high, low));
        Assert.True(high.CompareTo(low) < 0);

        Gen.Select(Gen.UInt, Gen.Int[1, int.MaxValue]).Sample((a, n) =>
        {
            var x = new SeqNumber(a);
            var y = x + n;
            return x < y && y > x && y - x == n && !(y < x);
        });
    }

    [Fact]
    public void SeqNumber_InRange_is_half_open_and_works_across_the_wrap_RFC9293_3_4()
    {
        var low = new SeqNumber(0xFFFF_FFF0);
        var high = new SeqNumber(0x10);                  // the range wraps through 0
        Assert.True(low.InRange(low, high));
        Assert.True(new SeqNumber(0xFFFF_FFFF).InRange(low, high));
        Assert.True(new SeqNumber(0).InRange(low, high));
        Assert.True(new SeqNumber(0xF).InRange(low, high));
        Assert.False(high.InRange(low, high));           // the high end is excluded
        Assert.False(new SeqNumber(0xFFFF_FFEF).InRange(low, high));
        Assert.False(new SeqNumber(0x8000_0000).InRange(low, high));
        Assert.False(low.InRange(low, low));             // an empty range holds nothing

        Gen.Select(Gen.UInt, Gen.Int[1, int.MaxValue], Gen.Int[0, int.MaxValue]).Sample((a, len, off) =>
        {
            var lo = new SeqNumber(a);
            var x = lo + off;
            return x.InRange(lo, lo + len) == (off < len);
        });
    }

    // =================================================================== MSS (RFC 9293 3.7.1, RFC 6691)

    [Fact]
    public void Peer_MSS_536_our_segments_carry_at_most_536_bytes_RFC9293_3_7_1()
    {
        var p = new TcpPeer(new TcpSettings { NoDelay = true });
        p.Accept(new TcpOptions { Mss = 536 });
        Assert.Equal(536, p.Tcb!.SendMss);
        p.AppWrite(TcpPeer.Bytes(2000));
        var segs = p.Take();
        Assert.Equal(new[] { 536, 536, 536, 392 }, segs.Select(s => s.Payload.Length));
    }

    [Fact]
    public void No_MSS_option_means_536_RFC9293_3_7_1()
    {
        var p = new TcpPeer(new TcpSettings { NoDelay = true });
        p.Accept(new TcpOptions());
        Assert.Equal(536, p.Tcb!.SendMss);
        p.AppWrite(TcpPeer.Bytes(1000));
        Assert.Equal(new[] { 536, 464 }, p.Take().Select(s => s.Payload.Length));
    }

    [Fact]
    public void A_tiny_MSS_is_clamped_to_88_RFC9293_3_7_1()
    {
        var p = new TcpPeer(new TcpSettings { NoDelay = true });
        p.Accept(new TcpOptions { Mss = 10 });
        Assert.Equal(88, p.Tcb!.SendMss);
        p.AppWrite(TcpPeer.Bytes(200));
        Assert.Equal(new[] { 88, 88, 24 }, p.Take().Select(s => s.Payload.Length));
    }

    [Fact]
    public void Active_open_uses_the_MSS_of_the_SYN_ACK_RFC9293_3_7_1()
    {
        var p = new TcpPeer(new TcpSettings { NoDelay = true });
        var tcb = p.Connect(new TcpOptions { Mss = 536 });
        Assert.Equal(536, tcb.SendMss);
        p.AppWrite(TcpPeer.Bytes(600));
        Assert.Equal(new[] { 536, 64 }, p.Take().Select(s => s.Payload.Length));
    }

    // =================================================================== receive window (RFC 9293 3.8.6)

    [Fact]
    public void Receive_window_shrinks_with_unread_data_and_reading_sends_a_window_update_RFC9293_3_8_6_2_2()
    {
        var p = new TcpPeer(new TcpSettings { ReceiveBufferSize = 4096 });
        p.Listen();
        var synAck = p.SendSyn(new TcpOptions { Mss = 1460 });
        Assert.Equal(4096, synAck.Window);
        p.SendAck();
        Assert.True(p.Listener!.TryAccept(out _));
        p.Tcb = p.FindTcb();

        p.SendData(TcpPeer.Bytes(1024));
        p.SendData(TcpPeer.Bytes(1024, 1));
        var ack = p.TakeOne();
        Assert.Equal(p.SndNxt, ack.Ack);
        Assert.Equal(2048, ack.Window);                  // 2048 of 4096 bytes unread

        p.SendData(TcpPeer.Bytes(1024, 2));
        p.SendData(TcpPeer.Bytes(1024, 3));
        ack = p.TakeOne();
        Assert.Equal(p.SndNxt, ack.Ack);
        Assert.Equal(0, ack.Window);                     // full

        // More data does not fit: acknowledged (with the zero window) and dropped.
        p.Send(TcpFlags.Ack, p.SndNxt, p.RcvNxt, TcpPeer.Bytes(100, 4));
        ack = p.TakeOne();
        Assert.Equal(p.SndNxt, ack.Ack);
        Assert.Equal(0, ack.Window);

        // The application reads: the window reopens and the peer is told so.
        Assert.Equal(4096, p.AppRead().Data.Length);
        var update = p.TakeOne();
        Assert.Equal(TcpFlags.Ack, update.Flags);
        Assert.Equal(p.SndNxt, update.Ack);
        Assert.Equal(4096, update.Window);

        p.SendData(TcpPeer.Bytes(1024, 5));               // and the peer goes on
        Assert.Equal(TcpPeer.Bytes(1024, 5), p.AppRead().Data);
    }

    [Fact]
    public void RST_in_SYN_RECEIVED_from_a_listener_drops_the_half_open_connection_RFC9293_3_10_7_4()
    {
        var p = new TcpPeer();
        var listener = p.Listen();
        p.SendSyn();
        Assert.NotNull(p.FindTcb());
        p.Send(TcpFlags.Rst, p.SndNxt, 0);
        p.ExpectNothing();
        Assert.Null(p.FindTcb());
        Assert.False(listener.TryAccept(out _));

        // The listener still listens.
        p.Iss += 10_000;
        p.SendSyn();
        p.SendAck();
        Assert.True(listener.TryAccept(out _));
    }

    // =================================================================== more rules

    [Fact]
    public void Retransmitted_SYN_in_SYN_RECEIVED_gets_the_SYN_ACK_again()
    {
        // The peer's SYN came twice (our SYN-ACK was lost): RFC 9293 would answer the old SYN with a bare ACK, but
        // the peer in SYN-SENT drops that (no SYN); Linux resends the SYN-ACK, and so does TcpControlBlock's
        // "tcp syn again -> syn-ack again" branch, if it is reached.
        var p = new TcpPeer();
        p.Listen();
        var synAck = p.SendSyn();
        p.Send(TcpFlags.Syn, p.Iss, 0, options: new TcpOptions { Mss = 1460 });
        var again = p.TakeOne();
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, again.Flags);
        Assert.Equal(synAck.Seq, again.Seq);
        Assert.Equal(p.Iss + 1, again.Ack);
        Assert.Equal(TcpState.SynReceived, p.FindTcb()!.State);
    }

    [Fact]
    public void SYN_ACK_is_retransmitted_at_the_RTO_and_the_half_open_connection_is_dropped_after_SynRetries_RFC6298_5_4()
    {
        var p = new TcpPeer(new TcpSettings { SynRetries = 1 });
        var listener = p.Listen();
        var synAck = p.SendSyn();
        Assert.Equal(TimeSpan.FromSeconds(1), p.RunNextTimer());
        var again = p.TakeOne();
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, again.Flags);
        Assert.Equal(synAck.Seq, again.Seq);
        p.RunNextTimer();
        p.ExpectNothing();
        Assert.Null(p.FindTcb());
        Assert.False(listener.TryAccept(out _));
    }

    [Fact]
    public void FIN_is_retransmitted_at_the_RTO_RFC9293_3_10_4()
    {
        var p = new TcpPeer();
        p.Accept();
        p.AppClose();
        var fin = p.TakeOne();
        p.RunNextTimer();
        var again = p.TakeOne();
        Assert.Equal(TcpFlags.Fin | TcpFlags.Ack, again.Flags);
        Assert.Equal(fin.Seq, again.Seq);
        Assert.Equal(TcpState.FinWait1, p.Tcb!.State);
        p.RcvNxt = fin.Seq + 1;
        p.SendAck();
        Assert.Equal(TcpState.FinWait2, p.Tcb.State);
        Assert.Equal(TimeSpan.MaxValue, p.Stack.Tcp.NextDeadline);
    }

    [Fact]
    public void Out_of_order_FIN_is_held_until_the_gap_fills_RFC9293_3_10_7_4()
    {
        var p = new TcpPeer();
        p.Accept();
        uint s = p.SndNxt;
        p.Send(TcpFlags.Fin | TcpFlags.Ack, s + 5, p.RcvNxt, "world"u8);
        Assert.Equal(s, p.TakeOne().Ack);
        Assert.Equal(TcpState.Established, p.Tcb!.State);

        p.Send(TcpFlags.Ack, s, p.RcvNxt, "hello"u8);
        var ack = p.TakeOne();
        Assert.Equal(s + 11, ack.Ack);                   // ten bytes and the FIN
        Assert.Equal(TcpState.CloseWait, p.Tcb.State);
        var (data, ended) = p.AppRead();
        Assert.Equal("helloworld"u8.ToArray(), data);
        Assert.True(ended);
    }

    [Fact]
    public void Window_scale_applies_to_both_directions_after_the_handshake_RFC7323_2_3()
    {
        var p = new TcpPeer();
        p.Listen();
        p.SendSyn(new TcpOptions { Mss = 1460, WindowScale = 7 });
        p.Send(TcpFlags.Ack, p.SndNxt, p.RcvNxt, window: 100);  // 100 << 7
        var tcb = p.Tcb = p.FindTcb()!;
        Assert.Equal(12800u, tcb.SndWnd);

        p.SendData(TcpPeer.Bytes(10));
        p.Advance(TimeSpan.FromSeconds(1));                       // the delayed ACK
        var ack = p.TakeOne();
        Assert.Equal((1 << 20) - 32 >> 5, ack.Window);            // (1 MiB - 10 unread) >> 5, rounded down
    }

    [Fact]
    public void ACK_far_older_than_the_window_gets_a_challenge_ACK_and_the_data_is_dropped_RFC5961_5_2()
    {
        var p = new TcpPeer();
        p.Accept();
        p.Send(TcpFlags.Ack, p.SndNxt, p.RcvNxt - 100_000, "old"u8);
        var challenge = p.TakeOne();
        Assert.Equal(TcpFlags.Ack, challenge.Flags);
        Assert.Equal(p.SndNxt, challenge.Ack);
        Assert.Empty(p.AppRead().Data);
    }

    [Fact]
    public void Early_retransmit_with_two_segments_outstanding_after_one_duplicate_ACK_RFC5827_3_1()
    {
        var p = new TcpPeer();
        p.Accept(new TcpOptions { Mss = 1000 });
        p.AppWrite(TcpPeer.Bytes(2000));
        Assert.Equal(2, p.Take().Count);
        uint una = p.StackIss + 1;
        p.SendAck(una);
        var again = p.TakeOne();
        Assert.Equal(una, again.Seq);
        Assert.Equal(1000, again.Payload.Length);
    }

    [Fact]
    public void Window_too_small_to_send_with_nothing_in_flight_still_arms_a_timer_RFC9293_3_8_6_2_1()
    {
        // Sender SWS avoidance holds a window-limited piece smaller than half the largest window seen; RFC 9293
        // 3.8.6.2.1 and RFC 1122 4.2.3.4 send it anyway when an override timeout fires. With nothing in flight no other
        // timer runs, so if the peer's next window update is lost the connection waits for ever.
        var p = new TcpPeer();
        p.Accept(new TcpOptions { Mss = 1460 });                 // window 65535 seen
        p.SendAck(window: 100);                                  // the peer's buffer is nearly full
        p.AppWrite(TcpPeer.Bytes(1000));
        p.ExpectNothing();
        Assert.NotEqual(TimeSpan.MaxValue, p.Stack.Tcp.NextDeadline);
        p.RunNextTimer();
        Assert.NotEmpty(p.Take());                               // a probe or the 100 bytes the window allows
    }

    [Fact]
    public void Zero_window_with_data_in_flight_the_connection_is_kept_while_the_peer_answers_probes_RFC1122_4_2_2_17()
    {
        var p = new TcpPeer(new TcpSettings { DataRetries = 3 });
        p.Accept(new TcpOptions { Mss = 1000 });
        p.AppWrite(TcpPeer.Bytes(2000));
        Assert.Equal(2, p.Take().Count);
        uint una = p.StackIss + 1;
        p.SendAck(una + 1000, window: 0);                        // the first fitted; the second was dropped: window full
        for (int i = 0; i < 30 && p.Now < TimeSpan.FromMinutes(10); i++)
        {
            p.RunNextTimer();
            foreach (var s in p.Take())
            {
                Assert.False(s.Has(TcpFlags.Rst), $"reset after {p.Now}");
                p.SendAck(una + 1000, window: 0);                // the peer is alive and answers every probe
            }
            Assert.Equal(TcpState.Established, p.Tcb!.State);
        }
        p.SendAck(una + 1000, window: 4000);                     // it opens at last
        var seg = p.TakeOne();
        Assert.Equal(una + 1000, seg.Seq);
        Assert.Equal(1000, seg.Payload.Length);
    }
}
