using UserNet.Wire;

namespace UserNet.Core;

/// <summary>Where the protocol core puts finished frames: a device, a link, a capture, or a test.</summary>
public interface IFrameTransmitter
{
    /// <summary>Sends one Ethernet frame. The span is only valid during the call.</summary>
    void Transmit(ReadOnlySpan<byte> frame);

    /// <summary>
    /// The largest IP datagram this transmitter takes as one TCP super-segment, to be cut into MSS-sized segments
    /// further on (a TAP with TSO: the kernel cuts it); 0, the default, when it takes none and every frame must fit the MTU.
    /// </summary>
    int SegmentationLimit => 0;

    /// <summary>
    /// Sends one frame that carries offload work (<see cref="FrameOffload"/>: a partial checksum, a super-segment).
    /// Called only when <see cref="SegmentationLimit"/> is non-zero.
    /// </summary>
    void Transmit(ReadOnlySpan<byte> frame, in FrameOffload offload) =>
        throw new NotSupportedException("this transmitter takes no offloads (its SegmentationLimit is 0)");
}
