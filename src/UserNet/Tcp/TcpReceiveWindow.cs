namespace UserNet.Tcp;

/// <summary>
/// The receive sequence space of RFC 9293 section 3.3.1 (figure 5) and the window we offer: RCV.NXT, the right edge
/// we last advertised (which never moves left, 3.8.6.2.2), our window scale (RFC 7323), the acceptability test of
/// section 3.10.7.4, and receiver-side silly window avoidance (3.8.6.2.2, RFC 1122 4.2.3.3).
/// </summary>
internal sealed class TcpReceiveWindow
{
    private readonly int _capacity;

    /// <param name="capacity">The receive buffer: the most ever offered.</param>
    public TcpReceiveWindow(int capacity)
    {
        _capacity = capacity;
        Shift = ShiftFor(capacity);
    }

    /// <summary>Our window scale: the least shift that lets the whole receive buffer be advertised (RFC 7323 2.3).</summary>
    public static byte ShiftFor(int capacity)
    {
        byte shift = 0;
        while (shift < 14 && (capacity >> shift) > 65535) shift++;
        return shift;
    }

    /// <summary>The window a SYN or SYN-ACK offers for a receive buffer of <paramref name="capacity"/> bytes.</summary>
    public static ushort SynWindowFor(int capacity) => (ushort)Math.Min(65535, capacity);

    public SeqNumber Irs { get; private set; }
    public SeqNumber Nxt { get; private set; }
    /// <summary>The right edge of the window last advertised: RCV.NXT + RCV.WND as the peer knows it.</summary>
    public SeqNumber Edge { get; private set; }
    /// <summary>Our window scale (RFC 7323): what we offer in our SYN, 0 when the peer did not offer scaling.</summary>
    public byte Shift { get; private set; }
    /// <summary>RCV.WND as the peer knows it.</summary>
    public uint Available => (uint)Math.Max(0, Edge - Nxt);
    /// <summary>The window a SYN or SYN-ACK offers: never scaled (RFC 7323 2.2), so at most 65,535.</summary>
    public ushort SynWindow => SynWindowFor(_capacity);

    /// <summary>The peer's SYN arrived: IRS, RCV.NXT just past it, and the unscaled window our SYN(-ACK) offers.</summary>
    public void Open(SeqNumber irs)
    {
        Irs = irs;
        Nxt = irs + 1;
        Edge = Nxt + SynWindow;
    }

    /// <summary>The peer does not scale: neither do we (RFC 7323 2.2, both must offer it).</summary>
    public void DisableScaling() => Shift = 0;

    /// <summary>RCV.NXT moves on past <paramref name="count"/> sequence numbers (data delivered, or the peer's FIN).</summary>
    public void Advance(int count) => Nxt += count;

    /// <summary>
    /// RFC 9293 3.10.7.4, first check, the four cases: a segment is acceptable when any part of it falls in the window
    /// (an empty one when it is at RCV.NXT, or within the window when the window is open).
    /// </summary>
    public bool IsAcceptable(SeqNumber seq, int length)
    {
        uint wnd = Available;
        if (length == 0) return wnd == 0 ? seq == Nxt : seq.InRange(Nxt, Nxt + wnd);
        return wnd != 0 && (seq.InRange(Nxt, Nxt + wnd) || (seq + (length - 1)).InRange(Nxt, Nxt + wnd));
    }

    /// <summary>
    /// The window we can offer with <paramref name="free"/> bytes of buffer past RCV.NXT: the right edge moves on only
    /// by at least min(half the buffer, one MSS) at a time (receiver SWS avoidance), never back, and as much as the
    /// scaled 16-bit field can say. Does not change what was advertised (see <see cref="Advertise"/>).
    /// </summary>
    public int Offerable(int free, int ourMss)
    {
        int threshold = Math.Min(_capacity / 2, ourMss);
        var edge = Nxt + free;
        if (edge - Edge < threshold && Edge >= Nxt) edge = Edge;
        int wnd = Math.Max(0, edge - Nxt);
        wnd = Math.Min(wnd, 65535 << Shift);
        return wnd >> Shift << Shift;
    }

    /// <summary>The window field for a segment going out now, with the right edge it promises remembered.</summary>
    public ushort Advertise(int free, int ourMss)
    {
        int wnd = Offerable(free, ourMss);
        var edge = Nxt + wnd;
        if (edge > Edge) Edge = edge;
        return (ushort)Math.Min(65535, wnd >> Shift);
    }

    /// <summary>
    /// RFC 1122 4.2.3.3: after the application read, a window update is worth a segment when the window opens by
    /// min(half the buffer, one MSS) past what was offered, and what was offered had fallen below half the buffer.
    /// </summary>
    public bool UpdateWorthSending(int free, int ourMss)
    {
        int wnd = Offerable(free, ourMss);
        int advertised = (int)Available;
        return wnd - advertised >= Math.Min(_capacity / 2, ourMss) && advertised < _capacity / 2;
    }
}
