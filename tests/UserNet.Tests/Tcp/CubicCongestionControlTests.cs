using UserNet.Tcp;

namespace UserNet.Tests.Tcp;

/// <summary>
/// CUBIC (RFC 9438) with the numbers worked by hand: beta_cubic = 0.7, C = 0.4, alpha_cubic = 3 * 0.3 / 1.7 ≈ 0.529,
/// W_cubic(t) = C * (t - K)^3 + W_max with K = cbrt((W_max - cwnd_epoch) / C), the Reno-friendly region, fast
/// convergence, the timeout, spurious events; RFC 9406 (HyStart++) ending slow start, RFC 6928 (the initial window),
/// RFC 7661 (only a window that limited the sender grows). SMSS is 1000, so a window in segments is cwnd / 1000, and
/// the RTT 100 ms unless a test says otherwise. A <see cref="Flow"/> keeps the window full over a manual clock; RFC
/// 9438's windows are in segments and its times in seconds, and so are the comments.
/// </summary>
public sealed class CubicCongestionControlTests
{
    private const int Mss = 1000;
    private const double C = 0.4;
    private static readonly SeqNumber Iss = new(uint.MaxValue - 4999);

    /// <summary>RFC 9438 figure 1: W_cubic(t) = C * (t - K)^3 + W_max.</summary>
    private static double WCubic(double t, double k, double wMax) => C * Math.Pow(t - k, 3) + wMax;

    /// <summary>
    /// A bulk sender over a manual clock. Each <see cref="Ack"/> acknowledges one segment at <see cref="Now"/> with the
    /// window full before it (flightBefore = cwnd), and the next comes RTT / cwnd later: a window of ACKs per RTT.
    /// </summary>
    private sealed class Flow
    {
        public readonly CubicCongestionControl Cc = new();
        public readonly TimeSpan Rtt;
        public TimeSpan Now = TimeSpan.FromSeconds(1);
        public TimeSpan LastAckAt;
        public SeqNumber Una = Iss;

        public Flow(double rttMs = 100)
        {
            Rtt = TimeSpan.FromMilliseconds(rttMs);
            Cc.Start(Mss, Una, Now);
        }

        public double Segments => Cc.Window / (double)Mss;

        public void Ack(uint acked = Mss, TimeSpan? sample = null, uint? flightBefore = null)
        {
            Una += acked;
            LastAckAt = Now;
            Cc.OnAck(acked, flightBefore ?? Cc.Window, Una, Una + Cc.Window, Now, sample, Rtt, Rtt);
            Now += Rtt / Segments;
        }

        public void RunUntil(TimeSpan until)
        {
            while (Now < until) Ack();
        }

        /// <summary>Slow start (no RTT samples, so HyStart++ never ends it) up to <paramref name="segments"/>.</summary>
        public void GrowTo(int segments)
        {
            while (Cc.Window < segments * Mss) Ack();
            Assert.Equal((uint)(segments * Mss), Cc.Window);
        }

        /// <summary>
        /// A loss: the congestion event (4.6) at the window as it is, PRR taking cwnd down to ssthresh, the end of
        /// recovery. The next ACK, at <see cref="Now"/>, starts the congestion avoidance stage: returns that time.
        /// </summary>
        public TimeSpan Loss()
        {
            Cc.OnCongestionEvent(Cc.Window, Now);
            Cc.SetWindow(Cc.SlowStartThreshold);
            Cc.OnRecoveryExit(Now);
            Assert.Equal(Cc.SlowStartThreshold, Cc.Window);
            return Now;
        }

        /// <summary>Runs to <paramref name="t"/> seconds after <paramref name="epoch"/>; returns the last ACK's t.</summary>
        public double RunTo(TimeSpan epoch, double t)
        {
            RunUntil(epoch + TimeSpan.FromSeconds(t));
            return (LastAckAt - epoch).TotalSeconds;
        }
    }

