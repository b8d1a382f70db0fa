using UserNet.Tcp;

namespace UserNet.Tests.Tcp;

/// <summary>
/// NewReno behind <see cref="ICongestionController"/>, with the numbers worked by hand: RFC 5681 (slow start,
/// congestion avoidance, fast retransmit and recovery, the timeout), RFC 6582 (partial and full acknowledgments,
/// recover), RFC 6928 (the initial window), RFC 3042 (limited transmit), RFC 5827 (early retransmit), RFC 7661 (only a
/// window that limited the sender grows). SMSS is 1000 unless a test says otherwise, and SND.UNA starts 5000 below
/// 2^32, so that "recover" and the ACKs that pass it lie beyond the wrap.
/// </summary>
public sealed class NewRenoCongestionControlTests
{
    private const int Mss = 1000;
    private static readonly SeqNumber Una = new(uint.MaxValue - 4999);

    private static NewRenoCongestionControl Started(int mss = Mss)
    {
        var cc = new NewRenoCongestionControl();
        cc.Start(mss);
        return cc;
    }

    /// <summary>
    /// Ten segments out from <see cref="Una"/> (cwnd 10000 = FlightSize), the first lost; the next three bring
    /// duplicates and the third starts fast retransmit: ssthresh = max(10000 / 2, 2 * 1000) = 5000,
    /// cwnd = 5000 + 3 * 1000 = 8000, recover = SND.MAX = UNA + 10000.
    /// </summary>
    private static NewRenoCongestionControl InFastRecovery()
    {
        var cc = Started();
        Assert.Equal(CongestionAction.None, cc.OnDuplicateAck(10_000, Una, Una + 10_000, 3));
        Assert.Equal(CongestionAction.None, cc.OnDuplicateAck(10_000, Una, Una + 10_000, 3));
        Assert.Equal(CongestionAction.FastRetransmit, cc.OnDuplicateAck(10_000, Una, Una + 10_000, 3));
        Assert.Equal(5000u, cc.SlowStartThreshold);
        Assert.Equal(8000u, cc.Window);
        return cc;
    }

    /// <summary>
    /// <see cref="InFastRecovery"/>, six more duplicates (cwnd 8000 + 6 * 1000 = 14000) let 4000 new bytes out
    /// (SND.MAX = UNA + 14000), and the ACK of the retransmission covers all ten segments, up to recover: FlightSize is
    /// 14000 - 10000 = 4000, and cwnd = min(5000, max(4000, 1000) + 1000) = 5000 = ssthresh.
    /// </summary>
    private static NewRenoCongestionControl AfterFastRecovery()
    {
        var cc = InFastRecovery();
        for (int i = 0; i < 6; i++) cc.OnDuplicateAck(10_000, Una, Una + 10_000, 3);
        Assert.Equal(14_000u, cc.Window);
        Assert.Equal(CongestionAction.None, cc.OnAck(10_000, 14_000, Una + 10_000));
        Assert.False(cc.InRecovery);
        Assert.Equal(5000u, cc.Window);
        return cc;
    }

    // =================================================================== the initial window (RFC 6928)

    [Theory]
    [InlineData(536, 5360)]     // min(5360, max(1072, 14600))
    [InlineData(1000, 10_000)]  // min(10000, max(2000, 14600))
    [InlineData(1460, 14_600)]  // min(14600, max(2920, 14600))
    [InlineData(1500, 14_600)]  // min(15000, max(3000, 14600))
    [InlineData(4096, 14_600)]  // min(40960, max(8192, 14600))
    [InlineData(8960, 17_920)]  // min(89600, max(17920, 14600))
    [InlineData(9000, 18_000)]  // min(90000, max(18000, 14600))
    public void Initial_window_is_min_10_MSS_max_2_MSS_14600_RFC6928_2(int mss, int window)
    {
        ICongestionController cc = new NewRenoCongestionControl();
        cc.Start(mss);
        Assert.Equal((uint)window, cc.Window);
        Assert.Equal(uint.MaxValue, cc.SlowStartThreshold); // "arbitrarily high" (RFC 5681 3.1)
        Assert.False(cc.InRecovery);
        Assert.Equal(0u, cc.LimitedTransmit);
    }

    // =================================================================== slow start and congestion avoidance (RFC 5681 3.1)

