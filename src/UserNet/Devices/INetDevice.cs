using System.IO.Pipelines;

namespace UserNet.Devices;

/// <summary>
/// A link the stack sends Ethernet frames on and receives them from. Received frames go into a
/// <see cref="PipeWriter"/> as records (see <see cref="FrameRecords"/>): the pipe is the handoff from the
/// device's reader to the stack's loop, and its pause threshold is the receive queue's bound.
/// </summary>
public interface INetDevice : IDisposable
{
    string Name { get; }
    /// <summary>The IP MTU: the largest Ethernet payload the link carries.</summary>
    int Mtu { get; }
    /// <summary>
    /// True when the loop may run on the device's own receive thread (the pipe's reader scheduler is inline):
    /// one thread hop less per frame. False for links whose writer is another stack's loop.
    /// </summary>
    bool ReceivesOnOwnThread { get; }
    /// <summary>Starts delivering received frames into <paramref name="sink"/> until <see cref="StopReceiving"/>.</summary>
    void StartReceiving(PipeWriter sink);
    void StopReceiving();
    /// <summary>Sends one frame; called from the stack's loop only.</summary>
    void Transmit(ReadOnlySpan<byte> frame);
}