    // =================================================================== the initial window (RFC 6928) and slow start

    [Theory]
    [InlineData(536, 5360)]     // min(5360, max(1072, 14600))
    [InlineData(1000, 10_000)]  // min(10000, max(2000, 14600))
    [InlineData(1460, 14_600)]  // min(14600, max(2920, 14600))
    [InlineData(4096, 14_600)]  // min(40960, max(8192, 14600))
    [InlineData(9000, 18_000)]  // min(90000, max(18000, 14600))
    public void Initial_window_is_min_10_MSS_max_2_MSS_14600_RFC6928_2(int mss, int window)
    {
        var cc = new CubicCongestionControl();
        cc.Start(mss, Iss, TimeSpan.Zero);
        Assert.Equal((uint)window, cc.Window);
        Assert.Equal(uint.MaxValue, cc.SlowStartThreshold);
    }

    [Fact]
    public void Slow_start_grows_by_min_acked_L_SMSS_with_HyStart_and_by_min_acked_SMSS_after_a_timeout_RFC9406_4_2_RFC5681_3_1()
    {
        var f = new Flow();                              // cwnd 10000
        f.Ack(1000);
        Assert.Equal(11_000u, f.Cc.Window);              // + min(1000, 8 * 1000)
        f.Ack(5000);
        Assert.Equal(16_000u, f.Cc.Window);              // + min(5000, 8000): a stretch ACK counts in full up to L = 8
        f.Ack(12_000);
        Assert.Equal(24_000u, f.Cc.Window);              // + min(12000, 8000)

        f.Cc.OnRetransmitTimeout(24_000, f.Now);         // ssthresh = 0.7 * 24000 = 16800, cwnd 1000
        Assert.Equal(1000u, f.Cc.Window);
        f.Ack(3000);
        Assert.Equal(2000u, f.Cc.Window);                // traditional slow start: + min(3000, 1000)
        f.Ack(500);
        Assert.Equal(2500u, f.Cc.Window);                // + min(500, 1000)
    }

    [Fact]
    public void Only_a_window_that_limited_the_sender_grows_RFC7661()
    {
        // Slow start, cwnd 10000: with 8999 in flight the sender could have sent more, 8999 + 1000 < 10000.
        var f = new Flow();
        f.Ack(1000, flightBefore: 8999);
        Assert.Equal(10_000u, f.Cc.Window);
        f.Ack(1000, flightBefore: 9000);                 // 9000 + 1000 = cwnd: less than a segment was left
        Assert.Equal(11_000u, f.Cc.Window);

        // Congestion avoidance: W_max = 100, cwnd_epoch = 70, K = cbrt(30 / 0.4) = cbrt(75) ≈ 4.217 s. Two seconds
        // with the window full, then three seconds in which the application keeps only half of it in flight.
        var ca = new Flow();
        ca.GrowTo(100);
        var epoch = ca.Loss();
        ca.RunTo(epoch, 2);
        uint before = ca.Cc.Window;
        var appLimitedUntil = ca.Now + TimeSpan.FromSeconds(3);
        while (ca.Now < appLimitedUntil)
        {
            ca.Ack(flightBefore: before / 2);
            ca.Now = ca.LastAckAt + TimeSpan.FromMilliseconds(10);
        }
        Assert.Equal(before, ca.Cc.Window);              // no growth at all

        // RFC 9438 5.8: "t ... MUST NOT include these periods". Full again for one second: three seconds of t,
        // W_cubic(3) = 0.4 * (3 - 4.217)^3 + 100 ≈ 99.28, not the six of the clock, W_cubic(6) ≈ 102.27.
        double k = Math.Cbrt(75);
        var resumed = ca.Now;
        ca.RunUntil(resumed + TimeSpan.FromSeconds(1));
        double t = 2 + (ca.LastAckAt - resumed).TotalSeconds;
        Assert.InRange(ca.Segments, WCubic(t, k, 100) - 0.5, WCubic(t, k, 100) + 0.5);
    }

