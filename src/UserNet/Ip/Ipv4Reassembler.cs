using System.Buffers;
using UserNet.Core;
using UserNet.Wire;

namespace UserNet.Ip;

/// <summary>
/// Puts fragmented datagrams back together (RFC 791 section 3.2, RFC 815 holes, RFC 1122 section 3.3.2).
/// Fragments may come in any order and twice; bytes that arrive twice must agree, or the whole datagram is discarded
/// so that mixed data is never delivered (the "teardrop" family). Memory is bounded by a cap on datagrams in progress
/// and on bytes held across them; the oldest datagram is evicted first.
/// </summary>
internal sealed class Ipv4Reassembler
{
    /// <summary>Room in front of the payload for the rebuilt header (the largest IPv4 header).</summary>
    private const int HeaderRoom = 60;
    /// <summary>What an ICMP error quotes of the first fragment: its header and 64 bits of data (RFC 792).</summary>
    private const int QuoteRoom = 60 + 8;
    private const int MaxDatagram = 65535;

    private readonly record struct Key(uint Source, uint Destination, byte Protocol, ushort Identification);

    private sealed class Entry
    {
        public Key Key;
        public TimeSpan Deadline;
        public long Sequence;
        public byte[]? Buffer;
        /// <summary>Missing byte ranges of the payload, inclusive, with int.MaxValue for "up to the unknown end" (RFC 815).</summary>
        public readonly List<(int First, int Last)> Holes = new();
        /// <summary>Payload length, once the fragment without MF has arrived; -1 before.</summary>
        public int Total = -1;
        /// <summary>The highest payload byte received plus one.</summary>
        public int End;
        public readonly byte[] First = new byte[QuoteRoom];
        public int FirstLength;
        public int FirstHeaderLength;
    }

    private readonly Dictionary<Key, Entry> _entries = new();
    private readonly Stack<Entry> _free = new();
    private readonly ReassemblyOptions _o;
    private long _sequence;
    private Entry? _delivered;

    public Ipv4Reassembler(ReassemblyOptions options) => _o = options;

    public int DatagramsInProgress => _entries.Count;
    public long BytesHeld { get; private set; }

    /// <summary>The outcome of adding a fragment.</summary>
    public enum Result { Incomplete, Complete, Dropped }

