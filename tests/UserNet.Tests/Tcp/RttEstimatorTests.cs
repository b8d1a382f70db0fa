using UserNet.Tcp;

namespace UserNet.Tests.Tcp;

/// <summary>
/// RFC 6298 on the estimator alone, with worked numbers. The defaults are TcpSettings': initial RTO 1 s, minimum
/// 200 ms, maximum 60 s. The sequences of the state-machine tests (TcpStateMachineTests) are reproduced here sample by
/// sample, so the TCB gives the same RTOs through the estimator as it did on its own.
/// </summary>
public sealed class RttEstimatorTests
{
    private static readonly SeqNumber Iss = new(1000);

    private static TimeSpan Milliseconds(double ms) => TimeSpan.FromMilliseconds(ms);

    private static RttEstimator Estimator(double initialMs = 1000, double minMs = 200, double maxMs = 60_000) =>
        new(Milliseconds(initialMs), Milliseconds(minMs), Milliseconds(maxMs));

    /// <summary>Times a segment at <paramref name="seq"/> sent at <paramref name="sentMs"/> and acknowledges it <paramref name="rttMs"/> later.</summary>
    private static void RoundTrip(RttEstimator e, SeqNumber seq, double sentMs, double rttMs)
    {
        e.StartTimingIfIdle(seq, Milliseconds(sentMs));
        e.OnAck(seq + 1, Milliseconds(sentMs + rttMs));
    }

    // =================================================================== section 2: computing RTO

    [Fact]
    public void Before_any_sample_RTO_is_the_initial_value_RFC6298_2_1()
    {
        var e = Estimator();
        Assert.Equal(TimeSpan.FromSeconds(1), e.Rto);
        Assert.False(e.HasSample);
        Assert.False(e.IsTiming);
        Assert.Equal(TimeSpan.Zero, e.SmoothedRtt);
        Assert.Equal(TimeSpan.Zero, e.RttVariance);
    }

    [Fact]
    public void The_initial_value_is_taken_as_given_not_clamped_RFC6298_2_1()
    {
        // As the TCB always did: only computed values are held within [min, max].
        Assert.Equal(Milliseconds(100), Estimator(initialMs: 100).Rto);
        Assert.Equal(TimeSpan.FromSeconds(90), Estimator(initialMs: 90_000).Rto);
    }

    [Fact]
    public void First_sample_sets_SRTT_to_R_RTTVAR_to_R_over_2_and_RTO_to_SRTT_plus_4_RTTVAR_RFC6298_2_2()
    {
        var e = Estimator();
        e.AddSample(Milliseconds(300));                  // SRTT 300, RTTVAR 150, RTO 300 + 4 * 150 = 900
        Assert.True(e.HasSample);
        Assert.Equal(Milliseconds(300), e.SmoothedRtt);
        Assert.Equal(Milliseconds(150), e.RttVariance);
        Assert.Equal(Milliseconds(900), e.Rto);
    }

    [Fact]
    public void Later_samples_update_RTTVAR_with_the_old_SRTT_then_SRTT_RFC6298_2_3()
    {
        var e = Estimator();
        e.AddSample(Milliseconds(300));
        e.AddSample(Milliseconds(100));                  // RTTVAR = 3/4 150 + 1/4 |300 - 100| = 162.5; SRTT = 7/8 300 + 1/8 100 = 275
        Assert.Equal(Milliseconds(162.5), e.RttVariance);
        Assert.Equal(Milliseconds(275), e.SmoothedRtt);
        Assert.Equal(Milliseconds(275 + 4 * 162.5), e.Rto); // 925 ms, as TcpStateMachineTests asserts
        e.AddSample(Milliseconds(275));                  // RTTVAR = 3/4 162.5 + 0 = 121.875; SRTT stays 275
        Assert.Equal(Milliseconds(121.875), e.RttVariance);
        Assert.Equal(Milliseconds(275), e.SmoothedRtt);
        Assert.Equal(Milliseconds(275 + 4 * 121.875), e.Rto); // 762.5 ms
    }

