namespace UserNet.Core;

/// <summary>Which way a frame went.</summary>
public enum FrameDirection { Received, Sent }

/// <summary>
/// Sees every frame the stack receives and sends, with the layer that decided its fate and the decision in
/// plain words (for example <c>arp request for us -> reply</c> or <c>ip checksum bad -> drop</c>).
/// Called on the stack's loop; the frame span is only valid during the call.
/// </summary>
public interface IFrameObserver
{
    void OnFrame(FrameDirection direction, ReadOnlySpan<byte> frame, Layer layer, string decision, TimeSpan time);
}
