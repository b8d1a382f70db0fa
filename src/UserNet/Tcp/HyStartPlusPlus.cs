namespace UserNet.Tcp;

/// <summary>Where HyStart++ (RFC 9406) has the connection.</summary>
internal enum HyStartPhase
{
    /// <summary>Standard slow start, watching each round's minimum RTT for a rise (RFC 9406 4.2).</summary>
    SlowStart,
    /// <summary>
    /// Conservative Slow Start (CSS, RFC 9406 4.2): the RTT rose, so the window grows at a quarter of slow start's rate
    /// for up to CSS_ROUNDS rounds, in case the rise was a passing one.
    /// </summary>
    ConservativeSlowStart,
    /// <summary>Slow start is over: CSS ran its rounds, or a loss or timeout came. HyStart++ does not run again.</summary>
    Done,
}

/// <summary>
/// HyStart++ (RFC 9406): when the initial slow start ends. It watches the minimum RTT of each round (a round ends when an
/// ACK acknowledges windowEnd, SND.NXT when the round began); a rise of at least RttThresh over the last round's
/// minimum moves to Conservative Slow Start, a fall back below the baseline returns to slow start, and CSS_ROUNDS
/// rounds in CSS end slow start. It decides only: the congestion controller grows the window with
/// <see cref="MaxIncrease"/> and <see cref="GrowthDivisor"/>, and sets ssthresh = cwnd when the phase becomes
/// <see cref="HyStartPhase.Done"/>.
/// <para>
/// The constants are RFC 9406 section 4.3's, with L = 8 as the sender does not pace. currentRoundMinRTT is the least of
/// the round's first N_RTT_SAMPLE samples, as RFC 9406 4.2 judges once a round has that many.
/// </para>
/// </summary>
internal sealed class HyStartPlusPlus
{
    /// <summary>MIN_RTT_THRESH: the least RTT rise that ends slow start.</summary>
    private static readonly TimeSpan MinRttThresh = TimeSpan.FromMilliseconds(4);
    /// <summary>MAX_RTT_THRESH: a rise this large always ends slow start.</summary>
    private static readonly TimeSpan MaxRttThresh = TimeSpan.FromMilliseconds(16);
    /// <summary>"Infinity" of RFC 9406 4.2: no RTT known.</summary>
    private static readonly TimeSpan Unknown = TimeSpan.MaxValue;
    /// <summary>MIN_RTT_DIVISOR: RttThresh is the last round's minimum RTT over this (then clamped).</summary>
    private const int MinRttDivisor = 8;
    /// <summary>N_RTT_SAMPLE: a round is judged once it has this many RTT samples.</summary>
    private const int NRttSample = 8;
    /// <summary>CSS_GROWTH_DIVISOR: CSS grows the window at slow start's rate over this.</summary>
    private const int CssGrowthDivisor = 4;
    /// <summary>CSS_ROUNDS: the most rounds CSS lasts (the round it began in counts).</summary>
    private const int CssRounds = 5;
    /// <summary>L: the largest increase per ACK in segments (8 for a sender that does not pace, RFC 9406 4.3).</summary>
    private const ulong L = 8;

    private SeqNumber _windowEnd;
    private TimeSpan _lastRoundMinRtt = Unknown;
    private TimeSpan _currentRoundMinRtt = Unknown;
    private TimeSpan _cssBaselineMinRtt = Unknown;
    private int _rttSampleCount;
    private int _cssRounds;

    public HyStartPhase Phase { get; private set; }

    /// <summary>1 in slow start, CSS_GROWTH_DIVISOR (4) in conservative slow start.</summary>
    public int GrowthDivisor => Phase == HyStartPhase.ConservativeSlowStart ? CssGrowthDivisor : 1;

    /// <summary>Largest cwnd increase per ACK in slow start: L * SMSS (RFC 9406 4.2).</summary>
    public uint MaxIncrease(uint mss) => (uint)Math.Min(L * mss, uint.MaxValue);