    [Fact]
    public void Rounding_is_TimeSpan_tick_arithmetic_to_the_nearest_tick_RFC6298_2_3()
    {
        // The TCB's arithmetic, kept exactly: each * and / on a TimeSpan rounds to the nearest 100 ns tick, halves to even.
        var e = Estimator(minMs: 0);
        e.AddSample(TimeSpan.FromTicks(3));              // RTTVAR = 3/2 = 1.5 ticks -> 2
        Assert.Equal(TimeSpan.FromTicks(2), e.RttVariance);
        e.AddSample(TimeSpan.FromTicks(10));             // RTTVAR = round(2 * 3 / 4) + round(7 / 4) = 2 + 2; SRTT = round(3 * 7 / 8) + round(10 / 8) = 3 + 1
        Assert.Equal(TimeSpan.FromTicks(4), e.RttVariance);
        Assert.Equal(TimeSpan.FromTicks(4), e.SmoothedRtt);
        Assert.Equal(TimeSpan.FromTicks(4) + RttEstimator.ClockGranularity, e.Rto);
    }

    [Fact]
    public void RTTVAR_contributes_at_least_the_clock_granularity_G_of_1_ms_RFC6298_2()
    {
        var e = Estimator(minMs: 0);
        Assert.Equal(Milliseconds(1), RttEstimator.ClockGranularity);
        e.AddSample(Milliseconds(0.1));                  // 4 RTTVAR = 0.2 ms < G: RTO = SRTT + G = 0.1 + 1
        Assert.Equal(Milliseconds(1.1), e.Rto);
        e.AddSample(TimeSpan.Zero);                      // RTTVAR = 3/4 0.05 + 1/4 0.1 = 0.0625 ms; SRTT = 7/8 0.1 = 0.0875 ms
        Assert.Equal(Milliseconds(0.0875) + Milliseconds(1), e.Rto);
        e.AddSample(Milliseconds(2));                    // RTTVAR = 3/4 0.0625 + 1/4 1.9125 = 0.525 ms: 4 RTTVAR = 2.1 ms > G
        Assert.Equal(Milliseconds(0.525), e.RttVariance);
        Assert.Equal(e.SmoothedRtt + Milliseconds(2.1), e.Rto);
    }

    [Fact]
    public void RTO_from_a_sample_is_at_least_the_minimum_RFC6298_2_4()
    {
        var e = Estimator();
        e.AddSample(Milliseconds(10));                   // SRTT + 4 RTTVAR = 10 + 20 = 30 ms, below 200 ms
        Assert.Equal(Milliseconds(10), e.SmoothedRtt);
        Assert.Equal(Milliseconds(5), e.RttVariance);
        Assert.Equal(Milliseconds(200), e.Rto);
        Assert.Equal(Milliseconds(200), e.MinRto);
    }

    [Fact]
    public void RTO_from_a_sample_is_at_most_the_maximum_RFC6298_2_5()
    {
        var e = Estimator();
        e.AddSample(TimeSpan.FromSeconds(30));           // 30 s + 4 * 15 s = 90 s, above 60 s
        Assert.Equal(TimeSpan.FromSeconds(60), e.Rto);
        Assert.Equal(TimeSpan.FromSeconds(60), e.MaxRto);
        Assert.Equal(TimeSpan.FromSeconds(30), e.SmoothedRtt); // the estimate itself is not clamped
    }

    // =================================================================== section 3: taking samples, Karn's algorithm

    [Fact]
    public void A_timed_segment_gives_a_sample_when_an_ACK_covers_it_and_timing_stops_RFC6298_3()
    {
        var e = Estimator();
        e.StartTiming(Iss, Milliseconds(5000));
        Assert.True(e.IsTiming);
        e.OnAck(Iss, Milliseconds(5100));                // ack = the timed number: its first byte is not acknowledged
        Assert.True(e.IsTiming);
        Assert.False(e.HasSample);
        e.OnAck(Iss + 1, Milliseconds(5300));            // 300 ms after it was sent
        Assert.False(e.IsTiming);
        Assert.Equal(Milliseconds(300), e.SmoothedRtt);
        Assert.Equal(Milliseconds(900), e.Rto);
        e.OnAck(Iss + 2, Milliseconds(9000));            // nothing timed: no sample
        Assert.Equal(Milliseconds(300), e.SmoothedRtt);
    }

