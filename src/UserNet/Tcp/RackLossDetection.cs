namespace UserNet.Tcp;

/// <summary>
/// RACK-TLP (RFC 8985): loss detected by time rather than by counting duplicates. A segment is lost when a segment
/// sent after it has been delivered and more than a round trip plus a reordering window has passed since it was sent
/// (section 6.2). This also finds a lost retransmission, which duplicate counting never does. The tail loss probe
/// (section 7) is timed here too: when ACKs stop coming, one segment goes out after about two round trips instead of
/// waiting for the retransmission timer, so the ACK it brings lets RACK find what was lost at the tail.
/// The state is RFC 8985's RACK.xmit_ts, RACK.end_seq, RACK.rtt, RACK.fack, RACK.reordering_seen and
/// RACK.reo_wnd_mult; the segments are the <see cref="SackScoreboard"/>'s.
/// </summary>
internal sealed class RackLossDetection
{
    /// <summary>RFC 8985 6.2 step 3: the reordering window stays widened for this many recoveries after a D-SACK.</summary>
    private const int ReoWndPersist = 16;
    /// <summary>RFC 5681's DupThresh: with this many segments SACKed and no reordering seen, the window is zero.</summary>
    public const int DupThresh = 3;
    /// <summary>Linux's floor on the probe timeout beyond 2 * SRTT when several segments are out (TCP_TIMEOUT_MIN_US).</summary>
    public static readonly TimeSpan ProbeSlack = TimeSpan.FromMilliseconds(2);
    /// <summary>RFC 8985 7.2 WCDelAckT: the worst-case delayed ACK a lone segment may wait for (Linux: TCP_RTO_MIN).</summary>
    public static readonly TimeSpan WorstCaseDelayedAck = TimeSpan.FromMilliseconds(200);

    private bool _hasSegment;
    private TimeSpan _xmitTs, _rtt;
    private SeqNumber _endSeq, _fack;
    private bool _fackSet;
    private int _reoWndMult = 1;
    private int _reoWndPersist;
    private SeqNumber _dsackRoundEnd;
    private bool _dsackRoundSet;

    /// <summary>RACK.rtt: the round trip of the most recently delivered segment (RFC 8985 6.1).</summary>
    public TimeSpan Rtt => _rtt;
    /// <summary>RACK.reordering_seen.</summary>
    public bool ReorderingSeen { get; private set; }
    /// <summary>RACK.reo_wnd_mult.</summary>
    public int ReorderWindowMultiplier => _reoWndMult;
    public bool HasSegment => _hasSegment;

    /// <summary>
    /// RFC 8985 6.2 steps 1 and 2: an ACK delivered <paramref name="d"/> (cumulatively or by SACK). Updates RACK's
    /// most recently sent delivered segment, unless that segment was retransmitted and the ACK may answer the first
    /// copy (delivered sooner than the least round trip after the retransmission, or, with timestamps, echoing one
    /// older than the retransmission: <paramref name="echoesRetransmission"/> false). Notes reordering when a segment
    /// never retransmitted is delivered below one delivered before.
    /// </summary>
    public void OnDelivered(in SackScoreboard.Delivery d, TimeSpan now, TimeSpan minRtt, bool? echoesRetransmission)
    {
        if (!d.Any) return;
        if (d.HasClean && _fackSet && d.LowestCleanEnd < _fack) ReorderingSeen = true;
        if (!_fackSet || d.HighestEnd > _fack) { _fack = d.HighestEnd; _fackSet = true; }

        var rtt = now - d.NewestSentAt;
        if (d.NewestRetransmitted)
        {
            if (echoesRetransmission == false) return;
            if (echoesRetransmission is null && rtt < minRtt) return;
        }
        // RACK.rtt follows the most recently delivered segment; RACK.xmit_ts and RACK.end_seq the most recently
        // sent one (RFC 8985 6.2 step 2; Linux's tcp_rack_advance sets rack.rtt_us before the sent-after test).
        _rtt = rtt;
        if (!_hasSegment || d.NewestSentAt > _xmitTs || (d.NewestSentAt == _xmitTs && d.NewestEnd > _endSeq))
        {
            _xmitTs = d.NewestSentAt;
            _endSeq = d.NewestEnd;
            _hasSegment = true;
        }
    }

