using UserNet.Core;
using UserNet.Tcp;
using UserNet.Wire;

namespace UserNet.Tests.Tcp;

/// <summary>
/// The sender of today at segment level: timestamps and PAWS (RFC 7323), the SACK blocks our ACKs carry (RFC 2018,
/// RFC 2883), loss recovery from SACK information (RFC 6675 with RACK, RFC 8985 section 6), the tail loss probe (RFC
/// 8985 section 7), and duplicate ACKs for a peer without SACK (RFC 5681, RFC 6582). The test plays the peer over a
/// manual clock. Unless a test says otherwise, the path's round trip is 100 ms and every data segment carries 1000
/// bytes (the peer's MSS is 1000, or 1012 with timestamps, whose option takes 12 bytes of every segment, RFC 7323 3.2).
/// </summary>
public sealed class TcpModernSenderTests
{
    private static readonly TimeSpan Rtt = TimeSpan.FromMilliseconds(100);
    private static TimeSpan Ms(double ms) => TimeSpan.FromMilliseconds(ms);
    private const int Size = 1000;

    /// <summary>
    /// Passive open: the peer's SYN offers SACK and timestamps as the test says; its ACK of our SYN-ACK comes one
    /// round trip later, which gives the stack its first RTT sample (SRTT 100 ms, RTTVAR 50 ms, RTO 300 ms).
    /// </summary>
    private static TcpPeer Open(bool sack, bool timestamps, IFrameObserver? observer = null)
    {
        var p = new TcpPeer(observer: observer) { Timestamps = timestamps };
        p.Listen();
        p.SendSyn(new TcpOptions { Mss = (ushort)(Size + (timestamps ? 12 : 0)), SackPermitted = sack });
        p.Advance(Rtt);
        p.SendAck();
        p.ExpectNothing();
        Assert.True(p.Listener!.TryAccept(out _));
        p.Tcb = p.FindTcb();
        Assert.Equal(TcpState.Established, p.Tcb!.State);
        Assert.Equal(sack, p.Tcb.SackEnabled);
        Assert.Equal(timestamps, p.Tcb.TimestampsEnabled);
        Assert.Equal(Size, p.Tcb.SegmentSize);
        return p;
    }

    /// <summary>One round trip of <paramref name="segments"/> full segments, all acknowledged: min RTT is 100 ms after it.</summary>
    private static void WarmUp(TcpPeer p, int segments)
    {
        p.AppWrite(TcpPeer.Bytes(segments * Size));
        Assert.Equal(segments, p.TakeAndReceive().Count);
        p.Advance(Rtt);
        p.SendAck();
        p.ExpectNothing();
    }

    private static long Count(TcpPeer p, TcpCounter c) => p.Stack.Counters.CountOf(c);

    private static TcpOptions Ts(uint tsVal, uint tsEcr) => new() { TimestampValue = tsVal, TimestampEcho = tsEcr };

    // =================================================================== timestamps (RFC 7323 3.2)

    [Fact]
    public void Timestamps_are_used_when_the_peers_SYN_carries_them_and_then_ride_on_every_segment_RFC7323_3_2()
    {
        var p = new TcpPeer { Timestamps = true, PeerTsOffset = 12_345 };
        p.Listen();
        uint synTsVal = p.PeerTsVal;
        var synAck = p.SendSyn(new TcpOptions { Mss = 1460 });
        Assert.NotNull(synAck.Options.TimestampValue);
        Assert.Equal(synTsVal, synAck.Options.TimestampEcho);  // TSecr of the SYN-ACK is the SYN's TSval
        uint ourFirst = synAck.Options.TimestampValue!.Value;

        p.Advance(Rtt);
        p.SendAck();
        Assert.True(p.Listener!.TryAccept(out _));
        p.Tcb = p.FindTcb();
        Assert.True(p.Tcb!.TimestampsEnabled);
        Assert.Equal(1460 - 12, p.Tcb.SegmentSize);          // room for the option in every segment (RFC 7323 3.2)

        // Two data segments 1 ms apart. The first starts at Last.ACK.sent (the SYN-ACK's ACK), so its TSval becomes
        // TS.Recent; the second lies beyond it and does not (RFC 7323 4.3 (2)): the ACK of both echoes the first.
        p.Advance(5);
        uint firstTsVal = p.PeerTsVal;
        p.SendData(TcpPeer.Bytes(1000));
        p.Advance(1);
        p.SendData(TcpPeer.Bytes(1000));
        var ack = p.TakeOne();
        Assert.Equal(p.SndNxt, ack.Ack);
        Assert.Equal(firstTsVal, ack.Options.TimestampEcho);
        Assert.NotNull(ack.Options.TimestampValue);
        Assert.Equal(ourFirst + 106, ack.Options.TimestampValue);  // our clock ticked 100 + 5 + 1 ms since the SYN-ACK

        // Our data carries the option too, echoing the latest TS.Recent.
        p.Advance(1);
        uint third = p.PeerTsVal;
        p.SendData(TcpPeer.Bytes(10));
        p.AppWrite("hello"u8);
        var data = p.Take();
        Assert.NotEmpty(data);
        Assert.All(data, s =>
        {
            Assert.NotNull(s.Options.TimestampValue);
            Assert.NotNull(s.Options.TimestampEcho);
        });
        Assert.Equal(third, data[^1].Options.TimestampEcho);
    }

