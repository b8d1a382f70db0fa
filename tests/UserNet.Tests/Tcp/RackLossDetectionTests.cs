using UserNet.Tcp;

namespace UserNet.Tests.Tcp;

/// <summary>
/// RACK-TLP (RFC 8985) over a <see cref="SackScoreboard"/>: which delivered segment RACK remembers (section 6.2 steps
/// 1 and 2), when it sees reordering, its reordering window (step 4), which segments it marks lost and how long the
/// rest must wait (step 5 and the reordering timer of 6.3), and the tail loss probe's timeout (7.2). Segments are 100
/// bytes from sequence number 1000, so segment i is [1000 + 100 i, 1100 + 100 i); times are in milliseconds.
/// </summary>
public sealed class RackLossDetectionTests
{
    private const int Mss = 100;
    private static TimeSpan Ms(double ms) => TimeSpan.FromMilliseconds(ms);
    private static SeqNumber Seq(uint n) => new(n);
    private static SeqNumber Start(int i) => Seq(1000) + i * Mss;

    /// <summary>Segment i sent at <paramref name="sentAt"/>[i] ms.</summary>
    private static SackScoreboard Sent(params double[] sentAt)
    {
        var b = new SackScoreboard();
        for (int i = 0; i < sentAt.Length; i++) b.OnSent(Start(i), Mss, Ms(sentAt[i]));
        return b;
    }

    /// <summary>The peer SACKs segment <paramref name="i"/> alone.</summary>
    private static SackScoreboard.Delivery Sack(SackScoreboard b, int i) => b.Sack(Start(i), Start(i + 1));

    // =================================================================== RACK's segment (6.2 steps 1 and 2)

    [Fact]
    public void RACK_remembers_the_most_recently_sent_delivered_segment_not_the_most_recently_delivered_RFC8985_6_2_step_2()
    {
        // Segments 0, 1, 2 sent at 0, 10, 20 ms. Segment 1 is SACKed at 100 ms, then segment 0 at 120 ms (reordered).
        // RACK.xmit_ts stays 10 ms (segment 1's): segment 0 was sent before it. So segment 2, sent after RACK's
        // segment, is not judged at all, however late the clock.
        var b = Sent(0, 10, 20);
        var rack = new RackLossDetection();
        rack.OnDelivered(Sack(b, 1), Ms(100), minRtt: Ms(50), echoesRetransmission: null);
        Assert.True(rack.HasSegment);
        Assert.Equal(Ms(90), rack.Rtt);
        rack.OnDelivered(b.Acknowledge(Start(1)), Ms(120), Ms(50), null);

        Assert.Equal(0, rack.DetectLoss(b, Ms(1000), TimeSpan.Zero, out var wait));
        Assert.False(b[1].Lost); // b[1] is segment 2 now (segment 0 left with the cumulative ACK)
        Assert.Equal(TimeSpan.Zero, wait);

        // Segment 2 delivered at 130 ms: it is the most recently sent, so it becomes RACK's segment.
        rack.OnDelivered(Sack(b, 2), Ms(130), Ms(50), null);
        Assert.Equal(Ms(110), rack.Rtt);
    }

