namespace UserNet.Tcp;

/// <summary>The states of RFC 9293 section 3.3.2.</summary>
public enum TcpState
{
    Closed, Listen, SynSent, SynReceived, Established, FinWait1, FinWait2, CloseWait, Closing, LastAck, TimeWait,
}

/// <summary>Buffer sizes and timers of TCP connections; a stack-wide default (StackOptions.Tcp) that each connection may override.</summary>
public sealed record TcpSettings
{
    /// <summary>Bytes the application may queue for sending, including those sent but not yet acknowledged.</summary>
    public int SendBufferSize { get; init; } = 1 << 20;
    /// <summary>Bytes received but not yet read by the application: the most we advertise as the receive window.</summary>
    public int ReceiveBufferSize { get; init; } = 1 << 20;
    /// <summary>Send what is written at once instead of waiting to fill a segment (turns Nagle's algorithm, RFC 896, off).</summary>
    public bool NoDelay { get; init; }
    /// <summary>Least retransmission timeout (RFC 6298 says 1 s; Linux uses 200 ms, as we do).</summary>
    public TimeSpan MinRetransmitTimeout { get; init; } = TimeSpan.FromMilliseconds(200);
    /// <summary>Greatest retransmission timeout after backoff (RFC 6298 (2.5): at least 60 s).</summary>
    public TimeSpan MaxRetransmitTimeout { get; init; } = TimeSpan.FromSeconds(60);
    /// <summary>The timeout before any round trip was measured (RFC 6298 (2.1)).</summary>
    public TimeSpan InitialRetransmitTimeout { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary>SYN retransmissions before a connect fails with a timeout.</summary>
    public int SynRetries { get; init; } = 5;
    /// <summary>Data retransmissions of one segment before the connection fails with a timeout.</summary>
    public int DataRetries { get; init; } = 12;
    /// <summary>How long an acknowledgment may wait for company (RFC 1122 4.2.3.2: at most 500 ms).</summary>
    public TimeSpan DelayedAckTimeout { get; init; } = TimeSpan.FromMilliseconds(40);
    /// <summary>TIME-WAIT lasts 2 MSL (RFC 9293 3.4.2); Linux uses 60 s.</summary>
    public TimeSpan TimeWait { get; init; } = TimeSpan.FromSeconds(60);
    /// <summary>Idle time before keep-alive probes start; null turns keep-alive off (the default, RFC 1122 4.2.3.6).</summary>
    public TimeSpan? KeepAliveTime { get; init; }
    public TimeSpan KeepAliveInterval { get; init; } = TimeSpan.FromSeconds(75);
    public int KeepAliveProbes { get; init; } = 9;
    /// <summary>Challenge ACKs allowed per second (RFC 5961 section 7).</summary>
    public int ChallengeAcksPerSecond { get; init; } = 100;
    /// <summary>
    /// Separate out-of-order ranges (holes) a connection keeps track of; a segment that would start one more is
    /// dropped (and counted). The bytes themselves wait in the receive buffer, so its size bounds their memory.
    /// </summary>
    public int MaxOutOfOrderRanges { get; init; } = 256;
    /// <summary>Offer and accept selective acknowledgments (RFC 2018); a connection uses them when both sides do.</summary>
    public bool Sack { get; init; } = true;
    /// <summary>Offer and accept the timestamps option (RFC 7323: RTT measurement and PAWS); used when both sides do.</summary>
    public bool Timestamps { get; init; } = true;
    /// <summary>The congestion controller: CUBIC (RFC 9438) unless set to NewReno (RFC 5681).</summary>
    public TcpCongestionControl CongestionControl { get; init; } = TcpCongestionControl.Cubic;
    /// <summary>
    /// When a listener's backlog is full, answer a SYN with a SYN cookie (RFC 4987 section 3.6, as Linux does) instead
    /// of dropping it: the SYN-ACK's sequence number encodes what the connection needs, no state is kept, and the
    /// ACK that brings the cookie back establishes the connection. A flood of spoofed SYNs then fills nothing, and real
    /// clients still connect. The cookie says the peer's MSS only roughly (536, 1300, 1440 or 1460), and its window
    /// scale and SACK-permitted only when it sent timestamps. False drops the SYN (the peer's retry tries again).
    /// </summary>
    public bool SynCookies { get; init; } = true;
}
