namespace UserNet.Core;

/// <summary>Where the protocol core puts finished frames: a device, a link, a capture, or a test.</summary>
public interface IFrameTransmitter
{
    /// <summary>Sends one Ethernet frame. The span is only valid during the call.</summary>
    void Transmit(ReadOnlySpan<byte> frame);
}
