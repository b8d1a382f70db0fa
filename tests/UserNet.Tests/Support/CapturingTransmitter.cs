using UserNet.Core;
using UserNet.Wire;

namespace UserNet.Tests.Support;

/// <summary>Keeps a copy of every frame the stack sends.</summary>
public sealed class CapturingTransmitter : IFrameTransmitter
{
    public List<byte[]> Frames { get; } = new();
    public void Transmit(ReadOnlySpan<byte> frame) => Frames.Add(frame.ToArray());
}

/// <summary>A bare protocol core and a peer that talks to it with frames, on a clock the test moves.</summary>
public sealed class StackFixture
{
    public static readonly MacAddress StackMac = MacAddress.Parse("02:00:00:00:00:02");
    public static readonly MacAddress PeerMac = MacAddress.Parse("02:00:00:00:00:01");
    public static readonly Ipv4Address StackIp = Ipv4Address.Parse("10.0.0.2");
    public static readonly Ipv4Address PeerIp = Ipv4Address.Parse("10.0.0.1");

    public StackFixture(Func<StackOptions, StackOptions>? configure = null)
    {
        var o = new StackOptions { Address = new Ipv4Subnet(StackIp, 24), Mac = StackMac, Seed = 1 };
        Options = configure?.Invoke(o) ?? o;
        Stack = new NetStack(Options, Wire);
        Stack.Start(Now);
        Wire.Frames.Clear();
    }

    public StackOptions Options { get; }
    public NetStack Stack { get; }
    public CapturingTransmitter Wire { get; } = new();
    public TimeSpan Now { get; set; } = TimeSpan.FromSeconds(1);

    public void Receive(byte[] frame) => Stack.Receive(frame, Now);

    /// <summary>Lets the stack learn the peer's MAC the normal way: an ARP request from the peer for us.</summary>
    public void LearnPeer()
    {
        var f = new byte[42];
        EthernetFrame.Write(f, MacAddress.Broadcast, PeerMac, EtherType.Arp);
        ArpPacket.Write(f.AsSpan(14), ArpOperation.Request, PeerMac, PeerIp, MacAddress.Zero, StackIp);
        Receive(f);
        Wire.Frames.Clear();
    }

    /// <summary>An IPv4 frame from the peer to the stack carrying <paramref name="payload"/>.</summary>
    public static byte[] IpFrame(byte protocol, ReadOnlySpan<byte> payload, Ipv4Address? dst = null, Ipv4Address? src = null, MacAddress? ethDst = null)
    {
        var f = new byte[34 + payload.Length];
        EthernetFrame.Write(f, ethDst ?? StackMac, PeerMac, EtherType.Ipv4);
        payload.CopyTo(f.AsSpan(34));
        Ipv4Header.Write(f.AsSpan(14), src ?? PeerIp, dst ?? StackIp, protocol, payload.Length, 99);
        return f;
    }

    /// <summary>A UDP datagram from the peer with a correct checksum.</summary>
    public static byte[] UdpFrame(ushort srcPort, ushort dstPort, ReadOnlySpan<byte> data, Ipv4Address? dst = null)
    {
        var u = new byte[8 + data.Length];
        data.CopyTo(u.AsSpan(8));
        UdpDatagram.Write(u, srcPort, dstPort, data.Length).UpdateChecksum(PeerIp, dst ?? StackIp);
        return IpFrame(IpProtocol.Udp, u, dst);
    }
}
