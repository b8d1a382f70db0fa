using CsCheck;
using UserNet.Tcp;

namespace UserNet.Tests.Tcp;

/// <summary>
/// The out-of-order range set. RFC 9293 3.10.7.4 lets a receiver keep segments that arrive beyond RCV.NXT and use them
/// once the gap before them fills; the assembler remembers which offsets past RCV.NXT are held, as merged ranges, and
/// says how far the stream becomes contiguous when in-order data arrives.
/// </summary>
public sealed class ReceiveAssemblerTests
{
    private static (int Offset, int Length)[] Ranges(ReceiveAssembler a) => Enumerable.Range(0, a.RangeCount).Select(i => a[i]).ToArray();

    // =================================================================== holding ranges

    [Fact]
    public void A_new_assembler_holds_nothing()
    {
        var a = new ReceiveAssembler(8);
        Assert.True(a.IsEmpty);
        Assert.Equal(0, a.RangeCount);
        Assert.Equal(0, a.HeldBytes);
        Assert.Equal(0, a.Advance(1000));
    }

    [Fact]
    public void Separate_segments_are_kept_as_separate_ranges_in_offset_order()
    {
        var a = new ReceiveAssembler(8);
        Assert.True(a.Add(3000, 100));
        Assert.True(a.Add(1000, 100));
        Assert.True(a.Add(2000, 100));
        Assert.Equal(new[] { (1000, 100), (2000, 100), (3000, 100) }, Ranges(a));
        Assert.Equal(300, a.HeldBytes);
        Assert.False(a.IsEmpty);
    }

    [Fact]
    public void Adjacent_segments_merge_into_one_range_on_either_side()
    {
        var a = new ReceiveAssembler(8);
        Assert.True(a.Add(100, 50));
        Assert.True(a.Add(150, 50));  // touches the end
        Assert.True(a.Add(60, 40));   // touches the start
        Assert.Equal(new[] { (60, 140) }, Ranges(a));
        Assert.Equal(140, a.HeldBytes);
    }

    [Fact]
    public void A_segment_that_fills_the_hole_between_two_ranges_joins_them()
    {
        var a = new ReceiveAssembler(8);
        a.Add(100, 100);
        a.Add(300, 100);
        Assert.True(a.Add(200, 100));
        Assert.Equal(new[] { (100, 300) }, Ranges(a));
        Assert.Equal(300, a.HeldBytes);
    }

    [Fact]
    public void Overlapping_segments_hold_the_union()
    {
        var a = new ReceiveAssembler(8);
        a.Add(100, 100);
        Assert.True(a.Add(150, 100)); // overlaps the end
        Assert.Equal(new[] { (100, 150) }, Ranges(a));
        Assert.True(a.Add(50, 100));  // overlaps the start
        Assert.Equal(new[] { (50, 200) }, Ranges(a));
        Assert.Equal(200, a.HeldBytes);
    }

    [Fact]
    public void A_duplicate_or_a_segment_inside_a_range_changes_nothing()
    {
        var a = new ReceiveAssembler(8);
        a.Add(100, 100);
        Assert.True(a.Add(100, 100));
        Assert.True(a.Add(120, 10));
        Assert.Equal(new[] { (100, 100) }, Ranges(a));
        Assert.Equal(100, a.HeldBytes);
    }

    [Fact]
    public void A_segment_spanning_several_ranges_swallows_them_all()
    {
        var a = new ReceiveAssembler(8);
        a.Add(10, 5);
        a.Add(100, 10);
        a.Add(200, 10);
        a.Add(300, 10);
        a.Add(500, 10);
        Assert.True(a.Add(95, 210));  // from before the second to inside the fourth
        Assert.Equal(new[] { (10, 5), (95, 215), (500, 10) }, Ranges(a));
        Assert.Equal(5 + 215 + 10, a.HeldBytes);
        Assert.True(a.Add(1, 1000));  // everything
        Assert.Equal(new[] { (1, 1000) }, Ranges(a));
        Assert.Equal(1000, a.HeldBytes);
    }

    [Fact]
    public void Beyond_the_range_cap_a_separate_segment_is_refused_and_nothing_is_recorded()
    {
        var a = new ReceiveAssembler(3);
        Assert.True(a.Add(100, 10));
        Assert.True(a.Add(200, 10));
        Assert.True(a.Add(300, 10));
        Assert.False(a.Add(400, 10));  // a fourth range
        Assert.False(a.Add(50, 10));   // before them all
        Assert.False(a.Add(250, 10));  // between two
        Assert.Equal(new[] { (100, 10), (200, 10), (300, 10) }, Ranges(a));
        Assert.Equal(30, a.HeldBytes);

        // What joins a range needs no new one, so it is still taken at the cap.
        Assert.True(a.Add(110, 5));
        Assert.True(a.Add(290, 10));
        Assert.Equal(new[] { (100, 15), (200, 10), (290, 20) }, Ranges(a));
        Assert.True(a.Add(205, 95));   // joins two: the count drops, and a new range fits again
        Assert.Equal(new[] { (100, 15), (200, 110) }, Ranges(a));
        Assert.True(a.Add(400, 10));
        Assert.Equal(3, a.RangeCount);
    }