    /// <summary>
    /// The connection starts: <paramref name="sndNxt"/> begins the first round. Once <see cref="HyStartPhase.Done"/>
    /// it stays so (RFC 9406 4.3: HyStart++ is for the initial slow start; a slow start after a timeout is the
    /// traditional one, bounded by the ssthresh the loss found).
    /// </summary>
    public void Start(SeqNumber sndNxt)
    {
        if (Phase == HyStartPhase.Done) return;
        Phase = HyStartPhase.SlowStart;
        _windowEnd = sndNxt;
        _lastRoundMinRtt = _currentRoundMinRtt = _cssBaselineMinRtt = Unknown;
        _rttSampleCount = 0;
        _cssRounds = 0;
    }

    /// <summary>
    /// An ACK while cwnd &lt; ssthresh: <paramref name="ack"/> is SEG.ACK, <paramref name="sndNxt"/> SND.NXT now and
    /// <paramref name="rttSample"/> the RTT this ACK measured, if it measured one. Returns the phase after it; on
    /// <see cref="HyStartPhase.Done"/> the caller sets ssthresh = cwnd and enters congestion avoidance.
    /// </summary>
    public HyStartPhase OnAck(SeqNumber ack, SeqNumber sndNxt, TimeSpan? rttSample)
    {
        if (Phase == HyStartPhase.Done) return Phase;

        if (ack >= _windowEnd)
        {
            // The round ends. "CSS lasts at most CSS_ROUNDS rounds. If the transition into CSS happens in the middle
            // of a round, that partial round counts towards the limit" (RFC 9406 4.2).
            if (Phase == HyStartPhase.ConservativeSlowStart && ++_cssRounds > CssRounds)
            {
                Phase = HyStartPhase.Done;
                return Phase;
            }
            // At the start of each round: lastRoundMinRTT = currentRoundMinRTT, currentRoundMinRTT = infinity,
            // rttSampleCount = 0; windowEnd = SND.NXT. This ACK's sample is the new round's first.
            _lastRoundMinRtt = _currentRoundMinRtt;
            _currentRoundMinRtt = Unknown;
            _rttSampleCount = 0;
            _windowEnd = sndNxt;
        }

        if (rttSample is not { } rtt || _rttSampleCount >= NRttSample) return Phase;
        if (rtt < _currentRoundMinRtt) _currentRoundMinRtt = rtt;
        if (++_rttSampleCount < NRttSample) return Phase;

        // The round has its N_RTT_SAMPLE samples: judge it.
        if (Phase == HyStartPhase.SlowStart)
        {
            if (_lastRoundMinRtt == Unknown) return Phase;
            if (_currentRoundMinRtt >= _lastRoundMinRtt + RttThresh(_lastRoundMinRtt))
            {
                // A delay increase: exit slow start and enter CSS, the current round being CSS's first.
                _cssBaselineMinRtt = _currentRoundMinRtt;
                _cssRounds = 1;
                Phase = HyStartPhase.ConservativeSlowStart;
            }
        }
        else if (_currentRoundMinRtt < _cssBaselineMinRtt)
        {
            // The RTT fell back below the baseline: the exit was spurious, resume slow start including HyStart++.
            _cssBaselineMinRtt = Unknown;
            Phase = HyStartPhase.SlowStart;
        }
        return Phase;
    }

    /// <summary>A loss or timeout: HyStart++ is done (RFC 9406 4.2: loss in slow start or CSS ends slow start).</summary>
    public void OnCongestion() => Phase = HyStartPhase.Done;

    /// <summary>RttThresh = max(MIN_RTT_THRESH, min(lastRoundMinRTT / MIN_RTT_DIVISOR, MAX_RTT_THRESH)).</summary>
    private static TimeSpan RttThresh(TimeSpan lastRoundMinRtt)
    {
        var thresh = lastRoundMinRtt / MinRttDivisor;
        if (thresh < MinRttThresh) return MinRttThresh;
        return thresh > MaxRttThresh ? MaxRttThresh : thresh;
    }
}
