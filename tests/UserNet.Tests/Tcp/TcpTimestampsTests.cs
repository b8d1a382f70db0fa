using UserNet.Tcp;

namespace UserNet.Tests.Tcp;

/// <summary>
/// The timestamps option of one connection (RFC 7323): our TSval clock (5.4), the RTT it measures (4.1), TS.Recent and
/// the rule that updates it (4.3), and PAWS (5.3), with its 24-day limit (5.5). TSvals compare modulo 2^32 (5.2).
/// </summary>
public sealed class TcpTimestampsTests
{
    private static TimeSpan Ms(double ms) => TimeSpan.FromMilliseconds(ms);
    private static SeqNumber Seq(uint n) => new(n);

    private static TcpTimestamps Enabled(uint peerTsVal, TimeSpan? at = null)
    {
        var ts = new TcpTimestamps();
        ts.Enable(peerTsVal, at ?? TimeSpan.Zero);
        return ts;
    }

    // =================================================================== our clock (5.4)

    [Fact]
    public void TSval_counts_1ms_ticks_of_the_clock_plus_the_connections_offset_RFC7323_5_4()
    {
        var ts = new TcpTimestamps();
        ts.SetOffset(1000);
        Assert.Equal(1000u, ts.Value(TimeSpan.Zero));
        Assert.Equal(2500u, ts.Value(Ms(1500.7)));     // whole milliseconds: 1500
        Assert.Equal(2501u, ts.Value(Ms(1501)));
    }

    [Fact]
    public void TSval_wraps_at_2_to_the_32_RFC7323_5_2()
    {
        var ts = new TcpTimestamps();
        ts.SetOffset(uint.MaxValue - 10);               // 2^32 - 11
        Assert.Equal(uint.MaxValue, ts.Value(Ms(10)));
        Assert.Equal(0u, ts.Value(Ms(11)));
        Assert.Equal(9u, ts.Value(Ms(20)));
        var noOffset = new TcpTimestamps();
        Assert.Equal(0u, noOffset.Value(TimeSpan.FromMilliseconds(1L << 32))); // 2^32 ms of uptime: back to 0
    }

    [Fact]
    public void Since_an_echoed_TSval_is_an_RTT_sample_RFC7323_4_1()
    {
        var ts = new TcpTimestamps();
        ts.SetOffset(500);
        uint sent = ts.Value(Ms(1000));                // 1500
        Assert.Equal(Ms(40), ts.Since(sent, Ms(1040)));
        Assert.Equal(TimeSpan.Zero, ts.Since(sent, Ms(1000)));
    }

    [Fact]
    public void Since_works_across_the_wrap_and_an_echo_from_the_future_is_no_sample_RFC7323_4_1()
    {
        var ts = new TcpTimestamps();
        ts.SetOffset(uint.MaxValue - 9);               // Value(0) = 2^32 - 10
        uint sent = ts.Value(TimeSpan.Zero);
        Assert.Equal(Ms(25), ts.Since(sent, Ms(25)));  // now TSval 15, past the wrap
        Assert.Equal(TimeSpan.Zero, ts.Since(sent + 100, Ms(25)));
    }

    // =================================================================== PAWS (5.3, 5.5)

    [Fact]
    public void PAWS_a_TSval_below_TS_Recent_is_old_equal_or_above_is_not_RFC7323_5_3()
    {
        var ts = Enabled(5000);
        Assert.True(ts.Enabled);
        Assert.Equal(5000u, ts.Recent);
        Assert.True(ts.IsOld(4999, Ms(1)));
        Assert.False(ts.IsOld(5000, Ms(1)));
        Assert.False(ts.IsOld(5001, Ms(1)));
    }

    [Fact]
    public void PAWS_compares_modulo_2_to_the_32_RFC7323_5_2()
    {
        // TS.Recent = 2^32 - 16. TSval 5 is 21 ticks later, past the wrap: not old. 2^32 - 17 is one tick before: old.
        var ts = Enabled(uint.MaxValue - 15);
        Assert.False(ts.IsOld(5, Ms(1)));
        Assert.False(ts.IsOld(0, Ms(1)));
        Assert.True(ts.IsOld(uint.MaxValue - 16, Ms(1)));
        Assert.True(ts.IsOld(uint.MaxValue - 15 - (1u << 30), Ms(1)));
        // And from the other side: TS.Recent = 5 after the wrap, 2^32 - 1 is before it.
        var after = Enabled(5);
        Assert.True(after.IsOld(uint.MaxValue, Ms(1)));
        Assert.False(after.IsOld(6, Ms(1)));
    }

