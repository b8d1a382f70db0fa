namespace UserNet.Tcp;

/// <summary>
/// Proportional Rate Reduction (RFC 6937) with the Slow Start Reduction Bound, as Linux runs it: how much may be sent
/// on each ACK during fast recovery. While the data in flight (pipe) is above ssthresh, sending follows delivery in
/// the proportion ssthresh / RecoverFS, so the window comes down to ssthresh smoothly over one round trip instead of
/// in a half window of silence; once losses have taken pipe to ssthresh or below, it grows back towards ssthresh by at
/// most one segment more than was delivered on each ACK (slow start), never in one burst.
/// </summary>
/// <remarks>
/// Counts are bytes. <see cref="OnAck"/> may return less than a segment: a sender that sends whole segments sends
/// nothing then, and the share is not lost, because prr_out stays behind and the next ACK's answer is larger.
/// </remarks>
internal sealed class ProportionalRateReduction
{
    private uint _ssthresh;
    private uint _recoverFs;

    /// <summary>prr_delivered: bytes the receiver has reported delivered (cumulatively or by SACK) since recovery began.</summary>
    public uint Delivered { get; private set; }

    /// <summary>prr_out: bytes sent (new data and retransmissions) since recovery began.</summary>
    public uint Out { get; private set; }

    /// <summary>
    /// Recovery starts (RFC 6937 section 3.1): <paramref name="ssthresh"/> is the congestion controller's target,
    /// <paramref name="recoverFs"/> the data in flight when recovery began (RecoverFS, pipe or FlightSize then).
    /// </summary>
    public void Start(uint ssthresh, uint recoverFs)
    {
        _ssthresh = ssthresh;
        _recoverFs = recoverFs;
        Delivered = 0;
        Out = 0;
    }

    /// <summary>
    /// An ACK arrived in recovery: <paramref name="delivered"/> is its DeliveredData (bytes newly acknowledged
    /// cumulatively plus bytes newly SACKed), <paramref name="pipe"/> the RFC 6675 pipe after it. Returns sndcnt, the
    /// bytes that may be sent now; the caller sets cwnd = pipe + sndcnt and reports what it sends to
    /// <see cref="OnSent"/>.
    /// </summary>
    public uint OnAck(uint delivered, uint pipe, uint mss)
    {
        Delivered = SaturatingAdd(Delivered, delivered);
        long sndcnt;
        if (pipe > _ssthresh && _recoverFs > 0)
        {
            // Proportional Rate Reduction: CEIL(prr_delivered * ssthresh / RecoverFS) - prr_out, in 64 bits.
            ulong share = ((ulong)Delivered * _ssthresh + _recoverFs - 1) / _recoverFs;
            sndcnt = (long)share - Out;
        }
        else
        {
            // Slow Start Reduction Bound: catch up towards ssthresh by what was delivered (or banked) and one MSS more.
            // A RecoverFS of 0 has no proportion to take: the bound alone limits sending then.
            long limit = Math.Max((long)Delivered - Out, delivered) + mss;
            sndcnt = Math.Min((long)_ssthresh - pipe, limit);
        }
        // Linux (tcp_cwnd_reduction): until anything has gone out in recovery, one segment may, so that the fast
        // retransmission is sent on the ACK that starts recovery whatever the arithmetic says.
        if (Out == 0) sndcnt = Math.Max(sndcnt, mss);
        return (uint)Math.Clamp(sndcnt, 0, uint.MaxValue);
    }

    /// <summary>The caller sent <paramref name="bytes"/> in recovery, new data or retransmissions: prr_out grows.</summary>
    public void OnSent(uint bytes) => Out = SaturatingAdd(Out, bytes);

    private static uint SaturatingAdd(uint a, uint b) => a > uint.MaxValue - b ? uint.MaxValue : a + b;
}
