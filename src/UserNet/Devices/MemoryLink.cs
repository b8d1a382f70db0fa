using System.IO.Pipelines;

namespace UserNet.Devices;

/// <summary>
/// A wire between two stacks in one process: what one end transmits, the other receives.
/// Optional faults (seeded loss) make it a test bench for what a real link does to packets.
/// </summary>
public sealed class MemoryLink
{
    private MemoryLink() { }

    /// <summary>Creates the two ends of a link with the given MTU.</summary>
    public static (MemoryLinkEnd A, MemoryLinkEnd B) CreatePair(int mtu = 1500, string nameA = "mem0", string nameB = "mem1")
    {
        var a = new MemoryLinkEnd(nameA, mtu);
        var b = new MemoryLinkEnd(nameB, mtu);
        a.Peer = b;
        b.Peer = a;
        return (a, b);
    }
}

/// <summary>One end of a <see cref="MemoryLink"/>.</summary>
public sealed class MemoryLinkEnd : INetDevice
{
    private readonly object _gate = new();
    private PipeWriter? _sink;
    private ValueTask<FlushResult> _pendingFlush;
    private long _transmitted, _delivered, _lost;

    internal MemoryLinkEnd(string name, int mtu)
    {
        Name = name;
        Mtu = mtu;
    }

    internal MemoryLinkEnd? Peer { get; set; }
    public string Name { get; }
    public int Mtu { get; }
    public bool ReceivesOnOwnThread => false;

    /// <summary>Probability (0..1) that a frame this end transmits is lost on the way.</summary>
    public double LossRate { get; set; }
    /// <summary>Probability (0..1) that a frame arrives twice.</summary>
    public double DuplicateRate { get; set; }
    /// <summary>Probability (0..1) that a frame is held back and arrives after the next one (reordering).</summary>
    public double ReorderRate { get; set; }
    /// <summary>The random source for faults; give a seeded one for repeatable runs.</summary>
    public Random FaultRandom { get; set; } = new(1);

    /// <summary>Frames this end transmitted, the peer received, and the link lost (to faults or a full queue).</summary>
    public long Transmitted => Interlocked.Read(ref _transmitted);
    public long Delivered => Interlocked.Read(ref _delivered);
    public long Lost => Interlocked.Read(ref _lost);

    public void StartReceiving(PipeWriter sink)
    {
        lock (_gate) _sink = sink;
    }

    public void StopReceiving()
    {
        lock (_gate) _sink = null;
    }

    public void Transmit(ReadOnlySpan<byte> frame)
    {
        Interlocked.Increment(ref _transmitted);
        var peer = Peer!;
        if (LossRate > 0 && FaultRandom.NextDouble() < LossRate) { Interlocked.Increment(ref _lost); return; }
        if (ReorderRate > 0 && _heldBack is null && FaultRandom.NextDouble() < ReorderRate)
        {
            _heldBack = frame.ToArray(); // faults are for tests; this copy is not on any hot path
            return;
        }
        if (!peer.Deliver(frame)) Interlocked.Increment(ref _lost);
        if (DuplicateRate > 0 && FaultRandom.NextDouble() < DuplicateRate) peer.Deliver(frame);
        if (_heldBack is { } held)
        {
            _heldBack = null;
            if (!peer.Deliver(held)) Interlocked.Increment(ref _lost);
        }
    }

    private byte[]? _heldBack;

    /// <summary>Puts a frame on this end's receive queue as if it came over the wire (tests use it to inject frames).</summary>
    public bool Inject(ReadOnlySpan<byte> frame) => Deliver(frame);

    private bool Deliver(ReadOnlySpan<byte> frame)
    {
        lock (_gate)
        {
            if (_sink is null) return false;
            if (!_pendingFlush.IsCompleted) return false; // the peer's queue is full: a real link drops here too
            _pendingFlush.GetAwaiter().GetResult();
            FrameRecords.Write(_sink, frame);
            _pendingFlush = _sink.FlushAsync();
            Interlocked.Increment(ref _delivered);
            return true;
        }
    }

    public void Dispose() => StopReceiving();
}
