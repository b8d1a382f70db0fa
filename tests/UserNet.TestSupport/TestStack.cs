using UserNet.Core;
using UserNet.Stack;
using UserNet.Wire;

namespace UserNet.TestSupport;

/// <summary>
/// A bare <see cref="NetStack"/> on 10.0.0.2/24 with a capturing transmitter and a clock the test moves by hand.
/// The neighbours have fixed addresses so expected frames can be written out in full.
/// </summary>
public sealed class TestStack : IDisposable
{
    public static readonly MacAddress OurMac = MacAddress.Parse("02:00:00:00:00:02");
    public static readonly Ipv4Address OurIp = Ipv4Address.Parse("10.0.0.2");
    public static readonly MacAddress PeerMac = MacAddress.Parse("52:54:00:12:34:56");
    public static readonly Ipv4Address PeerIp = Ipv4Address.Parse("10.0.0.1");
    public static readonly MacAddress OtherMac = MacAddress.Parse("52:54:00:ab:cd:ef");
    public static readonly Ipv4Address OtherIp = Ipv4Address.Parse("10.0.0.3");
    public static readonly Ipv4Address DirectedBroadcast = Ipv4Address.Parse("10.0.0.255");

    /// <summary>Options for our stack; anything not given keeps the library's default.</summary>
    public static StackOptions Options(string address = "10.0.0.2/24", Ipv4Address? gateway = null, TimeSpan? arpEntryLifetime = null,
        TimeSpan? arpRequestInterval = null, int? arpRequestAttempts = null, int? arpQueueLength = null,
        int? arpCacheCapacity = null, TimeSpan? arpDefendInterval = null, int? icmpErrorsPerSecond = null, int? icmpErrorBurst = null,
        int? seed = null)
    {
        var d = new StackOptions { Address = Ipv4Subnet.Parse(address), Mac = OurMac };
        return new StackOptions
        {
            Address = d.Address,
            Mac = d.Mac,
            Gateway = gateway,
            Name = "under-test",
            Seed = seed,
            ArpEntryLifetime = arpEntryLifetime ?? d.ArpEntryLifetime,
            ArpRequestInterval = arpRequestInterval ?? d.ArpRequestInterval,
            ArpRequestAttempts = arpRequestAttempts ?? d.ArpRequestAttempts,
            ArpQueueLength = arpQueueLength ?? d.ArpQueueLength,
            ArpCacheCapacity = arpCacheCapacity ?? d.ArpCacheCapacity,
            ArpDefendInterval = arpDefendInterval ?? d.ArpDefendInterval,
            IcmpErrorsPerSecond = icmpErrorsPerSecond ?? d.IcmpErrorsPerSecond,
            IcmpErrorBurst = icmpErrorBurst ?? d.IcmpErrorBurst,
        };
    }

    private readonly CapturingTransmitter _wire = new();

    public TestStack(StackOptions? options = null)
    {
        Stack = new NetStack(options ?? Options(), _wire);
    }

    /// <summary>
    /// A stack already started (its announcement cleared), seeded (seed 1), at 1 s: <paramref name="configure"/> may
    /// change the options, starting from ours.
    /// </summary>
    public static TestStack Started(Func<StackOptions, StackOptions>? configure = null)
    {
        var o = new StackOptions { Address = new Ipv4Subnet(OurIp, 24), Mac = OurMac, Seed = 1 };
        var s = new TestStack(configure?.Invoke(o) ?? o) { Now = TimeSpan.FromSeconds(1) };
        s.Start();
        s.ClearSent();
        return s;
    }

    public NetStack Stack { get; }
    public StackOptions StackOptions => Stack.Options;
    public StackCounters Counters => Stack.Counters;
    /// <summary>Every frame the stack sent, oldest first.</summary>
    public List<byte[]> Sent => _wire.Frames;
    /// <summary>The controlled clock: only the test moves it.</summary>
    public TimeSpan Now { get; set; } = TimeSpan.FromSeconds(100);

    public void Start() => Stack.Start(Now);
    public void Advance(TimeSpan by) => Now += by;
    public void Poll() => Stack.Poll(Now);
    public void ClearSent() => _wire.Clear();

    /// <summary>Hands the stack a copy of <paramref name="frame"/>, so the test can reuse it.</summary>
    public void Receive(byte[] frame) => Stack.Receive(frame.ToArray(), Now);

    /// <summary>Sends an echo request through the stack, as the ping client does.</summary>
    public bool Ping(Ipv4Address to, ushort sequence = 1, ushort identifier = 0x0d2f, int dataLength = 56) =>
        Stack.SendEchoRequest(to, identifier, sequence, Frames.PingData(dataLength), Now);

    /// <summary>The peer asks for our address, as Linux does before its first ping; we learn it and answer. Clears what we sent.</summary>
    public void LearnPeer()
    {
        Receive(Frames.ArpRequest(PeerMac, PeerIp, OurIp));
        ClearSent();
    }

    /// <summary>An echo request from the peer to us, as Linux ping sends it.</summary>
    public static byte[] EchoFromPeer(ushort sequence = 1, ushort identifier = 0x0d2f, int dataLength = 56) =>
        Frames.EchoRequest(OurMac, PeerMac, PeerIp, OurIp, identifier, sequence, Frames.PingData(dataLength));

    /// <summary>An IPv4 frame from the peer to the stack carrying <paramref name="payload"/>.</summary>
    public static byte[] IpFrame(byte protocol, ReadOnlySpan<byte> payload, Ipv4Address? dst = null, Ipv4Address? src = null, MacAddress? ethDst = null)
    {
        var f = new byte[34 + payload.Length];
        EthernetFrame.Write(f, ethDst ?? OurMac, PeerMac, EtherType.Ipv4);
        payload.CopyTo(f.AsSpan(34));
        Ipv4Header.Write(f.AsSpan(14), src ?? PeerIp, dst ?? OurIp, protocol, payload.Length, 99);
        return f;
    }

    /// <summary>A UDP datagram from the peer with a correct checksum.</summary>
    public static byte[] UdpFrame(ushort srcPort, ushort dstPort, ReadOnlySpan<byte> data, Ipv4Address? dst = null)
    {
        var u = new byte[8 + data.Length];
        data.CopyTo(u.AsSpan(8));
        UdpDatagram.Write(u, srcPort, dstPort, data.Length).UpdateChecksum(PeerIp, dst ?? OurIp);
        return IpFrame(IpProtocol.Udp, u, dst);
    }

    public void Dispose() => Stack.Dispose();
}
