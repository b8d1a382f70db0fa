using System.Buffers.Binary;
using Microsoft.Extensions.Logging;
using UserNet.Core;
using UserNet.Sockets;
using UserNet.Stack;
using UserNet.Tcp;
using UserNet.Tracing;
using UserNet.Wire;

namespace UserNet.Fuzz;

/// <summary>
/// A bare <see cref="NetStack"/> on a clock the target moves, keeping every frame it sends, with the checks every stack
/// target makes after its input (<see cref="CheckInvariants"/>): no fault was hidden by the stack's own catch, the
/// counters add up, no connection holds more than its buffers, no timer is left due after a poll, and the stack still
/// answers a ping from its neighbour.
/// </summary>
internal sealed class FuzzedStack : IFrameTransmitter, IDisposable
{
    private readonly FaultLogger _log = new();
    private readonly byte[] _rx = new byte[EthernetFrame.HeaderLength + 65535];
    private long _framesIn;
    private long _framesOut;
    private ushort _pings;

    public FuzzedStack(StackOptions options, MacAddress peerMac, Ipv4Address peerIp, TimeSpan start)
    {
        // The stack logs what its per-frame catch swallowed; we keep it, so that a stack_fault says where it came from.
        Stack = new NetStack(new StackOptions
        {
            Address = options.Address, Mac = options.Mac, Seed = options.Seed, Name = "fuzz", Mtu = options.Mtu,
            ArpQueueLength = options.ArpQueueLength, ArpCacheCapacity = options.ArpCacheCapacity,
            Reassembly = options.Reassembly, Tcp = options.Tcp, TcpInitialSequenceNumbers = options.TcpInitialSequenceNumbers,
            UdpReceiveQueueLength = options.UdpReceiveQueueLength, Logger = _log,
            Observer = Trace is { } t ? new TextTracer(t, DateTime.UnixEpoch) : null,
        }, this);
        PeerMac = peerMac;
        PeerIp = peerIp;
        Now = start;
        Stack.Start(Now);
    }

    /// <summary>Where every stack made from now on traces its frames, tcpdump-style with its decisions; null for nowhere.</summary>
    public static TextWriter? Trace { get; set; }

    public NetStack Stack { get; }
    public MacAddress PeerMac { get; }
    public Ipv4Address PeerIp { get; }
    public TimeSpan Now { get; private set; }

    /// <summary>Every frame the stack sent, oldest first, until <see cref="ClearSent"/>.</summary>
    public List<byte[]> Sent { get; } = new();

    public void ClearSent() => Sent.Clear();

    void IFrameTransmitter.Transmit(ReadOnlySpan<byte> frame)
    {
        _framesOut++;
        Sent.Add(frame.ToArray());
    }

    /// <summary>Hands the stack a frame at the current time (a copy: the stack may change it in place).</summary>
    public void Receive(ReadOnlySpan<byte> frame, in FrameOffload offload = default)
    {
        var f = _rx.AsSpan(0, frame.Length);
        frame.CopyTo(f);
        _framesIn++;
        Stack.Receive(f, Now, offload);
        ThrowIfFaulted();
    }

    /// <summary>Moves the clock on by <paramref name="by"/> and runs the timers then due.</summary>
    public void Advance(TimeSpan by)
    {
        Now += by;
        Poll();
    }

    /// <summary>Moves the clock to the stack's next deadline, if it has one, and runs it.</summary>
    public void RunNextTimer()
    {
        var d = Stack.NextDeadline;
        if (d == TimeSpan.MaxValue) return;
        if (d > Now) Now = d;
        Poll();
    }

    /// <summary>Runs application code as one step of the loop (what it posts runs when it returns, as on a host).</summary>
    public void App(Action work)
    {
        Stack.RunApplicationWork(work, Now);
        ThrowIfFaulted();
    }

    private void Poll()
    {
        Stack.Poll(Now);
        // A timer still due after a poll would have a host's loop wake at once, again and again: it spins.
        if (Stack.NextDeadline <= Now)
            throw new FuzzFailure($"after a poll at {Now.TotalMilliseconds} ms the next deadline is {Stack.NextDeadline.TotalMilliseconds} ms: a timer stays due");
        ThrowIfFaulted();
    }

    private void ThrowIfFaulted()
    {
        if (Stack.Counters.DroppedFor(DropReason.StackFault) != 0)
            throw new FuzzFailure($"the stack caught an exception of its own on a frame (stack_fault): {_log.First}");
    }

