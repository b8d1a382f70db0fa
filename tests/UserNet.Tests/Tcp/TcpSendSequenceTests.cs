using CsCheck;
using UserNet.Tcp;

namespace UserNet.Tests.Tcp;

/// <summary>
/// The send sequence space of RFC 9293 3.3.1 (figure 4) on its own:
/// <code>
///            1         2          3          4
///       ----------|----------|----------|----------
///              SND.UNA    SND.NXT    SND.UNA
///                                   +SND.WND
///   1 - old sequence numbers that have been acknowledged
///   2 - sequence numbers of unacknowledged data
///   3 - sequence numbers allowed for new data transmission
///   4 - future sequence numbers that are not yet allowed
/// </code>
/// with SND.MAX, the highest number sent, which SND.NXT falls back from after a retransmission timeout; the window and
/// the segment that set it (SND.WND, SND.WL1, SND.WL2); and our FIN, which takes a sequence number but no byte.
/// </summary>
public sealed class TcpSendSequenceTests
{
    private static readonly SeqNumber Iss = new(1000);

    private static TcpSendSequence Opened(SeqNumber iss)
    {
        var s = new TcpSendSequence();
        s.Open(iss);
        return s;
    }

    /// <summary>Our SYN sent and acknowledged: SND.UNA = SND.NXT = SND.MAX = ISS + 1.</summary>
    private static TcpSendSequence Synchronized(SeqNumber iss)
    {
        var s = Opened(iss);
        s.Acknowledge(iss + 1);
        return s;
    }

    // =================================================================== opening (RFC 9293 3.4)

    [Fact]
    public void Open_the_SYN_takes_ISS_and_SND_NXT_and_SND_MAX_are_ISS_plus_1_RFC9293_3_4()
    {
        var s = Opened(Iss);
        Assert.Equal(Iss, s.Iss);
        Assert.Equal(Iss, s.Una);                        // the SYN is sent and not yet acknowledged
        Assert.Equal(Iss + 1, s.Nxt);
        Assert.Equal(Iss + 1, s.Max);
        Assert.Equal(1u, s.Outstanding);
        Assert.Equal(1u, s.Outstanding);
        Assert.False(s.AllAcknowledged);
        Assert.False(s.FinSent);
        Assert.False(s.FinAcknowledged);
        Assert.Equal(0u, s.Window);
        Assert.Equal(0u, s.MaxWindow);
    }

    [Fact]
    public void The_ACK_of_our_SYN_frees_no_data_byte_the_SYN_comes_before_the_first_octet_RFC9293_3_4()
    {
        var s = Opened(Iss);
        Assert.Equal(0, s.Acknowledge(Iss + 1));         // one sequence number, no byte of the send buffer
        Assert.Equal(Iss + 1, s.Una);
        Assert.True(s.AllAcknowledged);
        Assert.Equal(0u, s.Outstanding);
    }

    // =================================================================== sending and acknowledging (RFC 9293 3.3.1)

    [Fact]
    public void Advance_moves_SND_NXT_and_SND_MAX_by_the_sequence_numbers_sent_RFC9293_3_3_1()
    {
        var s = Synchronized(Iss);
        var una = Iss + 1;
        s.Advance(100);
        s.Advance(200);
        Assert.Equal(una, s.Una);
        Assert.Equal(una + 300, s.Nxt);
        Assert.Equal(una + 300, s.Max);
        Assert.Equal(300u, s.Outstanding);
        Assert.Equal(300u, s.Outstanding);
        Assert.False(s.AllAcknowledged);
    }

    [Fact]
    public void Acknowledge_moves_SND_UNA_and_returns_the_data_bytes_it_frees_RFC9293_3_10_7_4()
    {
        var s = Synchronized(Iss);
        var una = Iss + 1;
        s.Advance(300);
        Assert.Equal(100, s.Acknowledge(una + 100));     // SND.UNA < SEG.ACK =< SND.NXT: SND.UNA <- SEG.ACK
        Assert.Equal(una + 100, s.Una);
        Assert.Equal(200u, s.Outstanding);
        Assert.False(s.AllAcknowledged);
        Assert.Equal(200, s.Acknowledge(una + 300));
        Assert.Equal(0u, s.Outstanding);
        Assert.Equal(0u, s.Outstanding);
        Assert.True(s.AllAcknowledged);
    }

    [Fact]
    public void Our_FIN_takes_the_number_after_the_last_data_byte_and_its_ACK_frees_no_byte_RFC9293_3_4()
    {
        var s = Synchronized(Iss);
        var una = Iss + 1;
        s.Advance(100);
        Assert.Equal(una + 100, s.SendFin());            // the FIN occurs after the last actual data octet
        Assert.True(s.FinSent);
        Assert.Equal(una + 100, s.FinSeq);
        Assert.Equal(una + 101, s.Nxt);
        Assert.Equal(una + 101, s.Max);
        Assert.Equal(101u, s.Outstanding);               // 100 data bytes and the FIN
        Assert.False(s.FinAcknowledged);

        Assert.Equal(100, s.Acknowledge(una + 101));     // 101 sequence numbers, 100 bytes
        Assert.True(s.FinAcknowledged);
        Assert.True(s.AllAcknowledged);
    }

