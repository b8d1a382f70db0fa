using UserNet.Core;
using UserNet.Wire;

namespace UserNet.Ip;

/// <summary>What became of a datagram handed to <see cref="Ipv4Layer.Send"/>.</summary>
internal enum SendResult { Sent, Queued, NoRoute, TooBig, NeedsFragmentation, QueueFull }

/// <summary>
/// IPv4 input checks (RFC 791, RFC 1122 section 3.2.1), reassembly, dispatch by protocol; and output: header,
/// route, ARP, fragmentation (RFC 791 section 3.2).
/// </summary>
internal sealed class Ipv4Layer : IDisposable
{
    private readonly NetStack _stack;
    private readonly Ipv4Reassembler _reassembler;
    /// <summary>One fragment being built: Ethernet header, IP header, a slice of the datagram.</summary>
    private readonly byte[] _fragmentTx;
    private readonly Ipv4Reassembler.TimeoutHandler _onReassemblyTimeout;
    private ushort _nextIdentification;
    private long _evictedSeen;

    public Ipv4Layer(NetStack stack)
    {
        _stack = stack;
        _reassembler = new Ipv4Reassembler(stack.Options.Reassembly);
        _fragmentTx = new byte[EthernetFrame.HeaderLength + stack.Mtu];
        _onReassemblyTimeout = OnReassemblyTimeout;
        // Only needs to differ between datagrams in flight (RFC 6864); seeded for reproducible runs.
        _nextIdentification = (ushort)(stack.Options.Seed is { } seed ? new Random(seed).Next() : Random.Shared.Next());
    }

    internal Ipv4Reassembler Reassembler => _reassembler;

    public TimeSpan NextDeadline => _reassembler.NextDeadline;

    public void Receive(Span<byte> packet, bool linkBroadcast)
    {
        var err = Ipv4Header.TryParse(packet, out var ip);
        if (err != Ipv4ParseError.None)
        {
            _stack.Drop(err switch
            {
                Ipv4ParseError.Truncated => DropReason.Ipv4Truncated,
                Ipv4ParseError.BadVersion => DropReason.Ipv4BadVersion,
                Ipv4ParseError.BadHeaderLength => DropReason.Ipv4BadHeaderLength,
                Ipv4ParseError.BadTotalLength => DropReason.Ipv4BadTotalLength,
                _ => DropReason.Ipv4BadChecksum,
            });
            return;
        }
        var src = ip.Source;
        var dst = ip.Destination;
        var subnet = _stack.Address;
        // RFC 1122 3.2.1.3: silently discard datagrams whose source is not a plausible unicast host.
        if (src.IsUnspecified || src.IsLoopback || src.IsMulticast || src.IsLimitedBroadcast || src.IsReserved
            || src == _stack.IpAddress || (src == subnet.DirectedBroadcast && subnet.PrefixLength < 31))
        {
            _stack.Drop(DropReason.Ipv4BadSource);
            return;
        }
        bool toBroadcast = dst.IsLimitedBroadcast || (dst == subnet.DirectedBroadcast && subnet.PrefixLength < 31);
        if (dst != _stack.IpAddress && !toBroadcast)
        {
            _stack.Drop(DropReason.Ipv4NotForUs);
            return;
        }
        if (ip.IsFragment)
        {
            switch (_reassembler.Add(ip, _stack.Now, out var whole, out var reason))
            {
                case Ipv4Reassembler.Result.Incomplete:
                    CountEvictions();
                    _stack.Decide(Layer.Ipv4, "ip fragment -> held for reassembly");
                    return;
                case Ipv4Reassembler.Result.Dropped:
                    CountEvictions();
                    _stack.Drop(reason);
                    return;
            }
            CountEvictions();
            ip = new Ipv4Header(whole);
        }
        _stack.Counters.Received(Layer.Ipv4);
        bool broadcast = toBroadcast || linkBroadcast;
        switch (ip.Protocol)
        {
            case IpProtocol.Icmp:
                _stack.Icmp.Receive(ip, broadcast);
                break;
            case IpProtocol.Udp:
                _stack.Udp.Receive(ip, broadcast);
                break;
            case IpProtocol.Tcp:
                _stack.Tcp.Receive(ip, broadcast);
                break;
            default:
                // RFC 1122 3.2.2.1: a host SHOULD answer an unknown transport protocol with protocol unreachable.
                _stack.Drop(DropReason.Ipv4UnknownProtocol);
                if (!broadcast)
                    _stack.Icmp.SendError(ip, IcmpType.DestinationUnreachable, IcmpUnreachableCode.Protocol, "icmp protocol unreachable");
                break;
        }
    }

