using UserNet.Tcp;

namespace UserNet.Tests.Tcp;

/// <summary>
/// HyStart++ (RFC 9406) on its own, with the numbers worked by hand: rounds delimited by windowEnd, the per-round
/// minimum RTT over the first N_RTT_SAMPLE (8) samples, RttThresh = clamp(lastRoundMinRTT / 8, 4 ms, 16 ms), slow start
/// to Conservative Slow Start on a rise, back on a fall below the baseline, done after CSS_ROUNDS (5) rounds or a loss.
/// SMSS is 1000, and the flows start just below 2^32 so that the rounds cross the wrap.
/// </summary>
public sealed class HyStartPlusPlusTests
{
    private const int Mss = 1000;

    /// <summary>
    /// A sender that plays HyStart++ round by round. It starts 30 segments below 2^32 with nothing sent yet
    /// (windowEnd = SND.NXT = SND.UNA), so the first ACK ends that empty round.
    /// </summary>
    private sealed class Flow
    {
        public readonly HyStartPlusPlus Hs = new();
        public SeqNumber Una = new(uint.MaxValue - 29_999);
        /// <summary>windowEnd, as the test expects HyStart++ to hold it.</summary>
        public SeqNumber RoundEnd;

        public Flow()
        {
            RoundEnd = Una;
            Hs.Start(Una);
        }

        /// <summary>
        /// One round, one ACK per RTT sample given (NaN: an ACK that measured none). Each ACK acknowledges one segment
        /// more; the first acknowledges one past the last windowEnd, so it ends that round and starts this one, whose
        /// windowEnd is SND.NXT then, 20 segments further. The others stay below it.
        /// </summary>
        public HyStartPhase Round(params double[] rttMs)
        {
            var phase = Hs.Phase;
            for (int i = 0; i < rttMs.Length; i++)
            {
                Una = (i == 0 ? RoundEnd : Una) + Mss;
                var sndNxt = Una + 20 * Mss;
                if (i == 0) RoundEnd = sndNxt;
                phase = Hs.OnAck(Una, sndNxt, double.IsNaN(rttMs[i]) ? null : TimeSpan.FromMilliseconds(rttMs[i]));
            }
            return phase;
        }
    }

    private static double[] Samples(int n, double ms)
    {
        var a = new double[n];
        Array.Fill(a, ms);
        return a;
    }

    private static TimeSpan Ms(double ms) => TimeSpan.FromMilliseconds(ms);

    /// <summary>Rounds of 100 ms, then a rise to 120 ms: RttThresh = max(4, min(100 / 8, 16)) = 12.5 ms, 120 >= 112.5.</summary>
    private static Flow InCss()
    {
        var f = new Flow();
        Assert.Equal(HyStartPhase.SlowStart, f.Round(Samples(8, 100)));
        Assert.Equal(HyStartPhase.ConservativeSlowStart, f.Round(Samples(8, 120)));
        return f;
    }

    // =================================================================== rounds (RFC 9406 4.2)

    [Fact]
    public void A_round_ends_when_an_ACK_reaches_windowEnd_modulo_2_32_RFC9406_4_2()
    {
        var hs = new HyStartPlusPlus();
        var una = new SeqNumber(uint.MaxValue - 9999);        // 2^32 - 10000
        hs.Start(una + 9000);                                 // windowEnd = 2^32 - 1000: nine segments out

        // Round 1: eight samples of 100 ms, up to una + 8000 = 2^32 - 2000, before windowEnd. The first round has no
        // last round to compare with: no decision.
        for (int k = 1; k <= 8; k++)
            Assert.Equal(HyStartPhase.SlowStart, hs.OnAck(una + k * 1000, una + 9000 + k * 2000, Ms(100)));

        // The ACK of una + 10000 = 0 (after the wrap) is past windowEnd = 2^32 - 1000: round 2 starts, windowEnd =
        // SND.NXT = una + 30000 = 20000, and its 120 ms sample is round 2's first. A plain uint comparison (0 < 2^32 -
        // 1000) would have kept round 1, which had its eight samples already: nothing could ever change.
        Assert.Equal(HyStartPhase.SlowStart, hs.OnAck(una + 10_000, una + 30_000, Ms(120)));
        // Seven more, at 13000 .. 19000: before windowEnd, so still round 2 (an ACK that ended the round would have
        // restarted the count). The eighth sample judges it: 120 >= 100 + 12.5.
        for (int k = 23; k <= 28; k++)
            Assert.Equal(HyStartPhase.SlowStart, hs.OnAck(una + k * 1000, una + 30_000 + k * 1000, Ms(120)));
        Assert.Equal(HyStartPhase.ConservativeSlowStart, hs.OnAck(una + 29_000, una + 60_000, Ms(120)));

        // An ACK exactly at windowEnd (20000) ends round 2 as well: round 3's eight samples of 110 ms fall below the
        // CSS baseline (120), back to slow start. Had round 2 gone on, they would have been its ninth and later: ignored.
        Assert.Equal(HyStartPhase.ConservativeSlowStart, hs.OnAck(una + 30_000, una + 70_000, Ms(110)));
        for (int k = 31; k <= 36; k++)
            Assert.Equal(HyStartPhase.ConservativeSlowStart, hs.OnAck(una + k * 1000, una + 70_000 + k * 1000, Ms(110)));
        Assert.Equal(HyStartPhase.SlowStart, hs.OnAck(una + 37_000, una + 110_000, Ms(110)));
    }

