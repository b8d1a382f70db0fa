using UserNet.Tcp;

namespace UserNet.Tests.Tcp;

/// <summary>
/// PRR with the Slow Start Reduction Bound (RFC 6937), on the two examples of its section 3.1: 20 segments in flight
/// (cwnd = FlightSize = pipe = 20), ssthresh = 10 (Reno's halving), limited transmit sending a new segment on each of
/// the first two duplicate ACKs and the third starting recovery. The RFC counts in segments, as Linux does: these
/// tests use MSS = 1 unit unless they say bytes. Each ACK SACKs one segment, so DeliveredData is 1, and pipe is the
/// RFC 6675 pipe after the ACK: one less than before it, plus what the previous ACK let out.
/// </summary>
public sealed class ProportionalRateReductionTests
{
    /// <summary>
    /// One loss (segment 0). ACKs 1 and 2 are duplicates answered by limited transmit, so 22 segments are out when
    /// ACK 3 arrives; it SACKs segment 3 and marks segment 0 lost: pipe = 22 - 3 SACKed - 1 lost = 18, and recovery
    /// starts with RecoverFS = 20, the FlightSize the RFC starts from (Linux's prior_cwnd).
    /// </summary>
    [Fact]
    public void Rfc6937_Section3_1_SingleLoss_OneSegmentOnEveryOtherAck()
    {
        var prr = new ProportionalRateReduction();
        prr.Start(ssthresh: 10, recoverFs: 20);
        uint pipe = 18;
        var sndcnt = new List<uint>();
        var pipeAfter = new List<uint>();
        for (int ack = 3; ack <= 19; ack++)
        {
            if (ack > 3) pipe -= 1;
            uint n = prr.OnAck(delivered: 1, pipe, mss: 1);
            sndcnt.Add(n);
            pipe += n; // the retransmission of segment 0 on ACK 3, new data after it
            prr.OnSent(n);
            pipeAfter.Add(pipe);
        }

        // ACK 3 sends the retransmission (R), then a new segment (N) on every other ACK: the window comes down from
        // 20 to 10 over the round trip, not in a half window of silence. On ACK 19 pipe has reached ssthresh and the
        // reduction bound decides ("s", sndcnt = ssthresh - pipe = 0).
        //                  ack  3  4  5  6  7  8  9 10 11 12 13 14 15 16 17 18 19
        Assert.Equal(new uint[] { 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 0 }, sndcnt);

        // The RFC's pipe row for ACKs 4..19, read as pipe once the ACK's sending is done.
        Assert.Equal(new uint[] { 18, 18, 17, 17, 16, 16, 15, 15, 14, 14, 13, 13, 12, 12, 11, 10 }, pipeAfter.Skip(1));

        Assert.Equal(17u, prr.Delivered);
        Assert.Equal(8u, prr.Out); // R and 7 N: with the 2 of limited transmit, 10 = ssthresh sent in the round trip
    }

    /// <summary>
    /// The same loss counted in bytes (MSS 1000) by a sender that sends whole segments: a proportional share of half a
    /// segment is not sent but carried (prr_out stays behind), so each new segment goes one ACK later, and the round
    /// trip ends in the same place, pipe = ssthresh and 8 segments out.
    /// </summary>
    [Fact]
    public void Rfc6937_Section3_1_SingleLoss_InBytes_WholeSegments_SameEnd()
    {
        const uint mss = 1000;
        var prr = new ProportionalRateReduction();
        prr.Start(ssthresh: 10 * mss, recoverFs: 20 * mss);
        uint pipe = 18 * mss;
        var sent = new List<uint>();
        for (int ack = 3; ack <= 19; ack++)
        {
            if (ack > 3) pipe -= mss;
            uint n = prr.OnAck(mss, pipe, mss) / mss * mss;
            sent.Add(n / mss);
            pipe += n;
            prr.OnSent(n);
        }
        //                  ack  3  4  5  6  7  8  9 10 11 12 13 14 15 16 17 18 19
        Assert.Equal(new uint[] { 1, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 0, 1 }, sent);
        Assert.Equal(10 * mss, pipe);
        Assert.Equal(8 * mss, prr.Out);
    }

