namespace UserNet.Tcp;

/// <summary>
/// The timestamps option of one connection (RFC 7323 sections 3 to 5): whether both sides agreed to it, our TSval
/// clock, TS.Recent (what we echo in TSecr) and PAWS. TSval counts milliseconds of the stack's clock plus an offset
/// chosen per connection (as Linux does since 4.10, so that a peer learns nothing about the stack's uptime).
/// </summary>
internal sealed class TcpTimestamps
{
    /// <summary>RFC 7323 5.5: TS.Recent is trusted for PAWS for 24 days; after that idle time it is invalid.</summary>
    public static readonly TimeSpan RecentLifetime = TimeSpan.FromDays(24);
    private const long TicksPerTsTick = TimeSpan.TicksPerMillisecond;

    private uint _offset;
    private TimeSpan _recentAt;

    /// <summary>Both SYNs carried TSopt (RFC 7323 3.2): every later segment carries one.</summary>
    public bool Enabled { get; private set; }
    /// <summary>TS.Recent: the TSval we echo.</summary>
    public uint Recent { get; private set; }
    public bool HasRecent { get; private set; }

    public void SetOffset(uint offset) => _offset = offset;

    /// <summary>Our TSval at <paramref name="now"/>: 1 ms ticks (RFC 7323 5.4 allows 1 ms to 1 s).</summary>
    public uint Value(TimeSpan now) => unchecked((uint)(now.Ticks / TicksPerTsTick) + _offset);

    /// <summary>Milliseconds (as a time) since our TSval <paramref name="echo"/> was sent: an RTT sample from TSecr (RFC 7323 4.1).</summary>
    public TimeSpan Since(uint echo, TimeSpan now)
    {
        int ticks = unchecked((int)(Value(now) - echo));
        return ticks < 0 ? TimeSpan.Zero : TimeSpan.FromTicks(ticks * TicksPerTsTick);
    }

    /// <summary>The handshake agreed on timestamps: the peer's SYN (or SYN-ACK) TSval is the first TS.Recent.</summary>
    public void Enable(uint peerTsVal, TimeSpan now)
    {
        Enabled = true;
        Recent = peerTsVal;
        HasRecent = true;
        _recentAt = now;
    }

    /// <summary>
    /// RFC 7323 5.3 R1 (PAWS): a segment whose TSval is older than TS.Recent is an old duplicate, unless TS.Recent
    /// is more than 24 days old (5.5), in which case it is no longer trusted.
    /// </summary>
    public bool IsOld(uint tsVal, TimeSpan now)
    {
        if (!Enabled || !HasRecent) return false;
        if (now - _recentAt > RecentLifetime) { HasRecent = false; return false; }
        return unchecked((int)(tsVal - Recent)) < 0;
    }

    /// <summary>
    /// RFC 7323 4.3 (2): TS.Recent takes SEG.TSval when SEG.TSval >= TS.Recent and SEG.SEQ =&lt; Last.ACK.sent (the
    /// segment covers the left edge of the window, so a delayed ACK echoes the earliest segment it answers).
    /// </summary>
    public void OnSegment(uint tsVal, SeqNumber segSeq, SeqNumber lastAckSent, TimeSpan now)
    {
        if (!Enabled) return;
        if (HasRecent && unchecked((int)(tsVal - Recent)) < 0) return;
        if (segSeq > lastAckSent) return;
        Recent = tsVal;
        HasRecent = true;
        _recentAt = now;
    }
}
