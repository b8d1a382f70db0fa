namespace UserNet.Tcp;

/// <summary>
/// Which bytes past RCV.NXT are already in the receive buffer: out-of-order data, kept as a few merged ranges of
/// offsets relative to RCV.NXT (the idea of smoltcp's <c>Assembler</c>). The bytes themselves sit in the buffer at
/// their final place; this only remembers where the holes are, so that when the hole at RCV.NXT fills the caller
/// knows how far the stream is now contiguous. Ranges are disjoint, in order of offset, and never adjacent (adjacent
/// ones are merged), so each range ends at a hole. The count of ranges is capped: a segment that would need one more
/// is refused, and the peer sends it again later.
/// </summary>
internal sealed class ReceiveAssembler
{
    /// <summary>Room for this many ranges at first; most connections never see more than a hole or two.</summary>
    private const int InitialRanges = 4;

    private readonly int _maxRanges;
    /// <summary>Half-open [Start, End) offsets past RCV.NXT, the first <see cref="_count"/> in use.</summary>
    private Range[] _ranges = [];
    private int _count;
    private int _held;

    private struct Range(int start, int end)
    {
        public int Start = start;
        public int End = end;
    }

    public ReceiveAssembler(int maxRanges)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxRanges);
        _maxRanges = maxRanges;
    }

    /// <summary>The most separate ranges this set holds.</summary>
    public int MaxRanges => _maxRanges;
    public int RangeCount => _count;
    public bool IsEmpty => _count == 0;
    /// <summary>Bytes held past RCV.NXT: the sum of the ranges' lengths.</summary>
    public int HeldBytes => _held;

    /// <summary>The <paramref name="i"/>th range in order of offset, as an offset past RCV.NXT and a length.</summary>
    public (int Offset, int Length) this[int i]
    {
        get
        {
            if ((uint)i >= (uint)_count) throw new ArgumentOutOfRangeException(nameof(i));
            var r = _ranges[i];
            return (r.Start, r.End - r.Start);
        }
    }

    /// <summary>
    /// Records that bytes [<paramref name="offset"/>, <paramref name="offset"/> + <paramref name="length"/>) past
    /// RCV.NXT are in the buffer. The offset is at least 1 (data at RCV.NXT itself is in order: the caller commits
    /// it and calls <see cref="Advance"/>). The range joins every range it overlaps or touches. Returns false, and
    /// records nothing, when it touches none and the set already holds <see cref="MaxRanges"/> ranges.
    /// </summary>
    public bool Add(int offset, int length)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(offset, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, int.MaxValue - offset);
        int end = offset + length;

        // Ranges first..last-1 overlap or touch the new one: each ends at or after its start and starts at or before its end.
        int first = 0;
        while (first < _count && _ranges[first].End < offset) first++;
        int last = first;
        while (last < _count && _ranges[last].Start <= end) last++;

        if (first == last)
        {
            if (_count == _maxRanges) return false;
            if (_count == _ranges.Length) Grow();
            Array.Copy(_ranges, first, _ranges, first + 1, _count - first);
            _ranges[first] = new Range(offset, end);
            _count++;
            _held += length;
            return true;
        }

        int start = Math.Min(_ranges[first].Start, offset);
        int newEnd = Math.Max(_ranges[last - 1].End, end);
        for (int i = first; i < last; i++) _held -= _ranges[i].End - _ranges[i].Start;
        _held += newEnd - start;
        _ranges[first] = new Range(start, newEnd);
        Array.Copy(_ranges, last, _ranges, first + 1, _count - last);
        _count -= last - first - 1;
        return true;
    }

    /// <summary>The range that holds offset <paramref name="offset"/> (which must be held), as an offset and a length.</summary>
    public (int Offset, int Length) RangeContaining(int offset)
    {
        for (int i = 0; i < _count; i++)
            if (_ranges[i].Start <= offset && offset < _ranges[i].End) return (_ranges[i].Start, _ranges[i].End - _ranges[i].Start);
        throw new ArgumentOutOfRangeException(nameof(offset), "no held range contains it");
    }

    /// <summary>
    /// RCV.NXT moved on by <paramref name="count"/> in-order bytes. Ranges the advance covers are dropped; a range it
    /// reaches (one that now starts at or before RCV.NXT) is contiguous with the stream: it is removed and the bytes
    /// it reaches past the advance are returned (0 when no range is reached). The caller commits
    /// <paramref name="count"/> plus that, and the ranges left are relative to the RCV.NXT after that commit.
    /// </summary>
    public int Advance(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (count == 0 || _count == 0) return 0; // every range starts at 1 or later: no advance of 0 reaches one

        int gone = 0;
        while (gone < _count && _ranges[gone].End <= count)
        {
            _held -= _ranges[gone].End - _ranges[gone].Start;
            gone++;
        }
        int beyond = 0;
        if (gone < _count && _ranges[gone].Start <= count)
        {
            beyond = _ranges[gone].End - count;
            _held -= _ranges[gone].End - _ranges[gone].Start;
            gone++;
        }

        // Ranges are never adjacent, so every range left starts past count + beyond: each keeps an offset of 1 or more.
        int shift = count + beyond;
        for (int i = gone; i < _count; i++)
            _ranges[i - gone] = new Range(_ranges[i].Start - shift, _ranges[i].End - shift);
        _count -= gone;
        return beyond;
    }

    /// <summary>Forgets every range (the connection is reset, or the buffer is thrown away); the arrays stay for reuse.</summary>
    public void Clear()
    {
        _count = 0;
        _held = 0;
    }

    private void Grow()
    {
        int size = _ranges.Length == 0 ? Math.Min(InitialRanges, _maxRanges) : Math.Min(_ranges.Length * 2, _maxRanges);
        Array.Resize(ref _ranges, size);
    }
}
