using System.Buffers;

namespace UserNet.Devices;

/// <summary>
/// The receive side of an in-process device: frames delivered from any thread are copied into pooled buffers and
/// queued (up to a byte limit, beyond which they are dropped as a full NIC ring drops them); the loop takes them and
/// waits for them. Implements the waiting half of <see cref="INetDevice"/> for devices that have no file descriptor.
/// </summary>
internal sealed class FrameQueue(long byteLimit)
{
    private readonly object _gate = new();
    private readonly Queue<(byte[] Buffer, int Length)> _frames = new();
    private long _bytes;
    private bool _woken;
    private bool _closed;

    /// <summary>Queues a copy of <paramref name="frame"/>; false when the queue is full or closed (the frame is lost).</summary>
    public bool Deliver(ReadOnlySpan<byte> frame)
    {
        lock (_gate)
        {
            if (_closed || _bytes + frame.Length > byteLimit) return false;
            var buf = ArrayPool<byte>.Shared.Rent(Math.Max(1, frame.Length));
            frame.CopyTo(buf);
            _frames.Enqueue((buf, frame.Length));
            _bytes += frame.Length;
            if (_frames.Count == 1) Monitor.Pulse(_gate);
            return true;
        }
    }

    public int Receive(IFrameReceiver receiver, int max)
    {
        int n = 0;
        while (n < max)
        {
            byte[] buf;
            int length;
            lock (_gate)
            {
                if (!_frames.TryDequeue(out var f)) break;
                (buf, length) = f;
                _bytes -= length;
            }
            try { receiver.OnFrame(buf.AsSpan(0, length)); }
            finally { ArrayPool<byte>.Shared.Return(buf); }
            n++;
        }
        return n;
    }

    public void Wait(TimeSpan timeout)
    {
        lock (_gate)
        {
            if (_frames.Count == 0 && !_woken && !_closed) Monitor.Wait(_gate, timeout);
            _woken = false;
        }
    }

    public void Wake()
    {
        lock (_gate)
        {
            _woken = true;
            Monitor.Pulse(_gate);
        }
    }

    public void Close()
    {
        lock (_gate)
        {
            _closed = true;
            while (_frames.TryDequeue(out var f)) ArrayPool<byte>.Shared.Return(f.Buffer);
            _bytes = 0;
            Monitor.PulseAll(_gate);
        }
    }
}