    [Fact]
    public void RACK_rtt_is_the_round_trip_of_the_most_recently_delivered_segment_RFC8985_6_1_and_6_2_step_2()
    {
        // RFC 8985 6.1: "RACK.rtt: The RTT of the most recently delivered segment"; step 2 sets RACK.rtt = rtt for
        // every newly delivered segment that passes the retransmission checks, and only RACK.xmit_ts and
        // RACK.end_seq wait for a segment sent after RACK's (Linux: tcp_rack_advance sets rack.rtt_us first).
        // Segments 0..3 sent at 0, 10, 20, 30 ms. Segment 2 SACKed at 110 ms: RACK.rtt = 90 ms, RACK.xmit_ts = 20 ms.
        // Segment 0 SACKed at 120 ms (the network delays some segments by 30 ms more): RACK.rtt = 120 ms,
        // RACK.xmit_ts still 20 ms. Segment 1 (sent at 10 ms) is then due at 10 + 120 = 130 ms, not at 10 + 90 = 100 ms:
        // at 120 ms it waits 10 ms instead of being marked lost.
        var b = Sent(0, 10, 20, 30);
        var rack = new RackLossDetection();
        rack.OnDelivered(Sack(b, 2), Ms(110), Ms(50), null);
        Assert.Equal(Ms(90), rack.Rtt);
        rack.OnDelivered(Sack(b, 0), Ms(120), Ms(50), null);
        Assert.Equal(Ms(120), rack.Rtt);

        Assert.Equal(0, rack.DetectLoss(b, Ms(120), TimeSpan.Zero, out var wait));
        Assert.False(b[1].Lost);
        Assert.Equal(Ms(10), wait);
        Assert.Equal(1, rack.DetectLoss(b, Ms(130), TimeSpan.Zero, out _));
        Assert.True(b[1].Lost);
        Assert.False(b[3].Lost); // sent after RACK's segment
    }

    [Fact]
    public void Segments_sent_at_the_same_time_are_ordered_by_their_end_RFC8985_6_2_step_2()
    {
        // A burst: segments 0, 1, 2 all leave at 5 ms. Segment 1 is SACKed at 55 ms (RACK.rtt = 50 ms). RACK_sent_after
        // breaks the tie by end sequence number: segment 0 was "sent before" segment 1, segment 2 after it.
        var b = Sent(5, 5, 5);
        var rack = new RackLossDetection();
        rack.OnDelivered(Sack(b, 1), Ms(55), Ms(50), null);
        Assert.Equal(Ms(50), rack.Rtt);
        Assert.Equal(1, rack.DetectLoss(b, Ms(55), TimeSpan.Zero, out var wait)); // 5 + 50 + 0 - 55 = 0: lost
        Assert.True(b[0].Lost);
        Assert.False(b[2].Lost);
        Assert.Equal(TimeSpan.Zero, wait);

        // Segment 0 SACKed later (it was only delayed): same transmission time, lower end: RACK's segment stays 1.
        var c = Sent(5, 5, 5);
        var rack2 = new RackLossDetection();
        rack2.OnDelivered(Sack(c, 1), Ms(55), Ms(50), null);
        rack2.OnDelivered(Sack(c, 0), Ms(80), Ms(50), null);
        Assert.Equal(0, rack2.DetectLoss(c, Ms(1000), TimeSpan.Zero, out _)); // segment 2 is after RACK's segment 1
    }

    [Fact]
    public void A_retransmitted_segment_delivered_sooner_than_the_least_RTT_is_ignored_RFC8985_6_2_step_2()
    {
        // Segment 0 sent at 0 ms, resent at 100 ms. An ACK at 110 ms (10 ms after the retransmission, min RTT 50 ms)
        // most likely answers the original: it says nothing about the retransmission's round trip.
        var b = Sent(0, 1);
        b.MarkLost(0, LossCause.Rack);
        b.OnRetransmitted(0, Ms(100));
        var rack = new RackLossDetection();
        rack.OnDelivered(Sack(b, 0), Ms(110), minRtt: Ms(50), echoesRetransmission: null);
        Assert.False(rack.HasSegment);
        Assert.Equal(TimeSpan.Zero, rack.Rtt);
    }

    [Fact]
    public void A_retransmitted_segment_delivered_a_round_trip_later_counts_RFC8985_6_2_step_2()
    {
        var b = Sent(0, 1);
        b.MarkLost(0, LossCause.Rack);
        b.OnRetransmitted(0, Ms(100));
        var rack = new RackLossDetection();
        rack.OnDelivered(Sack(b, 0), Ms(160), Ms(50), null);
        Assert.True(rack.HasSegment);
        Assert.Equal(Ms(60), rack.Rtt);
    }

