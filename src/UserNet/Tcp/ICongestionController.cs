namespace UserNet.Tcp;

/// <summary>
/// Congestion control: how much may be in flight (cwnd) and how that changes with acknowledgments, losses and
/// timeouts. The sender tells it what happened; it never sends. Loss detection (SACK, RACK, duplicate ACKs) and what
/// is resent are the sender's job (<see cref="SackScoreboard"/>, <see cref="RackLossDetection"/>); so is the rate in
/// recovery, which Proportional Rate Reduction sets through <see cref="SetWindow"/> (RFC 6937). What a controller
/// decides is the growth outside recovery and the reduction a loss or a timeout brings: CUBIC (RFC 9438,
/// <see cref="CubicCongestionControl"/>) and NewReno (RFC 5681, <see cref="NewRenoCongestionControl"/>) differ there.
/// </summary>
internal interface ICongestionController
{
    /// <summary>cwnd, in bytes.</summary>
    uint Window { get; }
    /// <summary>ssthresh, in bytes (uint.MaxValue until the first loss).</summary>
    uint SlowStartThreshold { get; }

    /// <summary>The connection is synchronized and the peer's MSS known: set the initial window (RFC 6928).</summary>
    void Start(int mss, SeqNumber sndNxt, TimeSpan now);

    /// <summary>
    /// New data acknowledged outside recovery: <paramref name="acked"/> bytes, with <paramref name="flightBefore"/> in
    /// flight before this ACK (SEG.ACK <paramref name="ack"/>, SND.NXT <paramref name="sndNxt"/>), the round trip this
    /// ACK measured if any, the smoothed round trip and the least round trip seen (zero while unknown).
    /// </summary>
    void OnAck(uint acked, uint flightBefore, SeqNumber ack, SeqNumber sndNxt, TimeSpan now, TimeSpan? rttSample, TimeSpan srtt, TimeSpan minRtt);

    /// <summary>A loss was detected with <paramref name="flight"/> in flight: lower ssthresh (cwnd is PRR's until recovery ends).</summary>
    void OnCongestionEvent(uint flight, TimeSpan now);

    /// <summary>In recovery: the window Proportional Rate Reduction allows.</summary>
    void SetWindow(uint window);

    /// <summary>Recovery is over: cwnd = ssthresh.</summary>
    void OnRecoveryExit(TimeSpan now);

    /// <summary>The retransmission timer expired with <paramref name="flight"/> in flight: the loss window (RFC 5681 (4)).</summary>
    void OnRetransmitTimeout(uint flight, TimeSpan now);

    /// <summary>The last congestion event or timeout was spurious (D-SACK, timestamps): put back the state from before it.</summary>
    void Undo();
}

/// <summary>Which congestion controller a connection uses.</summary>
public enum TcpCongestionControl
{
    /// <summary>CUBIC (RFC 9438) with HyStart++ (RFC 9406), as Linux uses by default.</summary>
    Cubic,
    /// <summary>NewReno (RFC 5681, RFC 6582): halve on loss, one segment per round trip in congestion avoidance.</summary>
    NewReno,
}