    [Fact]
    public void An_idle_period_is_not_part_of_t_RFC9438_5_8()
    {
        var f = new Flow();
        f.GrowTo(100);
        var epoch = f.Loss();                            // K = cbrt(75) ≈ 4.217 s, as above
        double t = f.RunTo(epoch, 2);
        // The last segment in flight is acknowledged (the application had nothing more to send), then nothing for
        // ten seconds; the application writes again, and the first ACK of a full window comes an RTT after that.
        f.Ack(flightBefore: Mss);
        f.Now = f.LastAckAt + TimeSpan.FromSeconds(10);
        var resumed = f.Now;
        f.RunUntil(resumed + TimeSpan.FromSeconds(1));
        // t goes on from where it stopped, plus the RTT the new data took: about 3.1 s, W_cubic(3.1) ≈ 99.4. Counting
        // the idle time, t would be about 13 s and W_cubic(13) = 0.4 * 8.78^3 + 100 ≈ 371.
        double active = t + f.Rtt.TotalSeconds + (f.LastAckAt - resumed).TotalSeconds;
        double k = Math.Cbrt(75);
        Assert.InRange(f.Segments, WCubic(active, k, 100) - 0.5, WCubic(active, k, 100) + 0.5);
    }

    // =================================================================== the window increase function (RFC 9438 4.2, 4.4, 4.5)

    [Fact]
    public void Congestion_avoidance_follows_W_cubic_t_RFC9438_4_2()
    {
        // W_max = 1000 segments; ssthresh = cwnd_epoch = 700, K = cbrt((1000 - 700) / 0.4) = cbrt(750) ≈ 9.086 s.
        // W_cubic(1) = 0.4 * (-8.086)^3 + 1000 ≈ 788.6, W_cubic(2) ≈ 857.7, W_cubic(5) ≈ 972.7, W_cubic(K) = 1000,
        // W_cubic(12) = 0.4 * 2.914^3 + 1000 ≈ 1009.9, W_cubic(14) ≈ 1047.5. With the target W_cubic(t + RTT) reached
        // over the next RTT (the increase is (target - cwnd) / cwnd per segment, a window of segments per RTT), cwnd
        // follows W_cubic(t) closely: about RTT^2 / 2 * W_cubic''(t) away, a tenth of a segment at most here.
        var f = new Flow();
        f.GrowTo(1000);
        var epoch = f.Loss();
        Assert.Equal(700_000u, f.Cc.SlowStartThreshold);
        Assert.Equal(700_000u, f.Cc.Window);
        double k = Math.Cbrt(750);
        Assert.Equal(9.086, k, 3);
        foreach (double at in new[] { 0.5, 1, 2, 3, 5, 7, 9, k, 10, 12, 14 })
        {
            double t = f.RunTo(epoch, at);
            double w = WCubic(t, k, 1000);
            Assert.True(Math.Abs(f.Segments - w) < 0.25, $"t = {t:F3} s: cwnd {f.Segments:F2}, W_cubic(t) {w:F2}");
        }
    }

    [Fact]
    public void K_is_the_cube_root_of_W_max_minus_cwnd_epoch_over_C_RFC9438_4_2()
    {
        // W_max = 100 segments. The reduction (4.6): cwnd_epoch = ssthresh = 0.7 * 100 = 70, and
        // K = cbrt((100 - 70) / 0.4) = cbrt(100 * 0.3 / 0.4) = cbrt(75) ≈ 4.217 s: the window is back at W_max then.
        // Half way, (K / 2)^3 = 75 / 8: W_cubic(K / 2) = 100 - 0.4 * 9.375 = 96.25.
        var f = new Flow();
        f.GrowTo(100);
        var epoch = f.Loss();
        Assert.Equal(70_000u, f.Cc.Window);
        double k = Math.Cbrt(75);
        Assert.Equal(4.217, k, 3);

        double half = f.RunTo(epoch, k / 2);
        Assert.InRange(f.Segments, WCubic(half, k, 100) - 0.5, WCubic(half, k, 100) + 0.5);
        Assert.InRange(f.Segments, 95.75, 96.75);
        f.RunTo(epoch, k);
        Assert.InRange(f.Segments, 99.5, 100.5);         // W_cubic(K) = W_max
    }

