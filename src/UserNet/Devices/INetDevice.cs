using UserNet.Wire;

namespace UserNet.Devices;

/// <summary>Takes frames a device received; the span is the frame in the device's memory, valid during the call only.</summary>
public interface IFrameReceiver
{
    void OnFrame(Span<byte> frame);

    /// <summary>
    /// A frame with what the device said of it (a TAP with offloads: a checksum the local kernel left partial, a TCP
    /// super-segment). By default the offload is ignored, so a partial checksum fails verification, as it must where
    /// nobody asked for offloads.
    /// </summary>
    void OnFrame(Span<byte> frame, in FrameOffload offload) => OnFrame(frame);
}

/// <summary>
/// A link the stack sends Ethernet frames on and receives them from. The host's loop thread drives it: it takes what
/// has arrived (<see cref="Receive"/>), sends (<see cref="Transmit(ReadOnlySpan{byte})"/>), and when there is nothing to do waits
/// (<see cref="WaitForFrames"/>) until a frame arrives, its next timer is due, or another thread needs it
/// (<see cref="Wake"/>). A device owns no thread of its own.
/// </summary>
public interface INetDevice : IDisposable
{
    string Name { get; }
    /// <summary>The IP MTU: the largest Ethernet payload the link carries.</summary>
    int Mtu { get; }
    /// <summary>Hands up to <paramref name="max"/> frames that have arrived to <paramref name="receiver"/>, without waiting; returns how many.</summary>
    int Receive(IFrameReceiver receiver, int max);
    /// <summary>
    /// Waits until a frame may have arrived, <see cref="Wake"/> was called (since the last wait), or
    /// <paramref name="timeout"/> passed (<see cref="Timeout.InfiniteTimeSpan"/>: no limit). May return early.
    /// </summary>
    void WaitForFrames(TimeSpan timeout);
    /// <summary>Ends the current or the next <see cref="WaitForFrames"/> at once. Callable from any thread.</summary>
    void Wake();
    /// <summary>Sends one frame; called from the loop only.</summary>
    void Transmit(ReadOnlySpan<byte> frame);

    /// <summary>
    /// The largest IP datagram the device takes as one TCP super-segment, to be cut into MSS-sized segments beyond it
    /// (a TAP with TSO: the kernel cuts it); 0, the default, when it takes none.
    /// </summary>
    int SegmentationLimit => 0;

    /// <summary>Sends one frame with offload work (see <see cref="FrameOffload"/>); called only when <see cref="SegmentationLimit"/> is non-zero.</summary>
    void Transmit(ReadOnlySpan<byte> frame, in FrameOffload offload) =>
        throw new NotSupportedException($"{Name} takes no offloads (its SegmentationLimit is 0)");
}