    // =================================================================== the invariants

    /// <summary>Everything a stack target checks after its input; throws <see cref="FuzzFailure"/> at the first that fails.</summary>
    public void CheckInvariants()
    {
        ThrowIfFaulted();
        CheckCounters();
        CheckConnections();
        CheckPing();
        CheckCounters();
        Trace?.Write(Stack.Counters.Format());
    }

    /// <summary>
    /// Every frame handed in is counted once by Ethernet, as received or as one of its drops; every frame that went out
    /// is counted as sent; a layer never receives more than the layer beneath handed up.
    /// </summary>
    private void CheckCounters()
    {
        var c = Stack.Counters;
        long ethernetDrops = c.DroppedFor(DropReason.EthernetTooShort) + c.DroppedFor(DropReason.EthernetTooLarge) + c.DroppedFor(DropReason.EthernetNotForUs);
        if (c.ReceivedBy(Layer.Ethernet) + ethernetDrops != _framesIn)
            Fail($"{_framesIn} frames went in, but ethernet counts {c.ReceivedBy(Layer.Ethernet)} received and {ethernetDrops} dropped");
        if (c.SentBy(Layer.Ethernet) != _framesOut)
            Fail($"{_framesOut} frames came out, but ethernet counts {c.SentBy(Layer.Ethernet)} sent");
        if (c.ReceivedBy(Layer.Arp) + c.ReceivedBy(Layer.Ipv4) > c.ReceivedBy(Layer.Ethernet))
            Fail("arp and ipv4 received more than ethernet handed up");
        if (c.ReceivedBy(Layer.Icmp) + c.ReceivedBy(Layer.Udp) + c.ReceivedBy(Layer.Tcp) > c.ReceivedBy(Layer.Ipv4))
            Fail("icmp, udp and tcp received more than ipv4 handed up");
    }

    /// <summary>
    /// No connection holds more than its buffers: the receive buffer's bytes fit its capacity (and its memory the blocks
    /// that capacity needs), and what is in flight was all given by the application (plus our FIN).
    /// </summary>
    private void CheckConnections()
    {
        foreach (var tcb in Stack.Tcp.Connections)
        {
            var r = tcb.User.Receive;
            if (r.Free < 0 || r.Free > r.Capacity)
                Fail($"{Describe(tcb)}: the receive buffer has {r.Free} bytes free of {r.Capacity}");
            if (r is TcpReceivePipe pipe)
            {
                int most = (pipe.Capacity + BlockMemoryPool.BlockSize - 1) / BlockMemoryPool.BlockSize + 1;
                if (pipe.BlocksHeld > most) Fail($"{Describe(tcb)}: the receive buffer holds {pipe.BlocksHeld} blocks, more than the {most} its capacity needs");
            }
            if (tcb.SndNxt < tcb.SndUna) Fail($"{Describe(tcb)}: SND.NXT {tcb.SndNxt.Value} is before SND.UNA {tcb.SndUna.Value}");
            if (tcb.State is TcpState.Established or TcpState.CloseWait or TcpState.FinWait1 or TcpState.Closing or TcpState.LastAck)
            {
                long held = tcb.User.Send.Peek(out _);
                long flight = tcb.SndNxt - tcb.SndUna;
                if (flight > held + 1) Fail($"{Describe(tcb)}: {flight} sequence numbers are in flight, but the send buffer holds only {held} bytes");
            }
        }
    }

