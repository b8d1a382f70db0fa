namespace UserNet.Devices;

/// <summary>Takes frames a device received; the span is the frame in the device's memory, valid during the call only.</summary>
public interface IFrameReceiver
{
    void OnFrame(Span<byte> frame);
}

/// <summary>
/// A link the stack sends Ethernet frames on and receives them from. The host's loop thread drives it: it takes what
/// has arrived (<see cref="Receive"/>), sends (<see cref="Transmit"/>), and when there is nothing to do waits
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
}