    [Fact]
    public void With_timestamps_the_echo_decides_whether_a_retransmission_was_delivered_RFC8985_6_2_step_2()
    {
        // "If ACK.ts_option.echo_reply < Segment.xmit_ts: Return": an echo older than the retransmission answers the
        // original, however late it comes; an echo of the retransmission counts however soon.
        var b = Sent(0, 1);
        b.MarkLost(0, LossCause.Rack);
        b.OnRetransmitted(0, Ms(100));
        var d = Sack(b, 0);
        var rack = new RackLossDetection();
        rack.OnDelivered(d, Ms(500), Ms(50), echoesRetransmission: false);
        Assert.False(rack.HasSegment);
        rack.OnDelivered(d, Ms(110), Ms(50), echoesRetransmission: true);
        Assert.True(rack.HasSegment);
        Assert.Equal(Ms(10), rack.Rtt);
    }

    // =================================================================== reordering (6.2 step 2)

    [Fact]
    public void Reordering_is_seen_when_a_segment_never_resent_is_delivered_below_RACK_fack_RFC8985_6_2_step_2()
    {
        // Segment 3 SACKed first: RACK.fack = 1400. Then the cumulative ACK covers 0, 1 and 2, none ever resent:
        // they arrived after a higher segment, so the network reordered them.
        var b = Sent(0, 1, 2, 3);
        var rack = new RackLossDetection();
        rack.OnDelivered(Sack(b, 3), Ms(100), Ms(50), null);
        Assert.False(rack.ReorderingSeen);
        rack.OnDelivered(b.Acknowledge(Start(3)), Ms(101), Ms(50), null);
        Assert.True(rack.ReorderingSeen);
    }

    [Fact]
    public void Retransmissions_delivered_below_RACK_fack_are_not_reordering_RFC8985_6_2_step_2()
    {
        var b = Sent(0, 1, 2, 3);
        var rack = new RackLossDetection();
        rack.OnDelivered(Sack(b, 3), Ms(100), Ms(50), null);
        for (int i = 0; i < 3; i++) { b.MarkLost(i, LossCause.Rack); b.OnRetransmitted(i, Ms(100)); }
        rack.OnDelivered(b.Acknowledge(Start(3)), Ms(200), Ms(50), null);
        Assert.False(rack.ReorderingSeen);
    }

    [Fact]
    public void In_order_deliveries_are_not_reordering_RFC8985_6_2_step_2()
    {
        var b = Sent(0, 1, 2, 3);
        var rack = new RackLossDetection();
        rack.OnDelivered(b.Acknowledge(Start(1)), Ms(100), Ms(50), null);
        rack.OnDelivered(Sack(b, 2), Ms(101), Ms(50), null); // a hole at segment 1, nothing reordered yet
        rack.OnDelivered(Sack(b, 3), Ms(102), Ms(50), null);
        Assert.False(rack.ReorderingSeen);
    }

    [Fact]
    public void RACK_fack_is_the_highest_end_delivered_even_when_a_lower_retransmission_was_sent_later_RFC8985_6_1()
    {
        // RFC 8985 6.1: "RACK.fack: The highest selectively or cumulatively acknowledged sequence." Segments 0..5;
        // segment 1 is lost and resent at 100 ms. One ACK at 200 ms delivers the retransmission (cumulatively) and
        // SACKs segment 5: RACK.fack = 1600, though the most recently sent segment of the ACK ends at 1200. Then
        // segment 3, never resent, is SACKed: it lies below RACK.fack, so the network reordered it.
        var b = Sent(0, 1, 2, 3, 4, 5);
        b.MarkLost(1, LossCause.Rack);
        b.OnRetransmitted(1, Ms(100));
        var rack = new RackLossDetection();
        var d = b.Acknowledge(Start(2));
        d.Add(Sack(b, 5));
        rack.OnDelivered(d, Ms(200), Ms(50), null);
        Assert.False(rack.ReorderingSeen);
        rack.OnDelivered(Sack(b, 3), Ms(201), Ms(50), null);
        Assert.True(rack.ReorderingSeen);
    }

