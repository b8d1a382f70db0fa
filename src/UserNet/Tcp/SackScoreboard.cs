namespace UserNet.Tcp;

/// <summary>Why a segment was marked lost, so that its retransmission is counted under its cause.</summary>
internal enum LossCause : byte
{
    None,
    /// <summary>Duplicate acknowledgments (RFC 5681 fast retransmit, RFC 6582 partial ACK, RFC 5827 early retransmit) from a peer without SACK.</summary>
    DuplicateAcks,
    /// <summary>RACK's time-based detection over SACK information (RFC 8985 section 6).</summary>
    Rack,
    /// <summary>The retransmission timer expired (RFC 6298 (5.4)).</summary>
    Timeout,
}

/// <summary>
/// The sender's record of every segment between SND.UNA and SND.MAX (RFC 6675's scoreboard, kept per segment as
/// Linux and gVisor keep theirs): where it starts, how long it is, when it was last sent, whether the peer SACKed it,
/// whether it is deemed lost and whether a retransmission of it is in flight. From that come RFC 6675's
/// <see cref="Pipe"/> (the bytes still in the network: sent, minus SACKed, minus lost, plus retransmitted), its
/// NextSeg (<see cref="NextLost"/>: the first lost segment not yet resent; new data is the caller's), and what RACK
/// needs (each segment's last transmission time). Segments are kept in sequence order in a ring that grows to the
/// largest flight and then stays: nothing is allocated per segment.
/// <para>
/// A peer without SACK gets Linux's emulation: each duplicate ACK counts one segment as delivered
/// (<see cref="OnDuplicateAck"/>), which is what <see cref="Pipe"/> needs, without saying which.
/// </para>
/// </summary>
internal sealed class SackScoreboard
{
    [Flags]
    internal enum Marks : byte
    {
        None = 0,
        Sacked = 1,
        Lost = 2,
        /// <summary>A retransmission of this segment is in the network (not SACKed, not lost again).</summary>
        RetransmitInFlight = 4,
        /// <summary>Retransmitted at least once (Karn: its acknowledgment measures nothing by itself).</summary>
        EverRetransmitted = 8,
        Fin = 16,
    }

    /// <summary>One segment as sent: the sequence numbers it covers and its last transmission.</summary>
    internal struct Segment
    {
        public SeqNumber Start;
        public int Length;
        public TimeSpan SentAt;
        internal Marks Flags;
        public LossCause Cause;
        public readonly SeqNumber End => Start + Length;
        public readonly bool Sacked => (Flags & Marks.Sacked) != 0;
        public readonly bool Lost => (Flags & Marks.Lost) != 0;
        public readonly bool RetransmitInFlight => (Flags & Marks.RetransmitInFlight) != 0;
        public readonly bool EverRetransmitted => (Flags & Marks.EverRetransmitted) != 0;
        public readonly bool IsFin => (Flags & Marks.Fin) != 0;
    }

    private Segment[] _ring = new Segment[16];
    private int _head, _count;
    private long _sackedBytes, _lostBytes, _retransmitBytes, _outstanding;
    private int _sackedSegments;
    private int _emulatedSacks;

    /// <summary>Segments between SND.UNA and SND.MAX.</summary>
    public int Count => _count;
    public bool IsEmpty => _count == 0;
    /// <summary>Sequence numbers sent and not cumulatively acknowledged (SND.MAX - SND.UNA as far as segments go).</summary>
    public long Outstanding => _outstanding;
    /// <summary>Sequence numbers the peer has SACKed above SND.UNA.</summary>
    public long SackedBytes => _sackedBytes;
    /// <summary>Segments the peer has SACKed (or, without SACK, duplicate ACKs counted as delivered).</summary>
    public int SackedSegments => _sackedSegments + _emulatedSacks;
    /// <summary>Sequence numbers marked lost (resent or not).</summary>
    public long LostBytes => _lostBytes;
    /// <summary>
    /// RFC 6675's pipe, as Linux counts it (packets_out - sacked_out - lost_out + retrans_out): what is still in the
    /// network. <paramref name="mss"/> values each emulated SACK.
    /// </summary>
    public long Pipe(int mss) => Math.Max(0, _outstanding - _sackedBytes - _lostBytes + _retransmitBytes - (long)_emulatedSacks * mss);
    /// <summary>True when some segment is lost and not yet resent.</summary>
    public bool HasLostToSend { get; private set; }

    /// <summary>The <paramref name="i"/>th segment from SND.UNA, in sequence order.</summary>
    public ref readonly Segment this[int i] => ref _ring[(_head + i) & (_ring.Length - 1)];

    /// <summary>The last segment (the highest sequence numbers), for a tail loss probe.</summary>
    public ref readonly Segment Last => ref this[_count - 1];

