using UserNet.Wire;

namespace UserNet.Tcp;

/// <summary>
/// Which SACK blocks our ACKs carry (RFC 2018 section 4, with RFC 2883's D-SACK). The receive side tells it what
/// arrived: out-of-order data (with the whole held range that now contains it, from the
/// <see cref="ReceiveAssembler"/>), a duplicate, RCV.NXT moving on. It remembers up to <see cref="MaxBlocks"/> held
/// blocks in sequence space, the most recently changed first, and at most one duplicate range still to report.
/// Nothing is allocated after construction.
/// </summary>
/// <remarks>
/// A held block it has forgotten (a fifth one pushed the oldest out) is not reported again until data arrives in it:
/// RFC 2018 section 4 allows that ("there may be some data in the receiver's queue which should be SACKed but is
/// not"), and the sender learns of it once the holes before it fill.
/// </remarks>
internal sealed class SackReporter
{
    /// <summary>The most blocks a SACK option holds (RFC 2018 section 3: 2 + 8 * 4 = 34 of the 40 option bytes).</summary>
    public const int MaxBlocks = 4;

    /// <summary>Held blocks, [_left[i], _right[i]), most recently changed first; the first <see cref="_count"/> in use.</summary>
    private readonly SeqNumber[] _left = new SeqNumber[MaxBlocks];
    private readonly SeqNumber[] _right = new SeqNumber[MaxBlocks];
    private int _count;

    /// <summary>The duplicate range the next ACK reports first (RFC 2883 section 4), when <see cref="_hasDuplicate"/>.</summary>
    private SeqNumber _dupLeft, _dupRight;
    private bool _hasDuplicate;

    /// <summary>True when the next ACK carries no SACK option.</summary>
    public bool IsEmpty => _count == 0 && !_hasDuplicate;

    /// <summary>
    /// Out-of-order data arrived; [<paramref name="left"/>, <paramref name="right"/>) is the whole contiguous held range
    /// that now contains it. That block goes first (RFC 2018 section 4: "the first SACK block MUST specify the
    /// contiguous block of data containing the segment which triggered this ACK"); remembered blocks it overlaps or
    /// touches are part of it now and are dropped; the others keep their order behind it, and the oldest is forgotten
    /// when there would be more than <see cref="MaxBlocks"/>.
    /// </summary>
    public void OnOutOfOrder(SeqNumber left, SeqNumber right)
    {
        if (right - left <= 0) throw new ArgumentOutOfRangeException(nameof(right), "a SACK block is not empty");

        // Keep, in order, the blocks that stay apart from the new one, shifted down by one place to make room at the front.
        int kept = 0;
        for (int i = 0; i < _count; i++)
        {
            bool apart = _right[i] < left || _left[i] > right;
            if (!apart) continue;
            _left[kept] = _left[i];
            _right[kept] = _right[i];
            kept++;
        }
        if (kept == MaxBlocks) kept--; // the oldest goes
        for (int i = kept; i > 0; i--)
        {
            _left[i] = _left[i - 1];
            _right[i] = _right[i - 1];
        }
        _left[0] = left;
        _right[0] = right;
        _count = kept + 1;
    }

    /// <summary>
    /// A duplicate [<paramref name="left"/>, <paramref name="right"/>) arrived: data already received, below RCV.NXT or
    /// inside a held block (for a segment only partly duplicate, its first duplicate sub-segment, RFC 2883 section
    /// 4.2). The next ACK reports it first, as a D-SACK block; if it lies inside a held block, that block comes second.
    /// A second duplicate before that ACK goes out replaces the first, or extends it when the two overlap or touch (as
    /// Linux does): the D-SACK names the duplicate that triggered the ACK.
    /// </summary>
    public void OnDuplicate(SeqNumber left, SeqNumber right)
    {
        if (right - left <= 0) throw new ArgumentOutOfRangeException(nameof(right), "a D-SACK block is not empty");
        if (_hasDuplicate && !(_dupRight < left || _dupLeft > right))
        {
            _dupLeft = SeqNumber.Min(_dupLeft, left);
            _dupRight = SeqNumber.Max(_dupRight, right);
            return;
        }
        _dupLeft = left;
        _dupRight = right;
        _hasDuplicate = true;
    }

    /// <summary>
    /// RCV.NXT moved to <paramref name="rcvNxt"/>: held blocks that end at or below it are delivered and forgotten, a
    /// block it cuts into keeps only the part above it. A pending D-SACK stays: it reports data below RCV.NXT anyway.
    /// </summary>
    public void OnAdvance(SeqNumber rcvNxt)
    {
        int kept = 0;
        for (int i = 0; i < _count; i++)
        {
            if (_right[i] <= rcvNxt) continue;
            _left[kept] = SeqNumber.Max(_left[i], rcvNxt);
            _right[kept] = _right[i];
            kept++;
        }
        _count = kept;
    }

    /// <summary>
    /// Writes the blocks for the next ACK into <paramref name="blocks"/>, at most <paramref name="maxBlocks"/> (see
    /// <see cref="TcpOptions.MaxSackBlocks"/>) and at most its length, and returns how many. A pending D-SACK comes
    /// first, then the held block that contains it if one does (RFC 2883 section 4), then the held blocks most
    /// recently changed first (RFC 2018 section 4: repeat the most recently reported blocks).
    /// </summary>
    public int Fill(Span<TcpSackBlock> blocks, int maxBlocks)
    {
        int room = Math.Min(Math.Min(maxBlocks, blocks.Length), MaxBlocks);
        if (room <= 0) return 0;
        int n = 0;
        int container = -1;
        if (_hasDuplicate)
        {
            blocks[n++] = new TcpSackBlock(_dupLeft.Value, _dupRight.Value);
            for (int i = 0; i < _count; i++)
            {
                if (_left[i] <= _dupLeft && _dupRight <= _right[i]) { container = i; break; }
            }
            if (container >= 0 && n < room) blocks[n++] = new TcpSackBlock(_left[container].Value, _right[container].Value);
        }
        for (int i = 0; i < _count && n < room; i++)
        {
            if (i == container) continue;
            blocks[n++] = new TcpSackBlock(_left[i].Value, _right[i].Value);
        }
        return n;
    }

    /// <summary>An ACK went out with the blocks <see cref="Fill"/> gave: its D-SACK is reported once (RFC 2883 section 4).</summary>
    public void OnAckSent() => _hasDuplicate = false;

    /// <summary>Forgets every block and the pending D-SACK (the connection is reset, or starts again).</summary>
    public void Clear()
    {
        _count = 0;
        _hasDuplicate = false;
    }
}