    // =================================================================== the reordering window (6.2 step 4)

    [Fact]
    public void Without_reordering_the_window_is_zero_in_recovery_or_with_DupThresh_segments_SACKed_RFC8985_6_2_step_4()
    {
        var rack = new RackLossDetection();
        Assert.Equal(TimeSpan.Zero, rack.ReorderWindow(inRecovery: true, sackedSegments: 0, minRtt: Ms(40), srtt: Ms(100)));
        Assert.Equal(TimeSpan.Zero, rack.ReorderWindow(inRecovery: false, sackedSegments: 3, minRtt: Ms(40), srtt: Ms(100)));
        Assert.Equal(TimeSpan.Zero, rack.ReorderWindow(inRecovery: false, sackedSegments: 7, minRtt: Ms(40), srtt: Ms(100)));
    }

    [Fact]
    public void Otherwise_the_window_is_a_quarter_of_the_least_RTT_at_most_SRTT_RFC8985_6_2_step_4()
    {
        // min(reo_wnd_mult * min_RTT / 4, SRTT): 40 / 4 = 10 ms; with SRTT 8 ms, 8 ms.
        var rack = new RackLossDetection();
        Assert.Equal(Ms(10), rack.ReorderWindow(inRecovery: false, sackedSegments: 2, minRtt: Ms(40), srtt: Ms(100)));
        Assert.Equal(Ms(8), rack.ReorderWindow(inRecovery: false, sackedSegments: 2, minRtt: Ms(40), srtt: Ms(8)));
    }

    [Fact]
    public void Once_reordering_is_seen_the_window_applies_in_recovery_too_RFC8985_6_2_step_4()
    {
        var b = Sent(0, 1);
        var rack = new RackLossDetection();
        rack.OnDelivered(Sack(b, 1), Ms(100), Ms(40), null);
        rack.OnDelivered(b.Acknowledge(Start(1)), Ms(101), Ms(40), null); // segment 0 after segment 1: reordered
        Assert.True(rack.ReorderingSeen);
        Assert.Equal(Ms(10), rack.ReorderWindow(inRecovery: true, sackedSegments: 5, minRtt: Ms(40), srtt: Ms(100)));
    }

    [Fact]
    public void A_DSACK_widens_the_window_once_per_round_trip_RFC8985_6_2_step_3()
    {
        // reo_wnd_mult += 1 for a D-SACK, then no more until SND.UNA passes what was sent when it widened.
        var rack = new RackLossDetection();
        Assert.Equal(1, rack.ReorderWindowMultiplier);
        rack.OnDsack(sndUna: Seq(1000), sndMax: Seq(2000));
        Assert.Equal(2, rack.ReorderWindowMultiplier);
        Assert.False(rack.ReorderingSeen);                                   // a D-SACK widens the window; it is not reordering (step 2 says what is)
        Assert.Equal(Ms(20), rack.ReorderWindow(false, 0, Ms(40), Ms(100))); // 2 x 40 / 4
        rack.OnDsack(Seq(1500), Seq(2500));                                  // same round: SND.UNA < 2000
        Assert.Equal(2, rack.ReorderWindowMultiplier);
        rack.OnDsack(Seq(2000), Seq(3000));                                  // the next round
        Assert.Equal(3, rack.ReorderWindowMultiplier);
        Assert.Equal(Ms(30), rack.ReorderWindow(false, 0, Ms(40), Ms(100)));
        Assert.Equal(Ms(25), rack.ReorderWindow(false, 0, Ms(40), Ms(25)));   // still at most SRTT
    }

    [Fact]
    public void Sixteen_recoveries_without_a_DSACK_bring_the_window_back_to_its_base_RFC8985_6_2_step_3()
    {
        var rack = new RackLossDetection();
        rack.OnDsack(Seq(1000), Seq(2000));
        for (int i = 0; i < 15; i++) rack.OnRecoveryEnd();
        Assert.Equal(2, rack.ReorderWindowMultiplier);
        rack.OnRecoveryEnd();
        Assert.Equal(1, rack.ReorderWindowMultiplier);
        rack.OnRecoveryEnd();
        Assert.Equal(1, rack.ReorderWindowMultiplier);
    }