    [Fact]
    public void Timestamps_are_not_used_when_the_peers_SYN_lacks_them_RFC7323_3_2()
    {
        var p = new TcpPeer();
        p.Listen();
        var synAck = p.SendSyn(new TcpOptions { Mss = 1460 });
        Assert.Null(synAck.Options.TimestampValue);
        Assert.Null(synAck.Options.TimestampEcho);
        p.SendAck();
        Assert.True(p.Listener!.TryAccept(out _));
        p.Tcb = p.FindTcb();
        Assert.False(p.Tcb!.TimestampsEnabled);
        Assert.Equal(1460, p.Tcb.SegmentSize);

        // RFC 7323 3.2: a TSopt on a connection that did not negotiate it is ignored; none is ever sent.
        p.Send(TcpFlags.Ack, p.SndNxt, p.RcvNxt, TcpPeer.Bytes(1000), options: Ts(777, 0));
        p.SndNxt += 1000;
        p.SendData(TcpPeer.Bytes(1000));
        p.AppWrite(TcpPeer.Bytes(3000));
        p.AppClose();
        var sent = p.Take();
        Assert.True(sent.Count >= 3);
        Assert.All(sent, s => Assert.Null(s.Options.TimestampValue));
    }

    [Fact]
    public void Active_open_offers_timestamps_and_SACK_and_echoes_the_SYN_ACKs_TSval_RFC7323_3_2_RFC2018_2()
    {
        var p = new TcpPeer();
        var tcb = p.StartConnect();
        var syn = p.TakeOne();
        Assert.Equal(TcpFlags.Syn, syn.Flags);
        Assert.NotNull(syn.Options.TimestampValue);
        Assert.Equal(0u, syn.Options.TimestampEcho);            // no ACK: TSecr is zero (RFC 7323 3.2)
        Assert.True(syn.Options.SackPermitted);

        p.Advance(Rtt);
        p.Send(TcpFlags.Syn | TcpFlags.Ack, p.Iss, syn.Seq + 1,
            options: new TcpOptions { Mss = 1460, SackPermitted = true, TimestampValue = 4242, TimestampEcho = syn.Options.TimestampValue });
        var ack = p.TakeOne();
        Assert.Equal(TcpState.Established, tcb.State);
        Assert.True(tcb.TimestampsEnabled);
        Assert.True(tcb.SackEnabled);
        Assert.Equal(4242u, ack.Options.TimestampEcho);
        Assert.Equal(syn.Options.TimestampValue + 100, ack.Options.TimestampValue);
    }

    // =================================================================== PAWS (RFC 7323 5.3)

