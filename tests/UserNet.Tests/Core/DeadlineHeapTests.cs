using UserNet.Core;

namespace UserNet.Tests.Core;

/// <summary>
/// The timer heap: the earliest deadline first, ties in the order the deadlines were set, O(log n) moves and removals
/// through the item's own slot, and no allocation once grown. Checked case by case and against a naive sorted model.
/// </summary>
public sealed class DeadlineHeapTests
{
    private sealed class Timer(int id) : IDeadlineItem
    {
        public int Id { get; } = id;
        public int HeapIndex { get; set; } = IDeadlineItem.NotInHeap;
        public override string ToString() => $"timer {Id}";
    }

    private static TimeSpan Ms(long ms) => TimeSpan.FromMilliseconds(ms);

    private static Timer[] Timers(int n) => Enumerable.Range(0, n).Select(i => new Timer(i)).ToArray();

    /// <summary>Takes every item due at <paramref name="now"/>, in the order the heap gives them.</summary>
    private static List<int> TakeDue(DeadlineHeap<Timer> heap, TimeSpan now)
    {
        var ids = new List<int>();
        while (heap.TryTakeDue(now, out var t)) ids.Add(t.Id);
        return ids;
    }

    // =================================================================== ordering

    [Fact]
    public void An_empty_heap_has_no_earliest_deadline_and_nothing_is_due()
    {
        var heap = new DeadlineHeap<Timer>();
        Assert.Equal(0, heap.Count);
        Assert.Equal(TimeSpan.MaxValue, heap.Earliest);
        Assert.False(heap.TryTakeDue(TimeSpan.MaxValue, out var none));
        Assert.Null(none);
        Assert.False(heap.TryPeek(out _, out var deadline));
        Assert.Equal(TimeSpan.MaxValue, deadline);
    }

    [Fact]
    public void Items_come_out_earliest_deadline_first_whatever_the_insertion_order()
    {
        var heap = new DeadlineHeap<Timer>(capacity: 1); // grows by doubling on the way
        var t = Timers(7);
        long[] deadlines = [50, 10, 70, 30, 60, 20, 40];
        for (int i = 0; i < t.Length; i++) heap.Set(t[i], Ms(deadlines[i]));
        Assert.Equal(7, heap.Count);
        Assert.Equal(Ms(10), heap.Earliest);
        Assert.True(heap.TryPeek(out var first, out var at));
        Assert.Same(t[1], first);
        Assert.Equal(Ms(10), at);
        Assert.Equal([1, 5, 3, 6, 0, 4, 2], TakeDue(heap, Ms(100)));
        Assert.Equal(0, heap.Count);
        Assert.All(t, x => Assert.Equal(IDeadlineItem.NotInHeap, x.HeapIndex));
    }

    [Fact]
    public void Contains_and_DeadlineOf_follow_the_item_in_and_out()
    {
        var heap = new DeadlineHeap<Timer>();
        var t = Timers(2);
        Assert.False(heap.Contains(t[0]));
        Assert.Equal(TimeSpan.MaxValue, heap.DeadlineOf(t[0]));
        heap.Set(t[0], Ms(5));
        heap.Set(t[1], Ms(3));
        Assert.True(heap.Contains(t[0]));
        Assert.Equal(Ms(5), heap.DeadlineOf(t[0]));
        Assert.Equal(Ms(3), heap.DeadlineOf(t[1]));
        heap.Remove(t[0]);
        Assert.False(heap.Contains(t[0]));
        Assert.Equal(TimeSpan.MaxValue, heap.DeadlineOf(t[0]));
        Assert.Equal(1, heap.Count);
    }

    // =================================================================== moving and removing

    [Fact]
    public void An_earlier_deadline_moves_an_item_up_to_the_front()
    {
        var heap = new DeadlineHeap<Timer>();
        var t = Timers(5);
        for (int i = 0; i < t.Length; i++) heap.Set(t[i], Ms(10 * (i + 1))); // 10 .. 50
        heap.Set(t[4], Ms(5));
        Assert.Equal(Ms(5), heap.Earliest);
        Assert.Equal(5, heap.Count);
        Assert.Equal([4, 0, 1, 2, 3], TakeDue(heap, Ms(100)));
    }

    [Fact]
    public void A_later_deadline_moves_an_item_down_behind_the_others()
    {
        var heap = new DeadlineHeap<Timer>();
        var t = Timers(5);
        for (int i = 0; i < t.Length; i++) heap.Set(t[i], Ms(10 * (i + 1)));
        heap.Set(t[0], Ms(35));
        Assert.Equal(Ms(20), heap.Earliest);
        Assert.Equal([1, 2, 0, 3, 4], TakeDue(heap, Ms(100)));
    }

    [Fact]
    public void Removing_from_the_middle_keeps_the_order_of_the_rest()
    {
        var heap = new DeadlineHeap<Timer>();
        var t = Timers(9);
        for (int i = 0; i < t.Length; i++) heap.Set(t[i], Ms(10 * (i + 1)));
        heap.Remove(t[4]);
        heap.Remove(t[7]);
        Assert.False(heap.Contains(t[4]));
        Assert.Equal(IDeadlineItem.NotInHeap, t[4].HeapIndex);
        Assert.Equal(7, heap.Count);
        Assert.Equal([0, 1, 2, 3, 5, 6, 8], TakeDue(heap, Ms(100)));
    }

