using UserNet.Tcp;

namespace UserNet.Tests.Tcp;

/// <summary>
/// The sender's scoreboard (RFC 6675 section 3's data structure, kept per segment as Linux keeps its retransmission
/// queue): what is outstanding, what the peer SACKed, what is deemed lost and what was resent, and from that RFC 6675's
/// pipe and NextSeg. The segments are 100 bytes from sequence number 1000 unless a test says otherwise, so segment i
/// is [1000 + 100 i, 1100 + 100 i).
/// </summary>
public sealed class SackScoreboardTests
{
    private const int Mss = 100;
    private static TimeSpan Ms(double ms) => TimeSpan.FromMilliseconds(ms);
    private static SeqNumber Seq(uint n) => new(n);

    /// <summary><paramref name="count"/> segments of 100 bytes from <paramref name="start"/>, segment i sent at i ms.</summary>
    private static SackScoreboard Sent(int count, uint start = 1000)
    {
        var b = new SackScoreboard();
        for (int i = 0; i < count; i++) b.OnSent(Seq(start) + i * Mss, Mss, Ms(i));
        return b;
    }

    private static uint[] Starts(SackScoreboard b) => Enumerable.Range(0, b.Count).Select(i => b[i].Start.Value).ToArray();

    // =================================================================== sent and cumulatively acknowledged

    [Fact]
    public void Sent_segments_are_kept_in_order_and_make_up_the_outstanding_data_RFC6675_3()
    {
        var b = Sent(3);
        Assert.Equal(3, b.Count);
        Assert.Equal(300, b.Outstanding);
        Assert.Equal(new uint[] { 1000, 1100, 1200 }, Starts(b));
        Assert.Equal(Ms(2), b.Last.SentAt);
        Assert.Equal(Seq(1300), b.Last.End);
        Assert.Equal(300, b.Pipe(Mss)); // nothing SACKed, nothing lost: all of it is in the network
    }

    [Fact]
    public void A_cumulative_ACK_removes_the_whole_segments_below_it_RFC6675_3()
    {
        var b = Sent(3);
        var d = b.Acknowledge(Seq(1200)); // segments [1000,1100) and [1100,1200)
        Assert.Equal(2, d.Segments);
        Assert.Equal(200, d.NewlyDelivered);
        Assert.Equal(1, b.Count);
        Assert.Equal(100, b.Outstanding);
        Assert.Equal(Seq(1200), b[0].Start);

        var none = b.Acknowledge(Seq(1200)); // the same ACK again delivers nothing
        Assert.False(none.Any);
        Assert.Equal(0, none.NewlyDelivered);
        Assert.Equal(1, b.Count);
    }

    [Fact]
    public void An_ACK_inside_a_segment_trims_it_and_keeps_the_rest_outstanding()
    {
        var b = Sent(2);
        var d = b.Acknowledge(Seq(1150)); // all of [1000,1100) and the first half of [1100,1200)
        Assert.Equal(1, d.Segments);      // [1000,1100) left whole
        Assert.Equal(150, d.NewlyDelivered);
        Assert.Equal(1, b.Count);
        Assert.Equal(Seq(1150), b[0].Start); // [1150,1200) is what is left of [1100,1200)
        Assert.Equal(50, b[0].Length);
        Assert.Equal(50, b.Outstanding);
        Assert.Equal(50, b.Pipe(Mss));
    }

    [Fact]
    public void Sent_and_acknowledged_across_the_2_to_the_32_wrap_RFC9293_3_4()
    {
        // [2^32 - 150, 2^32 - 50), [2^32 - 50, 50), [50, 150): the middle segment straddles the wrap.
        var b = Sent(3, start: uint.MaxValue - 149);
        Assert.Equal(new uint[] { uint.MaxValue - 149, uint.MaxValue - 49, 50 }, Starts(b));
        Assert.Equal(300, b.Outstanding);
        Assert.Equal(Seq(150), b.Last.End);

        var d = b.Acknowledge(Seq(50)); // past the wrap: the first two leave
        Assert.Equal(2, d.Segments);
        Assert.Equal(200, d.NewlyDelivered);
        Assert.Equal(Seq(50), b[0].Start);

        var part = b.Acknowledge(Seq(100)); // half of the last
        Assert.Equal(50, part.NewlyDelivered);
        Assert.Equal(Seq(100), b[0].Start);
        Assert.Equal(50, b.Outstanding);

        Assert.Equal(1, b.Acknowledge(Seq(150)).Segments);
        Assert.True(b.IsEmpty);
        Assert.Equal(0, b.Outstanding);
    }

