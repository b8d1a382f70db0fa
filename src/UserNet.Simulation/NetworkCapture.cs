using UserNet.Capture;
using UserNet.Core;

namespace UserNet.Simulation;

/// <summary>
/// One pcapng file for the whole network: an interface per segment (named after it), a packet per frame as it enters
/// the switch, stamped with the network's clock, its comment the sending stack's decision followed by what each link
/// did with it (<c>tx: tcp data | link client-server: delayed 20.3 ms</c>).
/// </summary>
internal sealed class NetworkCapture : IDisposable
{
    private readonly object _gate = new();
    private readonly PcapNgWriter _writer;
    private readonly long _epochNanoseconds;
    private int _interfaces;
    private bool _disposed;

    public NetworkCapture(string path, CaptureRetention retention, IReadOnlyList<SimulatedSegment> segments, DateTimeOffset epoch)
    {
        Path = path;
        Retention = retention;
        _epochNanoseconds = (epoch - DateTimeOffset.UnixEpoch).Ticks * 100;
        // The application string is fixed: nothing of this machine or this moment enters the file.
        _writer = new PcapNgWriter(File.Create(path), segments.Select(s => (string?)s.Name).ToArray(), LinkTypes.Ethernet, "UserNet.Simulation", snapLength: 0, comment: null);
        _interfaces = segments.Count;
    }

    public string Path { get; }
    public CaptureRetention Retention { get; }

    public void AddInterface(SimulatedSegment segment)
    {
        lock (_gate)
        {
            if (_disposed) return;
            // Segments are numbered in the order they were added, as are the capture's interfaces.
            if (segment.Index != _interfaces) throw new InvalidOperationException($"segment {segment.Name} is number {segment.Index}, the capture has {_interfaces} interfaces");
            _writer.AddInterface(segment.Name);
            _interfaces++;
        }
    }

    public void Write(int segment, long ticks, ReadOnlySpan<byte> frame, string comment)
    {
        var record = CaptureRecord.Ethernet(_epochNanoseconds + ticks * 100, frame, comment);
        lock (_gate)
        {
            if (_disposed) return;
            _writer.Write(record, segment);
        }
    }

    public void Flush()
    {
        lock (_gate) if (!_disposed) _writer.Flush();
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            _writer.Dispose();
        }
    }
}

/// <summary>
/// A simulated stack's observer: pairs each frame the stack sends with the decision the stack gave it. The stack
/// tells its observer before it transmits, except while it handles a received frame (then after the receive), so
/// frames and decisions wait in order for each other.
/// </summary>
internal sealed class CaptureObserver(NetworkCapture capture, SimulatedHost.Incarnation owner, IFrameObserver? inner) : IFrameObserver
{
    private readonly Queue<string> _decisions = new();
    private readonly Queue<(int Segment, long Ticks, byte[] Frame, string Fate)> _frames = new();

    public void OnFrame(FrameDirection direction, ReadOnlySpan<byte> frame, Layer layer, string decision, TimeSpan time)
    {
        inner?.OnFrame(direction, frame, layer, decision, time);
        if (direction != FrameDirection.Sent) return;
        lock (this)
        {
            if (_frames.TryDequeue(out var f)) capture.Write(f.Segment, f.Ticks, f.Frame, $"{owner.Host.Name} tx: {decision} | {f.Fate}");
            else _decisions.Enqueue(decision);
        }
    }

    public void OnReassembled(ReadOnlySpan<byte> datagram, TimeSpan time) => inner?.OnReassembled(datagram, time);

    /// <summary>A frame entered the switch with the fates the links gave it.</summary>
    public void OnSwitched(int segment, long ticks, ReadOnlySpan<byte> frame, string fate)
    {
        lock (this)
        {
            if (_decisions.TryDequeue(out var d)) capture.Write(segment, ticks, frame, $"{owner.Host.Name} tx: {d} | {fate}");
            else _frames.Enqueue((segment, ticks, frame.ToArray(), fate)); // tracing only: copies are fine here
        }
    }
}