    /// <summary>New data (or our FIN) went out at SND.MAX.</summary>
    public void OnSent(SeqNumber start, int length, TimeSpan now, bool fin = false)
    {
        if (_count == _ring.Length) Grow();
        ref var s = ref _ring[(_head + _count) & (_ring.Length - 1)];
        s = new Segment { Start = start, Length = length, SentAt = now, Flags = fin ? Marks.Fin : Marks.None };
        _count++;
        _outstanding += length;
    }

    /// <summary>The <paramref name="i"/>th segment was sent again at <paramref name="now"/>.</summary>
    public void OnRetransmitted(int i, TimeSpan now)
    {
        ref var s = ref At(i);
        s.SentAt = now;
        if ((s.Flags & Marks.RetransmitInFlight) == 0) _retransmitBytes += s.Length;
        s.Flags |= Marks.RetransmitInFlight | Marks.EverRetransmitted;
    }

    /// <summary>Marks the <paramref name="i"/>th segment lost (again, if its retransmission is lost too).</summary>
    public void MarkLost(int i, LossCause cause)
    {
        ref var s = ref At(i);
        if ((s.Flags & Marks.Sacked) != 0) return;
        if ((s.Flags & Marks.Lost) == 0) _lostBytes += s.Length;
        if ((s.Flags & Marks.RetransmitInFlight) != 0) _retransmitBytes -= s.Length;
        s.Flags = (s.Flags | Marks.Lost) & ~Marks.RetransmitInFlight;
        s.Cause = cause;
        HasLostToSend = true;
    }

    /// <summary>Marks every segment not SACKed lost (the retransmission timer expired, RFC 6675 section 5.1).</summary>
    public void MarkAllLost(LossCause cause)
    {
        for (int i = 0; i < _count; i++) MarkLost(i, cause);
    }

    /// <summary>Clears the lost marks of segments not resent since (a timeout turned out spurious).</summary>
    public void UnmarkLostNotResent()
    {
        for (int i = 0; i < _count; i++)
        {
            ref var s = ref At(i);
            if ((s.Flags & (Marks.Lost | Marks.RetransmitInFlight)) == Marks.Lost)
            {
                s.Flags &= ~Marks.Lost;
                _lostBytes -= s.Length;
            }
        }
        HasLostToSend = false;
    }

    /// <summary>RFC 6675 NextSeg (1): the index of the first lost segment not resent yet, or -1.</summary>
    public int NextLost()
    {
        if (!HasLostToSend) return -1;
        for (int i = 0; i < _count; i++)
        {
            var f = this[i].Flags;
            if ((f & (Marks.Lost | Marks.RetransmitInFlight | Marks.Sacked)) == Marks.Lost) return i;
        }
        HasLostToSend = false;
        return -1;
    }

    /// <summary>
    /// The cumulative acknowledgment reached <paramref name="ack"/>: segments below it leave (a segment it cuts is
    /// trimmed). Reports the oldest and newest segment it removed, and whether any of them was ever retransmitted.
    /// </summary>
    public Delivery Acknowledge(SeqNumber ack)
    {
        var d = new Delivery();
        while (_count > 0)
        {
            ref var s = ref _ring[_head];
            if (s.Start >= ack) break;
            int covered = Math.Min(ack - s.Start, s.Length);
            // A segment SACKed before was delivered then (RFC 8985 6.2: only segments newly acknowledged count):
            // its transmission time is no RTT sample now and says nothing about reordering.
            if (!s.Sacked)
            {
                d.NewlyDelivered += covered;
                d.Note(s);
            }
            if (covered < s.Length)
            {
                // The peer acknowledged part of a segment: what is left stays, shorter.
                Account(s, -covered);
                s.Start += covered;
                s.Length -= covered;
                break;
            }
            Account(s, -s.Length);
            s = default;
            _head = (_head + 1) & (_ring.Length - 1);
            _count--;
            d.Segments++;
        }
        if (_emulatedSacks > 0 && d.Segments > 0)
        {
            // Linux (tcp_remove_reno_sacks): one segment of the ACK filled the hole, the rest had each brought a
            // duplicate ACK; and at least one segment left is not at the peer (tcp_limit_reno_sacked).
            _emulatedSacks = Math.Max(0, _emulatedSacks - (d.Segments - 1));
            _emulatedSacks = Math.Min(_emulatedSacks, Math.Max(0, _count - 1));
        }
        return d;
    }

    /// <summary>
    /// A SACK block [<paramref name="left"/>, <paramref name="right"/>) (RFC 2018): every segment inside it is
    /// marked SACKed. Reports what became SACKed by it.
    /// </summary>
    public Delivery Sack(SeqNumber left, SeqNumber right)
    {
        var d = new Delivery();
        if (_count == 0 || right <= this[0].Start || left >= Last.End) return d;
        for (int i = FirstEndingAfter(left); i < _count; i++)
        {
            ref var s = ref At(i);
            if (s.Start >= right) break;
            if (s.Start < left || s.End > right || s.Sacked) continue; // only whole segments count
            d.NewlyDelivered += s.Length;
            d.Note(s);
            if (s.Lost) _lostBytes -= s.Length;
            if (s.RetransmitInFlight) _retransmitBytes -= s.Length;
            s.Flags = (s.Flags | Marks.Sacked) & ~(Marks.Lost | Marks.RetransmitInFlight);
            _sackedBytes += s.Length;
            _sackedSegments++;
            d.Segments++;
        }
        if (d.Segments > 0) _emulatedSacks = 0;
        return d;
    }