    [Fact]
    public void PAWS_a_data_segment_with_a_TSval_below_TS_Recent_is_dropped_and_answered_with_an_ACK_RFC7323_5_3()
    {
        // TS.Recent = X from the peer's SYN. The first data segment carries X (not older: accepted, delivered). The
        // next carries X - 1: an old duplicate by PAWS (R1), so it is dropped, its data not delivered, and an ACK of
        // RCV.NXT goes back. The same bytes sent again with X + 1 are accepted.
        const uint X = 50_000;
        var p = new TcpPeer();
        p.Listen();
        p.SendSyn(new TcpOptions { Mss = 1460, TimestampValue = X });
        p.Send(TcpFlags.Ack, p.SndNxt, p.RcvNxt, options: Ts(X, p.StackTsVal));
        Assert.True(p.Listener!.TryAccept(out _));
        p.Tcb = p.FindTcb();

        p.Send(TcpFlags.Ack, p.SndNxt, p.RcvNxt, "first"u8, options: Ts(X, p.StackTsVal));
        p.SndNxt += 5;
        p.RunNextTimer();                                        // the delayed ACK
        var ack1 = p.TakeOne();
        Assert.Equal(p.SndNxt, ack1.Ack);
        Assert.Equal(X, ack1.Options.TimestampEcho);

        p.Send(TcpFlags.Ack, p.SndNxt, p.RcvNxt, "second"u8, options: Ts(X - 1, p.StackTsVal));
        var ack2 = p.TakeOne();
        Assert.Equal(TcpFlags.Ack, ack2.Flags);
        Assert.Equal(p.SndNxt, ack2.Ack);                        // RCV.NXT: the data was not taken
        Assert.Equal(X, ack2.Options.TimestampEcho);             // TS.Recent unchanged
        Assert.Equal(1, p.Stack.Counters.DroppedFor(DropReason.TcpPaws));
        Assert.Equal("first"u8.ToArray(), p.AppRead().Data);

        p.Send(TcpFlags.Ack, p.SndNxt, p.RcvNxt, "second"u8, options: Ts(X + 1, p.StackTsVal));
        p.SndNxt += 6;
        p.RunNextTimer();
        Assert.Equal(p.SndNxt, p.TakeOne().Ack);
        Assert.Equal("second"u8.ToArray(), p.AppRead().Data);
    }

    [Fact]
    public void PAWS_a_TSval_past_the_2_to_the_32_wrap_is_newer_not_older_RFC7323_5_2_and_5_3()
    {
        // TS.Recent = 2^32 - 16. TSval 5 is 21 ms later on the peer's clock, past the wrap: accepted, and it becomes
        // TS.Recent. Then 2^32 - 8, 13 ms before 5, is old.
        const uint X = uint.MaxValue - 15;
        var p = new TcpPeer();
        p.Listen();
        p.SendSyn(new TcpOptions { Mss = 1460, TimestampValue = X });
        p.Send(TcpFlags.Ack, p.SndNxt, p.RcvNxt, options: Ts(X, p.StackTsVal));
        Assert.True(p.Listener!.TryAccept(out _));
        p.Tcb = p.FindTcb();

        p.Send(TcpFlags.Ack, p.SndNxt, p.RcvNxt, "wrapped"u8, options: Ts(5, p.StackTsVal));
        p.SndNxt += 7;
        p.RunNextTimer();
        var ack = p.TakeOne();
        Assert.Equal(p.SndNxt, ack.Ack);
        Assert.Equal(5u, ack.Options.TimestampEcho);
        Assert.Equal("wrapped"u8.ToArray(), p.AppRead().Data);
        Assert.Equal(0, p.Stack.Counters.DroppedFor(DropReason.TcpPaws));

        p.Send(TcpFlags.Ack, p.SndNxt, p.RcvNxt, "old"u8, options: Ts(uint.MaxValue - 7, p.StackTsVal));
        Assert.Equal(p.SndNxt, p.TakeOne().Ack);
        Assert.Equal(1, p.Stack.Counters.DroppedFor(DropReason.TcpPaws));
        Assert.Empty(p.AppRead().Data);
    }

    // =================================================================== our SACK blocks (RFC 2018 section 4, RFC 2883)

    [Fact]
    public void Out_of_order_data_is_answered_with_SACK_blocks_the_latest_first_RFC2018_4()
    {
        // 100-byte segments A..F from s: A [s, s+100), B [s+100, s+200), ... F [s+500, s+600). B, D and F arrive,
        // then C, which joins B and D. Each ACK acknowledges s and lists the held blocks, the one containing the
        // segment that triggered it first, then the others most recently reported first.
        var p = Open(sack: true, timestamps: false);
        uint s = p.SndNxt;
        var data = TcpPeer.Bytes(600);
        void Segment(int i) => p.Send(TcpFlags.Ack, s + (uint)(100 * i), p.RcvNxt, data.AsSpan(100 * i, 100));
        (uint, uint) Block(int from, int to) => (s + (uint)(100 * from), s + (uint)(100 * to));
        (uint, uint)[] Blocks(Segment seg) => seg.SackBlocks.Select(b => (b.Left, b.Right)).ToArray();

        Segment(1);                                               // B
        var ack = p.TakeOne();
        Assert.Equal(s, ack.Ack);
        Assert.Equal(new[] { Block(1, 2) }, Blocks(ack));

        Segment(3);                                               // D
        ack = p.TakeOne();
        Assert.Equal(s, ack.Ack);
        Assert.Equal(new[] { Block(3, 4), Block(1, 2) }, Blocks(ack));

        Segment(5);                                               // F
        ack = p.TakeOne();
        Assert.Equal(new[] { Block(5, 6), Block(3, 4), Block(1, 2) }, Blocks(ack));

        Segment(2);                                               // C: B, C and D are one block now
        ack = p.TakeOne();
        Assert.Equal(s, ack.Ack);
        Assert.Equal(new[] { Block(1, 4), Block(5, 6) }, Blocks(ack));

        Segment(0);                                               // A: everything up to F is in order
        ack = p.TakeOne();
        Assert.Equal(s + 400, ack.Ack);
        Assert.Equal(new[] { Block(5, 6) }, Blocks(ack));
    }