    [Fact]
    public void The_window_is_concave_up_to_W_max_then_convex_beyond_RFC9438_4_4_4_5()
    {
        // W_max = 1000, K ≈ 9.086 s (as above). The window at each whole second: the increase per second shrinks up
        // to K (concave: 88.6, 69.1, 52.1, ... segments), the window flattens at W_max, then the increase grows again
        // (convex, the "maximum probing phase"): W_cubic(16) = 0.4 * 6.914^3 + 1000 ≈ 1132.
        var f = new Flow();
        f.GrowTo(1000);
        var epoch = f.Loss();
        var w = new double[17];
        w[0] = f.Segments;
        for (int s = 1; s <= 16; s++)
        {
            f.RunTo(epoch, s);
            w[s] = f.Segments;
        }
        for (int s = 1; s < 9; s++)
            Assert.True(w[s + 1] - w[s] < w[s] - w[s - 1], $"concave at {s} s: {w[s - 1]:F1} {w[s]:F1} {w[s + 1]:F1}");
        Assert.InRange(w[9], 999, 1000);                 // flat near W_max: W_cubic(9) = 1000 - 0.4 * 0.086^3
        Assert.InRange(w[10], 1000, 1001);               // W_cubic(10) = 1000 + 0.4 * 0.914^3 ≈ 1000.3
        for (int s = 10; s < 16; s++)
            Assert.True(w[s + 1] - w[s] > w[s] - w[s - 1], $"convex at {s} s: {w[s - 1]:F1} {w[s]:F1} {w[s + 1]:F1}");
        Assert.InRange(w[16], 1131, 1133);
    }

    [Fact]
    public void The_target_is_at_most_one_and_a_half_cwnd_RFC9438_4_2()
    {
        // A timeout at the initial window (10 segments): ssthresh 7, cwnd 1; slow start back to 7. Congestion
        // avoidance then starts with W_max = cwnd_epoch = 7 and K = 0 (4.8), and on an RTT of 10 s the target
        // W_cubic(t + 10) = 7 + 0.4 * (t + 10)^3 is hundreds of segments: the bound 1.5 * cwnd holds it back.
        var f = new Flow();
        f.Cc.OnRetransmitTimeout(f.Cc.Window, f.Now);
        Assert.Equal(7000u, f.Cc.SlowStartThreshold);
        f.GrowTo(7);
        var srtt = TimeSpan.FromSeconds(10);
        var epoch = f.Now;
        // The first ACK starts the epoch. W_est = 7 + 0.529 * 1 / 7 ≈ 7.0756 is ahead of W_cubic(0) = 7: the
        // Reno-friendly region, cwnd = W_est = 7075.6 bytes.
        f.Una += Mss;
        f.Cc.OnAck(Mss, f.Cc.Window, f.Una, f.Una + 7000, epoch, null, srtt, srtt);
        Assert.Equal(7075u, f.Cc.Window);
        // Two seconds on: W_cubic(2) = 7 + 3.2 = 10.2 is ahead of W_est (7.15). target = W_cubic(12) = 7 + 0.4 * 1728
        // = 698.2, more than 1.5 * 7.0756 = 10.61: target = 10.61, and cwnd grows by (10.61 - 7.0756) / 7.0756 = 0.5
        // segment for the segment acknowledged (not by 97.7), to 7575.6 bytes.
        f.Una += Mss;
        f.Cc.OnAck(Mss, f.Cc.Window, f.Una, f.Una + 7000, epoch + TimeSpan.FromSeconds(2), null, srtt, srtt);
        Assert.Equal(7575u, f.Cc.Window);
    }

