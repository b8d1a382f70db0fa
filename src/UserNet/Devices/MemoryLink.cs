using UserNet.Wire;

namespace UserNet.Devices;

/// <summary>
/// A wire between two stacks in one process: what one end transmits, the other receives.
/// Optional faults (seeded loss, duplication, reordering) make it a test bench for what a real link does to packets.
/// </summary>
public static class MemoryLink
{
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
    /// <summary>What an end holds before it drops, as a NIC ring would (the loop fell behind).</summary>
    private const long QueueBytes = 4 << 20;
    private readonly FrameQueue _received = new(QueueBytes);
    private long _transmitted, _delivered, _lost;
    private byte[]? _heldBack;

    internal MemoryLinkEnd(string name, int mtu)
    {
        Name = name;
        Mtu = mtu;
    }

    internal MemoryLinkEnd? Peer { get; set; }
    public string Name { get; }
    public int Mtu { get; }

    /// <summary>Probability (0..1) that a frame this end transmits is lost on the way.</summary>
    public double LossRate { get; set; }
    /// <summary>Probability (0..1) that a frame arrives twice.</summary>
    public double DuplicateRate { get; set; }
    /// <summary>Probability (0..1) that a frame is held back and arrives after the next one (reordering).</summary>
    public double ReorderRate { get; set; }
    /// <summary>
    /// When set, this end takes TCP super-segments of up to 64 KiB from its stack and cuts them into MSS-sized
    /// segments on the way (<see cref="TcpSegmentation"/>), as a TAP with TSO has the kernel do; each piece then meets
    /// the faults on its own. Off by default.
    /// </summary>
    public bool SegmentationOffload { get; set; }
    public int SegmentationLimit => SegmentationOffload ? 65535 : 0;

    /// <summary>The random source for faults; give a seeded one for repeatable runs.</summary>
    public Random FaultRandom { get; set; } = new(1);

    /// <summary>Frames this end transmitted, the peer received, and the link lost (to faults or a full queue).</summary>
    public long Transmitted => Interlocked.Read(ref _transmitted);
    public long Delivered => Interlocked.Read(ref _delivered);
    public long Lost => Interlocked.Read(ref _lost);

    public int Receive(IFrameReceiver receiver, int max) => _received.Receive(receiver, max);
    public void WaitForFrames(TimeSpan timeout) => _received.Wait(timeout);
    public void Wake() => _received.Wake();

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
        Count(peer.Deliver(frame));
        if (DuplicateRate > 0 && FaultRandom.NextDouble() < DuplicateRate) peer.Deliver(frame);
        if (_heldBack is { } held)
        {
            _heldBack = null;
            Count(peer.Deliver(held));
        }
    }

    public void Transmit(ReadOnlySpan<byte> frame, in FrameOffload offload)
    {
        if (!offload.IsSuperSegment)
        {
            Transmit(frame);
            return;
        }
        var piece = _piece ??= new byte[frame.Length];
        if (piece.Length < frame.Length) piece = _piece = new byte[frame.Length];
        int count = TcpSegmentation.Count(frame, offload);
        for (int i = 0; i < count; i++) Transmit(piece.AsSpan(0, TcpSegmentation.WritePiece(frame, offload, i, piece)));
    }

    private byte[]? _piece;

    private void Count(bool delivered)
    {
        if (delivered) Interlocked.Increment(ref _delivered);
        else Interlocked.Increment(ref _lost);
    }

    /// <summary>Puts a frame on this end's receive queue as if it came over the wire (tests use it to inject frames).</summary>
    public bool Inject(ReadOnlySpan<byte> frame) => Deliver(frame);

    private bool Deliver(ReadOnlySpan<byte> frame) => _received.Deliver(frame);

    public void Dispose() => _received.Close();
}