    [Fact]
    public void The_first_round_and_a_round_after_one_without_samples_have_no_lastRoundMinRTT_RFC9406_4_2()
    {
        // lastRoundMinRTT starts at infinity; a round that measured nothing leaves currentRoundMinRTT at infinity, and
        // that becomes the next round's lastRoundMinRTT. "currentRoundMinRTT and lastRoundMinRTT are valid" fails.
        var f = new Flow();
        Assert.Equal(HyStartPhase.SlowStart, f.Round(Samples(8, 500)));         // round 1: nothing to compare with
        Assert.Equal(HyStartPhase.SlowStart, f.Round(Samples(8, double.NaN)));  // no samples at all
        Assert.Equal(HyStartPhase.SlowStart, f.Round(Samples(8, 900)));         // 900 ms, yet no last round to rise from
        Assert.Equal(HyStartPhase.ConservativeSlowStart, f.Round(Samples(8, 920))); // 920 >= 900 + 16
    }

    [Fact]
    public void Fewer_than_N_RTT_SAMPLE_samples_in_a_round_never_decide_RFC9406_4_2()
    {
        var f = new Flow();
        f.Round(Samples(8, 100));
        // Seven samples of 200 ms: far above 100 + 12.5, but a round is judged only with eight.
        Assert.Equal(HyStartPhase.SlowStart, f.Round(Samples(7, 200)));
        // Twenty ACKs of which only seven measured an RTT (Karn's rule, delayed ACKs...): still seven.
        Assert.Equal(HyStartPhase.SlowStart,
            f.Round(200, double.NaN, 200, double.NaN, 200, double.NaN, 200, double.NaN, 200, double.NaN,
                200, double.NaN, 200, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN));
        Assert.Equal(HyStartPhase.SlowStart, f.Hs.Phase);
        // Rounds of seven still set lastRoundMinRTT (200): eight samples of 210 ms are no rise (210 < 200 + 16).
        Assert.Equal(HyStartPhase.SlowStart, f.Round(Samples(8, 210)));
    }

    [Fact]
    public void Only_the_first_N_RTT_SAMPLE_samples_of_a_round_count_RFC9406_4_2()
    {
        var f = new Flow();
        f.Round(Samples(8, 100));
        // Eight samples at the last round's 100 ms (no rise), then a ninth at 130: the round's minimum is that of its
        // first eight, 100, so no CSS.
        Assert.Equal(HyStartPhase.SlowStart, f.Round(100, 100, 100, 100, 100, 100, 100, 100, 130, 130));
        // Eight at 130, then one of 90: the eighth judged the round (130 >= 100 + 12.5); the 90 ms sample is not
        // counted, so the CSS baseline stays 130 and nothing falls below it in this round.
        Assert.Equal(HyStartPhase.ConservativeSlowStart, f.Round(130, 130, 130, 130, 130, 130, 130, 130, 90));
    }

    [Theory]
    [InlineData(10, 13.9, 14)]      // 10 / 8 = 1.25 ms, below MIN_RTT_THRESH: 4 ms
    [InlineData(32, 35.9, 36)]      // 32 / 8 = 4 ms exactly
    [InlineData(64, 71.9, 72)]      // 64 / 8 = 8 ms, within the bounds
    [InlineData(128, 143.9, 144)]   // 128 / 8 = 16 ms exactly
    [InlineData(200, 215.9, 216)]   // 200 / 8 = 25 ms, above MAX_RTT_THRESH: 16 ms
    public void RttThresh_is_lastRoundMinRTT_over_8_clamped_to_4_and_16_ms_RFC9406_4_2(double lastMs, double belowMs, double atMs)
    {
        var below = new Flow();
        below.Round(Samples(8, lastMs));
        Assert.Equal(HyStartPhase.SlowStart, below.Round(Samples(8, belowMs)));

        var at = new Flow();
        at.Round(Samples(8, lastMs));
        Assert.Equal(HyStartPhase.ConservativeSlowStart, at.Round(Samples(8, atMs))); // currentRoundMinRTT >= last + RttThresh
    }

    // =================================================================== slow start and CSS (RFC 9406 4.2)

    [Fact]
    public void Slow_start_grows_by_at_most_L_SMSS_per_ACK_and_CSS_by_a_quarter_of_that_RFC9406_4_2_4_3()
    {
        var f = new Flow();
        Assert.Equal(HyStartPhase.SlowStart, f.Hs.Phase);
        Assert.Equal(1, f.Hs.GrowthDivisor);                   // cwnd += min(N, L * SMSS)
        Assert.Equal(8000u, f.Hs.MaxIncrease(1000));           // L = 8: the sender does not pace
        Assert.Equal(11_680u, f.Hs.MaxIncrease(1460));

        f = InCss();
        Assert.Equal(4, f.Hs.GrowthDivisor);                   // cwnd += min(N, L * SMSS) / CSS_GROWTH_DIVISOR
        Assert.Equal(8000u, f.Hs.MaxIncrease(1000));
    }