    // =================================================================== the Reno-friendly region (RFC 9438 4.3)

    [Fact]
    public void On_a_short_RTT_the_Reno_friendly_region_sets_cwnd_to_W_est_RFC9438_4_3()
    {
        // W_max = 10: cwnd_epoch = 7, K = cbrt(3 / 0.4) ≈ 1.957 s, and the cubic function barely moves in a second:
        // W_cubic(1) = 0.4 * (1 - 1.957)^3 + 10 ≈ 9.65. With an RTT of 10 ms, Reno does much better: W_est grows by
        // alpha_cubic ≈ 0.529 per RTT (a window of ACKs, each adding alpha_cubic * 1 / cwnd) until it reaches
        // cwnd_prior = 10, after (10 - 7) / 0.529 ≈ 5.67 RTTs, then by 1 per RTT: after 100 RTTs, 10 + 94.3 = 104.3.
        var f = new Flow(rttMs: 10);
        var epoch = f.Loss();                            // at the initial window, 10 segments
        Assert.Equal(7000u, f.Cc.Window);

        f.RunTo(epoch, 0.05);                            // 5 RTTs: W_est = 7 + 5 * 0.529 = 9.65, W_cubic(0.05) ≈ 7.23
        Assert.InRange(f.Segments, 9.65 - 0.3, 9.65 + 0.3);
        f.RunTo(epoch, 1);
        Assert.InRange(f.Segments, 104.3 - 1, 104.3 + 1);
        Assert.True(f.Segments > 10 * WCubic(1, Math.Cbrt(7.5), 10));
    }

    // =================================================================== multiplicative decrease and fast convergence (4.6, 4.7)

    [Fact]
    public void A_congestion_event_sets_ssthresh_to_0_7_cwnd_at_least_2_SMSS_and_leaves_cwnd_to_recovery_RFC9438_4_6()
    {
        var f = new Flow();                              // cwnd 10000
        f.Cc.OnCongestionEvent(10_000, f.Now);
        Assert.Equal(7000u, f.Cc.SlowStartThreshold);    // 10000 * 0.7
        Assert.Equal(10_000u, f.Cc.Window);              // PRR's to reduce
        f.Cc.SetWindow(6000);                            // PRR may take it below ssthresh, then back up
        Assert.Equal(6000u, f.Cc.Window);
        f.Cc.OnRecoveryExit(f.Now);
        Assert.Equal(7000u, f.Cc.Window);                // cwnd = ssthresh

        var small = new Flow();
        small.Cc.SetWindow(2500);
        small.Cc.OnCongestionEvent(2500, small.Now);
        Assert.Equal(2000u, small.Cc.SlowStartThreshold); // max(2500 * 0.7 = 1750, 2 * 1000)
        small.Cc.OnRecoveryExit(small.Now);
        Assert.Equal(2000u, small.Cc.Window);
    }