    [Fact]
    public void A_cap_of_zero_holds_nothing()
    {
        var a = new ReceiveAssembler(0);
        Assert.False(a.Add(1, 10));
        Assert.True(a.IsEmpty);
    }

    [Fact]
    public void Offsets_at_RCV_NXT_or_before_and_empty_segments_are_the_callers_mistake()
    {
        var a = new ReceiveAssembler(4);
        Assert.Throws<ArgumentOutOfRangeException>(() => a.Add(0, 10));   // in order: the caller commits it
        Assert.Throws<ArgumentOutOfRangeException>(() => a.Add(-5, 10));
        Assert.Throws<ArgumentOutOfRangeException>(() => a.Add(10, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => a.Add(int.MaxValue - 5, 10));
        Assert.Throws<ArgumentOutOfRangeException>(() => a.Advance(-1));
        Assert.Throws<ArgumentOutOfRangeException>(() => a[0]);
        Assert.Throws<ArgumentOutOfRangeException>(() => new ReceiveAssembler(-1));
    }

    // =================================================================== RCV.NXT moves on

    [Fact]
    public void Advance_short_of_every_range_shifts_them_and_reaches_none()
    {
        var a = new ReceiveAssembler(4);
        a.Add(1000, 100);
        a.Add(2000, 100);
        Assert.Equal(0, a.Advance(500));
        Assert.Equal(new[] { (500, 100), (1500, 100) }, Ranges(a));
        Assert.Equal(200, a.HeldBytes);
    }

    [Fact]
    public void Advance_up_to_a_range_makes_all_of_it_contiguous()
    {
        var a = new ReceiveAssembler(4);
        a.Add(1000, 100);
        a.Add(2000, 100);
        Assert.Equal(100, a.Advance(1000));  // the in-order segment ends where the first range starts
        // The caller commits 1000 + 100: the range left is relative to that new RCV.NXT.
        Assert.Equal(new[] { (900, 100) }, Ranges(a));
        Assert.Equal(100, a.HeldBytes);
    }

    [Fact]
    public void Advance_into_the_middle_of_a_range_returns_the_part_beyond_it()
    {
        var a = new ReceiveAssembler(4);
        a.Add(100, 100);
        a.Add(400, 50);
        Assert.Equal(60, a.Advance(140));    // the segment overlapped the held range [100, 200)
        Assert.Equal(new[] { (200, 50) }, Ranges(a));  // 400 - (140 + 60)
        Assert.Equal(50, a.HeldBytes);
    }

    [Fact]
    public void Advance_over_whole_ranges_drops_them_and_returns_the_rest_of_the_one_it_reaches()
    {
        var a = new ReceiveAssembler(8);
        a.Add(10, 10);
        a.Add(30, 10);
        a.Add(50, 10);
        a.Add(100, 10);
        Assert.Equal(5, a.Advance(55));      // [10,20) and [30,40) covered, [50,60) reached
        Assert.Equal(new[] { (40, 10) }, Ranges(a));
        Assert.Equal(0, a.Advance(50));      // exactly covers the last one: dropped, nothing beyond
        Assert.True(a.IsEmpty);
        Assert.Equal(0, a.HeldBytes);
    }

    [Fact]
    public void Advance_by_zero_changes_nothing()
    {
        var a = new ReceiveAssembler(4);
        a.Add(1, 10);
        Assert.Equal(0, a.Advance(0));
        Assert.Equal(new[] { (1, 10) }, Ranges(a));
    }

    [Fact]
    public void Clear_forgets_every_range_and_the_assembler_is_usable_again()
    {
        var a = new ReceiveAssembler(4);
        a.Add(10, 10);
        a.Add(30, 10);
        a.Clear();
        Assert.True(a.IsEmpty);
        Assert.Equal(0, a.HeldBytes);
        Assert.True(a.Add(5, 5));
        Assert.Equal(new[] { (5, 5) }, Ranges(a));
    }

    [Fact]
    public void Adding_and_advancing_allocate_nothing_once_the_ranges_exist()
    {
        var a = new ReceiveAssembler(16);
        for (int i = 0; i < 16; i++) a.Add(10 + 20 * i, 10); // grow to the cap
        a.Clear();
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int round = 0; round < 1000; round++)
        {
            for (int i = 15; i >= 0; i--) a.Add(10 + 20 * i, 10);
            a.Add(5, 400);
            a.Advance(5);
            a.Clear();
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    // =================================================================== any order of arrival

    [Fact]
    public void Every_order_of_four_segments_rebuilds_the_stream_RFC9293_3_10_7_4()
    {
        // Segments [0,10) [10,20) [20,30) [30,40): all 24 arrival orders.
        var segments = new[] { (0, 10), (10, 10), (20, 10), (30, 10) };
        foreach (var order in Permutations(segments))
        {
            var a = new ReceiveAssembler(4);
            int rcvNxt = 0;
            foreach (var (start, length) in order)
            {
                if (start == rcvNxt) rcvNxt += length + a.Advance(length);
                else Assert.True(a.Add(start - rcvNxt, length));
            }
            Assert.Equal(40, rcvNxt);
            Assert.True(a.IsEmpty);
        }
    }

    private static IEnumerable<T[]> Permutations<T>(T[] items)
    {
        if (items.Length <= 1) { yield return items; yield break; }
        for (int i = 0; i < items.Length; i++)
            foreach (var rest in Permutations(items.Where((_, j) => j != i).ToArray()))
                yield return [items[i], .. rest];
    }

    /// <summary>
    /// A stream cut into random segments, sent in random order with random duplicates and overlapping resends, through
    /// an assembler with a random cap: refused segments come again later, as a peer's retransmissions would. After each
    /// arrival the ranges must be exactly what a byte-by-byte model holds past RCV.NXT, committing
    /// count + Advance(count) must only ever cover bytes that arrived, and at the end the stream is whole.
    /// </summary>
    [Fact]
    public void Random_segments_in_random_order_with_duplicates_rebuild_exactly_the_stream_RFC9293_3_10_7_4()
    {
        Gen.Select(Gen.Int[1, 6000], Gen.Int[1, 1460], Gen.Int[1, 12], Gen.Int).Sample((length, maxSegment, maxRanges, seed) =>
        {
            var random = new Random(seed);
            var stream = new byte[length];
            random.NextBytes(stream);

            // A segmentation that covers the stream, plus duplicates and resends that overlap segment boundaries.
            var queue = new List<(int Start, int End)>();
            for (int p = 0; p < length;)
            {
                int n = Math.Min(random.Next(1, maxSegment + 1), length - p);
                queue.Add((p, p + n));
                p += n;
            }
            int extra = random.Next(0, queue.Count + 1);
            for (int i = 0; i < extra; i++)
            {
                int s = random.Next(0, length);
                queue.Add((s, Math.Min(length, s + random.Next(1, maxSegment + 1))));
            }
            random.Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(queue));

            var a = new ReceiveAssembler(maxRanges);
            var received = new byte[length];
            var arrived = new bool[length];
            int rcvNxt = 0;
            for (int step = 0; step < queue.Count; step++)
            {
                var (start, end) = queue[step];
                if (end <= rcvNxt) continue;                      // all old: a duplicate
                start = Math.Max(start, rcvNxt);
                int offset = start - rcvNxt, count = end - start;
                if (offset == 0)
                {
                    Deliver(start, end);
                    int commit = count + a.Advance(count);
                    for (int i = rcvNxt; i < rcvNxt + commit; i++) Assert.True(arrived[i], $"commit covers byte {i}, which never arrived");
                    rcvNxt += commit;
                }
                else if (a.Add(offset, count)) Deliver(start, end);
                else
                {
                    Assert.Equal(maxRanges, a.RangeCount);        // refused only at the cap
                    queue.Add(queue[step]);                       // the peer sends it again
                }
                Assert.Equal(ModelRanges(arrived, rcvNxt), Ranges(a));
                Assert.Equal(ModelRanges(arrived, rcvNxt).Sum(r => r.Length), a.HeldBytes);
            }
            Assert.Equal(length, rcvNxt);
            Assert.True(a.IsEmpty);
            Assert.Equal(stream, received);

            void Deliver(int start, int end)
            {
                stream.AsSpan(start, end - start).CopyTo(received.AsSpan(start));
                arrived.AsSpan(start, end - start).Fill(true);
            }
        }, iter: 300);
    }

    /// <summary>The maximal runs of arrived bytes past RCV.NXT, relative to it.</summary>
    private static (int Offset, int Length)[] ModelRanges(bool[] arrived, int rcvNxt)
    {
        var ranges = new List<(int, int)>();
        for (int i = rcvNxt; i < arrived.Length;)
        {
            if (!arrived[i]) { i++; continue; }
            int s = i;
            while (i < arrived.Length && arrived[i]) i++;
            ranges.Add((s - rcvNxt, i - s));
        }
        return ranges.ToArray();
    }
}