    [Fact]
    public void SACK_across_the_2_to_the_32_wrap_marks_the_segment_inside_it_RFC2018_3()
    {
        var b = Sent(3, start: uint.MaxValue - 149);
        var d = b.Sack(Seq(uint.MaxValue - 49), Seq(50)); // [2^32 - 50, 50)
        Assert.Equal(1, d.Segments);
        Assert.True(b[1].Sacked);
        Assert.Equal(100, b.SackedBytes);
    }

    // =================================================================== SACK (RFC 2018, RFC 6675 section 4)

    [Fact]
    public void SACK_marks_only_whole_segments_inside_the_block_RFC6675_4()
    {
        // RFC 6675 section 4: a segment is SACKed when the block covers all of it. Block [1150,1400) covers half of
        // [1100,1200) and all of [1200,1300) and [1300,1400).
        var b = Sent(5);
        var d = b.Sack(Seq(1150), Seq(1400));
        Assert.Equal(2, d.Segments);
        Assert.Equal(200, d.NewlyDelivered);
        Assert.False(b[1].Sacked);
        Assert.True(b[2].Sacked);
        Assert.True(b[3].Sacked);
        Assert.False(b[4].Sacked);
        Assert.Equal(200, b.SackedBytes);
        Assert.Equal(2, b.SackedSegments);

        var again = b.Sack(Seq(1150), Seq(1400)); // the next ACK repeats the block: nothing new
        Assert.False(again.Any);
        Assert.Equal(0, again.NewlyDelivered);
        Assert.Equal(2, b.SackedSegments);
    }

    [Fact]
    public void A_SACK_block_about_nothing_outstanding_marks_nothing_RFC2018_3()
    {
        var b = Sent(3);
        Assert.False(b.Sack(Seq(500), Seq(1000)).Any);  // below SND.UNA
        Assert.False(b.Sack(Seq(1300), Seq(1400)).Any); // beyond SND.MAX
        Assert.Equal(0, b.SackedBytes);
    }

    [Fact]
    public void A_cumulative_ACK_over_SACKed_segments_delivers_only_what_was_not_SACKed_RFC6675_4()
    {
        var b = Sent(4);
        b.Sack(Seq(1100), Seq(1300));
        var d = b.Acknowledge(Seq(1300));
        Assert.Equal(3, d.Segments);
        Assert.Equal(100, d.NewlyDelivered); // [1000,1100) only; the peer had reported the other two before
        Assert.Equal(0, b.SackedBytes);
        Assert.Equal(0, b.SackedSegments);
        Assert.Equal(100, b.Outstanding);
    }

    // =================================================================== pipe (RFC 6675 section 4, as Linux counts it)

    [Fact]
    public void Pipe_is_outstanding_less_SACKed_less_lost_plus_retransmitted_in_flight_RFC6675_4()
    {
        // Linux: in_flight = packets_out - (sacked_out + lost_out) + retrans_out. Ten segments: 1000 bytes out.
        var b = Sent(10);
        Assert.Equal(1000, b.Pipe(Mss));
        b.Sack(Seq(1300), Seq(1500));      // segments 3 and 4 SACKed:             1000 - 200         =  800
        Assert.Equal(800, b.Pipe(Mss));
        b.MarkLost(0, LossCause.Rack);     // segments 0 and 1 lost:               1000 - 200 - 200   =  600
        b.MarkLost(1, LossCause.Rack);
        Assert.Equal(600, b.Pipe(Mss));
        Assert.Equal(200, b.LostBytes);
        b.OnRetransmitted(0, Ms(50));      // segment 0 resent:                    600 + 100          =  700
        Assert.Equal(700, b.Pipe(Mss));
        b.OnRetransmitted(0, Ms(60));      // resent again while in flight: still counted once
        Assert.Equal(700, b.Pipe(Mss));
        b.Sack(Seq(1000), Seq(1100));      // its retransmission SACKed: out of the network, not lost  = 600
        Assert.Equal(600, b.Pipe(Mss));
        Assert.Equal(100, b.LostBytes);
        Assert.Equal(300, b.SackedBytes);
    }

