namespace UserNet.Core;

/// <summary>Which way a frame went.</summary>
public enum FrameDirection { Received, Sent }

/// <summary>
/// Sees every frame the stack receives and sends, with the layer that decided its fate and the decision in
/// plain words (for example <c>arp request for us -> reply</c> or <c>ip checksum bad -> drop</c>).
/// Called on the stack's loop; the spans are only valid during the call. Give one to a stack through
/// <c>StackOptions.Observer</c>.
/// </summary>
public interface IFrameObserver
{
    /// <summary>A frame in or out. A received frame comes before the frames it caused the stack to send.</summary>
    void OnFrame(FrameDirection direction, ReadOnlySpan<byte> frame, Layer layer, string decision, TimeSpan time);

    /// <summary>
    /// The frame being received completed a fragmented datagram: <paramref name="datagram"/> is the whole IPv4 datagram
    /// (header rebuilt) that goes up to the transport layer. Called before <see cref="OnFrame"/> for that frame.
    /// </summary>
    void OnReassembled(ReadOnlySpan<byte> datagram, TimeSpan time) { }
}