    [Fact]
    public void Removing_where_the_last_item_is_smaller_than_the_new_parent_sifts_it_up()
    {
        // Inserted in this order each stays where it lands: late deadlines under slot 1, early ones under slot 2.
        // Removing the 110 ms item (slot 3, under 100 ms) moves the last one, 70 ms, into its slot, where it must go up.
        var heap = new DeadlineHeap<Timer>();
        long[] deadlines = [0, 100, 10, 110, 120, 20, 30, 130, 140, 150, 160, 40, 50, 60, 70];
        var t = Timers(deadlines.Length);
        for (int i = 0; i < t.Length; i++) heap.Set(t[i], Ms(deadlines[i]));
        Assert.Equal(3, t[3].HeapIndex);
        heap.Remove(t[3]);
        Assert.Equal(1, t[14].HeapIndex);                // the 70 ms item took the 100 ms one's place
        Assert.Equal([0, 2, 5, 6, 11, 12, 13, 14, 1, 4, 7, 8, 9, 10], TakeDue(heap, Ms(1000)));
    }

    [Fact]
    public void Set_to_MaxValue_removes_the_item_and_Remove_of_an_absent_item_does_nothing()
    {
        var heap = new DeadlineHeap<Timer>();
        var t = Timers(3);
        heap.Set(t[0], Ms(1));
        heap.Set(t[1], Ms(2));
        heap.Set(t[0], TimeSpan.MaxValue);
        Assert.False(heap.Contains(t[0]));
        Assert.Equal(1, heap.Count);
        Assert.Equal(Ms(2), heap.Earliest);
        heap.Set(t[2], TimeSpan.MaxValue);               // never inserted
        heap.Remove(t[2]);
        heap.Remove(t[0]);                               // already gone
        Assert.Equal(1, heap.Count);
    }

    [Fact]
    public void Clear_takes_every_item_out_and_they_can_go_back_in()
    {
        var heap = new DeadlineHeap<Timer>();
        var t = Timers(4);
        foreach (var x in t) heap.Set(x, Ms(x.Id));
        heap.Clear();
        Assert.Equal(0, heap.Count);
        Assert.All(t, x => Assert.False(heap.Contains(x)));
        heap.Set(t[3], Ms(1));
        Assert.Equal([3], TakeDue(heap, Ms(1)));
    }

    [Fact]
    public void An_item_in_another_heap_or_with_a_stale_index_is_refused()
    {
        var a = new DeadlineHeap<Timer>();
        var b = new DeadlineHeap<Timer>();
        var t = Timers(2);
        a.Set(t[0], Ms(1));
        Assert.False(b.Contains(t[0]));
        Assert.Throws<InvalidOperationException>(() => b.Set(t[0], Ms(2)));
        Assert.Throws<InvalidOperationException>(() => b.Remove(t[0]));
        Assert.Equal(Ms(1), a.DeadlineOf(t[0]));         // the heap it is in is untouched

        t[1].HeapIndex = 0;                              // an item that did not start at -1
        Assert.Throws<InvalidOperationException>(() => a.Set(t[1], Ms(2)));
        Assert.Equal(1, a.Count);
    }

    // =================================================================== what is due

    [Fact]
    public void TryTakeDue_takes_only_deadlines_at_or_before_now_earliest_first()
    {
        var heap = new DeadlineHeap<Timer>();
        var t = Timers(4);
        heap.Set(t[0], Ms(30));
        heap.Set(t[1], Ms(10));
        heap.Set(t[2], Ms(20));
        heap.Set(t[3], Ms(40));
        Assert.Empty(TakeDue(heap, Ms(9)));
        Assert.Equal([1, 2], TakeDue(heap, Ms(20)));    // 20 ms is due at 20 ms
        Assert.Equal(Ms(30), heap.Earliest);
        Assert.Equal(2, heap.Count);
    }

    [Fact]
    public void Equal_deadlines_come_out_in_the_order_they_were_set()
    {
        var heap = new DeadlineHeap<Timer>();
        var t = Timers(6);
        foreach (int i in new[] { 3, 0, 5, 1, 4, 2 }) heap.Set(t[i], Ms(10));
        Assert.Equal([3, 0, 5, 1, 4, 2], TakeDue(heap, Ms(10)));
    }

    [Fact]
    public void A_moved_item_goes_behind_items_that_already_had_its_new_deadline()
    {
        var heap = new DeadlineHeap<Timer>();
        var t = Timers(4);
        heap.Set(t[0], Ms(10));
        heap.Set(t[1], Ms(10));
        heap.Set(t[2], Ms(20));
        heap.Set(t[3], Ms(5));
        heap.Set(t[2], Ms(10));                          // moved up to a tie: last of the 10 ms ones
        heap.Set(t[3], Ms(10));                          // moved down to a tie: after it
        heap.Set(t[0], Ms(10));                          // the deadline it has: keeps its place
        Assert.Equal([0, 1, 2, 3], TakeDue(heap, Ms(10)));
    }

