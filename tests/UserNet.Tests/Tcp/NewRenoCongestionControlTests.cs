using UserNet.Tcp;

namespace UserNet.Tests.Tcp;

/// <summary>
/// NewReno behind <see cref="ICongestionController"/>, with the numbers worked by hand: RFC 5681 (slow start,
/// congestion avoidance, ssthresh after a loss and a timeout), RFC 6928 (the initial window), RFC 7661 (only a window
/// that limited the sender grows). Recovery's rate is PRR's (RFC 6937) and which segments are resent is the sender's,
/// so they are tested with <see cref="ProportionalRateReduction"/> and the TCB. SMSS is 1000 unless a test says
/// otherwise.
/// </summary>
public sealed class NewRenoCongestionControlTests
{
    private const int Mss = 1000;
    private static readonly SeqNumber Una = new(uint.MaxValue - 4999);
    private static readonly TimeSpan T0 = TimeSpan.FromSeconds(1);

    private static NewRenoCongestionControl Started(int mss = Mss)
    {
        var cc = new NewRenoCongestionControl();
        cc.Start(mss, Una, T0);
        return cc;
    }

    private static void Ack(NewRenoCongestionControl cc, uint acked, uint flightBefore) =>
        cc.OnAck(acked, flightBefore, Una + (int)acked, Una + 20_000, T0, null, TimeSpan.Zero, TimeSpan.Zero);

    [Theory]
    [InlineData(536, 5360)]     // min(5360, max(1072, 14600))
    [InlineData(1000, 10_000)]  // min(10000, max(2000, 14600))
    [InlineData(1460, 14_600)]  // min(14600, max(2920, 14600))
    [InlineData(1500, 14_600)]  // min(15000, max(3000, 14600))
    [InlineData(8960, 17_920)]  // min(89600, max(17920, 14600))
    public void Initial_window_is_min_10_MSS_max_2_MSS_14600_RFC6928_2(int mss, int window)
    {
        ICongestionController cc = new NewRenoCongestionControl();
        cc.Start(mss, Una, T0);
        Assert.Equal((uint)window, cc.Window);
        Assert.Equal(uint.MaxValue, cc.SlowStartThreshold); // "arbitrarily high" (RFC 5681 3.1)
    }

    [Fact]
    public void Slow_start_grows_cwnd_by_min_acked_SMSS_per_ACK_RFC5681_3_1()
    {
        var cc = Started();                              // cwnd 10000, the sender keeps it full
        Ack(cc, 1000, 10_000);
        Assert.Equal(11_000u, cc.Window);                // + min(1000, 1000)
        Ack(cc, 3000, 11_000);                           // a stretch ACK of three segments
        Assert.Equal(12_000u, cc.Window);                // + min(3000, 1000): one SMSS, not three
        Ack(cc, 500, 12_000);
        Assert.Equal(12_500u, cc.Window);                // + min(500, 1000)
    }

    [Fact]
    public void Slow_start_below_ssthresh_then_congestion_avoidance_adds_SMSS_squared_over_cwnd_RFC5681_3_1()
    {
        var cc = Started();
        cc.OnRetransmitTimeout(10_000, T0);              // ssthresh = max(10000 / 2, 2000) = 5000, cwnd = 1000
        Assert.Equal(1000u, cc.Window);
        uint[] expected = [2000, 3000, 4000, 5000];      // slow start while cwnd < ssthresh: + 1000 per ACK
        foreach (var w in expected)
        {
            Ack(cc, 1000, cc.Window);
            Assert.Equal(w, cc.Window);
        }
        Ack(cc, 1000, cc.Window);                        // cwnd = ssthresh: congestion avoidance
        Assert.Equal(5200u, cc.Window);                  // + 1000 * 1000 / 5000 = 200
        Ack(cc, 1000, cc.Window);
        Assert.Equal(5392u, cc.Window);                  // + 1000000 / 5200 = 192.3, rounded down to 192
    }

    [Fact]
    public void Congestion_avoidance_adds_at_least_one_byte_per_ACK_RFC5681_3_1()
    {
        var cc = Started(10);                            // cwnd min(100, max(20, 14600)) = 100
        cc.OnRetransmitTimeout(40, T0);                  // ssthresh = max(20, 20) = 20, cwnd 10
        while (cc.Window <= 100) Ack(cc, 10, cc.Window);
        Assert.Equal(101u, cc.Window);
        Ack(cc, 10, cc.Window);
        Assert.Equal(102u, cc.Window);                   // 100 / 101 = 0: "rounded up to 1 byte"
    }

    [Fact]
    public void Only_a_window_that_limited_the_sender_grows_RFC7661()
    {
        var cc = Started();                              // cwnd 10000
        Ack(cc, 1000, 8999);                             // 8999 + 1000 < 10000: the application held it back
        Assert.Equal(10_000u, cc.Window);
        Ack(cc, 1000, 9000);                             // 9000 + 1000 = cwnd: less than a segment was left
        Assert.Equal(11_000u, cc.Window);
    }

    [Fact]
    public void A_loss_sets_ssthresh_to_half_the_flight_at_least_2_SMSS_and_leaves_cwnd_to_PRR_RFC5681_equation_4()
    {
        var cc = Started();
        cc.OnCongestionEvent(10_000, T0);
        Assert.Equal(5000u, cc.SlowStartThreshold);      // max(10000 / 2, 2000)
        Assert.Equal(10_000u, cc.Window);                // PRR brings it down, segment by segment
        cc.SetWindow(6000);
        Assert.Equal(6000u, cc.Window);
        cc.OnRecoveryExit(T0);
        Assert.Equal(5000u, cc.Window);                  // RFC 6937: cwnd = ssthresh when recovery ends

        var small = Started();
        small.OnCongestionEvent(3000, T0);
        Assert.Equal(2000u, small.SlowStartThreshold);   // max(1500, 2000)
    }

    [Fact]
    public void A_timeout_leaves_a_loss_window_of_one_segment_RFC5681_3_1()
    {
        var cc = Started();
        cc.OnRetransmitTimeout(8000, T0);
        Assert.Equal(1000u, cc.Window);
        Assert.Equal(4000u, cc.SlowStartThreshold);
    }

    [Fact]
    public void Undo_puts_back_cwnd_and_ssthresh_from_before_a_spurious_reduction_RFC3522()
    {
        var cc = Started();
        Ack(cc, 1000, 10_000);                           // cwnd 11000
        cc.OnRetransmitTimeout(11_000, T0);
        Assert.Equal(1000u, cc.Window);
        cc.Undo();
        Assert.Equal(11_000u, cc.Window);
        Assert.Equal(uint.MaxValue, cc.SlowStartThreshold);
        cc.Undo();                                       // nothing more to undo
        Assert.Equal(11_000u, cc.Window);
    }
}