    [Fact]
    public void Pipe_never_goes_below_zero()
    {
        var b = Sent(2);
        b.MarkAllLost(LossCause.Timeout);
        Assert.Equal(0, b.Pipe(Mss));
        Assert.Equal(200, b.LostBytes);
    }

    // =================================================================== NextSeg (RFC 6675 section 4, rule 1)

    [Fact]
    public void NextLost_is_the_first_lost_segment_not_yet_resent_and_skips_SACKed_ones_RFC6675_4()
    {
        var b = Sent(5);
        Assert.Equal(-1, b.NextLost());
        Assert.False(b.HasLostToSend);
        b.MarkLost(1, LossCause.Rack);
        b.MarkLost(2, LossCause.Rack);
        b.MarkLost(3, LossCause.Rack);
        Assert.True(b.HasLostToSend);
        Assert.Equal(1, b.NextLost());
        b.OnRetransmitted(1, Ms(10));
        Assert.Equal(2, b.NextLost());   // segment 1 is resent already
        b.Sack(Seq(1200), Seq(1300));    // segment 2 arrived after all: never sent again (RFC 6675: SACKed data is not resent)
        Assert.False(b[2].Lost);
        Assert.Equal(3, b.NextLost());
        b.OnRetransmitted(3, Ms(11));
        Assert.Equal(-1, b.NextLost());
        Assert.False(b.HasLostToSend);
    }

    [Fact]
    public void A_SACKed_segment_cannot_be_marked_lost_RFC6675_4()
    {
        var b = Sent(3);
        b.Sack(Seq(1100), Seq(1200));
        b.MarkLost(1, LossCause.Rack);
        Assert.False(b[1].Lost);
        Assert.Equal(0, b.LostBytes);
        Assert.Equal(-1, b.NextLost());
    }

    [Fact]
    public void A_lost_retransmission_marked_lost_again_is_eligible_to_be_resent_again_RFC8985_6_2()
    {
        var b = Sent(3);
        b.MarkLost(0, LossCause.Rack);
        b.OnRetransmitted(0, Ms(10));
        Assert.Equal(200 + 100, b.Pipe(Mss)); // 300 out - 100 lost + 100 resent
        Assert.Equal(-1, b.NextLost());

        b.MarkLost(0, LossCause.Rack);       // RACK finds the retransmission lost too
        Assert.True(b[0].Lost);
        Assert.False(b[0].RetransmitInFlight);
        Assert.True(b[0].EverRetransmitted);  // Karn still applies to it
        Assert.Equal(100, b.LostBytes);       // lost once, counted once
        Assert.Equal(200, b.Pipe(Mss));       // the retransmission left the network
        Assert.Equal(0, b.NextLost());

        b.OnRetransmitted(0, Ms(20));
        Assert.Equal(Ms(20), b[0].SentAt);
        Assert.Equal(300, b.Pipe(Mss));
    }

    [Fact]
    public void MarkLost_records_the_cause_for_the_counters()
    {
        var b = Sent(2);
        b.MarkLost(0, LossCause.DuplicateAcks);
        b.MarkLost(1, LossCause.Rack);
        Assert.Equal(LossCause.DuplicateAcks, b[0].Cause);
        Assert.Equal(LossCause.Rack, b[1].Cause);
        b.MarkAllLost(LossCause.Timeout);
        Assert.Equal(LossCause.Timeout, b[0].Cause);
    }

