using UserNet.Core;

namespace UserNet.Capture;

/// <summary>
/// Records every frame a stack receives and sends to a capture, each with a comment saying what the stack did:
/// <c>rx: arp request for us -> reply</c>, <c>rx: ip checksum bad -> drop</c>, <c>tx: icmp echo reply</c>.
/// Stack time is turned into capture time by adding <paramref name="epochAtStackZero"/> (nanoseconds since 1970).
/// </summary>
public sealed class PcapNgRecorder(ICaptureWriter writer, long epochAtStackZero, bool flushEachFrame = false) : IFrameObserver, IDisposable
{
    private readonly object _gate = new();
    private bool _disposed;

    public int Frames { get; private set; }

    public void OnFrame(FrameDirection direction, ReadOnlySpan<byte> frame, Layer layer, string decision, TimeSpan time)
    {
        var record = CaptureRecord.Ethernet(epochAtStackZero + time.Ticks * 100, frame, Comment(direction, decision));
        lock (_gate)
        {
            if (_disposed) return; // a frame after the recording was closed (a host still stopping) is not recorded
            writer.Write(record);
            Frames++;
            if (flushEachFrame) writer.Flush();
        }
    }

    public static string Comment(FrameDirection direction, string decision) =>
        (direction == FrameDirection.Received ? "rx: " : "tx: ") + decision;

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            writer.Dispose();
        }
    }
}