    [Fact]
    public void A_rise_of_RttThresh_in_the_round_minimum_enters_CSS_RFC9406_4_2()
    {
        var f = new Flow();
        Assert.Equal(HyStartPhase.SlowStart, f.Round(Samples(8, 100)));
        Assert.Equal(HyStartPhase.SlowStart, f.Round(Samples(8, 105)));   // 105 < 100 + 12.5
        // lastRoundMinRTT is now 105, RttThresh 105 / 8 = 13.125: 118 < 118.125, 119 >= 118.125. The minimum decides:
        // one sample of 118 among the 119s keeps it below.
        Assert.Equal(HyStartPhase.SlowStart, f.Round(119, 119, 119, 119, 118, 119, 119, 119));
        Assert.Equal(HyStartPhase.SlowStart, f.Round(Samples(8, 119)));   // last = 118: 119 < 118 + 14.75
        var g = new Flow();
        g.Round(Samples(8, 105));
        Assert.Equal(HyStartPhase.ConservativeSlowStart, g.Round(Samples(8, 119)));
    }

    [Fact]
    public void In_CSS_a_round_minimum_below_the_baseline_resumes_slow_start_RFC9406_4_2()
    {
        var f = InCss();                                                  // cssBaselineMinRtt = 120
        Assert.Equal(HyStartPhase.ConservativeSlowStart, f.Round(Samples(8, 120)));   // not below: stay
        Assert.Equal(HyStartPhase.ConservativeSlowStart, f.Round(Samples(8, 125)));
        Assert.Equal(HyStartPhase.SlowStart, f.Round(125, 125, 125, 125, 125, 125, 125, 119)); // 119 < 120
        Assert.Equal(1, f.Hs.GrowthDivisor);
        // Slow start "including HyStart++": the next rise (last = 119, thresh 14.875) enters CSS again.
        Assert.Equal(HyStartPhase.ConservativeSlowStart, f.Round(Samples(8, 134)));
    }

    [Fact]
    public void CSS_ends_slow_start_after_CSS_ROUNDS_rounds_the_partial_first_one_counting_RFC9406_4_2()
    {
        var f = InCss();                                       // round 2 (partial) is CSS round 1
        for (int round = 2; round <= 5; round++)               // CSS rounds 2 to 5, the RTT steady at 120
            Assert.Equal(HyStartPhase.ConservativeSlowStart, f.Round(Samples(8, 120)));
        // The first ACK past the fifth CSS round's windowEnd: "If CSS_ROUNDS rounds are complete, enter congestion
        // avoidance" (the caller sets ssthresh = cwnd).
        Assert.Equal(HyStartPhase.Done, f.Round(120));
        Assert.Equal(1, f.Hs.GrowthDivisor);
        Assert.Equal(HyStartPhase.Done, f.Round(Samples(8, 50)));   // done for good
    }

    [Fact]
    public void CSS_rounds_count_afresh_after_a_return_to_slow_start_RFC9406_4_2()
    {
        var f = InCss();
        f.Round(Samples(8, 120));
        f.Round(Samples(8, 120));                              // CSS rounds 1 to 3
        Assert.Equal(HyStartPhase.SlowStart, f.Round(Samples(8, 110)));            // back (110 < 120)
        Assert.Equal(HyStartPhase.ConservativeSlowStart, f.Round(Samples(8, 130))); // 130 >= 110 + 13.75: CSS round 1
        for (int round = 2; round <= 5; round++)
            Assert.Equal(HyStartPhase.ConservativeSlowStart, f.Round(Samples(8, 130)));
        Assert.Equal(HyStartPhase.Done, f.Round(130));
    }

    // =================================================================== loss and restart (RFC 9406 4.2, 4.3)

    [Fact]
    public void A_loss_in_slow_start_or_CSS_ends_HyStart_and_a_restart_does_not_bring_it_back_RFC9406_4_2_4_3()
    {
        var ss = new Flow();
        ss.Round(Samples(8, 100));
        ss.Hs.OnCongestion();
        Assert.Equal(HyStartPhase.Done, ss.Hs.Phase);
        Assert.Equal(HyStartPhase.Done, ss.Round(Samples(8, 200)));
        // Slow start after the timeout is the traditional one: "An implementation SHOULD use HyStart++ only for the
        // initial slow start".
        ss.Hs.Start(ss.Una);
        Assert.Equal(HyStartPhase.Done, ss.Hs.Phase);
        Assert.Equal(HyStartPhase.Done, ss.Round(Samples(8, 100)));

        var css = InCss();
        css.Hs.OnCongestion();
        Assert.Equal(HyStartPhase.Done, css.Hs.Phase);
        Assert.Equal(1, css.Hs.GrowthDivisor);
        Assert.Equal(HyStartPhase.Done, css.Round(Samples(8, 100)));
    }
}