    [Fact]
    public void Slow_start_grows_cwnd_by_min_acked_SMSS_per_ACK_RFC5681_3_1()
    {
        var cc = Started();                              // cwnd 10000, the sender keeps it full
        Assert.Equal(CongestionAction.None, cc.OnAck(1000, 10_000, Una + 1000));
        Assert.Equal(11_000u, cc.Window);                // + min(1000, 1000)
        cc.OnAck(3000, 11_000, Una + 4000);              // a stretch ACK of three segments
        Assert.Equal(12_000u, cc.Window);                // + min(3000, 1000): one SMSS, not three
        cc.OnAck(500, 12_000, Una + 4500);
        Assert.Equal(12_500u, cc.Window);                // + min(500, 1000)
    }

    [Fact]
    public void Slow_start_below_ssthresh_then_congestion_avoidance_adds_SMSS_squared_over_cwnd_RFC5681_3_1()
    {
        var cc = Started();
        cc.OnRetransmitTimeout(10_000, Una + 10_000);    // ssthresh = max(10000 / 2, 2000) = 5000, cwnd = 1000
        uint[] expected = [2000, 3000, 4000, 5000];      // slow start while cwnd < ssthresh: + 1000 per ACK
        foreach (var w in expected)
        {
            cc.OnAck(1000, cc.Window, Una);
            Assert.Equal(w, cc.Window);
        }
        cc.OnAck(1000, cc.Window, Una);                  // cwnd = ssthresh: congestion avoidance
        Assert.Equal(5200u, cc.Window);                  // + 1000 * 1000 / 5000 = 200
        cc.OnAck(1000, cc.Window, Una);
        Assert.Equal(5392u, cc.Window);                  // + 1000000 / 5200 = 192.3, rounded down to 192
        Assert.Equal(5000u, cc.SlowStartThreshold);
    }

    [Fact]
    public void Congestion_avoidance_adds_at_least_one_byte_per_ACK_RFC5681_3_1()
    {
        // SMSS 10 makes SMSS * SMSS / cwnd = 100 / cwnd, which is 0 once cwnd > 100: "if the above formula yields 0,
        // the result SHOULD be rounded up to 1 byte".
        var cc = Started(10);                            // cwnd min(100, max(20, 14600)) = 100
        cc.OnRetransmitTimeout(40, Una + 40);            // ssthresh = max(20, 20) = 20, cwnd 10
        while (cc.Window <= 100) cc.OnAck(10, cc.Window, Una); // 20, 25, 29, 32, ..., 51, then + 1 (100 / 51 = 1)
        Assert.Equal(101u, cc.Window);
        cc.OnAck(10, cc.Window, Una);
        Assert.Equal(102u, cc.Window);                   // 100 / 101 = 0: + 1
        cc.OnAck(10, cc.Window, Una);
        Assert.Equal(103u, cc.Window);
    }

    [Fact]
    public void Only_a_window_that_limited_the_sender_grows_RFC7661()
    {
        // Slow start: cwnd 10000. With 8999 in flight the sender could have sent more: 8999 + 1000 < 10000.
        var cc = Started();
        cc.OnAck(1000, 8999, Una + 1000);
        Assert.Equal(10_000u, cc.Window);
        cc.OnAck(1000, 9000, Una + 2000);                // 9000 + 1000 = cwnd: less than a segment was left
        Assert.Equal(11_000u, cc.Window);

        // Congestion avoidance: cwnd 5000. With 3000 in flight, 3000 + 1000 < 5000.
        var ca = AfterFastRecovery();
        ca.OnAck(1000, 3000, Una + 11_000);
        Assert.Equal(5000u, ca.Window);
        ca.OnAck(1000, 4000, Una + 12_000);              // 4000 + 1000 = cwnd
        Assert.Equal(5200u, ca.Window);
    }

    // =================================================================== fast retransmit (RFC 5681 3.2, RFC 5827)

    [Fact]
    public void The_third_duplicate_starts_fast_retransmit_ssthresh_half_the_flight_cwnd_ssthresh_plus_3_SMSS_RFC5681_3_2()
    {
        var cc = Started();                              // cwnd 10000, all of it in flight
        Assert.Equal(CongestionAction.None, cc.OnDuplicateAck(10_000, Una, Una + 10_000, 3));
        Assert.Equal(CongestionAction.None, cc.OnDuplicateAck(10_000, Una, Una + 10_000, 3));
        Assert.Equal(10_000u, cc.Window);                // the first two change nothing (RFC 3042: cwnd MUST NOT change)
        Assert.False(cc.InRecovery);
        Assert.Equal(CongestionAction.FastRetransmit, cc.OnDuplicateAck(10_000, Una, Una + 10_000, 3));
        Assert.True(cc.InRecovery);
        Assert.Equal(5000u, cc.SlowStartThreshold);      // max(FlightSize / 2, 2 * SMSS) = max(5000, 2000)
        Assert.Equal(8000u, cc.Window);                  // ssthresh + 3 * SMSS
        Assert.Equal(3, cc.DuplicateAcks);
    }