    [Fact]
    public void A_duplicate_segment_is_reported_first_in_a_D_SACK_block_RFC2883_4()
    {
        var p = Open(sack: true, timestamps: false);
        uint s = p.SndNxt;
        var data = TcpPeer.Bytes(600);
        void Segment(int i) => p.Send(TcpFlags.Ack, s + (uint)(100 * i), p.RcvNxt, data.AsSpan(100 * i, 100));
        (uint, uint) Block(int from, int to) => (s + (uint)(100 * from), s + (uint)(100 * to));
        (uint, uint)[] Blocks(Segment seg) => seg.SackBlocks.Select(b => (b.Left, b.Right)).ToArray();

        Segment(1);
        Segment(2);
        Segment(4);
        p.Take();

        // RFC 2883 4.2: a duplicate of out-of-order data: the D-SACK block, then the block that contains it.
        Segment(2);
        var ack = p.TakeOne();
        Assert.Equal(s, ack.Ack);
        Assert.Equal(new[] { Block(2, 3), Block(1, 3), Block(4, 5) }, Blocks(ack));

        // Reported once: the next ACK has the held blocks only.
        Segment(5);
        ack = p.TakeOne();
        Assert.Equal(new[] { Block(4, 6), Block(1, 3) }, Blocks(ack));

        // A segment partly below RCV.NXT: its old part is the D-SACK block (RFC 2883 4.1.2), its new part moves the
        // cumulative ACK on. A then C+D as one 200-byte segment: [s+200, s+300) is old, [s+300, s+400) is new and
        // joins the held [s+400, s+600).
        Segment(0);
        ack = p.TakeOne();
        Assert.Equal(s + 300, ack.Ack);
        Assert.Equal(new[] { Block(4, 6) }, Blocks(ack));
        p.Send(TcpFlags.Ack, s + 200, p.RcvNxt, data.AsSpan(200, 200));
        ack = p.TakeOne();
        Assert.Equal(s + 600, ack.Ack);
        Assert.Equal(new[] { Block(2, 3) }, Blocks(ack));
    }

    [Fact]
    public void A_retransmission_of_data_already_acknowledged_gets_a_D_SACK_below_the_ACK_RFC2883_4_1_1()
    {
        // RFC 2883 4.1.1, "Reporting a duplicate segment": the sender resends a segment the receiver already has
        // (its ACK was lost, or the retransmission was spurious). The ACK that answers it carries the duplicate as
        // the first block, below SEG.ACK, which is how the sender learns the retransmission was needless (RFC 2883
        // section 5; RFC 8985 6.2 step 3 widens the reordering window on it). Linux: tcp_send_dupack, tcp_dsack_set.
        var p = Open(sack: true, timestamps: false);
        uint s = p.SndNxt;
        var data = TcpPeer.Bytes(200);
        p.Send(TcpFlags.Ack, s, p.RcvNxt, data.AsSpan(0, 100));
        p.Send(TcpFlags.Ack, s + 100, p.RcvNxt, data.AsSpan(100, 100));
        var ack = p.TakeOne();                                    // two segments: ACKed at once
        Assert.Equal(s + 200, ack.Ack);
        Assert.Empty(ack.SackBlocks);

        p.Send(TcpFlags.Ack, s, p.RcvNxt, data.AsSpan(0, 100));  // the first again, wholly below RCV.NXT
        ack = p.TakeOne();
        Assert.Equal(s + 200, ack.Ack);
        Assert.Equal(new[] { new TcpSackBlock(s, s + 100) }, ack.SackBlocks);
    }

    [Fact]
    public void No_SACK_blocks_for_a_peer_that_did_not_offer_SACK_RFC2018_2()
    {
        var p = Open(sack: false, timestamps: false);
        uint s = p.SndNxt;
        p.Send(TcpFlags.Ack, s + 100, p.RcvNxt, TcpPeer.Bytes(100));
        var ack = p.TakeOne();
        Assert.Equal(s, ack.Ack);
        Assert.Empty(ack.SackBlocks);
    }

