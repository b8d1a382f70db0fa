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

    /// <summary>
    /// An echo request of ours failed: an ICMP error about it arrived from <paramref name="reporter"/>, or (type 3,
    /// code 1, reporter our own address) ARP never found the next hop. Returns true when it matched a request.
    /// </summary>
    bool OnEchoError(Wire.Ipv4Address reporter, ushort identifier, ushort sequence, byte type, byte code, TimeSpan time) => false;
}
