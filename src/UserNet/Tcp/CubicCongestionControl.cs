namespace UserNet.Tcp;

/// <summary>
/// CUBIC congestion control (RFC 9438): after a congestion event the window follows
/// W_cubic(t) = C * (t - K)^3 + W_max, concave up to W_max, where the last congestion event happened, and convex beyond
/// it (4.2, 4.4, 4.5); never slower than Reno would be (the Reno-friendly region, 4.3). A congestion event multiplies
/// ssthresh by beta_cubic = 0.7 (4.6) and, with fast convergence (4.7), sets W_max lower when the flow found less room
/// than last time; a timeout (4.8) also drops cwnd to one segment; a spurious event is undone (4.9). Slow start below
/// ssthresh uses HyStart++ (RFC 9406) for the initial slow start and RFC 5681's after a timeout.
/// <para>
/// RFC 9438 works in segments and seconds, and so does this class inside: cwnd is kept in bytes as a real number, so
/// that the fractions of a byte that each ACK adds add up, and <see cref="Window"/> is its whole part. RFC 6928 gives
/// the initial window, and RFC 7661 the rule that only a window that limited the sender grows. During recovery the
/// sender sets the window (Proportional Rate Reduction, RFC 6937) through <see cref="SetWindow"/>; the controller hears
/// of ACKs only outside recovery.
/// </para>
/// </summary>
internal sealed class CubicCongestionControl : ICongestionController
{
    /// <summary>A cap that keeps the arithmetic far from overflow.</summary>
    private const uint MaxWindow = 1u << 30;
    /// <summary>beta_cubic, the multiplicative decrease factor (RFC 9438 4.6).</summary>
    private const double Beta = 0.7;
    /// <summary>C, the aggressiveness of the cubic function, in segments per second cubed (RFC 9438 5).</summary>
    private const double C = 0.4;
    /// <summary>alpha_cubic = 3 * (1 - beta) / (1 + beta) = 0.9 / 1.7 ≈ 0.529: Reno's average rate at beta 0.7 (4.3).</summary>
    private const double AlphaCubic = 3 * (1 - Beta) / (1 + Beta);
    /// <summary>The RTT of the target before the estimator has one (RFC 9438 says only "the smoothed round-trip time").</summary>
    private static readonly TimeSpan DefaultRtt = TimeSpan.FromMilliseconds(100);

    private readonly HyStartPlusPlus _hyStart = new();
    private uint _mss = 536;
    private State _s;
    /// <summary>RFC 9438 4.9: the state before the last congestion event or timeout, while <see cref="_priorValid"/>.</summary>
    private State _prior;
    private bool _priorValid;
    /// <summary>A timeout came and no ACK since: a second one keeps ssthresh (RFC 5681 3.1).</summary>
    private bool _timedOut;
    private TimeSpan _lastAckAt;
    /// <summary>The last ACK acknowledged everything outstanding: the sender may then have sat idle.</summary>
    private bool _drained;

    /// <summary>cwnd and what RFC 9438 4.9 saves with it. Windows are in segments, except cwnd, in bytes.</summary>
    private struct State
    {
        /// <summary>cwnd, bytes.</summary>
        public double Cwnd;
        public uint Ssthresh;
        /// <summary>W_max: cwnd just before it was reduced at the last congestion event (with fast convergence, less).</summary>
        public double WMax;
        /// <summary>True until the first congestion event and after a timeout: the next congestion avoidance stage
        /// takes W_max = cwnd_epoch and K = 0 (4.8, and 4.10 for a slow start that HyStart++ ended without loss).</summary>
        public bool WMaxFromEpoch;
        /// <summary>K, seconds: how long W_cubic takes from cwnd_epoch to W_max.</summary>
        public double K;
        /// <summary>W_est, the window Reno would have (4.3).</summary>
        public double WEst;
        /// <summary>cwnd_prior: cwnd at the last congestion event, where alpha_cubic becomes 1 (4.3).</summary>
        public double CwndPrior;
        /// <summary>True once an ACK began the current congestion avoidance stage at <see cref="EpochStart"/>.</summary>
        public bool EpochStarted;
        /// <summary>epoch_start, moved later by the time the application held the sender back (RFC 9438 5.8).</summary>
        public TimeSpan EpochStart;
    }

    /// <summary>cwnd, in bytes.</summary>
    public uint Window => (uint)_s.Cwnd;

    /// <summary>ssthresh, in bytes: uint.MaxValue until the first congestion event (or the end of HyStart++).</summary>
    public uint SlowStartThreshold => _s.Ssthresh;

