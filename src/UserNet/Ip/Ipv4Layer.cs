using UserNet.Core;
using UserNet.Wire;

namespace UserNet.Ip;

/// <summary>
/// IPv4 input checks (RFC 791, RFC 1122 section 3.2.1), dispatch by protocol, and output: header, route, ARP.
/// </summary>
internal sealed class Ipv4Layer
{
    private readonly NetStack _stack;
    private ushort _nextIdentification;

    public Ipv4Layer(NetStack stack)
    {
        _stack = stack;
        // Only needs to differ between datagrams in flight (RFC 6864); seeded for reproducible runs.
        _nextIdentification = (ushort)(stack.Options.Seed is { } seed ? new Random(seed).Next() : Random.Shared.Next());
    }

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
            || src == _stack.IpAddress || (subnet.Contains(src) && src == subnet.DirectedBroadcast && subnet.PrefixLength < 31))
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
            _stack.Drop(DropReason.Ipv4Fragment);
            return;
        }
        _stack.Counters.Received(Layer.Ipv4);
        switch (ip.Protocol)
        {
            case IpProtocol.Icmp:
                _stack.Icmp.Receive(ip, toBroadcast || linkBroadcast);
                break;
            default:
                // RFC 1122 3.2.2.1: a host SHOULD answer an unknown transport protocol with protocol unreachable.
                _stack.Drop(DropReason.Ipv4UnknownProtocol);
                if (!toBroadcast && !linkBroadcast)
                    _stack.Icmp.SendError(ip, IcmpType.DestinationUnreachable, IcmpUnreachableCode.Protocol, "icmp protocol unreachable");
                break;
        }
    }

    /// <summary>
    /// Sends the <paramref name="payloadLength"/> bytes already written at <see cref="NetStack.TxIpPayload"/>:
    /// writes the IP and Ethernet headers around them, picks the next hop and its MAC (queueing behind ARP if needed).
    /// </summary>
    public bool Send(Ipv4Address destination, byte protocol, int payloadLength, Layer layer, string what)
    {
        if (Ipv4Header.MinimumLength + payloadLength > _stack.Mtu)
        {
            _stack.DropOutgoing(DropReason.Ipv4TooBig); // fragmentation is a later piece of work
            return false;
        }
        var subnet = _stack.Address;
        bool broadcast = destination.IsLimitedBroadcast || destination == subnet.DirectedBroadcast;
        Ipv4Address nextHop;
        if (broadcast || subnet.Contains(destination)) nextHop = destination;
        else if (_stack.Options.Gateway is { } gw) nextHop = gw;
        else
        {
            _stack.DropOutgoing(DropReason.Ipv4NoRoute);
            return false;
        }

        var tx = _stack.TxBuffer;
        int frameLength = EthernetFrame.HeaderLength + Ipv4Header.MinimumLength + payloadLength;
        var frame = tx[..frameLength];
        Ipv4Header.Write(frame[EthernetFrame.HeaderLength..], _stack.IpAddress, destination, protocol, payloadLength,
            _nextIdentification++, _stack.Options.DefaultTtl);
        _stack.Counters.Sent(Layer.Ipv4);

        MacAddress dstMac;
        if (broadcast) dstMac = MacAddress.Broadcast;
        else if (!_stack.Arp.TryResolve(nextHop, out dstMac))
        {
            EthernetFrame.Write(frame, MacAddress.Zero, _stack.Mac, EtherType.Ipv4);
            return _stack.Arp.Enqueue(nextHop, frame);
        }
        EthernetFrame.Write(frame, dstMac, _stack.Mac, EtherType.Ipv4);
        _stack.Transmit(frame, layer, what);
        return true;
    }
}