    /// <summary>
    /// A peer without SACK sent a duplicate ACK: one more segment beyond SND.UNA has arrived (which one, it does not
    /// say). Counts it for <see cref="Pipe"/>, never more than the segments beyond the first.
    /// </summary>
    public void OnDuplicateAck()
    {
        if (_emulatedSacks < _count - 1) _emulatedSacks++;
    }

    /// <summary>Forgets everything (the connection is gone).</summary>
    public void Clear()
    {
        Array.Clear(_ring);
        _head = _count = 0;
        _sackedBytes = _lostBytes = _retransmitBytes = _outstanding = 0;
        _sackedSegments = _emulatedSacks = 0;
        HasLostToSend = false;
    }

    /// <summary>Index of the first segment that ends after <paramref name="seq"/> (binary search: segments are in order).</summary>
    public int FirstEndingAfter(SeqNumber seq)
    {
        int lo = 0, hi = _count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (this[mid].End <= seq) lo = mid + 1; else hi = mid;
        }
        return lo;
    }

    private ref Segment At(int i) => ref _ring[(_head + i) & (_ring.Length - 1)];

    private void Account(in Segment s, int bytes)
    {
        _outstanding += bytes;
        if (s.Sacked) { _sackedBytes += bytes; if (bytes == -s.Length) _sackedSegments--; }
        if (s.Lost) _lostBytes += bytes;
        if (s.RetransmitInFlight) _retransmitBytes += bytes;
    }

    private void Grow()
    {
        var bigger = new Segment[_ring.Length * 2];
        for (int i = 0; i < _count; i++) bigger[i] = this[i];
        _ring = bigger;
        _head = 0;
    }

    /// <summary>What one acknowledgment (cumulative or SACK) delivered.</summary>
    internal struct Delivery
    {
        /// <summary>Sequence numbers newly known to have arrived (not counting those SACKed before).</summary>
        public int NewlyDelivered;
        /// <summary>Whole segments delivered: newly SACKed, or removed by the cumulative ACK (SACKed before or not).</summary>
        public int Segments;
        /// <summary>The newest transmission among the delivered segments (RACK's candidate, RFC 8985 6.2 step 1).</summary>
        public TimeSpan NewestSentAt;
        public SeqNumber NewestEnd;
        public bool NewestRetransmitted;
        /// <summary>The highest end among the delivered segments (RACK.fack's candidate, RFC 8985 6.1).</summary>
        public SeqNumber HighestEnd;
        /// <summary>The oldest transmission among delivered segments never retransmitted (a clean RTT sample).</summary>
        public TimeSpan OldestCleanSentAt;
        public bool HasClean;
        public bool Any;
        /// <summary>The lowest end among delivered segments never retransmitted (below RACK.fack it means reordering, RFC 8985 6.2 step 2).</summary>
        public SeqNumber LowestCleanEnd;

        internal void Note(in Segment s)
        {
            if (!Any || s.SentAt > NewestSentAt || (s.SentAt == NewestSentAt && s.End > NewestEnd))
            {
                NewestSentAt = s.SentAt;
                NewestEnd = s.End;
                NewestRetransmitted = s.EverRetransmitted;
            }
            if (!Any || s.End > HighestEnd) HighestEnd = s.End;
            if (!s.EverRetransmitted)
            {
                if (!HasClean || s.SentAt < OldestCleanSentAt) OldestCleanSentAt = s.SentAt;
                if (!HasClean || s.End < LowestCleanEnd) LowestCleanEnd = s.End;
                HasClean = true;
            }
            Any = true;
        }

        /// <summary>Adds another delivery of the same acknowledgment.</summary>
        public void Add(in Delivery o)
        {
            if (!o.Any) return;
            NewlyDelivered += o.NewlyDelivered;
            Segments += o.Segments;
            if (!Any || o.NewestSentAt > NewestSentAt || (o.NewestSentAt == NewestSentAt && o.NewestEnd > NewestEnd))
            {
                NewestSentAt = o.NewestSentAt;
                NewestEnd = o.NewestEnd;
                NewestRetransmitted = o.NewestRetransmitted;
            }
            if (!Any || o.HighestEnd > HighestEnd) HighestEnd = o.HighestEnd;
            if (o.HasClean)
            {
                if (!HasClean || o.OldestCleanSentAt < OldestCleanSentAt) OldestCleanSentAt = o.OldestCleanSentAt;
                if (!HasClean || o.LowestCleanEnd < LowestCleanEnd) LowestCleanEnd = o.LowestCleanEnd;
                HasClean = true;
            }
            Any = true;
        }
    }
}