    [Fact]
    public void Fast_convergence_a_second_event_below_W_max_sets_W_max_to_cwnd_times_1_plus_beta_over_2_RFC9438_4_7()
    {
        // The first event at 1000 segments: W_max = 1000, cwnd 700. The flow gets back to about 800 only (another flow
        // took the rest) and loses again: 800 < W_max, so W_max = 800 * (1 + 0.7) / 2 = 680 and ssthresh = 560;
        // K = cbrt((680 - 560) / 0.4) = cbrt(300) ≈ 6.694 s, and the window levels off at 680. Without fast
        // convergence (W_max = 800, K = cbrt(600) ≈ 8.434 s) it would be at 0.4 * (6.694 - 8.434)^3 + 800 ≈ 797.9.
        var f = new Flow();
        f.GrowTo(1000);
        var epoch = f.Loss();
        while (f.Cc.Window < 800_000) f.Ack();
        double cwnd = f.Segments;                        // 800 and a fraction
        epoch = f.Loss();
        double wMax = cwnd * 1.7 / 2;
        Assert.InRange(f.Cc.SlowStartThreshold, cwnd * Mss * 0.7 - 1, cwnd * Mss * 0.7 + 1);
        double k = Math.Cbrt((wMax - f.Segments) / C);
        Assert.Equal(6.694, k, 2);
        f.RunTo(epoch, k);
        Assert.InRange(f.Segments, wMax - 0.5, wMax + 0.5);   // ≈ 680

        // A third event above the last W_max: "otherwise, remember cwnd before reduction". Let it grow past 680, to
        // 700 (convex region), and lose: W_max = 700, ssthresh 490, K = cbrt(210 / 0.4) = cbrt(525) ≈ 8.07 s.
        while (f.Cc.Window < 700_000) f.Ack();
        cwnd = f.Segments;
        epoch = f.Loss();
        k = Math.Cbrt((cwnd - f.Segments) / C);
        f.RunTo(epoch, k);
        Assert.InRange(f.Segments, cwnd - 0.5, cwnd + 0.5);
    }

    // =================================================================== timeout (RFC 9438 4.8)

    [Fact]
    public void A_timeout_sets_cwnd_to_one_segment_ssthresh_as_4_6_and_then_K_0_W_max_cwnd_epoch_RFC9438_4_8()
    {
        var f = new Flow();
        f.GrowTo(100);
        f.Cc.OnRetransmitTimeout(100_000, f.Now);
        Assert.Equal(1000u, f.Cc.Window);                // one segment
        Assert.Equal(70_000u, f.Cc.SlowStartThreshold);  // 0.7 * 100 segments
        // The retransmission is lost too, the timer expires again before any ACK: ssthresh is held (RFC 5681 3.1), not
        // 0.7 * 1 segment -> 2 segments.
        f.Cc.OnRetransmitTimeout(1000, f.Now);
        Assert.Equal(70_000u, f.Cc.SlowStartThreshold);
        Assert.Equal(1000u, f.Cc.Window);

        f.GrowTo(70);                                    // slow start to ssthresh, 69 ACKs
        // The first ACK of congestion avoidance: W_max = cwnd_epoch = 70 and K = 0, so W_cubic(t) = 70 + 0.4 * t^3,
        // convex from the start. Reno-friendly first (W_est = 70 + 0.529 per RTT, ahead until 0.4 t^2 = 5.29, t ≈ 3.6 s),
        // then cubic: W_cubic(5) = 70 + 50 = 120 and W_cubic(6) = 156.4 (had K been cbrt(75), W_cubic(5) would be ≈ 100.2).
        var epoch = f.Now;
        double t = f.RunTo(epoch, 5);
        Assert.InRange(f.Segments, WCubic(t, 0, 70) - 1, WCubic(t, 0, 70) + 1);
        t = f.RunTo(epoch, 6);
        Assert.InRange(f.Segments, WCubic(t, 0, 70) - 1, WCubic(t, 0, 70) + 1);
    }

    // =================================================================== spurious congestion events (RFC 9438 4.9)