    [Fact]
    public void Fast_retransmit_ssthresh_is_at_least_2_SMSS_RFC5681_3_2_equation_4()
    {
        var cc = Started();
        for (int i = 0; i < 2; i++) cc.OnDuplicateAck(3000, Una, Una + 3000, 3);
        Assert.Equal(CongestionAction.FastRetransmit, cc.OnDuplicateAck(3000, Una, Una + 3000, 3));
        Assert.Equal(2000u, cc.SlowStartThreshold);      // max(3000 / 2, 2000)
        Assert.Equal(5000u, cc.Window);                  // 2000 + 3 * 1000
    }

    [Fact]
    public void With_a_smaller_threshold_the_retransmission_is_early_retransmit_RFC5827()
    {
        // Three segments out and nothing new to send: two duplicates are all that can come (threshold 2).
        var three = Started();
        Assert.Equal(CongestionAction.None, three.OnDuplicateAck(3000, Una, Una + 3000, 2));
        Assert.Equal(CongestionAction.EarlyRetransmit, three.OnDuplicateAck(3000, Una, Una + 3000, 2));
        Assert.True(three.InRecovery);
        Assert.Equal(2000u, three.SlowStartThreshold);   // max(1500, 2000)
        Assert.Equal(4000u, three.Window);               // 2000 + 2 * 1000

        // Two segments out: one duplicate (threshold 1).
        var two = Started();
        Assert.Equal(CongestionAction.EarlyRetransmit, two.OnDuplicateAck(2000, Una, Una + 2000, 1));
        Assert.Equal(2000u, two.SlowStartThreshold);     // max(1000, 2000)
        Assert.Equal(3000u, two.Window);                 // 2000 + 1 * 1000
    }

    [Fact]
    public void Each_further_duplicate_in_recovery_inflates_cwnd_by_one_SMSS_RFC5681_3_2_step_4()
    {
        var cc = InFastRecovery();                       // cwnd 8000
        Assert.Equal(CongestionAction.None, cc.OnDuplicateAck(10_000, Una, Una + 10_000, 3));
        Assert.Equal(9000u, cc.Window);                  // a segment has left the network
        Assert.Equal(CongestionAction.None, cc.OnDuplicateAck(10_000, Una, Una + 10_000, 3));
        Assert.Equal(10_000u, cc.Window);
        Assert.Equal(5000u, cc.SlowStartThreshold);
        Assert.Equal(5, cc.DuplicateAcks);
    }

    // =================================================================== limited transmit (RFC 3042)

    [Fact]
    public void Limited_transmit_one_SMSS_beyond_cwnd_per_each_of_the_first_two_duplicates_none_in_recovery_RFC3042_2()
    {
        var cc = Started();
        Assert.Equal(0u, cc.LimitedTransmit);
        cc.OnDuplicateAck(10_000, Una, Una + 10_000, 3);
        Assert.Equal(1000u, cc.LimitedTransmit);         // one new segment beyond cwnd
        cc.OnDuplicateAck(10_000, Una, Una + 10_000, 3);
        Assert.Equal(2000u, cc.LimitedTransmit);         // two in all
        Assert.Equal(10_000u, cc.Window);
        cc.OnDuplicateAck(10_000, Una, Una + 10_000, 3); // fast retransmit: recovery has its own rules
        Assert.Equal(0u, cc.LimitedTransmit);
        cc.OnDuplicateAck(10_000, Una, Una + 10_000, 3);
        Assert.Equal(0u, cc.LimitedTransmit);
    }

    [Fact]
    public void Duplicates_are_counted_consecutively_a_new_ACK_starts_the_count_again_RFC5681_3_2()
    {
        var cc = Started();
        cc.OnDuplicateAck(10_000, Una, Una + 10_000, 3);
        cc.OnDuplicateAck(10_000, Una, Una + 10_000, 3);
        cc.OnAck(1000, 10_000, Una + 1000);              // new data acknowledged: no loss after all
        Assert.Equal(0, cc.DuplicateAcks);
        Assert.Equal(0u, cc.LimitedTransmit);
        Assert.Equal(CongestionAction.None, cc.OnDuplicateAck(10_000, Una + 1000, Una + 11_000, 3));
        Assert.Equal(CongestionAction.None, cc.OnDuplicateAck(10_000, Una + 1000, Una + 11_000, 3));
        Assert.False(cc.InRecovery);                     // two since the new ACK, not four
        Assert.Equal(2000u, cc.LimitedTransmit);
    }