    // =================================================================== SACK recovery with RACK (RFC 6675, RFC 8985 6)

    [Fact]
    public void With_SACK_two_losses_in_ten_are_both_resent_in_the_same_round_trip_and_nothing_SACKed_is_RFC6675_RFC8985_6()
    {
        // After one round trip of warm-up (min RTT 100 ms), ten segments 1..10 leave at t0 and 2 and 5 are lost. At
        // t0 + 100 ms the peer's ACKs arrive, one per segment it received: ACK 1; then ACK 1 with SACK 3; 3-4;
        // 6, 3-4; 6-7, 3-4; ... 6-10, 3-4.
        //   * While fewer than DupThresh (3) segments are SACKed, RACK's reordering window is min RTT / 4 = 25 ms: 2
        //     was sent at t0 (before 3 and 4), so it would be lost at t0 + 100 + 25; nothing is marked yet.
        //   * With 3 SACKed (the ACK for 6) the window is zero (RFC 8985 6.2 step 4): 2 and 5, both sent before 6 and
        //     100 ms ago, are lost at once. Recovery starts; PRR (RFC 6937) allows the retransmission of both: pipe =
        //     9 out - 3 SACKed - 2 lost = 4 segments, below ssthresh, so sndcnt = delivered (1) + 1 = 2 segments.
        // So 2 and 5 are resent at t0 + 100 ms, one round trip after the burst, long before the RTO; 3, 4, 6..10 never.
        var p = Open(sack: true, timestamps: true);
        WarmUp(p, 10);
        var data = TcpPeer.Bytes(10 * Size, seed: 3);
        uint una = p.RcvNxt;
        p.AppWrite(data);
        var burst = p.Take();
        Assert.Equal(10, burst.Count);
        uint S(int k) => una + (uint)((k - 1) * Size);            // where segment k starts
        var t0 = p.Now;
        var rto = p.Tcb!.RetransmitTimeout;

        p.Advance(Rtt);
        var resent = new List<Segment>();
        p.SendAck(S(2));
        resent.AddRange(p.Take());
        p.SendSack(S(2), (S(3), S(4)));
        resent.AddRange(p.Take());
        p.SendSack(S(2), (S(3), S(5)));
        resent.AddRange(p.Take());
        Assert.Empty(resent);                                     // one, then two SACKed: 2 waits out the 25 ms window
        for (int k = 6; k <= 10; k++)
        {
            p.SendSack(S(2), (S(6), S(k + 1)), (S(3), S(5)));
            resent.AddRange(p.Take());
        }

        Assert.Equal(new[] { S(2), S(5) }, resent.Select(r => r.Seq).ToArray());
        Assert.Equal(data[Size..(2 * Size)], resent[0].Payload);
        Assert.Equal(data[(4 * Size)..(5 * Size)], resent[1].Payload);
        Assert.Equal(t0 + Rtt, p.Now);
        Assert.True(p.Now < t0 + rto);
        Assert.Equal(2, Count(p, TcpCounter.RackRetransmissions));
        Assert.Equal(1, Count(p, TcpCounter.SackRecoveries));
        Assert.True(p.Tcb.InRecovery);

        // The retransmissions arrive: 2 fills the first hole, 5 the second. Nothing else is ever sent again.
        p.Advance(Rtt);
        p.SendSack(S(5), (S(6), S(11)));
        p.ExpectNothing();
        p.SendAck(S(11));
        p.ExpectNothing();
        Assert.False(p.Tcb.InRecovery);
        Assert.Equal(2, Count(p, TcpCounter.RackRetransmissions));
        Assert.Equal(0, Count(p, TcpCounter.TimeoutRetransmissions));
        Assert.Equal(0, Count(p, TcpCounter.FastRetransmissions));
        Assert.Equal(0, Count(p, TcpCounter.LossProbes));
        Assert.Equal(0, Count(p, TcpCounter.SpuriousRetransmissions));
    }

    /// <summary>Every frame's decision, as a trace shows it.</summary>
    private sealed class Decisions : IFrameObserver
    {
        public readonly List<(FrameDirection Direction, string Decision)> Seen = new();
        public void OnFrame(FrameDirection direction, ReadOnlySpan<byte> frame, Layer layer, string decision, TimeSpan time) =>
            Seen.Add((direction, decision));
    }