    /// <summary>
    /// The neighbour says where it is (an ARP reply: whatever the input did to our cache), then pings us: the echo reply
    /// must come out, to its address, with the same identifier, sequence number and data.
    /// </summary>
    private void CheckPing()
    {
        Span<byte> arp = stackalloc byte[EthernetFrame.HeaderLength + ArpPacket.Length];
        EthernetFrame.Write(arp, Stack.Mac, PeerMac, EtherType.Arp);
        ArpPacket.Write(arp[EthernetFrame.HeaderLength..], ArpOperation.Reply, PeerMac, PeerIp, Stack.Mac, Stack.Address.Address);
        Receive(arp);

        ushort id = 0xF022, seq = ++_pings;
        var frame = new byte[EthernetFrame.HeaderLength + Ipv4Header.MinimumLength + IcmpMessage.HeaderLength + 32];
        var icmp = frame.AsSpan(EthernetFrame.HeaderLength + Ipv4Header.MinimumLength);
        var m = IcmpMessage.WriteEcho(icmp, IcmpType.EchoRequest, id, seq);
        for (int i = 0; i < m.Data.Length; i++) m.Data[i] = (byte)(i + seq);
        m.UpdateChecksum();
        EthernetFrame.Write(frame, Stack.Mac, PeerMac, EtherType.Ipv4);
        Ipv4Header.Write(frame.AsSpan(EthernetFrame.HeaderLength), PeerIp, Stack.Address.Address, IpProtocol.Icmp, icmp.Length, 0x7777);
        int before = Sent.Count;
        Receive(frame);
        for (int i = before; i < Sent.Count; i++)
            if (IsEchoReply(Sent[i], id, seq, icmp[IcmpMessage.HeaderLength..])) return;
        Fail($"the stack did not answer a ping from {PeerIp} after this input ({Sent.Count - before} frames sent instead)");
    }

    private bool IsEchoReply(byte[] sent, ushort id, ushort seq, ReadOnlySpan<byte> data)
    {
        var f = sent.AsSpan();
        if (!EthernetFrame.TryParse(f, out var eth) || eth.EtherType != EtherType.Ipv4) return false;
        if (Ipv4Header.TryParse(eth.Payload, out var ip) != Ipv4ParseError.None || ip.Protocol != IpProtocol.Icmp) return false;
        if (ip.Source != Stack.Address.Address || ip.Destination != PeerIp || ip.IsFragment) return false;
        if (!IcmpMessage.TryParse(ip.Payload, out var reply) || !reply.IsChecksumValid) return false;
        return reply.Type == IcmpType.EchoReply && reply.Identifier == id && reply.SequenceNumber == seq && reply.Data.SequenceEqual(data);
    }

    private static string Describe(TcpControlBlock tcb) => $"connection {tcb.RemoteAddress}:{tcb.RemotePort} -> port {tcb.LocalPort} ({tcb.State})";

    private void Fail(string what) => throw new FuzzFailure($"{what}\n{Stack.Counters.Format()}");

    public void Dispose() => Stack.Dispose();

    /// <summary>Keeps the first exception the stack logged (its stack_fault), for the failure's message.</summary>
    private sealed class FaultLogger : ILogger
    {
        public Exception? First { get; private set; }
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (exception is not null) First ??= exception;
        }
    }
}

/// <summary>Fills in checksums the way a sender would, so that mutated frames get past the checks into the layers above.</summary>
internal static class FrameChecksums
{
    /// <summary>
    /// For an IPv4 frame: the header checksum, and for a datagram that is not a fragment the TCP, UDP or ICMP checksum
    /// over what its lengths say, as far as the frame's bytes reach. Anything else is left as it is.
    /// </summary>
    public static void Fix(Span<byte> frame)
    {
        if (frame.Length < EthernetFrame.HeaderLength + Ipv4Header.MinimumLength) return;
        if (BinaryPrimitives.ReadUInt16BigEndian(frame[12..]) != EtherType.Ipv4) return;
        var ip = frame[EthernetFrame.HeaderLength..];
        int headerLength = (ip[0] & 0x0F) * 4;
        if (ip[0] >> 4 != 4 || headerLength < Ipv4Header.MinimumLength || headerLength > ip.Length) return;
        var header = new Ipv4Header(ip);
        header.UpdateChecksum();
        int total = Math.Min(header.TotalLength, ip.Length);
        if (total < headerLength || header.IsFragment) return; // a fragment's transport checksum covers the whole datagram
        var payload = ip[headerLength..total];
        var source = header.Source;
        var destination = header.Destination;
        switch (header.Protocol)
        {
            case IpProtocol.Tcp when payload.Length >= 20:
                new TcpSegment(payload).UpdateChecksum(source, destination);
                break;
            case IpProtocol.Udp when payload.Length >= UdpDatagram.HeaderLength:
                int length = BinaryPrimitives.ReadUInt16BigEndian(payload[4..]);
                if (length < UdpDatagram.HeaderLength || length > payload.Length) length = payload.Length;
                new UdpDatagram(payload[..length]).UpdateChecksum(source, destination);
                break;
            case IpProtocol.Icmp when payload.Length >= IcmpMessage.HeaderLength:
                new IcmpMessage(payload).UpdateChecksum();
                break;
        }
    }
}