    // =================================================================== NewReno recovery (RFC 6582 3.2)

    [Fact]
    public void A_partial_ACK_retransmits_the_next_hole_and_deflates_by_what_it_acknowledged_plus_one_SMSS_RFC6582_3_2_step_3()
    {
        var cc = InFastRecovery();                       // cwnd 8000, recover UNA + 10000
        // The retransmission filled the first hole; the third segment was lost too: the ACK stops at UNA + 2000.
        Assert.Equal(CongestionAction.RetransmitNextHole, cc.OnAck(2000, 10_000, Una + 2000));
        Assert.Equal(7000u, cc.Window);                  // 8000 - 2000 + 1000
        Assert.True(cc.InRecovery);
        Assert.Equal(CongestionAction.RetransmitNextHole, cc.OnAck(3000, 8000, Una + 5000));
        Assert.Equal(5000u, cc.Window);                  // 7000 - 3000 + 1000
        Assert.True(cc.InRecovery);
        Assert.Equal(5000u, cc.SlowStartThreshold);
    }

    [Fact]
    public void A_partial_ACK_of_less_than_one_SMSS_deflates_without_adding_one_back_RFC6582_3_2_step_3()
    {
        // "If the partial ACK acknowledges at least one SMSS of new data, then add back SMSS bytes."
        var cc = InFastRecovery();                       // cwnd 8000
        Assert.Equal(CongestionAction.RetransmitNextHole, cc.OnAck(500, 10_000, Una + 500));
        Assert.Equal(7500u, cc.Window);                  // 8000 - 500, nothing added back
        Assert.Equal(CongestionAction.RetransmitNextHole, cc.OnAck(1000, 9500, Una + 1500));
        Assert.Equal(7500u, cc.Window);                  // 7500 - 1000 + 1000: exactly one SMSS is enough
    }

    [Fact]
    public void A_partial_ACK_never_takes_cwnd_below_one_SMSS_RFC6582_3_2_step_3()
    {
        var cc = InFastRecovery();                       // cwnd 8000
        Assert.Equal(CongestionAction.RetransmitNextHole, cc.OnAck(9000, 10_000, Una + 9000));
        Assert.Equal(1000u, cc.Window);                  // 8000 - 9000 + 1000 would be 0: one segment, as after a timeout
    }

    [Fact]
    public void A_full_ACK_deflates_to_min_ssthresh_FlightSize_plus_SMSS_and_leaves_recovery_RFC6582_3_2_step_3()
    {
        // Nothing left in flight: min(5000, max(0, 1000) + 1000) = 2000.
        var drained = InFastRecovery();
        Assert.Equal(CongestionAction.None, drained.OnAck(10_000, 10_000, Una + 10_000));
        Assert.Equal(2000u, drained.Window);
        Assert.False(drained.InRecovery);
        Assert.Equal(0, drained.DuplicateAcks);
        Assert.Equal(5000u, drained.SlowStartThreshold);

        // 4000 sent during recovery and still in flight: min(5000, 4000 + 1000) = 5000 (AfterFastRecovery).
        var busy = AfterFastRecovery();
        Assert.Equal(5000u, busy.SlowStartThreshold);

        // An ACK past recover is full too: 14000 in flight, 12000 acknowledged, min(5000, 2000 + 1000) = 3000.
        var past = InFastRecovery();
        for (int i = 0; i < 6; i++) past.OnDuplicateAck(10_000, Una, Una + 10_000, 3);
        Assert.Equal(CongestionAction.None, past.OnAck(12_000, 14_000, Una + 12_000));
        Assert.Equal(3000u, past.Window);
        Assert.False(past.InRecovery);
    }

    [Fact]
    public void After_a_full_ACK_the_window_grows_by_the_ordinary_rules_RFC5681_3_1()
    {
        var cc = AfterFastRecovery();                    // cwnd 5000 = ssthresh
        Assert.Equal(CongestionAction.None, cc.OnAck(1000, 5000, Una + 11_000));
        Assert.Equal(5200u, cc.Window);                  // congestion avoidance: + 1000 * 1000 / 5000
        Assert.Equal(CongestionAction.None, cc.OnDuplicateAck(4000, Una + 11_000, Una + 15_000, 3));
        Assert.Equal(1000u, cc.LimitedTransmit);         // duplicates counted afresh
    }