    [Fact]
    public void Recoveries_before_any_DSACK_change_nothing_RFC8985_6_2_step_3()
    {
        var rack = new RackLossDetection();
        for (int i = 0; i < 20; i++) rack.OnRecoveryEnd();
        Assert.Equal(1, rack.ReorderWindowMultiplier);
    }

    // =================================================================== detecting losses (6.2 step 5, 6.3)

    [Fact]
    public void Segments_sent_more_than_RACK_rtt_plus_the_window_ago_are_lost_the_rest_wait_RFC8985_6_2_step_5()
    {
        // Segments 0..4 sent at 0, 10, 20, 25 and 30 ms. Segment 4 is SACKed at 130 ms: RACK.rtt = 100 ms. With a
        // 20 ms window, segment i is lost once sent_i + 100 + 20 <= 130:
        //   segment 0:  0 + 120 - 130 = -10  lost
        //   segment 1: 10 + 120 - 130 =   0  lost
        //   segment 2: 20 + 120 - 130 =  10  waits
        //   segment 3: 25 + 120 - 130 =  15  waits
        // RFC 8985's RACK_detect_loss returns the largest remaining time: the reordering timer is set 15 ms out.
        var b = Sent(0, 10, 20, 25, 30);
        var rack = new RackLossDetection();
        rack.OnDelivered(Sack(b, 4), Ms(130), Ms(100), null);
        Assert.Equal(2, rack.DetectLoss(b, Ms(130), reoWnd: Ms(20), out var wait));
        Assert.True(b[0].Lost);
        Assert.True(b[1].Lost);
        Assert.False(b[2].Lost);
        Assert.False(b[3].Lost);
        Assert.Equal(Ms(15), wait);
        Assert.Equal(LossCause.Rack, b[0].Cause);
        Assert.Equal(0, b.NextLost());

        // The reordering timer fires at 145 ms: 2 and 3 are due now; what was marked is not counted again.
        Assert.Equal(2, rack.DetectLoss(b, Ms(145), Ms(20), out wait));
        Assert.True(b[2].Lost);
        Assert.True(b[3].Lost);
        Assert.Equal(TimeSpan.Zero, wait);
        Assert.Equal(0, rack.DetectLoss(b, Ms(200), Ms(20), out _));
    }

    [Fact]
    public void Nothing_is_lost_before_anything_was_delivered_RFC8985_6_2()
    {
        var b = Sent(0, 1, 2);
        var rack = new RackLossDetection();
        Assert.Equal(0, rack.DetectLoss(b, Ms(10_000), TimeSpan.Zero, out var wait));
        Assert.Equal(TimeSpan.Zero, wait);
        Assert.Equal(-1, b.NextLost());
    }

    [Fact]
    public void SACKed_segments_and_segments_sent_after_RACKs_are_never_marked_RFC8985_6_2_step_5()
    {
        var b = Sent(0, 10, 20, 30);
        var rack = new RackLossDetection();
        rack.OnDelivered(Sack(b, 0), Ms(100), Ms(50), null);
        rack.OnDelivered(Sack(b, 2), Ms(120), Ms(50), null);       // RACK's segment: 2, RACK.rtt = 100
        Assert.Equal(1, rack.DetectLoss(b, Ms(1000), TimeSpan.Zero, out _));
        Assert.False(b[0].Lost);  // SACKed
        Assert.True(b[1].Lost);   // sent before RACK's segment
        Assert.False(b[2].Lost);  // SACKed
        Assert.False(b[3].Lost);  // sent after: only the RTO or TLP can judge it
    }