    /// <summary>
    /// The connection is synchronized and the peer's MSS known: the initial window of RFC 6928, and HyStart++'s first
    /// round begins at <paramref name="sndNxt"/>.
    /// </summary>
    public void Start(int mss, SeqNumber sndNxt, TimeSpan now)
    {
        _mss = (uint)mss;
        _s = default;
        // RFC 6928: min(10*MSS, max(2*MSS, 14600)).
        _s.Cwnd = Math.Min(10 * mss, Math.Max(2 * mss, 14600));
        _s.Ssthresh = uint.MaxValue;
        _s.WMaxFromEpoch = true;
        _priorValid = _timedOut = _drained = false;
        _lastAckAt = now;
        _hyStart.Start(sndNxt);
    }

    /// <summary>
    /// New data acknowledged outside recovery: <paramref name="acked"/> bytes, with <paramref name="flightBefore"/>
    /// in flight before this ACK, which acknowledged up to <paramref name="ack"/> with SND.NXT at
    /// <paramref name="sndNxt"/>, at <paramref name="now"/> on the stack's clock. <paramref name="rttSample"/> is the RTT
    /// this ACK measured, if any (for HyStart++); <paramref name="srtt"/> and <paramref name="minRtt"/> are the RTT
    /// estimator's (zero if unknown). The target takes RTT = SRTT (RFC 9438 4.2); without one, the minimum RTT, and
    /// without that either, 100 ms.
    /// </summary>
    public void OnAck(uint acked, uint flightBefore, SeqNumber ack, SeqNumber sndNxt, TimeSpan now, TimeSpan? rttSample,
        TimeSpan srtt, TimeSpan minRtt)
    {
        var sinceLastAck = now - _lastAckAt;
        bool drainedBefore = _drained;
        _lastAckAt = now;
        _drained = acked >= flightBefore;
        _timedOut = false;
        // Grow only when the window limited what was in flight (RFC 7661 section 4.2): an application-limited sender
        // must not build a window it never tested.
        bool windowLimited = (ulong)flightBefore + _mss >= Window;

        if (_s.Cwnd < _s.Ssthresh)
        {
            if (_hyStart.Phase == HyStartPhase.Done || _hyStart.OnAck(ack, sndNxt, rttSample) != HyStartPhase.Done)
            {
                if (!windowLimited) return;
                // HyStart++ (RFC 9406 4.2): cwnd += min(N, L * SMSS) / (1 in slow start, CSS_GROWTH_DIVISOR in CSS).
                // After a timeout HyStart++ is done and slow start is RFC 5681's: cwnd += min(N, SMSS).
                uint increase = _hyStart.Phase == HyStartPhase.Done
                    ? Math.Min(acked, _mss)
                    : Math.Min(acked, _hyStart.MaxIncrease(_mss)) / (uint)_hyStart.GrowthDivisor;
                _s.Cwnd = Math.Min(_s.Cwnd + increase, MaxWindow);
                return;
            }
            // CSS ran its rounds: "enter congestion avoidance by setting the ssthresh to the current cwnd" (RFC 9406
            // 4.2). This ACK begins the stage.
            _s.Ssthresh = Window;
        }

        // Congestion avoidance (RFC 9438 4.2 to 4.5).
        var rtt = srtt > TimeSpan.Zero ? srtt : minRtt > TimeSpan.Zero ? minRtt : DefaultRtt;
        if (!windowLimited)
        {
            // RFC 9438 5.8: t MUST NOT include the time the application held the sender back; the interval this ACK
            // closes was such a time.
            if (_s.EpochStarted) _s.EpochStart += sinceLastAck;
            return;
        }
        if (!_s.EpochStarted) StartEpoch(now);
        else if (drainedBefore && sinceLastAck > rtt)
            _s.EpochStart += sinceLastAck - rtt;  // nothing was in flight: idle until it sent again, an RTT ago
        if (_s.Cwnd >= MaxWindow) return;

        double cwnd = _s.Cwnd / _mss;
        double segmentsAcked = (double)acked / _mss;
        double t = (now - _s.EpochStart).TotalSeconds;
        // target = W_cubic(t + RTT), held within [cwnd, 1.5 * cwnd]: the increase never shrinks the window and never
        // outruns slow start (4.2).
        double target = Math.Clamp(WCubic(t + rtt.TotalSeconds), cwnd, 1.5 * cwnd);
        // W_est = W_est + alpha_cubic * segments_acked / cwnd, alpha_cubic becoming 1 once W_est reaches cwnd_prior (4.3).
        _s.WEst += (_s.WEst >= _s.CwndPrior ? 1 : AlphaCubic) * segmentsAcked / cwnd;
        // Reno-friendly region (4.3): cwnd = W_est (never down). Otherwise concave (4.4) or convex (4.5), the same rule:
        // (target - cwnd) / cwnd for each segment acknowledged.
        double next = WCubic(t) < _s.WEst
            ? Math.Max(cwnd, _s.WEst)
            : cwnd + (target - cwnd) / cwnd * segmentsAcked;
        _s.Cwnd = Math.Min(next * _mss, MaxWindow);
    }