    [Fact]
    public void The_trace_says_which_SACK_blocks_marked_which_hole_lost_and_why_a_segment_went_again()
    {
        // Ten segments, the second lost; three SACKs later RACK marks it lost. The ACK that did it is narrated with its
        // blocks and the hole in tcpdump's relative numbers, and the retransmission with its cause.
        var seen = new Decisions();
        var p = Open(sack: true, timestamps: true, seen);
        WarmUp(p, 10);
        uint una = p.RcvNxt;
        uint rel = una - p.StackIss;                              // tcpdump's relative number of `una`
        p.AppWrite(TcpPeer.Bytes(10 * Size, seed: 4));
        Assert.Equal(10, p.Take().Count);
        uint S(int k) => una + (uint)((k - 1) * Size);
        p.Advance(Rtt);
        p.SendAck(S(2));
        for (int k = 3; k <= 5; k++) p.SendSack(S(2), (S(3), S(k + 1)));
        Assert.Equal(S(2), p.TakeOne().Seq);

        var marked = seen.Seen.Single(d => d.Direction == FrameDirection.Received && d.Decision.Contains("marked lost")).Decision;
        Assert.Equal($"tcp ack with sack {rel + Size * 2}:{rel + Size * 5} -> hole at {rel + Size} marked lost -> retransmit", marked);
        Assert.Contains((FrameDirection.Sent, "tcp retransmission (rack: lost by time)"), seen.Seen);
    }

    [Fact]
    public void The_trace_says_a_segment_failed_PAWS_RFC7323_5_3()
    {
        var seen = new Decisions();
        var p = Open(sack: true, timestamps: true, seen);
        p.PeerTsOffset -= 10_000;                                 // the peer's clock seems to go back: an old duplicate
        p.Send(TcpFlags.Ack | TcpFlags.Psh, p.SndNxt, p.RcvNxt, TcpPeer.Bytes(100));
        Assert.Contains(seen.Seen, d => d.Direction == FrameDirection.Received && d.Decision == "tcp paws: old timestamp, ack sent -> drop");
        Assert.Empty(p.AppRead().Data);
    }

    [Fact]
    public void Segments_SACKed_before_give_no_RTT_sample_when_the_cumulative_ACK_covers_them_RFC6298_3_RFC8985_6_2()
    {
        // The same recovery. Every round trip was 100 ms, and so is every sample the stack should take: the
        // handshake's, the warm-up's, the ACK of segment 1, and the timestamps echoed by the two ACKs that end
        // recovery (their cumulative parts deliver only retransmissions, which Karn's rule leaves to TSecr). RTTVAR
        // goes 50, 37.5, 28.125, 21.09, 15.82 ms; RTO = 100 + 4 x 15.82 = 163 ms, held at the 200 ms minimum. Were
        // segments 3, 4 and 6..10 (SACKed at t0 + 100 ms) taken as delivered at t0 + 200 ms, the stack would sample a
        // 200 ms round trip twice and RTO would be about 350 ms.
        var p = Open(sack: true, timestamps: true);
        WarmUp(p, 10);
        uint una = p.RcvNxt;
        p.AppWrite(TcpPeer.Bytes(10 * Size));
        Assert.Equal(10, p.Take().Count);
        uint S(int k) => una + (uint)((k - 1) * Size);
        p.Advance(Rtt);
        p.SendAck(S(2));
        p.SendSack(S(2), (S(3), S(4)));
        p.SendSack(S(2), (S(3), S(5)));
        for (int k = 6; k <= 10; k++) p.SendSack(S(2), (S(6), S(k + 1)), (S(3), S(5)));
        Assert.Equal(2, p.Take().Count);
        p.Advance(Rtt);
        p.SendSack(S(5), (S(6), S(11)));
        p.SendAck(S(11));
        Assert.Equal(Ms(200), p.Tcb!.RetransmitTimeout);
    }

    // =================================================================== tail loss probe (RFC 8985 7)