    /// <summary>
    /// RFC 8985 6.2 step 3: a D-SACK arrived, so a retransmission was needless: widen the reordering window, at most
    /// once per round trip (a round ends when SND.UNA passes what was sent when the last widening happened).
    /// </summary>
    public void OnDsack(SeqNumber sndUna, SeqNumber sndMax)
    {
        if (_dsackRoundSet && sndUna < _dsackRoundEnd) return;
        _reoWndMult++;
        _dsackRoundEnd = sndMax;
        _dsackRoundSet = true;
        _reoWndPersist = ReoWndPersist;
    }

    /// <summary>A loss recovery ended: after 16 without a D-SACK the window goes back to its base (step 3).</summary>
    public void OnRecoveryEnd()
    {
        if (_reoWndPersist > 0 && --_reoWndPersist == 0) _reoWndMult = 1;
    }

    /// <summary>
    /// RFC 8985 6.2 step 4, RACK.reo_wnd: zero while no reordering was seen and the sender is in recovery or
    /// DupThresh segments are SACKed (so RACK is as quick as fast retransmit); otherwise min(mult * min_RTT / 4, SRTT).
    /// </summary>
    public TimeSpan ReorderWindow(bool inRecovery, int sackedSegments, TimeSpan minRtt, TimeSpan srtt)
    {
        if (!ReorderingSeen && (inRecovery || sackedSegments >= DupThresh)) return TimeSpan.Zero;
        var w = TimeSpan.FromTicks(minRtt.Ticks / 4 * _reoWndMult);
        return w < srtt ? w : srtt;
    }

    /// <summary>
    /// RFC 8985 6.2 step 5: marks lost every segment not SACKed that was sent before RACK's segment and longer than
    /// RACK.rtt + <paramref name="reoWnd"/> ago. Returns how many it marked, and in <paramref name="wait"/> when the
    /// next may be due (the reordering timer, section 6.3), or <see cref="TimeSpan.Zero"/> if none is waiting.
    /// </summary>
    public int DetectLoss(SackScoreboard board, TimeSpan now, TimeSpan reoWnd, out TimeSpan wait)
    {
        wait = TimeSpan.Zero;
        if (!_hasSegment) return 0;
        int marked = 0;
        for (int i = 0; i < board.Count; i++)
        {
            ref readonly var s = ref board[i];
            if (s.Sacked || (s.Lost && !s.RetransmitInFlight)) continue;
            if (!SentBefore(s.SentAt, s.End))
            {
                // Segments are in sequence order, and one never resent went out after every original transmission
                // below it; so every later segment, resent or not, went out after RACK's too: none can be lost yet.
                // Without this an ACK with no loss would visit the whole flight.
                if (!s.EverRetransmitted) break;
                continue;
            }
            var remaining = s.SentAt + _rtt + reoWnd - now;
            if (remaining <= TimeSpan.Zero) { board.MarkLost(i, LossCause.Rack); marked++; }
            else if (remaining > wait) wait = remaining;
        }
        return marked;
    }

    /// <summary>RFC 8985 7.2: the probe timeout. 2 * SRTT, plus the worst-case delayed ACK when one segment is out
    /// (Linux: plus 2 ms otherwise), never past the retransmission timeout; 1 s while no round trip is known.</summary>
    public static TimeSpan ProbeTimeout(TimeSpan srtt, bool hasSrtt, int segmentsOut, TimeSpan rto)
    {
        var pto = hasSrtt ? srtt * 2 + (segmentsOut <= 1 ? WorstCaseDelayedAck : ProbeSlack) : TimeSpan.FromSeconds(1);
        return pto < rto ? pto : rto;
    }

    /// <summary>Forgets the segment (the timer fired and recovery starts from scratch, or the connection ended).</summary>
    public void Reset()
    {
        _hasSegment = false;
        _fackSet = false;
    }

    private bool SentBefore(TimeSpan sentAt, SeqNumber end) => sentAt < _xmitTs || (sentAt == _xmitTs && end < _endSeq);
}
