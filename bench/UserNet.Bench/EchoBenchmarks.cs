using BenchmarkDotNet.Attributes;
using UserNet.Core;
using UserNet.Stack;
using UserNet.Wire;

namespace UserNet.Bench;

/// <summary>
/// One ICMP echo request in, one echo reply out, through <see cref="NetStack.Receive"/>: Ethernet, IPv4 and ICMP
/// checks, the reply copy, the checksum patch, the ARP lookup and the transmit call. No device and no clock.
/// </summary>
[MemoryDiagnoser]
public class EchoBenchmarks
{
    private static readonly MacAddress StackMac = MacAddress.Parse("02:00:00:00:00:02");
    private static readonly MacAddress PeerMac = MacAddress.Parse("02:00:00:00:00:01");
    private static readonly Ipv4Address StackIp = Ipv4Address.Parse("10.0.0.2");
    private static readonly Ipv4Address PeerIp = Ipv4Address.Parse("10.0.0.1");
    // A fixed clock: the ARP entry learned in setup (valid 60 s) never expires during the run.
    private static readonly TimeSpan Now = TimeSpan.FromSeconds(1);

    private readonly CountingTransmitter _tx = new();
    private NetStack _stack = null!;
    private byte[] _request = [];

    /// <summary>ICMP data bytes: 56 is ping's default, 1472 fills a 1500-byte MTU.</summary>
    [Params(56, 1472)]
    public int Payload { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _stack = new NetStack(new StackOptions { Address = new Ipv4Subnet(StackIp, 24), Mac = StackMac }, _tx);

        // Teach the stack the peer's MAC the way a real peer would: it asks for our address first.
        var arp = new byte[EthernetFrame.HeaderLength + ArpPacket.Length];
        EthernetFrame.Write(arp, MacAddress.Broadcast, PeerMac, EtherType.Arp);
        ArpPacket.Write(arp.AsSpan(EthernetFrame.HeaderLength), ArpOperation.Request, PeerMac, PeerIp, MacAddress.Zero, StackIp);
        _stack.Receive(arp, Now);
        if (_tx.Count != 1) throw new InvalidOperationException($"the ARP request produced {_tx.Count} frames, expected one reply");

        _request = BuildEchoRequest(Payload);

        // The request must take the whole path: exactly one frame out, and it is an ICMP message.
        long before = _tx.Count, icmpBefore = _stack.Counters.SentBy(Layer.Icmp);
        _stack.Receive(_request, Now);
        if (_tx.Count - before != 1 || _stack.Counters.SentBy(Layer.Icmp) - icmpBefore != 1)
            throw new InvalidOperationException($"one echo request produced {_tx.Count - before} frames ({_stack.Counters.SentBy(Layer.Icmp) - icmpBefore} ICMP), expected one echo reply");
    }

    [GlobalCleanup]
    public void Cleanup() => _stack.Dispose();

    // The stack copies the request into its own transmit buffer, so the same request can be fed again and again.
    [Benchmark]
    public void EchoRequestToReply() => _stack.Receive(_request, Now);

    private static byte[] BuildEchoRequest(int payload)
    {
        int icmpLength = IcmpMessage.HeaderLength + payload;
        var frame = new byte[EthernetFrame.HeaderLength + Ipv4Header.MinimumLength + icmpLength];
        EthernetFrame.Write(frame, StackMac, PeerMac, EtherType.Ipv4);
        var icmpBytes = frame.AsSpan(EthernetFrame.HeaderLength + Ipv4Header.MinimumLength);
        var icmp = IcmpMessage.WriteEcho(icmpBytes, IcmpType.EchoRequest, identifier: 0x1234, sequence: 1);
        for (int i = 0; i < payload; i++) icmp.Data[i] = (byte)i; // ping's pattern: a counting sequence
        icmp.UpdateChecksum();
        Ipv4Header.Write(frame.AsSpan(EthernetFrame.HeaderLength), PeerIp, StackIp, IpProtocol.Icmp, icmpLength, identification: 1);
        return frame;
    }

    private sealed class CountingTransmitter : IFrameTransmitter
    {
        public long Count;
        public void Transmit(ReadOnlySpan<byte> frame) => Count++;
    }
}