    [Fact]
    public void Undo_after_a_spurious_congestion_event_restores_the_state_saved_then_RFC9438_4_9()
    {
        // Two flows alike, in congestion avoidance after a loss at 100 segments (W_max 100, K ≈ 4.217 s), three seconds
        // in. One sees a (spurious) loss: ssthresh 0.7 * cwnd, PRR, cwnd = ssthresh; then DSACK shows the
        // retransmission was needless: cwnd, ssthresh, W_max, K, epoch_start and W_est come back, and it goes on as if
        // nothing had happened.
        var a = new Flow();
        var b = new Flow();
        foreach (var f in new[] { a, b })
        {
            f.GrowTo(100);
            var epoch = f.Loss();
            f.RunTo(epoch, 3);
        }
        uint window = a.Cc.Window, ssthresh = a.Cc.SlowStartThreshold;
        Assert.Equal(70_000u, ssthresh);
        a.Cc.OnCongestionEvent(window, a.Now);
        Assert.Equal((uint)(window * 0.7), a.Cc.SlowStartThreshold);
        a.Cc.SetWindow(a.Cc.SlowStartThreshold);
        a.Cc.OnRecoveryExit(a.Now);
        a.Cc.Undo();
        Assert.Equal(window, a.Cc.Window);
        Assert.Equal(ssthresh, a.Cc.SlowStartThreshold);
        for (int i = 0; i < 5000; i++)
        {
            a.Ack();
            b.Ack();
            Assert.Equal(b.Cc.Window, a.Cc.Window);
        }

        // Once only: a second Undo changes nothing.
        a.Cc.Undo();
        Assert.Equal(b.Cc.Window, a.Cc.Window);
    }

    [Fact]
    public void Undo_after_a_spurious_timeout_restores_cwnd_and_ssthresh_RFC9438_4_9()
    {
        var f = new Flow();
        f.GrowTo(20);
        f.Cc.OnRetransmitTimeout(20_000, f.Now);
        Assert.Equal(1000u, f.Cc.Window);
        Assert.Equal(14_000u, f.Cc.SlowStartThreshold);
        f.Cc.Undo();
        Assert.Equal(20_000u, f.Cc.Window);
        Assert.Equal(uint.MaxValue, f.Cc.SlowStartThreshold);  // back in the initial slow start
        f.Ack(3000);
        Assert.Equal(21_000u, f.Cc.Window);              // but RFC 5681's, + min(3000, SMSS): HyStart++ stays done
    }

    [Fact]
    public void Undo_keeps_the_current_values_once_cwnd_is_back_above_prior_cwnd_RFC9438_4_9()
    {
        // At the initial window (10 segments): ssthresh 7. On a 10 ms RTT the Reno-friendly region gets back above 10
        // segments within a tenth of a second; a late detection then leaves things as they are: "In rare cases ...
        // CUBIC SHOULD continue to use the current and the most recent values of these variables."
        var f = new Flow(rttMs: 10);
        var epoch = f.Loss();
        while (f.Cc.Window <= 10_000) f.Ack();
        uint window = f.Cc.Window;
        f.Cc.Undo();
        Assert.Equal(window, f.Cc.Window);
        Assert.Equal(7000u, f.Cc.SlowStartThreshold);

        var fresh = new Flow();                          // nothing to undo
        fresh.Cc.Undo();
        Assert.Equal(10_000u, fresh.Cc.Window);
        Assert.Equal(uint.MaxValue, fresh.Cc.SlowStartThreshold);
    }

    // =================================================================== HyStart++ (RFC 9406) ends slow start

