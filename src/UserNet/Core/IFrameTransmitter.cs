namespace UserNet.Core;

/// <summary>Where the protocol core puts finished frames: a device, a link, a capture, or a test.</summary>
public interface IFrameTransmitter
{
    /// <summary>Sends one Ethernet frame. The span is only valid during the call.</summary>
    void Transmit(ReadOnlySpan<byte> frame);
}

/// <summary>Told about ICMP echo replies addressed to us, so that a ping client can match them.</summary>
public interface IEchoReplyListener
{
    /// <summary>Returns true when the reply matched an outstanding request.</summary>
    bool OnEchoReply(Wire.Ipv4Address from, ushort identifier, ushort sequence, byte ttl, ReadOnlySpan<byte> data, TimeSpan time);
}