    [Fact]
    public void An_ACK_up_to_the_FIN_but_not_past_it_leaves_the_FIN_unacknowledged_RFC9293_3_10_7_4()
    {
        var s = Synchronized(Iss);
        var una = Iss + 1;
        s.Advance(100);
        s.SendFin();
        Assert.Equal(100, s.Acknowledge(una + 100));     // all the data, not the FIN
        Assert.False(s.FinAcknowledged);
        Assert.False(s.AllAcknowledged);
        Assert.Equal(1u, s.Outstanding);
        Assert.Equal(0, s.Acknowledge(una + 101));       // now the FIN alone: a number, no byte
        Assert.True(s.FinAcknowledged);
        Assert.True(s.AllAcknowledged);
    }

    [Fact]
    public void SendFin_again_resends_the_FIN_at_its_own_number_RFC9293_3_4()
    {
        var s = Synchronized(Iss);
        var una = Iss + 1;
        s.Advance(100);
        var fin = s.SendFin();
        Assert.Equal(fin, s.SendFin());                  // again at once: the same number, SND.NXT and SND.MAX unchanged
        Assert.Equal(una + 101, s.Nxt);
        Assert.Equal(una + 101, s.Max);

        Assert.Equal(100, s.Acknowledge(una + 101));     // the data counted once, the FIN not at all
        Assert.True(s.FinAcknowledged);
    }

    [Fact]
    public void The_send_space_wraps_past_2_to_the_32_RFC9293_3_4()
    {
        var iss = new SeqNumber(uint.MaxValue - 10);
        var s = Opened(iss);
        Assert.Equal(0, s.Acknowledge(iss + 1));         // SND.UNA = 2^32 - 10
        s.Advance(100);                                  // SND.NXT = 2^32 - 10 + 100 = 90, after the wrap
        Assert.Equal(new SeqNumber(90), s.Nxt);
        Assert.Equal(100u, s.Outstanding);
        Assert.Equal(60, s.Acknowledge(new SeqNumber(50))); // 10 numbers before the wrap, 50 after
        Assert.Equal(40u, s.Outstanding);
        Assert.Equal(new SeqNumber(90), s.SendFin());
        Assert.Equal(40, s.Acknowledge(new SeqNumber(91))); // 41 numbers: 40 bytes and the FIN
        Assert.True(s.FinAcknowledged);
        Assert.True(s.AllAcknowledged);
    }

    // =================================================================== the window (RFC 9293 3.10.7.3, 3.10.7.4, RFC 7323 2.2)

    [Fact]
    public void The_SYN_window_is_taken_but_does_not_count_towards_the_largest_window_RFC7323_2_2()
    {
        var s = Opened(Iss);
        var irs = new SeqNumber(5000);
        s.SetSynWindow(65535, irs, Iss);                 // never scaled in a SYN
        Assert.Equal(65535u, s.Window);
        Assert.Equal(irs, s.Wl1);
        Assert.Equal(Iss, s.Wl2);
        Assert.Equal(0u, s.MaxWindow);

        s.SetWindow(20_000, irs + 1, Iss + 1);           // the first window of the synchronized connection
        Assert.Equal(20_000u, s.Window);
        Assert.Equal(20_000u, s.MaxWindow);
        Assert.Equal(irs + 1, s.Wl1);
        Assert.Equal(Iss + 1, s.Wl2);
    }

    [Fact]
    public void MaxWindow_is_the_largest_window_the_peer_offered_RFC9293_3_8_6_2_1()
    {
        var s = Synchronized(Iss);
        var seq = new SeqNumber(5000);
        s.SetWindow(20_000, seq, Iss + 1);
        s.SetWindow(50_000, seq + 1, Iss + 1);
        s.SetWindow(10_000, seq + 2, Iss + 1);           // the window shrinks; Max(SND.WND) stays
        Assert.Equal(10_000u, s.Window);
        Assert.Equal(50_000u, s.MaxWindow);
        s.SetWindow(0, seq + 3, Iss + 1);
        Assert.Equal(0u, s.Window);
        Assert.Equal(50_000u, s.MaxWindow);
    }

    [Fact]
    public void A_segment_newer_than_the_last_window_update_SND_WL1_below_SEG_SEQ_sets_the_window_RFC9293_3_10_7_4()
    {
        var s = Synchronized(Iss);
        var ack = Iss + 1;
        s.SetWindow(10_000, new SeqNumber(5000), ack);
        Assert.True(s.TryUpdateWindow(new SeqNumber(5001), ack, 3000)); // even one that shrinks it
        Assert.Equal(3000u, s.Window);
        Assert.Equal(new SeqNumber(5001), s.Wl1);
        Assert.Equal(ack, s.Wl2);
        Assert.True(s.TryUpdateWindow(new SeqNumber(9000), ack - 500, 7000)); // SEG.SEQ newer: SEG.ACK is not compared
        Assert.Equal(7000u, s.Window);
        Assert.Equal(ack - 500, s.Wl2);
    }

