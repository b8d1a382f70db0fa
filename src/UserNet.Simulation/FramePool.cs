using System.Buffers;

namespace UserNet.Simulation;

/// <summary>
/// Buffers for frames in flight. A link holds a window's worth of frames at once (hundreds on a long fat path),
/// beyond what <see cref="ArrayPool{T}.Shared"/> keeps per size, so the network keeps its own: a frame in flight
/// allocates nothing once the pool has grown to the largest number in flight.
/// </summary>
internal sealed class FramePool
{
    /// <summary>Room for a 1500-byte MTU frame and then some; larger frames (jumbo MTUs) come from the shared pool.</summary>
    private const int Size = 2048;
    private readonly Stack<byte[]> _free = new();

    public byte[] Rent(int length)
    {
        if (length > Size) return ArrayPool<byte>.Shared.Rent(length);
        lock (_free) return _free.TryPop(out var b) ? b : new byte[Size];
    }

    public void Return(byte[] buffer)
    {
        if (buffer.Length != Size)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            return;
        }
        lock (_free) if (_free.Count < 65536) _free.Push(buffer);
    }
}
