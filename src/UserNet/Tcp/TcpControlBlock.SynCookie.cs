using UserNet.Core;
using UserNet.Wire;

namespace UserNet.Tcp;

// A connection made from a SYN cookie (RFC 4987 section 3.6): the listener kept no state for the SYN, so everything
// the handshake would have set comes from the ACK that brought the cookie back.
internal sealed partial class TcpControlBlock
{
    /// <summary>
    /// The ACK <paramref name="seg"/> of our SYN-ACK reached the listener with a valid SYN cookie, <paramref name="iss"/>
    /// (SEG.ACK - 1): the connection is ESTABLISHED at once, as if it had been SYN-RECEIVED. IRS is SEG.SEQ - 1, the
    /// MSS is the cookie's, and window scale, SACK-permitted and timestamps are what the peer's TSecr echoed
    /// (<paramref name="options"/>); without timestamps the cookie said none of them, so neither side scales. The
    /// caller hands the segment on (<see cref="OnSegment"/>) for any data it carries.
    /// </summary>
    public void EstablishFromSynCookie(TcpSegment seg, SeqNumber iss, int mss, SynCookieOptions options)
    {
        var segSeq = new SeqNumber(seg.SequenceNumber);
        var segAck = new SeqNumber(seg.AcknowledgmentNumber);
        _rcv.Open(segSeq - 1);
        _snd.Open(iss);
        _sndMss = Math.Min(mss, OurMss);
        if (options.WindowScale is { } ws) _sndShift = Math.Min(ws, (byte)14);
        else { _sndShift = 255; _rcv.DisableScaling(); } // our SYN-ACK offered no scale either (RFC 7323 2.2)
        _sack = _s.Sack && options.SackPermitted;
        if (_s.Timestamps && options.TsRecent is { } recent) _ts.Enable(recent, _ctx.Now);
        _segmentSize = _sndMss - (_ts.Enabled ? TimestampOptionLength : 0);
        _cc.Start(_segmentSize, _snd.Nxt, _ctx.Now);
        // The window of a segment that is not a SYN is scaled (RFC 7323 2.2).
        OurSynAcknowledged(segSeq, segAck, (uint)seg.Window << Shift(_sndShift), Decision.TcpAckValidatesSynCookie);
    }
}
