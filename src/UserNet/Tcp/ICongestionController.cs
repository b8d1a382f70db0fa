namespace UserNet.Tcp;

/// <summary>What the sender must do after the controller heard about an acknowledgment.</summary>
internal enum CongestionAction
{
    None,
    /// <summary>Fast retransmit (RFC 5681 3.2): the first unacknowledged segment is lost; resend it now.</summary>
    FastRetransmit,
    /// <summary>Early retransmit (RFC 5827): as fast retransmit, with fewer duplicates because few segments are out.</summary>
    EarlyRetransmit,
    /// <summary>A partial acknowledgment in fast recovery (RFC 6582 3.2 step 4): the next hole is lost too; resend it.</summary>
    RetransmitNextHole,
}

/// <summary>
/// Congestion control: how much may be in flight (cwnd) and how that changes with acknowledgments, duplicates and
/// timeouts. The sender tells it what happened and does what it answers; it never sends. NewReno (RFC 5681 with
/// RFC 6582) is one; another algorithm (CUBIC, RFC 9438) is another class behind the same interface.
/// </summary>
internal interface ICongestionController
{
    /// <summary>cwnd, in bytes.</summary>
    uint Window { get; }
    /// <summary>ssthresh, in bytes (uint.MaxValue until the first loss).</summary>
    uint SlowStartThreshold { get; }
    /// <summary>True during fast recovery.</summary>
    bool InRecovery { get; }
    /// <summary>RFC 3042 limited transmit: bytes beyond cwnd the sender may send now (one segment per early duplicate).</summary>
    uint LimitedTransmit { get; }

    /// <summary>The connection is synchronized and the peer's MSS known: set the initial window (RFC 6928).</summary>
    void Start(int mss);

    /// <summary>
    /// New data acknowledged: <paramref name="acked"/> sequence numbers, with <paramref name="flightBefore"/> (SND.MAX -
    /// SND.UNA) outstanding before the ACK, which acknowledged up to <paramref name="ack"/>.
    /// </summary>
    CongestionAction OnAck(uint acked, uint flightBefore, SeqNumber ack);

    /// <summary>
    /// A duplicate ACK (RFC 5681 section 2) with <paramref name="flight"/> outstanding up to <paramref name="sndMax"/>;
    /// <paramref name="threshold"/> duplicates start a retransmission (3, or fewer for early retransmit, RFC 5827).
    /// </summary>
    CongestionAction OnDuplicateAck(uint flight, SeqNumber sndUna, SeqNumber sndMax, int threshold);

    /// <summary>The retransmission timer expired with <paramref name="flight"/> outstanding up to <paramref name="sndMax"/>.</summary>
    void OnRetransmitTimeout(uint flight, SeqNumber sndMax);
}
