using System.Buffers;
using UserNet.Wire;

namespace UserNet.Arp;

/// <summary>A frame waiting for its next hop's MAC, in a rented buffer; <see cref="Owner"/> sends it (or hears it failed).</summary>
internal readonly record struct HeldFrame(byte[] Buffer, int Length, Core.Layer Layer, Core.Decision What, Ethernet.INeighbourClient Owner);

/// <summary>
/// IPv4-to-Ethernet mappings with expiry, plus the addresses being resolved and the packets waiting for them.
/// Owned by one loop; no locks. Times are the stack's clock values passed in.
/// </summary>
internal sealed class ArpCache
{
    internal sealed class Entry
    {
        public Ipv4Address Address;
        public MacAddress Mac;
        public bool Resolved;
        /// <summary>Resolved, past its lifetime and still in use: being polled by unicast requests until it answers or gives up.</summary>
        public bool Stale;
        /// <summary>Resolved: when the mapping expires (stale: when the next poll, or giving up, is due). Unresolved: when the next request (or giving up) is due.</summary>
        public TimeSpan Deadline;
        public int RequestsSent;
        /// <summary>Datagrams waiting for the destination MAC, as frames in rented buffers (length, and how to trace them, alongside).</summary>
        public readonly Queue<HeldFrame> Waiting = new();
    }

    private readonly Dictionary<Ipv4Address, Entry> _entries = new();
    private readonly int _capacity;

    public ArpCache(int capacity) => _capacity = capacity;

    public int Count => _entries.Count;
    public IEnumerable<Entry> Entries => _entries.Values;

    public bool TryGet(Ipv4Address address, out Entry entry) => _entries.TryGetValue(address, out entry!);

    /// <summary>
    /// Looks up a resolved mapping. One past its lifetime is still used, and marked <see cref="Entry.Stale"/> with its
    /// deadline due now (<paramref name="revalidate"/> says so): the owner polls it by unicast (RFC 1122 2.3.2.1), as
    /// Linux probes a stale neighbour it still sends to, instead of dropping what is sent while it asks afresh.
    /// </summary>
    public bool TryResolve(Ipv4Address address, TimeSpan now, out MacAddress mac, out bool revalidate)
    {
        revalidate = false;
        if (_entries.TryGetValue(address, out var e) && e.Resolved)
        {
            if (now >= e.Deadline && !e.Stale)
            {
                e.Stale = true;
                e.RequestsSent = 0;
                e.Deadline = now;
                revalidate = true;
            }
            mac = e.Mac;
            return true;
        }
        mac = default;
        return false;
    }

    /// <summary>Adds or refreshes a resolved mapping valid until <paramref name="expires"/>; returns the entry (its waiting queue may need flushing).</summary>
    public Entry Set(Ipv4Address address, MacAddress mac, TimeSpan expires)
    {
        var e = GetOrAdd(address, out _);
        e.Mac = mac;
        e.Resolved = true;
        e.Stale = false;
        e.Deadline = expires;
        e.RequestsSent = 0;
        return e;
    }

    /// <summary>Finds or creates an entry; a new entry is unresolved. Evicts the entry closest to its deadline when full.</summary>
    public Entry GetOrAdd(Ipv4Address address, out bool created) => GetOrAdd(address, out created, out _);

    /// <summary>As above; <paramref name="discarded"/> counts datagrams that waited on an evicted entry.</summary>
    public Entry GetOrAdd(Ipv4Address address, out bool created, out int discarded)
    {
        discarded = 0;
        if (_entries.TryGetValue(address, out var e)) { created = false; return e; }
        if (_entries.Count >= _capacity) discarded = Evict();
        e = new Entry { Address = address };
        _entries.Add(address, e);
        created = true;
        return e;
    }

    private int Evict()
    {
        Entry? victim = null;
        foreach (var e in _entries.Values)
            if (victim is null || e.Deadline < victim.Deadline) victim = e;
        return victim is null ? 0 : Remove(victim);
    }

    /// <summary>Removes an entry, returning its waiting buffers to the pool; returns how many packets were discarded.</summary>
    public int Remove(Entry e)
    {
        int dropped = e.Waiting.Count;
        while (e.Waiting.TryDequeue(out var w)) ArrayPool<byte>.Shared.Return(w.Buffer);
        _entries.Remove(e.Address);
        return dropped;
    }

    /// <summary>The earliest deadline of any entry, or <see cref="TimeSpan.MaxValue"/>.</summary>
    public TimeSpan EarliestDeadline()
    {
        var min = TimeSpan.MaxValue;
        foreach (var e in _entries.Values)
            if (e.Deadline < min) min = e.Deadline;
        return min;
    }

    public void Clear()
    {
        foreach (var e in _entries.Values.ToArray()) Remove(e);
    }
}