    [Fact]
    public void MarkAllLost_after_a_timeout_keeps_the_SACKed_segments_RFC6675_5_1()
    {
        var b = Sent(5);
        b.Sack(Seq(1200), Seq(1400));      // segments 2 and 3
        b.MarkLost(0, LossCause.Rack);
        b.OnRetransmitted(0, Ms(10));
        b.MarkAllLost(LossCause.Timeout);
        Assert.True(b[0].Lost);
        Assert.False(b[0].RetransmitInFlight); // the retransmission is taken as lost too
        Assert.True(b[1].Lost);
        Assert.False(b[2].Lost);
        Assert.False(b[3].Lost);
        Assert.True(b[4].Lost);
        Assert.Equal(300, b.LostBytes);
        Assert.Equal(200, b.SackedBytes);
        Assert.Equal(0, b.Pipe(Mss));      // 500 - 200 - 300: nothing is in the network
        Assert.Equal(0, b.NextLost());
    }

    [Fact]
    public void UnmarkLostNotResent_after_a_spurious_timeout_keeps_only_the_resent_segment_lost_RFC3522()
    {
        var b = Sent(4);
        b.MarkAllLost(LossCause.Timeout);
        b.OnRetransmitted(0, Ms(10));
        b.UnmarkLostNotResent();
        Assert.True(b[0].Lost);
        Assert.True(b[0].RetransmitInFlight);
        Assert.False(b[1].Lost);
        Assert.False(b[2].Lost);
        Assert.False(b[3].Lost);
        Assert.Equal(100, b.LostBytes);
        Assert.Equal(400, b.Pipe(Mss));    // 400 - 100 + 100: everything is in the network again
        Assert.Equal(-1, b.NextLost());
        Assert.False(b.HasLostToSend);
    }

    // =================================================================== a peer without SACK (Linux's emulation)

    [Fact]
    public void Each_duplicate_ACK_counts_one_segment_out_of_the_pipe_RFC6675_4_Linux()
    {
        var b = Sent(4);
        b.OnDuplicateAck();
        Assert.Equal(1, b.SackedSegments);
        Assert.Equal(300, b.Pipe(Mss));     // 400 - 1 x 100
        Assert.Equal(0, b.SackedBytes);    // no sequence numbers are known SACKed
        b.OnDuplicateAck();
        Assert.Equal(200, b.Pipe(Mss));
    }

    [Fact]
    public void Duplicate_ACKs_never_count_more_than_the_segments_beyond_the_first()
    {
        // The first segment is the hole the duplicates are about: at most Count - 1 can have arrived.
        var b = Sent(4);
        for (int i = 0; i < 10; i++) b.OnDuplicateAck();
        Assert.Equal(3, b.SackedSegments);
        Assert.Equal(100, b.Pipe(Mss));
    }

    [Fact]
    public void A_cumulative_ACK_of_everything_clears_the_duplicate_ACK_count()
    {
        var b = Sent(4);
        for (int i = 0; i < 3; i++) b.OnDuplicateAck();
        b.Acknowledge(Seq(1400));
        Assert.Equal(0, b.SackedSegments);
        b.OnSent(Seq(1400), Mss, Ms(10));
        Assert.Equal(100, b.Pipe(Mss));    // the new segment is counted whole
    }

    [Fact]
    public void A_partial_ACK_takes_one_segment_as_the_hole_and_the_rest_as_the_duplicates_it_answers_RFC6582_Linux()
    {
        // Linux (tcp_remove_reno_sacks): "One ACK acked hole. The rest eat duplicate ACKs." Six segments; 0 and 3 are
        // lost, 1, 2, 4 and 5 arrive and bring four duplicate ACKs. The resent segment 0 arrives: the ACK covers 0, 1
        // and 2. Of those three, 0 was the hole and 1 and 2 had each brought a duplicate; 4 and 5 are still at the
        // peer, so two duplicates remain counted: pipe = 300 outstanding - 100 lost - 2 x 100 = 0.
        var b = Sent(6);
        for (int i = 0; i < 4; i++) b.OnDuplicateAck();
        b.MarkLost(0, LossCause.DuplicateAcks);
        b.OnRetransmitted(0, Ms(10));
        b.Acknowledge(Seq(1300));
        b.MarkLost(0, LossCause.DuplicateAcks); // segment 3, the next hole (RFC 6582 3.2 step 4)
        Assert.Equal(2, b.SackedSegments);
        Assert.Equal(0, b.Pipe(Mss));
    }