    /// <summary>
    /// Adds one fragment. On <see cref="Result.Complete"/>, <paramref name="datagram"/> is the whole datagram, header
    /// rebuilt, valid until the next call. On <see cref="Result.Dropped"/>, <paramref name="reason"/> says why.
    /// </summary>
    public Result Add(Ipv4Header fragment, TimeSpan now, out Span<byte> datagram, out DropReason reason)
    {
        ReleaseDelivered();
        datagram = default;
        reason = default;
        int offset = fragment.FragmentOffset;
        var data = fragment.Payload;
        bool more = fragment.MoreFragments;
        int end = offset + data.Length;
        // RFC 791: every fragment but the last carries a multiple of 8 bytes; an empty fragment says nothing.
        if (data.Length == 0 || (more && data.Length % 8 != 0)) { reason = DropReason.Ipv4FragmentMalformed; return Result.Dropped; }

        var key = new Key(fragment.Source.Value, fragment.Destination.Value, fragment.Protocol, fragment.Identification);
        _entries.TryGetValue(key, out var e);
        if (end + fragment.HeaderLength > MaxDatagram)
        {
            if (e is not null) Discard(e);
            reason = DropReason.Ipv4ReassemblyTooBig;
            return Result.Dropped;
        }
        if (e is null)
        {
            while (_entries.Count >= _o.MaxDatagrams) EvictOldest();
            e = _free.Count > 0 ? _free.Pop() : new Entry();
            e.Key = key;
            e.Deadline = now + _o.Timeout; // RFC 1122 3.3.2: the timer starts with the first fragment to arrive
            e.Sequence = _sequence++;
            e.Total = -1;
            e.End = 0;
            e.FirstLength = 0;
            e.Holes.Clear();
            e.Holes.Add((0, int.MaxValue));
            _entries.Add(key, e);
        }

        // The end of the datagram must not move once known, and no data may lie beyond it.
        if (!more)
        {
            if ((e.Total >= 0 && e.Total != end) || e.End > end) { Discard(e); reason = DropReason.Ipv4ReassemblyOverlap; return Result.Dropped; }
            e.Total = end;
        }
        else if (e.Total >= 0 && end > e.Total) { Discard(e); reason = DropReason.Ipv4ReassemblyOverlap; return Result.Dropped; }

        if (!EnsureCapacity(e, end)) { reason = DropReason.Ipv4ReassemblyEvicted; return Result.Dropped; }
        var payload = e.Buffer.AsSpan(HeaderRoom);
        if (!OverlapAgrees(e, payload, data, offset)) { Discard(e); reason = DropReason.Ipv4ReassemblyOverlap; return Result.Dropped; }
        data.CopyTo(payload[offset..]);
        if (end > e.End) e.End = end;
        FillHoles(e, offset, end - 1, more);

        if (offset == 0 && e.FirstLength == 0)
        {
            e.FirstHeaderLength = fragment.HeaderLength;
            e.FirstLength = Math.Min(fragment.Buffer.Length, fragment.HeaderLength + 8);
            fragment.Buffer[..e.FirstLength].CopyTo(e.First);
        }
        if (e.Holes.Count != 0) return Result.Incomplete;

        // Complete: rebuild the header from the first fragment's, as one unfragmented datagram.
        int hl = e.FirstHeaderLength;
        var whole = e.Buffer.AsSpan(HeaderRoom - hl, hl + e.Total);
        e.First.AsSpan(0, hl).CopyTo(whole);
        var h = new Ipv4Header(whole) { TotalLength = (ushort)(hl + e.Total) };
        h.FlagsAndFragmentOffset = (ushort)(h.FlagsAndFragmentOffset & Ipv4Header.DontFragmentFlag);
        h.UpdateChecksum();
        _entries.Remove(e.Key);
        _delivered = e; // its buffer stays valid until the caller is done with it
        datagram = whole;
        return Result.Complete;
    }

    /// <summary>Bytes received twice must be the same bytes: compare where the new fragment meets data already held.</summary>
    private static bool OverlapAgrees(Entry e, Span<byte> payload, Span<byte> data, int offset)
    {
        int first = offset, last = offset + data.Length - 1;
        int cursor = first;
        // Held bytes in [first, last] are the gaps between holes; holes are kept sorted by First.
        foreach (var (hf, hl) in e.Holes)
        {
            if (hl < cursor) continue;
            if (hf > last) break;
            if (hf > cursor && !Same(payload, data, offset, cursor, Math.Min(hf - 1, last))) return false;
            cursor = hl == int.MaxValue ? int.MaxValue : hl + 1;
            if (cursor > last) return true;
        }
        return cursor > last || Same(payload, data, offset, cursor, last);
    }

    private static bool Same(Span<byte> payload, Span<byte> data, int offset, int from, int to) =>
        from > to || payload.Slice(from, to - from + 1).SequenceEqual(data.Slice(from - offset, to - from + 1));

    /// <summary>RFC 815 section 3, steps 1-6: each hole the fragment touches is replaced by what remains of it.</summary>
    private static void FillHoles(Entry e, int first, int last, bool more)
    {
        var holes = e.Holes;
        for (int i = 0; i < holes.Count; i++)
        {
            var (hf, hl) = holes[i];
            if (first > hl || last < hf) continue;
            holes.RemoveAt(i);
            int at = i;
            if (first > hf) holes.Insert(at++, (hf, first - 1));
            if (last < hl && more) holes.Insert(at++, (last + 1, hl));
            i = at - 1;
        }
        if (e.Total >= 0)
        {
            // Once the end is known, nothing beyond it can be missing.
            for (int i = holes.Count - 1; i >= 0; i--)
            {
                var (hf, hl) = holes[i];
                if (hf >= e.Total) holes.RemoveAt(i);
                else if (hl >= e.Total) holes[i] = (hf, e.Total - 1);
            }
        }
    }