    private void CountEvictions()
    {
        long n = _reassembler.Evicted;
        for (; _evictedSeen < n; _evictedSeen++) _stack.DropOutgoing(DropReason.Ipv4ReassemblyEvicted);
    }

    public void Poll()
    {
        int expired = _reassembler.Expire(_stack.Now, _onReassemblyTimeout);
        for (int i = 0; i < expired; i++) _stack.DropOutgoing(DropReason.Ipv4ReassemblyTimeout);
    }

    /// <summary>RFC 1122 3.3.2: time exceeded (code 1) when reassembly times out, if the first fragment had arrived.</summary>
    private void OnReassemblyTimeout(Span<byte> firstFragmentQuote) =>
        _stack.Icmp.SendError(new Ipv4Header(firstFragmentQuote), IcmpType.TimeExceeded, 1, "icmp reassembly time exceeded");

    /// <summary>
    /// Sends the <paramref name="payloadLength"/> bytes already written at <see cref="NetStack.TxIpPayload"/>: writes the
    /// IP header in front, picks the next hop and its MAC (queueing behind ARP if needed), fragments if larger than the MTU.
    /// </summary>
    public SendResult Send(Ipv4Address destination, byte protocol, int payloadLength, Layer layer, string what, bool dontFragment = false)
    {
        int total = Ipv4Header.MinimumLength + payloadLength;
        if (total > 65535) { _stack.DropOutgoing(DropReason.Ipv4TooBig); return SendResult.TooBig; }
        if (total > _stack.Mtu && dontFragment) { _stack.DropOutgoing(DropReason.Ipv4DontFragment); return SendResult.NeedsFragmentation; }
        var subnet = _stack.Address;
        bool broadcast = destination.IsLimitedBroadcast || (destination == subnet.DirectedBroadcast && subnet.PrefixLength < 31); // RFC 3021
        Ipv4Address nextHop;
        if (broadcast || subnet.Contains(destination)) nextHop = destination;
        else if (_stack.Options.Gateway is { } gw) nextHop = gw;
        else
        {
            _stack.DropOutgoing(DropReason.Ipv4NoRoute);
            return SendResult.NoRoute;
        }

        var frame = _stack.TxBuffer[..(EthernetFrame.HeaderLength + total)];
        Ipv4Header.Write(frame[EthernetFrame.HeaderLength..], _stack.IpAddress, destination, protocol, payloadLength,
            _nextIdentification++, _stack.Options.DefaultTtl, dontFragment);
        _stack.Counters.Sent(Layer.Ipv4);

        MacAddress dstMac;
        if (broadcast) dstMac = MacAddress.Broadcast;
        else if (!_stack.Arp.TryResolve(nextHop, out dstMac))
            return _stack.Arp.Enqueue(nextHop, frame, layer, what) ? SendResult.Queued : SendResult.QueueFull;
        Emit(frame, dstMac, layer, what);
        return SendResult.Sent;
    }

    /// <summary>
    /// Puts a datagram on the wire. <paramref name="frame"/> is Ethernet header room followed by the datagram; if the
    /// datagram is larger than the MTU it goes as fragments (RFC 791 section 3.2, "fragmentation procedure").
    /// </summary>
    public void Emit(Span<byte> frame, MacAddress destination, Layer layer, string what)
    {
        EthernetFrame.Write(frame, destination, _stack.Mac, EtherType.Ipv4);
        if (frame.Length - EthernetFrame.HeaderLength <= _stack.Mtu)
        {
            _stack.Transmit(frame, layer, what);
            return;
        }
        var ip = new Ipv4Header(frame[EthernetFrame.HeaderLength..]);
        int hl = ip.HeaderLength;
        var data = ip.Payload;
        int maxData = (_stack.Mtu - hl) & ~7; // every fragment but the last carries a multiple of 8 bytes
        var tx = _fragmentTx.AsSpan();
        frame[..(EthernetFrame.HeaderLength + hl)].CopyTo(tx); // our datagrams carry no options to filter out
        for (int offset = 0; offset < data.Length; offset += maxData)
        {
            int piece = Math.Min(maxData, data.Length - offset);
            bool more = offset + piece < data.Length;
            var f = new Ipv4Header(tx[EthernetFrame.HeaderLength..]) { TotalLength = (ushort)(hl + piece) };
            f.FlagsAndFragmentOffset = (ushort)((more ? Ipv4Header.MoreFragmentsFlag : 0) | (offset >> 3));
            f.UpdateChecksum();
            data.Slice(offset, piece).CopyTo(tx[(EthernetFrame.HeaderLength + hl)..]);
            _stack.Transmit(tx[..(EthernetFrame.HeaderLength + hl + piece)], layer, offset == 0 ? what : "ip fragment");
        }
    }

    public void Dispose() => _reassembler.Clear();
}