    [Fact]
    public void Tail_loss_the_probe_goes_out_after_2_SRTT_plus_2ms_well_before_the_RTO_and_RACK_repairs_the_rest_RFC8985_7()
    {
        // Ten segments at t0; the last two are lost. At t0 + 100 ms the ACK of 1..8 arrives and then nothing: no
        // SACK can ever say 9 and 10 are missing. SRTT is 100 ms, two segments are out: PTO = 2 x 100 + 2 = 202 ms
        // (RFC 8985 7.2, Linux's 2 ms when more than one segment is out); RTO = 100 + 4 x 37.5 = 250 ms. With no new
        // data to send, the probe is segment 10 again (7.3). Its ACK SACKs 10, and RACK finds 9 lost (sent at t0,
        // before 10's retransmission, more than RACK.rtt + 25 ms ago) and resends it: no timeout at all.
        var p = Open(sack: true, timestamps: true);
        var data = TcpPeer.Bytes(10 * Size, seed: 5);
        uint una = p.RcvNxt;
        p.AppWrite(data);
        Assert.Equal(10, p.Take().Count);
        uint S(int k) => una + (uint)((k - 1) * Size);

        p.Advance(Rtt);
        p.SendAck(S(9));
        p.ExpectNothing();
        var ackedAt = p.Now;
        Assert.Equal(Ms(250), p.Tcb!.RetransmitTimeout);

        var waited = p.RunNextTimer();
        Assert.Equal(Ms(202), waited);
        var probe = p.TakeOne();
        Assert.Equal(S(10), probe.Seq);
        Assert.Equal(data[(9 * Size)..], probe.Payload);
        Assert.True(p.Now < ackedAt + p.Tcb.RetransmitTimeout);
        Assert.Equal(1, Count(p, TcpCounter.LossProbes));
        Assert.Equal(0, Count(p, TcpCounter.TimeoutRetransmissions));

        p.Advance(Rtt);
        p.SendSack(S(9), (S(10), S(11)));
        var repair = p.TakeOne();
        Assert.Equal(S(9), repair.Seq);
        Assert.Equal(data[(8 * Size)..(9 * Size)], repair.Payload);
        Assert.Equal(1, Count(p, TcpCounter.RackRetransmissions));

        p.Advance(Rtt);
        p.SendAck(S(11));
        p.ExpectNothing();
        Assert.Equal(1, Count(p, TcpCounter.LossProbes));
        Assert.Equal(0, Count(p, TcpCounter.TimeoutRetransmissions));
    }

    [Fact]
    public void A_probe_the_peer_reports_in_a_D_SACK_was_needless_it_is_counted_spurious_and_nothing_is_reduced_RFC8985_7_4()
    {
        // Everything arrived, but the ACK of the last two segments is late (a delayed ACK, or one queued behind other
        // frames): the probe resends segment 10, and the peer's ACK of all ten carries it back in a D-SACK block.
        var p = Open(sack: true, timestamps: true);
        var data = TcpPeer.Bytes(10 * Size, seed: 6);
        uint una = p.RcvNxt;
        p.AppWrite(data);
        Assert.Equal(10, p.Take().Count);
        uint S(int k) => una + (uint)((k - 1) * Size);
        p.Advance(Rtt);
        p.SendAck(S(9));
        uint cwnd = p.Tcb!.CongestionWindow;
        p.RunNextTimer();
        Assert.Equal(S(10), p.TakeOne().Seq);
        Assert.Equal(1, Count(p, TcpCounter.LossProbes));

        p.Advance(Ms(5));
        p.SendSack(S(11), (S(10), S(11))); // RFC 2883: a block below the cumulative ACK is a duplicate
        p.ExpectNothing();
        Assert.Equal(1, Count(p, TcpCounter.SpuriousRetransmissions));
        Assert.False(p.Tcb.InRecovery);
        Assert.True(p.Tcb.CongestionWindow >= cwnd, $"cwnd {cwnd} -> {p.Tcb.CongestionWindow}");
    }

    [Fact]
    public void An_unanswered_probe_is_followed_by_a_silence_probe_before_the_RTO_beyond_RFC8985_7()
    {
        // As above, but the probe's ACK is lost too. RFC 8985 sends one probe per episode and leaves the rest to the
        // RTO; we send the highest segment not SACKed again after the probe timeout (doubled for each probe already
        // unanswered, up to three), so a path that loses ACKs as well as data is not held for the RTO. Probe at
        // t_ack + 202 ms, silence probe 202 ms later (t_ack + 404 ms), before the RTO restarted by the probe
        // (t_ack + 202 + 250 ms); the next would wait 404 ms, so the RTO comes first.
        var p = Open(sack: true, timestamps: true);
        var data = TcpPeer.Bytes(10 * Size, seed: 6);
        uint una = p.RcvNxt;
        p.AppWrite(data);
        Assert.Equal(10, p.Take().Count);
        uint S(int k) => una + (uint)((k - 1) * Size);
        p.Advance(Rtt);
        p.SendAck(S(9));
        p.ExpectNothing();
        var ackedAt = p.Now;

        Assert.Equal(Ms(202), p.RunNextTimer());
        Assert.Equal(S(10), p.TakeOne().Seq);                 // the tail loss probe (RFC 8985 7.3)
        Assert.Equal(Ms(202), p.RunNextTimer());
        var again = p.TakeOne();                              // the silence probe: the same segment, once more
        Assert.Equal(S(10), again.Seq);
        Assert.Equal(data[(9 * Size)..], again.Payload);
        Assert.Equal(ackedAt + Ms(404), p.Now);
        Assert.Equal(2, Count(p, TcpCounter.LossProbes));
        Assert.Equal(0, Count(p, TcpCounter.TimeoutRetransmissions));

        Assert.Equal(Ms(48), p.RunNextTimer());               // t_ack + 452 ms: the retransmission timer
        Assert.Equal(S(9), p.TakeOne().Seq);                  // RTO: everything not SACKed is lost, oldest first
        Assert.Equal(1, Count(p, TcpCounter.TimeoutRetransmissions));

        // The peer answers at last: everything arrived; the stream completes and nothing more is sent.
        p.Advance(Rtt);
        p.SendAck(S(11));
        Assert.All(p.Take(), s => Assert.Empty(s.Payload));
        Assert.True(p.Tcb!.Scoreboard.IsEmpty);
    }