    private bool EnsureCapacity(Entry e, int end)
    {
        int need = HeaderRoom + end;
        if (e.Buffer is not null && e.Buffer.Length >= need) return true;
        int size = Math.Max(need, Math.Min(HeaderRoom + MaxDatagram, (e.Buffer?.Length ?? 1024) * 2));
        // The shared pool hands out powers of two; count what it will really hold.
        size = (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)size);
        int grow = size - (e.Buffer?.Length ?? 0);
        // Make room under the byte cap by evicting the oldest other datagrams; if this one alone is too big, drop it.
        while (BytesHeld + grow > _o.MaxBytes)
        {
            if (!EvictOldest(except: e)) { Discard(e); return false; }
        }
        var bigger = ArrayPool<byte>.Shared.Rent(size);
        if (e.Buffer is not null)
        {
            e.Buffer.AsSpan(HeaderRoom, e.End).CopyTo(bigger.AsSpan(HeaderRoom));
            BytesHeld -= e.Buffer.Length;
            ArrayPool<byte>.Shared.Return(e.Buffer);
        }
        e.Buffer = bigger;
        BytesHeld += bigger.Length;
        return true;
    }

    private bool EvictOldest(Entry? except = null)
    {
        Entry? oldest = null;
        foreach (var x in _entries.Values)
            if (x != except && (oldest is null || x.Sequence < oldest.Sequence)) oldest = x;
        if (oldest is null) return false;
        Discard(oldest);
        Evicted++;
        return true;
    }

    /// <summary>Datagrams evicted to stay within the caps (the stack counts these as drops).</summary>
    public long Evicted { get; private set; }

    private void Discard(Entry e)
    {
        _entries.Remove(e.Key);
        Free(e);
    }

    private void Free(Entry e)
    {
        if (e.Buffer is not null)
        {
            BytesHeld -= e.Buffer.Length;
            ArrayPool<byte>.Shared.Return(e.Buffer);
            e.Buffer = null;
        }
        _free.Push(e);
    }

    private void ReleaseDelivered()
    {
        if (_delivered is { } d) { _delivered = null; Free(d); }
    }

    public TimeSpan NextDeadline
    {
        get
        {
            var min = TimeSpan.MaxValue;
            foreach (var e in _entries.Values) if (e.Deadline < min) min = e.Deadline;
            return min;
        }
    }

    /// <summary>
    /// Discards datagrams whose time is up. For each one whose first fragment had arrived, <paramref name="onTimeout"/>
    /// gets that fragment's header and first 8 data bytes, to quote in ICMP time exceeded (RFC 792, code 1).
    /// </summary>
    public int Expire(TimeSpan now, TimeoutHandler onTimeout)
    {
        ReleaseDelivered();
        if (_entries.Count == 0) return 0;
        List<Entry>? expired = null;
        foreach (var e in _entries.Values) if (e.Deadline <= now) (expired ??= new()).Add(e);
        if (expired is null) return 0;
        foreach (var e in expired)
        {
            _entries.Remove(e.Key);
            if (e.FirstLength > 0) onTimeout(e.First.AsSpan(0, e.FirstLength));
            Free(e);
        }
        return expired.Count;
    }

    public delegate void TimeoutHandler(Span<byte> firstFragmentQuote);

    public void Clear()
    {
        ReleaseDelivered();
        foreach (var e in _entries.Values.ToArray()) Discard(e);
    }
}

/// <summary>Limits of IPv4 reassembly.</summary>
public sealed record ReassemblyOptions
{
    /// <summary>How long a datagram may take to arrive whole, from its first fragment (RFC 1122 3.3.2 suggests 60 to 120 s; Linux uses 30).</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>Datagrams in progress at once; the oldest is evicted for a new one.</summary>
    public int MaxDatagrams { get; init; } = 64;
    /// <summary>Bytes held across all datagrams in progress (Linux's ipfrag_high_thresh is 4 MiB).</summary>
    public long MaxBytes { get; init; } = 4 << 20;
}