    /// <summary>
    /// Fifteen losses (segments 0-14): only ACKs 15-19 come back. ACKs 15 and 16 bring limited transmit; ACK 17 starts
    /// recovery with pipe = 22 - 3 SACKed - 15 lost = 4, below ssthresh, so the reduction bound rules from the start:
    /// SSRB lets out DeliveredData + 1 MSS = 2 segments on each ACK (RFC's RB row "bd d d"), pipe climbs 4, 5, 6
    /// towards ssthresh like slow start, where the conservative bound would send 1 per ACK.
    /// </summary>
    [Theory]
    [InlineData(1u)]
    [InlineData(1000u)]
    public void Rfc6937_Section3_1_FifteenLosses_SlowStartReductionBound(uint mss)
    {
        var prr = new ProportionalRateReduction();
        prr.Start(ssthresh: 10 * mss, recoverFs: 20 * mss);
        uint pipe = 4 * mss;
        var sndcnt = new List<uint>();
        var pipeSeen = new List<uint>();
        for (int ack = 17; ack <= 19; ack++)
        {
            if (ack > 17) pipe -= mss;
            pipeSeen.Add(pipe / mss);
            uint n = prr.OnAck(mss, pipe, mss);
            sndcnt.Add(n / mss);
            pipe += n;
            prr.OnSent(n);
        }
        Assert.Equal(new uint[] { 4, 5, 6 }, pipeSeen);   // the RFC's pipe row
        Assert.Equal(new uint[] { 2, 2, 2 }, sndcnt);     // 2R 2R 2R
        Assert.Equal(3 * mss, prr.Delivered);
        Assert.Equal(6 * mss, prr.Out);
    }

    [Fact]
    public void Ssrb_StopsAtSsthresh()
    {
        var prr = new ProportionalRateReduction();
        prr.Start(ssthresh: 10, recoverFs: 20);
        prr.OnSent(3);
        // Plenty banked (20 delivered, 3 sent) but pipe is 9: one more segment brings it to ssthresh.
        Assert.Equal(1u, prr.OnAck(delivered: 20, pipe: 9, mss: 1));
        Assert.Equal(0u, prr.OnAck(delivered: 1, pipe: 10, mss: 1));
    }

    [Fact]
    public void FirstAckOfRecovery_LetsOneSegmentOut_AsLinuxDoes()
    {
        var prr = new ProportionalRateReduction();
        prr.Start(ssthresh: 10_000, recoverFs: 20_000);
        // The proportional share of 100 delivered bytes is 50: still, the fast retransmission may go.
        Assert.Equal(1000u, prr.OnAck(delivered: 100, pipe: 19_000, mss: 1000));
        prr.OnSent(1000);
        Assert.Equal(0u, prr.OnAck(delivered: 100, pipe: 18_900, mss: 1000));
    }

    [Fact]
    public void SendingMoreThanAllowed_NeverGivesANegativeCount()
    {
        var prr = new ProportionalRateReduction();
        prr.Start(ssthresh: 10, recoverFs: 20);
        Assert.Equal(1u, prr.OnAck(1, 18, 1));
        prr.OnSent(5); // the caller overshot
        Assert.Equal(0u, prr.OnAck(1, 17, 1)); // CEIL(2 * 10 / 20) - 5 = -4
        Assert.Equal(0u, prr.OnAck(1, 16, 1));
    }

    [Fact]
    public void RecoverFsZero_DoesNotDivideByZero()
    {
        var prr = new ProportionalRateReduction();
        prr.Start(ssthresh: 10_000, recoverFs: 0);
        // No proportion to take: the reduction bound alone decides (here ssthresh - pipe < 0), bar the first segment.
        Assert.Equal(1000u, prr.OnAck(delivered: 1000, pipe: 20_000, mss: 1000));
        prr.OnSent(1000);
        Assert.Equal(0u, prr.OnAck(delivered: 1000, pipe: 20_000, mss: 1000));
        // Below ssthresh: MIN(10000 - 5000, MAX(3000 - 1000, 1000) + 1000) = 3000.
        Assert.Equal(3000u, prr.OnAck(delivered: 1000, pipe: 5000, mss: 1000));
    }

    [Fact]
    public void ProportionalPart_Uses64BitProducts()
    {
        var prr = new ProportionalRateReduction();
        prr.Start(ssthresh: 3_000_000_000, recoverFs: 4_000_000_000);
        // 2e9 * 3e9 = 6e18 overflows 32 bits (and a signed 32-bit result): CEIL(6e18 / 4e9) = 1.5e9.
        Assert.Equal(1_500_000_000u, prr.OnAck(delivered: 2_000_000_000, pipe: 3_500_000_000, mss: 1460));
        prr.OnSent(1_000_000_000);
        // CEIL(4e9 * 3e9 / 4e9) - 1e9 = 2e9.
        Assert.Equal(2_000_000_000u, prr.OnAck(delivered: 2_000_000_000, pipe: 3_500_000_000, mss: 1460));
    }

    [Fact]
    public void Counters_Saturate_AndStartResetsThem()
    {
        var prr = new ProportionalRateReduction();
        prr.Start(ssthresh: 10, recoverFs: 20);
        prr.OnAck(uint.MaxValue, 30, 1);
        prr.OnAck(uint.MaxValue, 30, 1);
        prr.OnSent(uint.MaxValue);
        prr.OnSent(5);
        Assert.Equal(uint.MaxValue, prr.Delivered);
        Assert.Equal(uint.MaxValue, prr.Out);

        prr.Start(ssthresh: 10, recoverFs: 20);
        Assert.Equal(0u, prr.Delivered);
        Assert.Equal(0u, prr.Out);
    }
}