    [Fact]
    public void A_lost_retransmission_is_detected_when_a_segment_sent_after_it_is_delivered_RFC8985_6_2()
    {
        // Duplicate ACK counting never finds this: segment 0 was lost, resent at 100 ms, and the retransmission was
        // lost too. Segment 2 (new data sent at 105 ms) is SACKed at 205 ms: RACK.rtt = 100 ms, RACK.xmit_ts = 105 ms,
        // after the retransmission. With a 10 ms window the retransmission is due at 100 + 100 + 10 = 210 ms.
        var b = Sent(0, 1);
        b.MarkLost(0, LossCause.Rack);
        b.OnRetransmitted(0, Ms(100));
        b.OnSent(Start(2), Mss, Ms(105));
        var rack = new RackLossDetection();
        rack.OnDelivered(Sack(b, 1), Ms(101), Ms(100), null); // segment 1, sent at 1 ms: RACK.rtt = 100
        Assert.Equal(-1, b.NextLost());

        rack.OnDelivered(Sack(b, 2), Ms(205), Ms(100), null);
        Assert.Equal(0, rack.DetectLoss(b, Ms(205), Ms(10), out var wait));
        Assert.Equal(Ms(5), wait);
        Assert.Equal(-1, b.NextLost());

        Assert.Equal(1, rack.DetectLoss(b, Ms(210), Ms(10), out wait)); // the reordering timer
        Assert.True(b[0].Lost);
        Assert.False(b[0].RetransmitInFlight);
        Assert.Equal(0, b.NextLost());                                  // eligible to be sent a third time
        Assert.Equal(TimeSpan.Zero, wait);
    }

    [Fact]
    public void Reset_forgets_RACKs_segment_RFC8985_6()
    {
        var b = Sent(0, 10);
        var rack = new RackLossDetection();
        rack.OnDelivered(Sack(b, 1), Ms(100), Ms(50), null);
        rack.Reset();
        Assert.False(rack.HasSegment);
        Assert.Equal(0, rack.DetectLoss(b, Ms(1000), TimeSpan.Zero, out _));
    }

    // =================================================================== the tail loss probe's timeout (7.2)

    [Fact]
    public void PTO_is_twice_SRTT_plus_2ms_with_several_segments_out_RFC8985_7_2_Linux()
    {
        Assert.Equal(Ms(202), RackLossDetection.ProbeTimeout(Ms(100), hasSrtt: true, segmentsOut: 2, rto: Ms(1000)));
        Assert.Equal(Ms(22), RackLossDetection.ProbeTimeout(Ms(10), hasSrtt: true, segmentsOut: 10, rto: Ms(1000)));
    }

    [Fact]
    public void PTO_with_one_segment_out_adds_the_worst_case_delayed_ACK_of_200ms_RFC8985_7_2()
    {
        // FlightSize 1: the peer may hold its ACK for the delayed-ACK timer, so PTO += WCDelAckT.
        Assert.Equal(Ms(400), RackLossDetection.ProbeTimeout(Ms(100), hasSrtt: true, segmentsOut: 1, rto: Ms(1000)));
    }

    [Fact]
    public void PTO_is_never_past_the_RTO_RFC8985_7_2()
    {
        Assert.Equal(Ms(300), RackLossDetection.ProbeTimeout(Ms(100), hasSrtt: true, segmentsOut: 1, rto: Ms(300)));
        Assert.Equal(Ms(150), RackLossDetection.ProbeTimeout(Ms(100), hasSrtt: true, segmentsOut: 5, rto: Ms(150)));
    }

    [Fact]
    public void PTO_is_1s_without_an_RTT_sample_RFC8985_7_2()
    {
        Assert.Equal(TimeSpan.FromSeconds(1), RackLossDetection.ProbeTimeout(TimeSpan.Zero, hasSrtt: false, segmentsOut: 3, rto: Ms(3000)));
        Assert.Equal(TimeSpan.FromSeconds(1), RackLossDetection.ProbeTimeout(TimeSpan.Zero, hasSrtt: false, segmentsOut: 1, rto: Ms(3000)));
    }
}
