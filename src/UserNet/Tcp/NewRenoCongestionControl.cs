namespace UserNet.Tcp;

/// <summary>
/// RFC 5681 congestion control: slow start, congestion avoidance, and on a loss ssthresh = max(FlightSize / 2,
/// 2 * SMSS) (equation 4), RFC 6928's initial window, and RFC 7661's rule that only a window that limited the sender
/// grows. Fast recovery's rate is PRR's (RFC 6937, which replaces RFC 5681's inflation by duplicates); RFC 6582's
/// recovery from partial acknowledgments is the sender's.
/// </summary>
internal sealed class NewRenoCongestionControl : ICongestionController
{
    /// <summary>A cap that keeps the arithmetic far from overflow.</summary>
    private const uint MaxWindow = 1u << 30;
    private uint _mss = 536;
    private uint _undoWindow, _undoThreshold;

    public uint Window { get; private set; }
    public uint SlowStartThreshold { get; private set; } = uint.MaxValue;

    public void Start(int mss, SeqNumber sndNxt, TimeSpan now)
    {
        _mss = (uint)mss;
        // RFC 6928: min(10*MSS, max(2*MSS, 14600)).
        Window = (uint)Math.Min(10 * mss, Math.Max(2 * mss, 14600));
        SlowStartThreshold = uint.MaxValue;
    }

    public void OnAck(uint acked, uint flightBefore, SeqNumber ack, SeqNumber sndNxt, TimeSpan now, TimeSpan? rttSample, TimeSpan srtt, TimeSpan minRtt)
    {
        // Grow only when the window limited what was in flight (RFC 7661 section 4.2): an application-limited sender
        // must not build a window it never tested.
        if (flightBefore + _mss < Window || Window >= MaxWindow) return;
        if (Window < SlowStartThreshold) Window += Math.Min(acked, _mss);     // slow start (RFC 5681 (2))
        else Window += Math.Max(1, _mss * _mss / Window);                    // congestion avoidance ((3))
    }

    public void OnCongestionEvent(uint flight, TimeSpan now)
    {
        Save();
        SlowStartThreshold = Math.Max(flight / 2, 2 * _mss);
    }

    public void SetWindow(uint window) => Window = Math.Min(window, MaxWindow);

    public void OnRecoveryExit(TimeSpan now) => Window = SlowStartThreshold;

    public void OnRetransmitTimeout(uint flight, TimeSpan now)
    {
        // RFC 5681 (4): ssthresh = max(FlightSize/2, 2*SMSS), cwnd = one segment (the loss window).
        Save();
        SlowStartThreshold = Math.Max(flight / 2, 2 * _mss);
        Window = _mss;
    }

    public void Undo()
    {
        if (_undoWindow == 0) return;
        Window = Math.Max(Window, _undoWindow);
        SlowStartThreshold = Math.Max(SlowStartThreshold, _undoThreshold);
        _undoWindow = 0;
    }

    private void Save()
    {
        _undoWindow = Window;
        _undoThreshold = SlowStartThreshold;
    }
}