    [Fact]
    public void A_real_SACK_replaces_the_duplicate_ACK_emulation()
    {
        var b = Sent(4);
        b.OnDuplicateAck();
        b.Sack(Seq(1200), Seq(1300));
        Assert.Equal(1, b.SackedSegments);
        Assert.Equal(300, b.Pipe(Mss));
    }

    // =================================================================== what a delivery reports (RACK's inputs)

    [Fact]
    public void Delivery_reports_the_newest_transmission_and_the_oldest_clean_one_RFC8985_6_2()
    {
        // Segments 0, 1, 2 sent at 0, 1, 2 ms; segment 1 resent at 50 ms. One SACK block covers all three.
        var b = Sent(4);
        b.MarkLost(1, LossCause.Rack);
        b.OnRetransmitted(1, Ms(50));
        var d = b.Sack(Seq(1000), Seq(1300));
        Assert.True(d.Any);
        Assert.Equal(3, d.Segments);
        Assert.Equal(Ms(50), d.NewestSentAt);      // the retransmission is the most recent transmission
        Assert.Equal(Seq(1200), d.NewestEnd);
        Assert.True(d.NewestRetransmitted);
        Assert.True(d.HasClean);
        Assert.Equal(Ms(0), d.OldestCleanSentAt);  // the RTT sample comes from segment 0 (Karn: never segment 1)
        Assert.Equal(Seq(1100), d.LowestCleanEnd);
    }

    [Fact]
    public void Delivery_of_only_retransmitted_segments_has_no_clean_sample_RFC6298_3()
    {
        var b = Sent(2);
        b.MarkLost(0, LossCause.Rack);
        b.OnRetransmitted(0, Ms(50));
        var d = b.Acknowledge(Seq(1100));
        Assert.True(d.Any);
        Assert.False(d.HasClean);
        Assert.True(d.NewestRetransmitted);
        Assert.Equal(Ms(50), d.NewestSentAt);
    }

    [Fact]
    public void Delivery_of_segments_sent_at_the_same_time_names_the_highest_as_the_newest_RFC8985_6_2()
    {
        var b = new SackScoreboard();
        b.OnSent(Seq(1000), Mss, Ms(5));
        b.OnSent(Seq(1100), Mss, Ms(5));
        b.OnSent(Seq(1200), Mss, Ms(5));
        var d = b.Sack(Seq(1000), Seq(1300));
        Assert.Equal(Ms(5), d.NewestSentAt);
        Assert.Equal(Seq(1300), d.NewestEnd);  // ties are broken by the end sequence number
        Assert.Equal(Seq(1100), d.LowestCleanEnd);
    }

    [Fact]
    public void A_cumulative_ACK_of_segments_SACKed_before_reports_only_the_newly_delivered_ones_RFC8985_6_2()
    {
        // Segments 0, 1, 2 sent at 0, 1, 2 ms; 1 and 2 SACKed at 100 ms; 0 lost and resent at 100 ms. The ACK of 1300 at
        // 200 ms newly delivers only segment 0, a retransmission: no RTT sample (Karn), and segments 1 and 2, clean but
        // delivered 100 ms ago, are neither a sample of 200 ms nor segments "newly acknowledged" below RACK.fack.
        var b = Sent(3);
        b.Sack(Seq(1100), Seq(1300));
        b.MarkLost(0, LossCause.Rack);
        b.OnRetransmitted(0, Ms(100));
        var d = b.Acknowledge(Seq(1300));
        Assert.Equal(3, d.Segments);          // all three leave the scoreboard
        Assert.Equal(100, d.NewlyDelivered);
        Assert.True(d.Any);
        Assert.False(d.HasClean);
        Assert.True(d.NewestRetransmitted);
        Assert.Equal(Ms(100), d.NewestSentAt);
        Assert.Equal(Seq(1100), d.NewestEnd);
        Assert.Equal(Seq(1100), d.HighestEnd);
    }

    [Fact]
    public void A_cumulative_ACK_of_only_SACKed_segments_delivers_nothing_new()
    {
        var b = Sent(3);
        b.Acknowledge(Seq(1100));
        b.Sack(Seq(1100), Seq(1300));
        var d = b.Acknowledge(Seq(1300));
        Assert.Equal(2, d.Segments);
        Assert.Equal(0, d.NewlyDelivered);
        Assert.False(d.Any);
        Assert.False(d.HasClean);
    }