    [Fact]
    public void No_loss_probe_for_a_peer_without_SACK_the_RTO_recovers_the_tail_RFC8985_7_2()
    {
        // RFC 8985 7.2: TLP needs SACK (the probe's ACK must say what it repaired). Without it, the RTO.
        var p = Open(sack: false, timestamps: true);
        uint una = p.RcvNxt;
        p.AppWrite(TcpPeer.Bytes(10 * Size));
        Assert.Equal(10, p.Take().Count);
        p.Advance(Rtt);
        p.SendAck(una + 8 * Size);
        var waited = p.RunNextTimer();
        Assert.Equal(p.Tcb!.RetransmitTimeout / 2, waited);       // the RTO (250 ms), since backed off to 500 ms
        Assert.Equal(una + 8 * Size, p.TakeOne().Seq);
        Assert.Equal(0, Count(p, TcpCounter.LossProbes));
        Assert.Equal(1, Count(p, TcpCounter.TimeoutRetransmissions));
    }

    // =================================================================== a peer without SACK (RFC 5681, RFC 6582)

    [Fact]
    public void Without_SACK_three_duplicate_ACKs_resend_the_first_segment_and_a_partial_ACK_the_next_hole_RFC5681_3_2_RFC6582_3_2()
    {
        // Ten segments; 1 and 5 are lost. 2, 3 and 4 bring three duplicate ACKs of 1: fast retransmit of 1 (RFC 5681
        // 3.2 step 2), long before the RTO. 6..10 bring five more, which send nothing (no new data). The resent 1
        // arrives: the ACK covers 1..4 but not "recover" (SND.MAX when recovery began), a partial ACK, so 5 is resent
        // at once (RFC 6582 3.2 step 4). The ACK of everything ends recovery.
        var p = Open(sack: false, timestamps: false);
        var data = TcpPeer.Bytes(10 * Size, seed: 9);
        uint una = p.RcvNxt;
        p.AppWrite(data);
        Assert.Equal(10, p.Take().Count);
        uint S(int k) => una + (uint)((k - 1) * Size);
        var t0 = p.Now;
        var rto = p.Tcb!.RetransmitTimeout;

        p.Advance(Rtt);
        p.SendAck(S(1));
        p.SendAck(S(1));
        p.ExpectNothing();
        p.SendAck(S(1));
        var fast = p.TakeOne();
        Assert.Equal(S(1), fast.Seq);
        Assert.Equal(data[..Size], fast.Payload);
        Assert.True(p.Now < t0 + rto);
        Assert.Empty(fast.SackBlocks);
        for (int k = 6; k <= 10; k++) p.SendAck(S(1));
        p.ExpectNothing();

        p.Advance(Rtt);
        p.SendAck(S(5));
        var hole = p.TakeOne();
        Assert.Equal(S(5), hole.Seq);
        Assert.Equal(data[(4 * Size)..(5 * Size)], hole.Payload);

        p.Advance(Rtt);
        p.SendAck(S(11));
        p.ExpectNothing();
        Assert.False(p.Tcb.InRecovery);
        Assert.Equal(2, Count(p, TcpCounter.FastRetransmissions));
        Assert.Equal(1, Count(p, TcpCounter.DuplicateAckRecoveries));
        Assert.Equal(0, Count(p, TcpCounter.RackRetransmissions));
        Assert.Equal(0, Count(p, TcpCounter.TimeoutRetransmissions));
    }
}
