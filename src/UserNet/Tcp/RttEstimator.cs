namespace UserNet.Tcp;

/// <summary>
/// The retransmission timer's value (RFC 6298): SRTT and RTTVAR from round-trip samples (sections 2.2, 2.3), RTO held
/// within [min, max] (2.4, 2.5), Karn's algorithm (section 3: no sample from a retransmitted segment), backoff on a
/// timeout (5.5) and the 3 s floor after a retransmitted SYN (5.7).
/// <para>
/// Samples come either from timing one segment at a time, as RFC 6298 section 3 allows (<see cref="StartTiming"/> or
/// <see cref="StartTimingIfIdle"/> when it is sent, <see cref="OnAck"/> when an acknowledgment arrives,
/// <see cref="StopTiming"/> when anything is retransmitted; the TCB times its SYN so), or straight to
/// <see cref="AddSample"/> when measured another way: the TCB's data samples come from the send time of each segment
/// in its <see cref="SackScoreboard"/>, or from TCP timestamps (RFC 7323 section 4).
/// </para>
/// It keeps no clock of its own: every time is a value on the caller's clock.
/// </summary>
internal sealed class RttEstimator
{
    /// <summary>G, the clock granularity of RFC 6298 section 2: the least that RTTVAR contributes to RTO.</summary>
    public static readonly TimeSpan ClockGranularity = TimeSpan.FromMilliseconds(1);

    /// <summary>RFC 6298 (5.7): the RTO data transmission starts with when a SYN was retransmitted and nothing was measured.</summary>
    public static readonly TimeSpan AfterSynRetransmission = TimeSpan.FromSeconds(3);

    private readonly TimeSpan _minRto, _maxRto;
    private TimeSpan _srtt, _rttvar, _rto;
    private bool _hasSample, _timing;
    private SeqNumber _timedSeq;
    private TimeSpan _timedAt;

    /// <summary>
    /// An estimator with no sample yet, whose RTO is <paramref name="initialRto"/> (RFC 6298 (2.1)). The initial value
    /// is taken as given, not clamped; every RTO computed later lies within [<paramref name="minRto"/>,
    /// <paramref name="maxRto"/>].
    /// </summary>
    public RttEstimator(TimeSpan initialRto, TimeSpan minRto, TimeSpan maxRto)
    {
        _rto = initialRto;
        _minRto = minRto;
        _maxRto = maxRto;
    }

    /// <summary>The retransmission timeout: how long to wait for an acknowledgment before sending again.</summary>
    public TimeSpan Rto => _rto;
    /// <summary>SRTT, the smoothed round-trip time; zero before the first sample.</summary>
    public TimeSpan SmoothedRtt => _srtt;
    /// <summary>RTTVAR, the round-trip time variation; zero before the first sample.</summary>
    public TimeSpan RttVariance => _rttvar;
    /// <summary>True once a round trip was measured.</summary>
    public bool HasSample => _hasSample;
    /// <summary>True while a segment is being timed.</summary>
    public bool IsTiming => _timing;
    /// <summary>The least RTO a sample can give (RFC 6298 (2.4)).</summary>
    public TimeSpan MinRto => _minRto;
    /// <summary>The greatest RTO a sample or backoff can give (RFC 6298 (2.5)).</summary>
    public TimeSpan MaxRto => _maxRto;

    /// <summary>
    /// Times the segment that starts at <paramref name="seq"/>, sent at <paramref name="now"/>, dropping any segment
    /// timed before. The TCB times its first SYN (or SYN-ACK) this way.
    /// </summary>
    public void StartTiming(SeqNumber seq, TimeSpan now)
    {
        _timing = true;
        _timedSeq = seq;
        _timedAt = now;
    }

    /// <summary>
    /// Times the segment that starts at <paramref name="seq"/> unless one is timed already (one measurement per round
    /// trip, RFC 6298 section 3). For new data only: a retransmission is never timed (Karn).
    /// </summary>
    public void StartTimingIfIdle(SeqNumber seq, TimeSpan now)
    {
        if (!_timing) StartTiming(seq, now);
    }

    /// <summary>
    /// An acknowledgment up to <paramref name="ack"/> arrived at <paramref name="now"/>: if it covers the timed
    /// segment's first sequence number, the time since that segment was sent is a sample and timing stops.
    /// </summary>
    public void OnAck(SeqNumber ack, TimeSpan now)
    {
        if (_timing && ack > _timedSeq)
        {
            _timing = false;
            AddSample(now - _timedAt);
        }
    }

    /// <summary>
    /// Karn's algorithm (RFC 6298 section 3): something was retransmitted, so an acknowledgment may answer either
    /// copy and the time to it measures nothing. Drops the segment being timed, if any.
    /// </summary>
    public void StopTiming() => _timing = false;

    /// <summary>
    /// A round-trip measurement R, <paramref name="rtt"/> (RFC 6298 (2.2), (2.3)). The first sets SRTT = R and
    /// RTTVAR = R/2; later ones set RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R|, then SRTT = 7/8 SRTT + 1/8 R. Then
    /// RTO = SRTT + max(G, 4 RTTVAR), held within [min, max] ((2.4), (2.5)).
    /// </summary>
    public void AddSample(TimeSpan rtt)
    {
        // TimeSpan's * and / round to the nearest tick (halves to even), in this order, as the TCB always computed it:
        // the same samples give the same RTO to the tick.
        if (!_hasSample)
        {
            _srtt = rtt;
            _rttvar = rtt / 2;
            _hasSample = true;
        }
        else
        {
            // RTTVAR first: it uses the SRTT from before this sample (2.3).
            var delta = (_srtt - rtt).Duration();
            _rttvar = _rttvar * 3 / 4 + delta / 4;
            _srtt = _srtt * 7 / 8 + rtt / 8;
        }
        var rto = _srtt + TimeSpan.FromTicks(Math.Max(ClockGranularity.Ticks, 4 * _rttvar.Ticks));
        _rto = Clamp(rto);
    }

    /// <summary>
    /// The retransmission timer expired (RFC 6298 (5.5)): RTO doubles, up to the maximum. It stays backed off until
    /// the next sample computes it afresh.
    /// </summary>
    public void Backoff()
    {
        // Saturate rather than overflow (TimeSpan's multiplication throws): the clamp brings it down to the maximum.
        var doubled = _rto.Ticks > TimeSpan.MaxValue.Ticks / 2 ? TimeSpan.MaxValue : _rto * 2;
        _rto = Clamp(doubled);
    }

    /// <summary>
    /// Raises RTO to <paramref name="floor"/> (held within [min, max]) if no round trip was measured yet and RTO is
    /// below it; otherwise changes nothing. RFC 6298 (5.7): when the SYN had to be retransmitted, data transmission
    /// starts with RTO at least <see cref="AfterSynRetransmission"/>; call this on entering ESTABLISHED in that case.
    /// </summary>
    public void RaiseIfUnmeasured(TimeSpan floor)
    {
        if (!_hasSample && _rto < floor) _rto = Clamp(floor);
    }

    private TimeSpan Clamp(TimeSpan rto) => rto < _minRto ? _minRto : rto > _maxRto ? _maxRto : rto;
}
