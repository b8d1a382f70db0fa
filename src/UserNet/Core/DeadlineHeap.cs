using System.Diagnostics.CodeAnalysis;

namespace UserNet.Core;

/// <summary>
/// Something with a deadline in a <see cref="DeadlineHeap{T}"/>. The item keeps its own slot in the heap, so moving
/// or removing it needs no search.
/// </summary>
internal interface IDeadlineItem
{
    /// <summary>The value of <see cref="HeapIndex"/> for an item in no heap.</summary>
    const int NotInHeap = -1;

    /// <summary>
    /// The item's slot, kept by the heap; <see cref="NotInHeap"/> (-1) while the item is in none, so it must start as
    /// -1. Nothing but the heap may change it.
    /// </summary>
    int HeapIndex { get; set; }
}

/// <summary>
/// Timer deadlines as a binary min-heap indexed by the items themselves: the earliest is known at once, and setting,
/// moving or removing one item's deadline is O(log n) with no search. The array doubles when full and never shrinks,
/// so once it has grown no operation allocates.
/// <para>
/// Equal deadlines come out in the order the items were given them (by a <see cref="Set"/> that changed the deadline),
/// so that runs with the same inputs take the same path. An item is in at most one heap at a time.
/// </para>
/// </summary>
internal sealed class DeadlineHeap<T> where T : class, IDeadlineItem
{
    private struct Entry
    {
        public T Item;
        public TimeSpan Deadline;
        /// <summary>When the item got this deadline: orders equal deadlines.</summary>
        public long Order;
    }

    private Entry[] _entries;
    private int _count;
    private long _nextOrder;

    public DeadlineHeap(int capacity = 16)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(capacity);
        _entries = new Entry[Math.Max(capacity, 1)];
    }

    /// <summary>Items in the heap.</summary>
    public int Count => _count;

    /// <summary>The earliest deadline; <see cref="TimeSpan.MaxValue"/> when the heap is empty.</summary>
    public TimeSpan Earliest => _count == 0 ? TimeSpan.MaxValue : _entries[0].Deadline;

    /// <summary>True when <paramref name="item"/> is in this heap.</summary>
    public bool Contains(T item)
    {
        int i = item.HeapIndex;
        return i >= 0 && i < _count && ReferenceEquals(_entries[i].Item, item);
    }

    /// <summary>The item's deadline; <see cref="TimeSpan.MaxValue"/> when it is not in the heap.</summary>
    public TimeSpan DeadlineOf(T item) => Contains(item) ? _entries[item.HeapIndex].Deadline : TimeSpan.MaxValue;

    /// <summary>
    /// Gives <paramref name="item"/> the deadline <paramref name="deadline"/>: inserts it, moves it, or removes it when
    /// the deadline is <see cref="TimeSpan.MaxValue"/> (no deadline). Setting the deadline it already has changes
    /// nothing, not even its place among equal deadlines.
    /// </summary>
    public void Set(T item, TimeSpan deadline)
    {
        if (deadline == TimeSpan.MaxValue) { Remove(item); return; }
        int i = SlotOf(item);
        if (i < 0)
        {
            if (_count == _entries.Length) Array.Resize(ref _entries, _entries.Length * 2);
            i = _count++;
            _entries[i] = new Entry { Item = item, Deadline = deadline, Order = _nextOrder++ };
            item.HeapIndex = i;
            SiftUp(i);
            return;
        }
        var old = _entries[i].Deadline;
        if (deadline == old) return;
        _entries[i].Deadline = deadline;
        _entries[i].Order = _nextOrder++;
        // The order only grows, so an earlier deadline is a smaller key and a later one a greater key.
        if (deadline < old) SiftUp(i);
        else SiftDown(i);
    }

    /// <summary>Takes <paramref name="item"/> out of the heap; nothing happens if it is not in it.</summary>
    public void Remove(T item)
    {
        int i = SlotOf(item);
        if (i >= 0) RemoveAt(i);
    }

    /// <summary>
    /// Takes out the item with the earliest deadline if that deadline is at or before <paramref name="now"/>.
    /// An item given a deadline at or before <paramref name="now"/> again while the caller handles it is due again at
    /// once: a loop that must visit each item only once per poll collects the due items before handling them.
    /// </summary>
    public bool TryTakeDue(TimeSpan now, [MaybeNullWhen(false)] out T item)
    {
        if (_count == 0 || _entries[0].Deadline > now)
        {
            item = null;
            return false;
        }
        item = _entries[0].Item;
        RemoveAt(0);
        return true;
    }

    /// <summary>The item with the earliest deadline, and that deadline, without taking it out.</summary>
    public bool TryPeek([MaybeNullWhen(false)] out T item, out TimeSpan deadline)
    {
        if (_count == 0)
        {
            item = null;
            deadline = TimeSpan.MaxValue;
            return false;
        }
        item = _entries[0].Item;
        deadline = _entries[0].Deadline;
        return true;
    }

    /// <summary>Takes every item out; the array keeps its size.</summary>
    public void Clear()
    {
        for (int i = 0; i < _count; i++) _entries[i].Item.HeapIndex = IDeadlineItem.NotInHeap;
        Array.Clear(_entries, 0, _count);
        _count = 0;
    }

    /// <summary>The item's slot in this heap, or -1 when it is in none; throws when it is in another heap.</summary>
    private int SlotOf(T item)
    {
        int i = item.HeapIndex;
        if (i == IDeadlineItem.NotInHeap) return -1;
        if (i < 0 || i >= _count || !ReferenceEquals(_entries[i].Item, item)) ThrowForeignItem();
        return i;
    }

    [DoesNotReturn]
    private static void ThrowForeignItem() => throw new InvalidOperationException(
        "The item's HeapIndex is not -1 and not its slot in this heap: it is in another heap, or it did not start at -1.");

    private void RemoveAt(int i)
    {
        _entries[i].Item.HeapIndex = IDeadlineItem.NotInHeap;
        int last = --_count;
        if (i != last)
        {
            _entries[i] = _entries[last];
            _entries[i].Item.HeapIndex = i;
        }
        _entries[last] = default; // let go of the item
        if (i < _count && SiftUp(i) == i) SiftDown(i);
    }

    private static bool Less(in Entry a, in Entry b) =>
        a.Deadline < b.Deadline || (a.Deadline == b.Deadline && a.Order < b.Order);

    /// <summary>Moves the entry at <paramref name="i"/> towards the root while it is less than its parent; returns where it ends.</summary>
    private int SiftUp(int i)
    {
        var e = _entries[i];
        while (i > 0)
        {
            int parent = (i - 1) >> 1;
            if (!Less(e, _entries[parent])) break;
            _entries[i] = _entries[parent];
            _entries[i].Item.HeapIndex = i;
            i = parent;
        }
        _entries[i] = e;
        e.Item.HeapIndex = i;
        return i;
    }

    /// <summary>Moves the entry at <paramref name="i"/> towards the leaves while a child is less than it.</summary>
    private void SiftDown(int i)
    {
        var e = _entries[i];
        while (true)
        {
            int child = 2 * i + 1;
            if (child >= _count) break;
            if (child + 1 < _count && Less(_entries[child + 1], _entries[child])) child++;
            if (!Less(_entries[child], e)) break;
            _entries[i] = _entries[child];
            _entries[i].Item.HeapIndex = i;
            i = child;
        }
        _entries[i] = e;
        e.Item.HeapIndex = i;
    }
}