    [Fact]
    public void One_segment_is_timed_at_a_time_StartTimingIfIdle_keeps_the_first_RFC6298_3()
    {
        var e = Estimator();
        e.StartTimingIfIdle(Iss, Milliseconds(0));
        e.StartTimingIfIdle(Iss + 100, Milliseconds(50)); // data sent while timing: not timed
        e.OnAck(Iss + 200, Milliseconds(300));            // covers both; the sample is from the first
        Assert.Equal(Milliseconds(300), e.SmoothedRtt);
    }

    [Fact]
    public void StartTiming_times_the_given_segment_even_while_another_is_timed_RFC6298_3()
    {
        var e = Estimator();
        e.StartTiming(Iss, Milliseconds(0));
        e.StartTiming(Iss, Milliseconds(1000));
        e.OnAck(Iss + 1, Milliseconds(1300));
        Assert.Equal(Milliseconds(300), e.SmoothedRtt);
    }

    [Fact]
    public void Sequence_comparison_wraps_an_ACK_past_2_to_the_32_covers_the_timed_segment_RFC6298_3()
    {
        var e = Estimator();
        var seq = new SeqNumber(uint.MaxValue - 10);
        e.StartTiming(seq, Milliseconds(0));
        e.OnAck(seq + 100, Milliseconds(300));           // ack = 89, after the wrap
        Assert.False(e.IsTiming);
        Assert.Equal(Milliseconds(300), e.SmoothedRtt);
    }

    [Fact]
    public void Karn_a_retransmission_stops_timing_so_its_ACK_gives_no_sample_RFC6298_3()
    {
        var e = Estimator();
        e.StartTiming(Iss, Milliseconds(0));
        e.StopTiming();
        Assert.False(e.IsTiming);
        e.OnAck(Iss + 1, Milliseconds(950));
        Assert.False(e.HasSample);
        Assert.Equal(TimeSpan.FromSeconds(1), e.Rto);
    }

    [Fact]
    public void Karn_the_backed_off_RTO_stays_until_a_fresh_segment_is_measured_RFC6298_3_and_5_5()
    {
        // TcpStateMachineTests.Karn_no_RTT_sample_from_a_retransmitted_segment_..., step by step.
        var e = Estimator();
        e.StartTiming(Iss, Milliseconds(0));             // SYN-ACK
        e.OnAck(Iss + 1, Milliseconds(300));
        Assert.Equal(Milliseconds(900), e.Rto);

        var data = Iss + 1;
        e.StartTimingIfIdle(data, Milliseconds(300));    // 100 bytes
        e.Backoff();                                     // the timer expires at 1200 ms: back off, resend
        e.StopTiming();
        Assert.Equal(Milliseconds(1800), e.Rto);
        e.OnAck(data + 100, Milliseconds(1250));         // ambiguous: for the original or the retransmission?
        Assert.Equal(Milliseconds(1800), e.Rto);
        Assert.Equal(Milliseconds(300), e.SmoothedRtt);

        e.StartTimingIfIdle(data + 100, Milliseconds(1250)); // a fresh segment: 100 ms
        e.OnAck(data + 200, Milliseconds(1350));
        Assert.Equal(Milliseconds(275 + 4 * 162.5), e.Rto);
    }

    [Fact]
    public void Samples_through_timing_give_the_RTOs_of_the_state_machine_tests_RFC6298_2_2_and_2_3()
    {
        // TcpStateMachineTests.RTO_is_SRTT_plus_4_RTTVAR_and_follows_later_samples_RFC6298_2_2_and_2_3.
        var e = Estimator();
        e.StartTiming(Iss, Milliseconds(0));
        e.OnAck(Iss + 1, Milliseconds(300));
        Assert.Equal(Milliseconds(900), e.Rto);
        RoundTrip(e, Iss + 1, sentMs: 300, rttMs: 100);
        Assert.Equal(Milliseconds(275 + 4 * 162.5), e.Rto);
    }

    // =================================================================== section 5: the timer expires