    // =================================================================== against a model

    [Fact]
    public void Random_operations_agree_with_a_naive_sorted_model()
    {
        // Sets (inserts, moves up and down, some to the deadline held), Set(MaxValue), Remove and TryTakeDue on a
        // small range of deadlines, so that ties are common; the model sorts a list by (deadline, when it was set).
        var rng = new Random(6298);
        var heap = new DeadlineHeap<Timer>(capacity: 2);
        var t = Timers(64);
        var model = new Dictionary<Timer, (TimeSpan Deadline, long Order)>();
        long order = 0;

        Timer ModelEarliest() => model.OrderBy(kv => kv.Value.Deadline).ThenBy(kv => kv.Value.Order).First().Key;

        for (int step = 0; step < 20_000; step++)
        {
            var x = t[rng.Next(t.Length)];
            int op = rng.Next(100);
            if (op < 55)
            {
                var d = Ms(rng.Next(200));
                heap.Set(x, d);
                if (!model.TryGetValue(x, out var held) || held.Deadline != d) model[x] = (d, order++);
            }
            else if (op < 62)
            {
                heap.Set(x, TimeSpan.MaxValue);
                model.Remove(x);
            }
            else if (op < 75)
            {
                heap.Remove(x);
                model.Remove(x);
            }
            else
            {
                var now = Ms(rng.Next(-20, 200));
                while (true)
                {
                    bool took = heap.TryTakeDue(now, out var got);
                    var expected = model.Count > 0 && model[ModelEarliest()].Deadline <= now ? ModelEarliest() : null;
                    Assert.Equal(expected, got);
                    Assert.Equal(expected is not null, took);
                    if (!took) break;
                    model.Remove(expected!);
                }
            }

            Assert.Equal(model.Count, heap.Count);
            Assert.Equal(model.Count == 0 ? TimeSpan.MaxValue : model[ModelEarliest()].Deadline, heap.Earliest);
            var probe = t[rng.Next(t.Length)];
            Assert.Equal(model.ContainsKey(probe), heap.Contains(probe));
            Assert.Equal(model.TryGetValue(probe, out var m) ? m.Deadline : TimeSpan.MaxValue, heap.DeadlineOf(probe));
        }

        // Whatever is left comes out in the model's order.
        var rest = model.OrderBy(kv => kv.Value.Deadline).ThenBy(kv => kv.Value.Order).Select(kv => kv.Key.Id).ToList();
        Assert.Equal(rest, TakeDue(heap, TimeSpan.MaxValue - TimeSpan.FromTicks(1)));
    }

    [Fact]
    public void Same_inputs_give_the_same_order_run_after_run()
    {
        static List<int> Run()
        {
            var rng = new Random(42);
            var heap = new DeadlineHeap<Timer>();
            var t = Timers(100);
            foreach (var x in t) heap.Set(x, Ms(rng.Next(10)));
            for (int i = 0; i < 500; i++) heap.Set(t[rng.Next(t.Length)], Ms(rng.Next(10)));
            return TakeDue(heap, Ms(10));
        }
        Assert.Equal(Run(), Run());
    }

    // =================================================================== allocation

    [Fact]
    public void No_operation_allocates_once_the_heap_has_grown()
    {
        const int n = 256;
        var heap = new DeadlineHeap<Timer>(capacity: 1);
        var t = Timers(n);
        var rng = new Random(7);
        var deadlines = Enumerable.Range(0, 4096).Select(_ => Ms(rng.Next(1, 1000))).ToArray();

        static long Churn(DeadlineHeap<Timer> heap, Timer[] t, TimeSpan[] deadlines)
        {
            long taken = 0;
            for (int round = 0; round < 4; round++)
            {
                for (int i = 0; i < deadlines.Length; i++)
                {
                    var x = t[i % t.Length];
                    if (i % 11 == 0) heap.Remove(x);
                    else if (i % 13 == 0) heap.Set(x, TimeSpan.MaxValue);
                    else heap.Set(x, deadlines[i]);
                    if (i % 7 == 0 && heap.TryTakeDue(deadlines[i], out _)) taken++;
                    taken += heap.Contains(x) ? 1 : 0;
                    taken += heap.DeadlineOf(x).Ticks & 1;
                    taken += heap.Earliest.Ticks & 1;
                }
                foreach (var x in t) heap.Set(x, deadlines[x.Id]); // everything in: the array at its largest
                while (heap.TryTakeDue(TimeSpan.FromDays(1), out _)) taken++;
            }
            return taken;
        }

        Churn(heap, t, deadlines);                       // warm up: grow the array, compile the code
        Churn(heap, t, deadlines);
        long before = GC.GetAllocatedBytesForCurrentThread();
        long taken = Churn(heap, t, deadlines);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(taken > 0);
        Assert.Equal(0, allocated);
    }
}