    [Fact]
    public void Duplicates_that_do_not_cover_more_than_recover_start_no_second_fast_retransmit_RFC6582_3_2_step_2()
    {
        // recover is UNA + 10000 (SND.MAX when fast retransmit began): its highest byte is UNA + 9999. "The
        // acknowledgment ack_number covers more than recover when ack_number - 1 > recover."
        var cc = AfterFastRecovery();                    // SND.MAX = UNA + 14000, 4000 in flight
        // The first segment past recover is lost: three duplicates of UNA + 10000, which covers byte UNA + 9999 only.
        for (int i = 0; i < 3; i++)
            Assert.Equal(CongestionAction.None, cc.OnDuplicateAck(4000, Una + 10_000, Una + 14_000, 3));
        Assert.False(cc.InRecovery);
        Assert.Equal(5000u, cc.SlowStartThreshold);      // "does not reset ssthresh"
        Assert.Equal(5000u, cc.Window);

        // One byte more is acknowledged (UNA + 10000 was a one-byte segment), and the next segment is lost: the
        // duplicates of UNA + 10001 cover byte UNA + 10000, more than recover. A new loss: fast retransmit.
        cc.OnAck(1, 4000, Una + 10_001);
        Assert.Equal(CongestionAction.None, cc.OnDuplicateAck(3999, Una + 10_001, Una + 14_000, 3));
        Assert.Equal(CongestionAction.None, cc.OnDuplicateAck(3999, Una + 10_001, Una + 14_000, 3));
        Assert.Equal(CongestionAction.FastRetransmit, cc.OnDuplicateAck(3999, Una + 10_001, Una + 14_000, 3));
        Assert.True(cc.InRecovery);
        Assert.Equal(2000u, cc.SlowStartThreshold);      // max(3999 / 2, 2000)
        Assert.Equal(5000u, cc.Window);                  // 2000 + 3 * 1000
    }

    [Fact]
    public void After_a_timeout_duplicates_below_recover_start_no_fast_retransmit_RFC6582_4()
    {
        // Ten segments out, the first and the fourth lost, the timer expires: recover = SND.MAX = UNA + 10000.
        var cc = Started();
        cc.OnRetransmitTimeout(10_000, Una + 10_000);    // ssthresh 5000, cwnd 1000
        cc.OnAck(3000, 10_000, Una + 3000);              // the resent first segment: the receiver had 2 and 3
        Assert.Equal(2000u, cc.Window);                  // slow start, + min(3000, 1000)
        // Going back, segments 2 and 3 (and more) are sent again: the receiver has them and answers with duplicates.
        for (int i = 0; i < 3; i++)
            Assert.Equal(CongestionAction.None, cc.OnDuplicateAck(7000, Una + 3000, Una + 10_000, 3));
        Assert.False(cc.InRecovery);                     // unnecessary retransmissions, not a new loss
        Assert.Equal(5000u, cc.SlowStartThreshold);
        Assert.Equal(2000u, cc.Window);
    }

    // =================================================================== the retransmission timeout (RFC 5681 3.1)

    [Fact]
    public void A_timeout_sets_ssthresh_to_half_the_flight_cwnd_to_one_segment_and_abandons_recovery_RFC5681_3_1_RFC6582_3_2_step_4()
    {
        var cc = InFastRecovery();                       // in recovery, cwnd 8000
        cc.OnRetransmitTimeout(10_000, Una + 10_000);
        Assert.Equal(5000u, cc.SlowStartThreshold);      // max(FlightSize / 2, 2 * SMSS) = max(5000, 2000)
        Assert.Equal(1000u, cc.Window);                  // the loss window, one segment
        Assert.False(cc.InRecovery);
        Assert.Equal(0, cc.DuplicateAcks);
        Assert.Equal(0u, cc.LimitedTransmit);
        Assert.Equal(CongestionAction.None, cc.OnAck(1000, 10_000, Una + 1000)); // not a partial ACK any more
        Assert.Equal(2000u, cc.Window);                  // slow start

        var small = Started();
        small.OnRetransmitTimeout(1000, Una + 1000);
        Assert.Equal(2000u, small.SlowStartThreshold);   // max(500, 2000)
        Assert.Equal(1000u, small.Window);
    }
}