    [Fact]
    public void The_same_SEG_SEQ_sets_the_window_when_SND_WL2_is_at_most_SEG_ACK_RFC9293_3_10_7_4()
    {
        var s = Synchronized(Iss);
        var seq = new SeqNumber(5000);
        var ack = Iss + 1;
        s.SetWindow(10_000, seq, ack);
        Assert.True(s.TryUpdateWindow(seq, ack, 12_000));       // SND.WL2 = SEG.ACK: a pure window update
        Assert.Equal(12_000u, s.Window);
        Assert.True(s.TryUpdateWindow(seq, ack + 100, 4000));   // SND.WL2 < SEG.ACK
        Assert.Equal(4000u, s.Window);
        Assert.Equal(ack + 100, s.Wl2);
        Assert.False(s.TryUpdateWindow(seq, ack + 99, 60_000)); // SND.WL2 > SEG.ACK: an older ACK of the same segment
        Assert.Equal(4000u, s.Window);
        Assert.Equal(ack + 100, s.Wl2);
        Assert.Equal(12_000u, s.MaxWindow);
    }

    [Fact]
    public void An_old_reordered_segment_cannot_shrink_the_window_RFC9293_3_10_7_4()
    {
        var s = Synchronized(Iss);
        var ack = Iss + 1;
        s.SetWindow(1000, new SeqNumber(4000), ack);
        Assert.True(s.TryUpdateWindow(new SeqNumber(5000), ack + 200, 30_000)); // the newer segment arrives first
        Assert.False(s.TryUpdateWindow(new SeqNumber(4500), ack + 100, 1000));  // then the older one: ignored
        Assert.Equal(30_000u, s.Window);
        Assert.Equal(new SeqNumber(5000), s.Wl1);
        Assert.Equal(ack + 200, s.Wl2);
    }

    [Fact]
    public void The_window_update_rule_compares_modulo_2_to_the_32_RFC9293_3_4_and_3_10_7_4()
    {
        var s = Synchronized(Iss);
        var wl1 = new SeqNumber(0xFFFF_FF00);
        var wl2 = new SeqNumber(0xFFFF_FFF0);
        s.SetWindow(8000, wl1, wl2);
        Assert.False(s.TryUpdateWindow(new SeqNumber(0xFFFF_FE00), wl2, 100)); // before SND.WL1
        Assert.True(s.TryUpdateWindow(new SeqNumber(0x10), wl2, 9000));         // after it, past the wrap
        Assert.Equal(9000u, s.Window);
        Assert.False(s.TryUpdateWindow(new SeqNumber(0xFFFF_FFF0), wl2, 100));  // numerically larger, yet older
        Assert.True(s.TryUpdateWindow(new SeqNumber(0x10), new SeqNumber(0x5), 5000)); // same SEG.SEQ, SEG.ACK past the wrap
        Assert.Equal(5000u, s.Window);
        Assert.False(s.TryUpdateWindow(new SeqNumber(0x10), new SeqNumber(0xFFFF_FFFF), 100)); // SEG.ACK before SND.WL2
        Assert.Equal(5000u, s.Window);
    }

    [Fact]
    public void Window_updates_in_any_order_leave_the_window_of_the_newest_segment_RFC9293_3_10_7_4()
    {
        // Segments (SEQ, ACK, WND) from one peer, newer ones having larger (SEQ, ACK), arrive in a random order from
        // any starting point in sequence space (so the wrap is crossed often): the window left is the one the newest
        // segment carried (of several equally new, the last to arrive), whatever came after it.
        Gen.Select(Gen.UInt, Gen.UInt, Gen.Int[1, 30], Gen.Int).Sample((seq0, ack0, count, seed) =>
        {
            var random = new Random(seed);
            var segments = Enumerable.Range(0, count)
                .Select(_ => (Seq: random.Next(0, 2000), Ack: random.Next(0, 2000), Wnd: (uint)random.Next(0, 100_000)))
                .ToArray();
            var s = Synchronized(Iss);
            s.SetWindow(77, new SeqNumber(seq0), new SeqNumber(ack0));
            (int Seq, int Ack) newest = (0, 0);
            uint expected = 77;
            foreach (var (seq, ack, wnd) in segments)
            {
                bool taken = s.TryUpdateWindow(new SeqNumber(seq0) + seq, new SeqNumber(ack0) + ack, wnd);
                bool newer = seq > newest.Seq || (seq == newest.Seq && ack >= newest.Ack);
                if (taken != newer) return false;
                if (newer) { newest = (seq, ack); expected = wnd; }
            }
            return s.Window == expected && s.Wl1 == new SeqNumber(seq0) + newest.Seq && s.Wl2 == new SeqNumber(ack0) + newest.Ack;
        });
    }
}