    /// <summary>
    /// Loss detected (fast retransmit, RACK) with <paramref name="flight"/> outstanding: W_max with fast convergence
    /// (4.7) and ssthresh = max(cwnd * beta_cubic, 2 SMSS) (4.6). cwnd itself does not change here: during recovery
    /// PRR sets it through <see cref="SetWindow"/>, and <see cref="OnRecoveryExit"/> leaves it at ssthresh. The cwnd
    /// variant of 4.6 is used, which RFC 9438 allows with RFC 7661's rule against growing an unused window.
    /// </summary>
    public void OnCongestionEvent(uint flight, TimeSpan now)
    {
        Reduce();
        _s.EpochStarted = false;
    }

    /// <summary>During recovery the sender (PRR, RFC 6937) sets cwnd.</summary>
    public void SetWindow(uint window) => _s.Cwnd = Math.Min(window, MaxWindow);

    /// <summary>Recovery finished: cwnd = ssthresh, whatever PRR left, and the next ACK starts a new epoch (4.2).</summary>
    public void OnRecoveryExit(TimeSpan now)
    {
        _s.Cwnd = Math.Min(_s.Ssthresh, MaxWindow);
        _s.EpochStarted = false;
    }

    /// <summary>
    /// The retransmission timer expired with <paramref name="flight"/> outstanding (4.8): ssthresh as in 4.6 (and
    /// W_max with fast convergence), cwnd = 1 SMSS, the epoch reset; the next congestion avoidance stage takes
    /// W_max = cwnd_epoch and K = 0. HyStart++ does not run again. A further timeout with no ACK between (the
    /// retransmission lost too) keeps ssthresh, as RFC 5681 3.1 says, and what <see cref="Undo"/> would restore.
    /// </summary>
    public void OnRetransmitTimeout(uint flight, TimeSpan now)
    {
        if (!_timedOut) Reduce();
        _timedOut = true;
        _s.Cwnd = _mss;
        _s.WMaxFromEpoch = true;
        _s.EpochStarted = false;
    }

    /// <summary>
    /// The last congestion event or timeout was spurious (RFC 9438 4.9): cwnd, ssthresh, W_max, K, epoch_start and W_est
    /// go back to what they were before it, if cwnd is still below what it was then ("in rare cases ... CUBIC SHOULD
    /// continue to use the current and the most recent values"). Once only; HyStart++ stays done.
    /// </summary>
    public void Undo()
    {
        if (!_priorValid) return;
        _priorValid = false;
        _timedOut = false;
        if (_s.Cwnd < _prior.Cwnd) _s = _prior;
    }

    /// <summary>Saves the state (4.9), then W_max (4.7), cwnd_prior (4.3) and ssthresh (4.6).</summary>
    private void Reduce()
    {
        _prior = _s;
        _priorValid = true;
        double cwnd = _s.Cwnd / _mss;
        // Fast convergence: below the last W_max the flow found less room than before; release some more.
        _s.WMax = cwnd < _s.WMax ? cwnd * (1 + Beta) / 2 : cwnd;
        _s.WMaxFromEpoch = false;
        _s.CwndPrior = cwnd;
        _s.Ssthresh = Math.Max((uint)(_s.Cwnd * Beta), 2 * _mss);
        _hyStart.OnCongestion();
    }

    /// <summary>
    /// The first ACK of a congestion avoidance stage: epoch_start = now, cwnd_epoch = cwnd, W_est = cwnd_epoch and
    /// K = cbrt((W_max - cwnd_epoch) / C), or 0 when cwnd_epoch is above W_max (4.2).
    /// </summary>
    private void StartEpoch(TimeSpan now)
    {
        double cwndEpoch = _s.Cwnd / _mss;
        _s.EpochStarted = true;
        _s.EpochStart = now;
        if (_s.WMaxFromEpoch)
        {
            _s.WMax = cwndEpoch;
            _s.WMaxFromEpoch = false;
        }
        _s.K = _s.WMax > cwndEpoch ? Math.Cbrt((_s.WMax - cwndEpoch) / C) : 0;
        _s.WEst = cwndEpoch;
    }

    /// <summary>W_cubic(t) = C * (t - K)^3 + W_max, in segments (RFC 9438 4.2, figure 1).</summary>
    private double WCubic(double t)
    {
        double d = t - _s.K;
        return C * d * d * d + _s.WMax;
    }
}