    [Fact]
    public void Each_timeout_doubles_RTO_RFC6298_5_5()
    {
        var e = Estimator();
        e.Backoff();
        Assert.Equal(TimeSpan.FromSeconds(2), e.Rto);
        e.Backoff();
        Assert.Equal(TimeSpan.FromSeconds(4), e.Rto);
        Assert.False(e.HasSample);
    }

    [Fact]
    public void Backoff_from_a_clamped_minimum_RTO_doubles_it_RFC6298_5_5_and_2_4()
    {
        // TcpStateMachineTests.RTO_from_a_measured_RTT_is_at_least_MinRetransmitTimeout_RFC6298_2_4.
        var e = Estimator();
        e.AddSample(Milliseconds(10));
        Assert.Equal(Milliseconds(200), e.Rto);
        e.Backoff();
        Assert.Equal(Milliseconds(400), e.Rto);
    }

    [Fact]
    public void Backoff_stops_at_the_maximum_RFC6298_5_5_and_2_5()
    {
        var e = Estimator();
        var seen = new List<TimeSpan>();
        for (int i = 0; i < 8; i++) { e.Backoff(); seen.Add(e.Rto); }
        Assert.Equal(new[] { 2, 4, 8, 16, 32, 60, 60, 60 }.Select(s => TimeSpan.FromSeconds(s)), seen);
    }

    [Fact]
    public void Backoff_saturates_instead_of_overflowing_with_an_unbounded_maximum_RFC6298_5_5()
    {
        var e = new RttEstimator(TimeSpan.FromDays(365 * 20_000), TimeSpan.Zero, TimeSpan.MaxValue);
        e.Backoff();
        Assert.Equal(TimeSpan.MaxValue, e.Rto);
        e.Backoff();
        Assert.Equal(TimeSpan.MaxValue, e.Rto);
    }

    [Fact]
    public void A_new_sample_after_backoff_computes_RTO_afresh_RFC6298_5_7_note()
    {
        var e = Estimator();
        e.AddSample(Milliseconds(300));
        e.Backoff();
        e.Backoff();
        Assert.Equal(Milliseconds(3600), e.Rto);
        e.AddSample(Milliseconds(100));                  // the RTO "collapses" back to SRTT + 4 RTTVAR
        Assert.Equal(Milliseconds(925), e.Rto);
    }

    [Fact]
    public void After_a_retransmitted_SYN_data_starts_with_RTO_3s_when_nothing_was_measured_RFC6298_5_7()
    {
        // TcpStateMachineTests.RTO_is_3s_after_the_handshake_when_the_SYN_was_retransmitted_RFC6298_5_7.
        var e = Estimator();
        e.StartTiming(Iss, Milliseconds(0));             // SYN
        e.Backoff();                                     // resent after 1 s: RTO 2 s, and Karn stops the timing
        e.StopTiming();
        e.OnAck(Iss + 1, Milliseconds(1100));            // the SYN-ACK: no sample
        Assert.Equal(TimeSpan.FromSeconds(2), e.Rto);
        e.RaiseIfUnmeasured(RttEstimator.AfterSynRetransmission);
        Assert.Equal(TimeSpan.FromSeconds(3), e.Rto);
        Assert.Equal(TimeSpan.FromSeconds(3), RttEstimator.AfterSynRetransmission);
    }

    [Fact]
    public void The_3s_rule_changes_nothing_once_a_round_trip_was_measured_RFC6298_5_7()
    {
        var e = Estimator();
        e.AddSample(Milliseconds(300));
        e.RaiseIfUnmeasured(RttEstimator.AfterSynRetransmission);
        Assert.Equal(Milliseconds(900), e.Rto);
    }

    [Fact]
    public void The_3s_rule_never_lowers_RTO_and_keeps_it_within_the_maximum_RFC6298_5_7_and_2_5()
    {
        var e = Estimator();
        e.Backoff();
        e.Backoff();                                     // 4 s: already above 3 s
        e.RaiseIfUnmeasured(RttEstimator.AfterSynRetransmission);
        Assert.Equal(TimeSpan.FromSeconds(4), e.Rto);

        var small = Estimator(maxMs: 2000);
        small.RaiseIfUnmeasured(RttEstimator.AfterSynRetransmission);
        Assert.Equal(TimeSpan.FromSeconds(2), small.Rto);
    }
}