    [Fact]
    public void PAWS_is_off_until_both_SYNs_carried_timestamps_RFC7323_3_2()
    {
        var ts = new TcpTimestamps();
        Assert.False(ts.Enabled);
        Assert.False(ts.IsOld(0, Ms(1)));
        ts.OnSegment(1000, Seq(1), Seq(1), Ms(1));  // no update while not enabled
        Assert.False(ts.HasRecent);
    }

    [Fact]
    public void TS_Recent_older_than_24_days_is_no_longer_trusted_RFC7323_5_5()
    {
        // TS.Recent = 5000, recorded at time 0. Up to 24 days later a TSval of 4999 is an old duplicate; after that
        // the connection was idle too long for the peer's clock to be compared (it may have wrapped), so the
        // segment is accepted and TS.Recent is invalid until the next update.
        var ts = Enabled(5000, at: TimeSpan.Zero);
        Assert.True(ts.IsOld(4999, TimeSpan.FromDays(24)));
        Assert.False(ts.IsOld(4999, TimeSpan.FromDays(24) + Ms(1)));
        Assert.False(ts.HasRecent);
        Assert.False(ts.IsOld(1, TimeSpan.FromDays(24) + Ms(2)));

        // The next acceptable segment sets TS.Recent whatever its TSval.
        ts.OnSegment(1, Seq(100), Seq(100), TimeSpan.FromDays(24) + Ms(3));
        Assert.True(ts.HasRecent);
        Assert.Equal(1u, ts.Recent);
        Assert.True(ts.IsOld(0, TimeSpan.FromDays(24) + Ms(4)));
    }

    [Fact]
    public void The_24_days_count_from_the_last_update_of_TS_Recent_RFC7323_5_5()
    {
        var ts = Enabled(5000, at: TimeSpan.Zero);
        ts.OnSegment(6000, Seq(100), Seq(100), TimeSpan.FromDays(20));
        Assert.True(ts.IsOld(5999, TimeSpan.FromDays(30)));  // 10 days after the update
    }

    // =================================================================== TS.Recent (4.3)

    [Fact]
    public void TS_Recent_takes_SEG_TSval_when_the_segment_covers_Last_ACK_sent_RFC7323_4_3()
    {
        // RFC 7323 4.3 (2): "If SEG.TSval >= TS.Recent and SEG.SEQ <= Last.ACK.sent then SEG.TSval is copied to
        // TS.Recent." Last.ACK.sent = 5000 (the RCV.NXT our last ACK carried).
        var ts = Enabled(1000);
        var lastAckSent = Seq(5000);
        ts.OnSegment(1100, Seq(5000), lastAckSent, Ms(1));   // at the left edge: taken
        Assert.Equal(1100u, ts.Recent);
        ts.OnSegment(1100, Seq(4900), lastAckSent, Ms(2));   // equal TSval, below the edge: taken (>=)
        Assert.Equal(1100u, ts.Recent);
        ts.OnSegment(1150, Seq(4900), lastAckSent, Ms(2));   // an overlapping retransmission with a newer TSval
        Assert.Equal(1150u, ts.Recent);
    }

    [Fact]
    public void TS_Recent_ignores_segments_beyond_Last_ACK_sent_RFC7323_4_3()
    {
        // With delayed ACKs, the echo must be the TSval of the earliest segment the ACK answers: a later segment
        // (SEG.SEQ > Last.ACK.sent) does not move TS.Recent.
        var ts = Enabled(1000);
        ts.OnSegment(1200, Seq(5001), Seq(5000), Ms(1));
        Assert.Equal(1000u, ts.Recent);
        ts.OnSegment(1300, Seq(6000), Seq(5000), Ms(1));
        Assert.Equal(1000u, ts.Recent);
    }

    [Fact]
    public void TS_Recent_never_goes_back_RFC7323_4_3()
    {
        var ts = Enabled(1000);
        ts.OnSegment(999, Seq(5000), Seq(5000), Ms(1));
        Assert.Equal(1000u, ts.Recent);
    }

    [Fact]
    public void TS_Recent_moves_on_across_the_wrap_RFC7323_5_2()
    {
        var ts = Enabled(uint.MaxValue);
        ts.OnSegment(3, Seq(5000), Seq(5000), Ms(1));        // 4 ticks later, past the wrap
        Assert.Equal(3u, ts.Recent);
        Assert.True(ts.IsOld(uint.MaxValue, Ms(2)));
    }
}