    [Fact]
    public void Delivery_reports_the_highest_end_delivered_for_RACK_fack_RFC8985_6_1()
    {
        // Segment 1 resent at 50 ms; one ACK delivers it (cumulatively) and SACKs segment 4, sent at 4 ms. The most
        // recently sent is segment 1 (ends 1200); the highest is segment 4 (ends 1500).
        var b = Sent(5);
        b.Acknowledge(Seq(1100));
        b.MarkLost(0, LossCause.Rack);
        b.OnRetransmitted(0, Ms(50));
        var d = b.Acknowledge(Seq(1200));
        d.Add(b.Sack(Seq(1400), Seq(1500)));
        Assert.Equal(Seq(1200), d.NewestEnd);
        Assert.Equal(Seq(1500), d.HighestEnd);
    }

    [Fact]
    public void Deliveries_of_one_ACK_add_up_cumulative_part_and_SACK_blocks()
    {
        var b = Sent(6);
        var d = b.Acknowledge(Seq(1100));           // segment 0, sent at 0 ms
        d.Add(b.Sack(Seq(1400), Seq(1500)));        // segment 4, sent at 4 ms
        d.Add(b.Sack(Seq(1200), Seq(1300)));        // segment 2, sent at 2 ms
        Assert.Equal(3, d.Segments);
        Assert.Equal(300, d.NewlyDelivered);
        Assert.Equal(Ms(4), d.NewestSentAt);
        Assert.Equal(Seq(1500), d.NewestEnd);
        Assert.Equal(Ms(0), d.OldestCleanSentAt);
        Assert.Equal(Seq(1100), d.LowestCleanEnd);
        d.Add(default);                              // an empty delivery changes nothing
        Assert.Equal(3, d.Segments);
    }

    // =================================================================== the ring

    [Fact]
    public void The_ring_grows_past_16_segments_and_keeps_their_order_when_it_had_wrapped()
    {
        var b = Sent(16);
        b.Acknowledge(Seq(1800));                   // the head moves to slot 8
        for (int i = 16; i < 40; i++) b.OnSent(Seq(1000) + i * Mss, Mss, Ms(i)); // wraps, then grows
        Assert.Equal(32, b.Count);
        Assert.Equal(Enumerable.Range(8, 32).Select(i => (uint)(1000 + 100 * i)).ToArray(), Starts(b));
        Assert.Equal(3200, b.Outstanding);
        Assert.Equal(8, b.FirstEndingAfter(Seq(2650)));  // [2600,2700) is the 8th from SND.UNA = 1800
    }

    [Fact]
    public void Clear_forgets_everything()
    {
        var b = Sent(5);
        b.Sack(Seq(1200), Seq(1300));
        b.MarkLost(0, LossCause.Rack);
        b.OnDuplicateAck();
        b.Clear();
        Assert.True(b.IsEmpty);
        Assert.Equal(0, b.Outstanding);
        Assert.Equal(0, b.SackedBytes);
        Assert.Equal(0, b.SackedSegments);
        Assert.Equal(0, b.LostBytes);
        Assert.Equal(0, b.Pipe(Mss));
        Assert.Equal(-1, b.NextLost());
    }

    [Fact]
    public void Sending_SACKing_resending_and_acknowledging_allocate_nothing_once_the_ring_has_grown()
    {
        var b = Sent(64);
        b.Acknowledge(Seq(1000) + 64 * Mss);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var seq = Seq(1000) + 64 * Mss;
        for (int round = 0; round < 1000; round++)
        {
            for (int i = 0; i < 64; i++) b.OnSent(seq + i * Mss, Mss, Ms(i));
            b.Sack(seq + 10 * Mss, seq + 20 * Mss);
            b.MarkLost(0, LossCause.Rack);
            b.OnRetransmitted(b.NextLost(), Ms(100));
            b.OnDuplicateAck();
            _ = b.Pipe(Mss);
            seq += 64 * Mss;
            b.Acknowledge(seq);
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.True(b.IsEmpty);
    }
}