    [Fact]
    public void HyStart_ends_slow_start_through_CSS_and_ssthresh_becomes_cwnd_RFC9406_4_2()
    {
        // Every ACK acknowledges one segment and measures an RTT: 100 ms while cwnd is below 40 segments, 120 ms from
        // then on (a queue builds). Start set windowEnd = SND.NXT = SND.UNA; a round is a window of ACKs, and the
        // Flow's SND.NXT is SND.UNA + cwnd. In segments from SND.UNA = Iss:
        //   round 1: ACKs 1 to 10 (windowEnd 11), cwnd 10 -> 20;  round 2: ACKs 11 to 30 (windowEnd 31), 20 -> 40;
        //   round 3 (windowEnd 71): ACKs 31 to 37 grow cwnd to 47, and ACK 38 brings its eighth 120 ms sample:
        //   120 >= 100 + 100 / 8, Conservative Slow Start, + min(1000, 8000) / 4 = 250 per ACK. 37 ACKs of slow start.
        //   CSS rounds: 3 (ACKs 38 to 70, 33 ACKs, cwnd 47 -> 55.25), 4 (windowEnd 71 + 55.25: 56 ACKs, -> 69.25),
        //   5 (70 ACKs, -> 86.75), 6 (87, -> 108.5), 7 (109, -> 135.75): 355 ACKs. The next ACK ends the fifth CSS
        //   round: ssthresh = cwnd = 135750.
        var f = new Flow();
        var rtt100 = TimeSpan.FromMilliseconds(100);
        var rtt120 = TimeSpan.FromMilliseconds(120);
        int slowStartAcks = 0, cssAcks = 0;
        while (true)
        {
            uint before = f.Cc.Window;
            f.Ack(sample: before < 40_000 ? rtt100 : rtt120);
            if (f.Cc.SlowStartThreshold != uint.MaxValue)
            {
                Assert.Equal(before, f.Cc.SlowStartThreshold);   // ssthresh = cwnd, and this ACK is congestion avoidance's
                break;
            }
            uint growth = f.Cc.Window - before;
            if (cssAcks == 0 && growth == 1000) slowStartAcks++;
            else { Assert.Equal(250u, growth); cssAcks++; }
            Assert.True(cssAcks < 10_000);
        }
        Assert.Equal(37, slowStartAcks);
        Assert.Equal(355, cssAcks);
        Assert.Equal(135_750u, f.Cc.SlowStartThreshold);

        // Congestion avoidance from here, with W_max = cwnd_epoch and K = 0 (RFC 9438 4.10): a second later W_cubic(1)
        // = cwnd + 0.4, but W_est grows by 1 per RTT (no reduction, so alpha_cubic = 1 at once): ten segments more.
        f.RunUntil(f.Now + TimeSpan.FromSeconds(1));
        Assert.InRange(f.Segments, 135.75 + 9.5, 135.75 + 10.5);
    }

    // =================================================================== arithmetic limits

    [Fact]
    public void Huge_windows_and_long_epochs_do_not_overflow()
    {
        const uint cap = 1u << 30;
        var cc = new CubicCongestionControl();
        cc.Start(536, Iss, TimeSpan.Zero);
        cc.OnAck(uint.MaxValue, uint.MaxValue, Iss, Iss, TimeSpan.Zero, null, TimeSpan.Zero, TimeSpan.Zero);
        Assert.Equal(5360u + 8 * 536, cc.Window);        // + min(acked, L * SMSS), flightBefore + SMSS not overflowing
        cc.SetWindow(uint.MaxValue);
        Assert.Equal(cap, cc.Window);
        cc.OnAck(uint.MaxValue, uint.MaxValue, Iss, Iss, TimeSpan.Zero, null, TimeSpan.Zero, TimeSpan.Zero);
        Assert.Equal(cap, cc.Window);                    // slow start stops at the cap

        cc.OnCongestionEvent(cap, TimeSpan.Zero);        // W_max ≈ 2 million segments of 536 bytes
        Assert.Equal((uint)(cap * 0.7), cc.SlowStartThreshold);   // 751619276
        cc.OnRecoveryExit(TimeSpan.Zero);
        cc.OnAck(536, cap, Iss, Iss, TimeSpan.Zero, null, TimeSpan.Zero, TimeSpan.Zero);   // the epoch starts
        // A year later, t^3 ≈ 3e22: the target is held to 1.5 cwnd, and cwnd to the cap.
        var year = TimeSpan.FromDays(365);
        for (int i = 0; i < 1000; i++)
            cc.OnAck(uint.MaxValue, uint.MaxValue, Iss, Iss, year, null, TimeSpan.FromSeconds(1), TimeSpan.Zero);
        Assert.Equal(cap, cc.Window);
        cc.OnRetransmitTimeout(cap, year);
        Assert.Equal(536u, cc.Window);
        Assert.Equal((uint)(cap * 0.7), cc.SlowStartThreshold);
    }
}
