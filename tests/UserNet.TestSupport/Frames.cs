using UserNet.Wire;

namespace UserNet.TestSupport;

/// <summary>
/// Builds the frames a neighbour would send us. Uses our own wire views, which the Wire tests check
/// against real packets and against PacketDotNet.
/// </summary>
public static class Frames
{
    public const int ArpFrameLength = EthernetFrame.HeaderLength + ArpPacket.Length;

    public static byte[] Arp(ArpOperation op, MacAddress ethDestination, MacAddress ethSource,
        MacAddress senderMac, Ipv4Address senderIp, MacAddress targetMac, Ipv4Address targetIp)
    {
        var frame = new byte[ArpFrameLength];
        EthernetFrame.Write(frame, ethDestination, ethSource, EtherType.Arp);
        ArpPacket.Write(frame.AsSpan(EthernetFrame.HeaderLength), op, senderMac, senderIp, targetMac, targetIp);
        return frame;
    }

    /// <summary>"Who has <paramref name="targetIp"/>? Tell <paramref name="senderIp"/>", broadcast.</summary>
    public static byte[] ArpRequest(MacAddress senderMac, Ipv4Address senderIp, Ipv4Address targetIp) =>
        Arp(ArpOperation.Request, MacAddress.Broadcast, senderMac, senderMac, senderIp, MacAddress.Zero, targetIp);

    /// <summary>"<paramref name="senderIp"/> is at <paramref name="senderMac"/>", unicast to the asker.</summary>
    public static byte[] ArpReply(MacAddress senderMac, Ipv4Address senderIp, MacAddress targetMac, Ipv4Address targetIp) =>
        Arp(ArpOperation.Reply, targetMac, senderMac, senderMac, senderIp, targetMac, targetIp);

    /// <summary>An IPv4 datagram with a 20-byte header and a correct header checksum, in an Ethernet frame.</summary>
    public static byte[] Ipv4(MacAddress ethDestination, MacAddress ethSource, Ipv4Address source, Ipv4Address destination,
        byte protocol, ReadOnlySpan<byte> payload, byte ttl = 64, ushort identification = 0x1234)
    {
        var frame = new byte[EthernetFrame.HeaderLength + Ipv4Header.MinimumLength + payload.Length];
        EthernetFrame.Write(frame, ethDestination, ethSource, EtherType.Ipv4);
        Ipv4Header.Write(frame.AsSpan(EthernetFrame.HeaderLength), source, destination, protocol, payload.Length, identification, ttl);
        payload.CopyTo(frame.AsSpan(EthernetFrame.HeaderLength + Ipv4Header.MinimumLength));
        return frame;
    }

    /// <summary>An ICMP echo request or reply message with a correct checksum.</summary>
    public static byte[] IcmpEcho(byte type, ushort identifier, ushort sequence, ReadOnlySpan<byte> data)
    {
        var message = new byte[IcmpMessage.HeaderLength + data.Length];
        var m = IcmpMessage.WriteEcho(message, type, identifier, sequence);
        data.CopyTo(m.Data);
        m.UpdateChecksum();
        return message;
    }

    /// <summary>56 data bytes as iputils ping sends them: a 16-byte timestamp, then 0x10, 0x11, ...</summary>
    public static byte[] PingData(int length = 56)
    {
        var data = new byte[length];
        for (int i = 0; i < length; i++) data[i] = (byte)i;
        if (length >= 16)
        {
            BitConverter.TryWriteBytes(data.AsSpan(0, 8), 1_718_000_000L); // tv_sec
            BitConverter.TryWriteBytes(data.AsSpan(8, 8), 123_456L);       // tv_usec
        }
        return data;
    }

    public static byte[] EchoRequest(MacAddress ethDestination, MacAddress ethSource, Ipv4Address source, Ipv4Address destination,
        ushort identifier, ushort sequence, ReadOnlySpan<byte> data) =>
        Ipv4(ethDestination, ethSource, source, destination, IpProtocol.Icmp, IcmpEcho(IcmpType.EchoRequest, identifier, sequence, data));
}
