namespace UserNet.Tcp;

/// <summary>
/// The send sequence space of RFC 9293 section 3.3.1 (figure 4): what has been acknowledged (SND.UNA), what goes out
/// next (SND.NXT), the peer's window and the segment that last set it (SND.WND, SND.WL1, SND.WL2), and where our FIN
/// sits. It knows sequence numbers, not bytes: the send buffer holds those. Retransmissions are sent from the
/// <see cref="SackScoreboard"/> at their own numbers, so SND.NXT never goes back (as in Linux): SND.NXT is also the
/// highest sequence number sent, SND.MAX, which every ACK we send carries.
/// </summary>
internal sealed class TcpSendSequence
{
    private bool _synAcknowledged;

    public SeqNumber Iss { get; private set; }
    public SeqNumber Una { get; private set; }
    public SeqNumber Nxt { get; private set; }
    /// <summary>SND.MAX, the highest sequence number sent, which SND.NXT always is (nothing rewinds it).</summary>
    public SeqNumber Max => Nxt;
    public SeqNumber Wl1 { get; private set; }
    public SeqNumber Wl2 { get; private set; }
    /// <summary>SND.WND, already scaled.</summary>
    public uint Window { get; private set; }
    /// <summary>The largest window the peer has offered (MAX.SND.WND of RFC 5961 section 5; sender SWS avoidance).</summary>
    public uint MaxWindow { get; private set; }
    /// <summary>Our FIN has been sent (its sequence number is <see cref="FinSeq"/>).</summary>
    public bool FinSent { get; private set; }
    public SeqNumber FinSeq { get; private set; }

    /// <summary>SND.MAX - SND.UNA: FlightSize as RFC 5681 counts it (everything sent and not acknowledged).</summary>
    public uint Outstanding => (uint)(Max - Una);
    /// <summary>True when everything sent, FIN included, has been acknowledged.</summary>
    public bool AllAcknowledged => Una == Max;
    /// <summary>True once the peer has acknowledged our FIN.</summary>
    public bool FinAcknowledged => FinSent && Una > FinSeq;

    /// <summary>Our SYN is about to go: ISS, and SND.NXT = SND.MAX just past it.</summary>
    public void Open(SeqNumber iss)
    {
        Iss = Una = iss;
        Nxt = iss + 1;
        _synAcknowledged = false;
    }

    /// <summary>
    /// The window from the peer's SYN or SYN-ACK (never scaled, RFC 7323 2.2), with the segment that carried it. It does
    /// not count towards <see cref="MaxWindow"/> yet: that starts with the first window of the synchronized connection.
    /// </summary>
    public void SetSynWindow(uint window, SeqNumber wl1, SeqNumber wl2)
    {
        Window = window;
        Wl1 = wl1;
        Wl2 = wl2;
    }

    /// <summary>The window from a segment that acknowledged our SYN, or a later window update.</summary>
    public void SetWindow(uint window, SeqNumber wl1, SeqNumber wl2)
    {
        Window = window;
        MaxWindow = Math.Max(MaxWindow, window);
        Wl1 = wl1;
        Wl2 = wl2;
    }

    /// <summary>
    /// RFC 9293 3.10.7.4 (fifth, "if SND.UNA =&lt; SEG.ACK =&lt; SND.NXT"): the window is taken from a segment newer than the
    /// one that last set it (SND.WL1 &lt; SEG.SEQ, or the same one with SND.WL2 =&lt; SEG.ACK), so an old reordered segment
    /// cannot shrink it. Returns true when it was taken.
    /// </summary>
    public bool TryUpdateWindow(SeqNumber segSeq, SeqNumber segAck, uint window)
    {
        if (!(Wl1 < segSeq || (Wl1 == segSeq && Wl2 <= segAck))) return false;
        SetWindow(window, segSeq, segAck);
        return true;
    }

    /// <summary>The peer acknowledged up to <paramref name="ack"/> (SND.UNA &lt; ack &lt;= SND.MAX): returns the data bytes that frees.</summary>
    public long Acknowledge(SeqNumber ack)
    {
        long data = ack - Una;
        if (!_synAcknowledged) { _synAcknowledged = true; data--; } // our SYN, the first number acknowledged, takes no buffer byte
        if (FinSent && ack > FinSeq && Una <= FinSeq) data--; // our FIN takes a sequence number but no buffer byte
        Una = ack;
        return data;
    }

    /// <summary><paramref name="length"/> more sequence numbers went out from SND.NXT.</summary>
    public void Advance(int length) => Nxt += length;

    /// <summary>Our FIN goes out now (the first time it is at SND.NXT; again it keeps its number). Returns its sequence number.</summary>
    public SeqNumber SendFin()
    {
        if (!FinSent)
        {
            FinSent = true;
            FinSeq = Nxt;
        }
        Nxt = FinSeq + 1;
        return FinSeq;
    }

}
