namespace UserNet.Tcp;

/// <summary>
/// RFC 5681 congestion control (slow start, congestion avoidance, fast retransmit and recovery) with RFC 6582's NewReno
/// recovery from partial acknowledgments, RFC 6928's initial window, RFC 3042 limited transmit and RFC 7661's rule
/// that only a window that limited the sender grows.
/// </summary>
internal sealed class NewRenoCongestionControl : ICongestionController
{
    /// <summary>A cap that keeps the arithmetic far from overflow.</summary>
    private const uint MaxWindow = 1u << 30;
    private uint _mss = 536;
    private int _dupAcks;
    private SeqNumber _recover;
    private bool _recoverSet;

    public uint Window { get; private set; }
    public uint SlowStartThreshold { get; private set; } = uint.MaxValue;
    public bool InRecovery { get; private set; }
    /// <summary>Duplicate ACKs counted since the last new acknowledgment.</summary>
    public int DuplicateAcks => _dupAcks;
    public uint LimitedTransmit => !InRecovery && _dupAcks is 1 or 2 ? (uint)_dupAcks * _mss : 0;

    public void Start(int mss)
    {
        _mss = (uint)mss;
        // RFC 6928: min(10*MSS, max(2*MSS, 14600)).
        Window = (uint)Math.Min(10 * mss, Math.Max(2 * mss, 14600));
        SlowStartThreshold = uint.MaxValue;
    }

    public CongestionAction OnAck(uint acked, uint flightBefore, SeqNumber ack)
    {
        if (InRecovery)
        {
            if (ack >= _recover)
            {
                // Full acknowledgment: deflate the window and leave recovery (RFC 6582 3.2 step 3, option 1).
                Window = Math.Min(SlowStartThreshold, Math.Max(flightBefore - acked, _mss) + _mss);
                InRecovery = false;
                _dupAcks = 0;
                return CongestionAction.None;
            }
            // Partial acknowledgment (RFC 6582 3.2 step 3): deflate by what it acknowledged, and add back one segment
            // if it acknowledged at least one; never below one segment.
            uint addBack = acked >= _mss ? _mss : 0;
            Window = Math.Max(_mss, (Window > acked ? Window - acked : 0) + addBack);
            return CongestionAction.RetransmitNextHole;
        }
        _dupAcks = 0;
        // Grow only when the window limited what was in flight (RFC 7661 section 4.2): an application-limited sender
        // must not build a window it never tested.
        if (flightBefore + _mss < Window || Window >= MaxWindow) return CongestionAction.None;
        if (Window < SlowStartThreshold) Window += Math.Min(acked, _mss);     // slow start
        else Window += Math.Max(1, _mss * _mss / Window);                    // congestion avoidance
        return CongestionAction.None;
    }

    public CongestionAction OnDuplicateAck(uint flight, SeqNumber sndUna, SeqNumber sndMax, int threshold)
    {
        _dupAcks++;
        if (InRecovery) { Window += _mss; return CongestionAction.None; } // RFC 5681 3.2 step 4: inflate per further duplicate
        // RFC 6582 3.2 step 2 (and section 4): no second fast retransmit for losses from the same window. The ACK must
        // cover more than recover, the highest byte sent then (ack - 1 > recover); _recover holds SND.MAX, one past it.
        if (_dupAcks < threshold || (_recoverSet && sndUna <= _recover)) return CongestionAction.None;
        // Fast retransmit (RFC 5681 3.2 steps 2-4).
        SlowStartThreshold = Math.Max(flight / 2, 2 * _mss);
        _recover = sndMax;
        _recoverSet = true;
        InRecovery = true;
        Window = SlowStartThreshold + (uint)_dupAcks * _mss;
        return threshold == 3 ? CongestionAction.FastRetransmit : CongestionAction.EarlyRetransmit;
    }

    public void OnRetransmitTimeout(uint flight, SeqNumber sndMax)
    {
        // RFC 5681 (4): ssthresh = max(FlightSize/2, 2*SMSS), cwnd = one segment (the loss window).
        SlowStartThreshold = Math.Max(flight / 2, 2 * _mss);
        Window = _mss;
        InRecovery = false;
        _dupAcks = 0;
        _recover = sndMax;
        _recoverSet = true;
    }
}
