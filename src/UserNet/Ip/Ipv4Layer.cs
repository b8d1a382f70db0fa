using System.Buffers.Binary;
using UserNet.Core;
using UserNet.Ethernet;
using UserNet.Wire;

namespace UserNet.Ip;

/// <summary>What became of a datagram handed to <see cref="Ipv4Layer.Send"/>.</summary>
internal enum SendResult { Sent, Queued, NoRoute, TooBig, NeedsFragmentation, QueueFull }

/// <summary>What became of an ICMP error handed to <see cref="Ipv4Layer.DeliverIcmpError"/>.</summary>
internal enum IcmpErrorDelivery { Delivered, Malformed, Unmatched }

/// <summary>How IPv4 behaves; the stack fills it in from its options.</summary>
internal sealed record Ipv4Settings
{
    public Ipv4Address? Gateway { get; init; }
    public byte DefaultTtl { get; init; } = 64;
    public ReassemblyOptions Reassembly { get; init; } = new();
    public int IcmpErrorsPerSecond { get; init; } = 10;
    public int IcmpErrorBurst { get; init; } = 10;
    /// <summary>Where the first IP identification comes from (seeded for reproducible runs).</summary>
    public required Random Random { get; init; }
}

/// <summary>
/// IPv4 input checks (RFC 791, RFC 1122 section 3.2.1), reassembly, delivery to the transport registered for the
/// protocol number, ICMP errors for what cannot be delivered; and output: header, route, next-hop resolution through
/// <see cref="INeighbourResolver"/>, fragmentation (RFC 791 section 3.2).
/// </summary>
internal sealed class Ipv4Layer : IEtherTypeHandler, INeighbourClient, IDisposable
{
    private readonly StackContext _ctx;
    private readonly EthernetLayer _link;
    private readonly INeighbourResolver _neighbours;
    private readonly Ipv4Settings _settings;
    private readonly Ipv4Reassembler _reassembler;
    private readonly IcmpErrorSender _icmpErrors;
    private readonly ITransportProtocol?[] _transports = new ITransportProtocol?[256];
    /// <summary>One fragment being built: Ethernet header, IP header, a slice of the datagram.</summary>
    private readonly byte[] _fragmentTx;
    private readonly Ipv4Reassembler.TimeoutHandler _onReassemblyTimeout;
    private ushort _nextIdentification;
    private long _evictedSeen;

    public Ipv4Layer(StackContext context, EthernetLayer link, INeighbourResolver neighbours, Ipv4Settings settings)
    {
        _ctx = context;
        _link = link;
        _neighbours = neighbours;
        _settings = settings;
        _reassembler = new Ipv4Reassembler(settings.Reassembly);
        _icmpErrors = new IcmpErrorSender(context, new TokenBucket(settings.IcmpErrorsPerSecond, settings.IcmpErrorBurst));
        _fragmentTx = new byte[EthernetFrame.HeaderLength + context.Mtu];
        _onReassemblyTimeout = OnReassemblyTimeout;
        // Only needs to differ between datagrams in flight (RFC 6864).
        _nextIdentification = (ushort)settings.Random.Next();
    }

    internal Ipv4Reassembler Reassembler => _reassembler;

    public TimeSpan NextDeadline => _reassembler.NextDeadline;

    /// <summary>The transmit buffer's room for an IPv4 payload (after the Ethernet and a 20-byte IP header).</summary>
    public Span<byte> TxPayload => _ctx.TxBuffer.AsSpan(EthernetFrame.HeaderLength + Ipv4Header.MinimumLength);

    /// <summary>Registers the protocol above IP that takes datagrams of protocol number <paramref name="protocol"/>.</summary>
    public void Register(byte protocol, ITransportProtocol transport) => _transports[protocol] = transport;

    public void Receive(Span<byte> packet, bool linkBroadcast)
    {
        var err = Ipv4Header.TryParse(packet, out var ip);
        if (err != Ipv4ParseError.None)
        {
            _ctx.Drop(err switch
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
        var subnet = _ctx.Subnet;
        // RFC 1122 3.2.1.3: silently discard datagrams whose source is not a plausible unicast host.
        if (src.IsUnspecified || src.IsLoopback || src.IsMulticast || src.IsReserved || src == _ctx.Address || subnet.IsBroadcast(src))
        {
            _ctx.Drop(DropReason.Ipv4BadSource);
            return;
        }
        bool toBroadcast = subnet.IsBroadcast(dst);
        if (dst != _ctx.Address && !toBroadcast)
        {
            _ctx.Drop(DropReason.Ipv4NotForUs);
            return;
        }
        if (_ctx.RxOffload.IsSuperSegment && (ip.Protocol != IpProtocol.Tcp || ip.IsFragment))
        {
            _ctx.Drop(DropReason.Ipv4SuperSegmentNotTcp); // the link coalesces TCP only (we asked the kernel for TSO4 alone)
            return;
        }
        if (ip.IsFragment)
        {
            var result = _reassembler.Add(ip, _ctx.Now, out var whole, out var reason);
            CountEvictions();
            switch (result)
            {
                case Ipv4Reassembler.Result.Incomplete:
                    _ctx.Decide(Decision.IpFragmentHeld);
                    return;
                case Ipv4Reassembler.Result.Dropped:
                    _ctx.Drop(reason);
                    return;
            }
            _ctx.NoteReassembled(whole);
            ip = new Ipv4Header(whole);
        }
        _ctx.Counters.Received(Layer.Ipv4);
        bool broadcast = toBroadcast || linkBroadcast;
        if (_transports[ip.Protocol] is not { } transport)
        {
            // RFC 1122 3.2.2.1: a host SHOULD answer an unknown transport protocol with protocol unreachable.
            _ctx.Drop(DropReason.Ipv4UnknownProtocol);
            if (!broadcast) SendIcmpError(ip, IcmpType.DestinationUnreachable, IcmpUnreachableCode.Protocol, Decision.IcmpProtocolUnreachableSent);
            return;
        }
        // RFC 1122 4.1.3.1: SHOULD send port unreachable; never for broadcasts (3.2.2).
        if (transport.Receive(ip, broadcast) == TransportDisposition.PortUnreachable && !broadcast)
            SendIcmpError(ip, IcmpType.DestinationUnreachable, IcmpUnreachableCode.Port, Decision.IcmpPortUnreachableSent);
    }

    private void CountEvictions()
    {
        long n = _reassembler.Evicted;
        for (; _evictedSeen < n; _evictedSeen++) _ctx.DropOutgoing(DropReason.Ipv4ReassemblyEvicted);
    }

    public void Poll()
    {
        int expired = _reassembler.Expire(_ctx.Now, _onReassemblyTimeout);
        for (int i = 0; i < expired; i++) _ctx.DropOutgoing(DropReason.Ipv4ReassemblyTimeout);
    }

    /// <summary>RFC 1122 3.3.2: time exceeded (code 1) when reassembly times out, if the first fragment had arrived.</summary>
    private void OnReassemblyTimeout(Span<byte> firstFragmentQuote) =>
        SendIcmpError(new Ipv4Header(firstFragmentQuote), IcmpType.TimeExceeded, 1, Decision.IcmpReassemblyTimeExceededSent);

    /// <summary>An ICMP error about <paramref name="offending"/>, quoting its IP header and first 8 data bytes (RFC 792).</summary>
    public void SendIcmpError(Ipv4Header offending, byte type, byte code, Decision what)
    {
        int length = _icmpErrors.Build(offending, type, code, TxPayload);
        if (length > 0) Send(offending.Source, IpProtocol.Icmp, length, Layer.Icmp, what);
    }

    /// <summary>
    /// An ICMP error arrived (RFC 1122 3.2.2: it MUST be passed to the transport): hand it to the protocol of the quoted
    /// datagram, which must be one of ours.
    /// </summary>
    public IcmpErrorDelivery DeliverIcmpError(Ipv4Address reporter, byte type, byte code, ReadOnlySpan<byte> quote) =>
        Dispatch(reporter, type, code, quote, requireOurSource: true);

    private IcmpErrorDelivery Dispatch(Ipv4Address reporter, byte type, byte code, ReadOnlySpan<byte> quote, bool requireOurSource)
    {
        if (quote.Length < Ipv4Header.MinimumLength) return IcmpErrorDelivery.Malformed;
        int hl = (quote[0] & 0x0F) * 4;
        if (quote[0] >> 4 != 4 || hl < Ipv4Header.MinimumLength || quote.Length < hl + 8) return IcmpErrorDelivery.Malformed;
        if (requireOurSource && Ipv4Address.Read(quote[12..]) != _ctx.Address) return IcmpErrorDelivery.Malformed;
        if (_transports[quote[9]] is not { } transport) return IcmpErrorDelivery.Unmatched;
        return transport.ReceiveError(new IcmpErrorReport(reporter, type, code, Ipv4Address.Read(quote[16..]), quote[hl..]))
            ? IcmpErrorDelivery.Delivered : IcmpErrorDelivery.Unmatched;
    }

    /// <summary>
    /// Sends the <paramref name="payloadLength"/> bytes already written at <see cref="TxPayload"/>: writes the IP header
    /// in front, picks the next hop and its MAC (held behind resolution if needed), fragments if larger than the MTU.
    /// </summary>
    public SendResult Send(Ipv4Address destination, byte protocol, int payloadLength, Layer layer, Decision what, bool dontFragment = false)
    {
        int total = Ipv4Header.MinimumLength + payloadLength;
        if (total > 65535) { _ctx.DropOutgoing(DropReason.Ipv4TooBig); return SendResult.TooBig; }
        if (total > _ctx.Mtu && dontFragment) { _ctx.DropOutgoing(DropReason.Ipv4DontFragment); return SendResult.NeedsFragmentation; }
        var subnet = _ctx.Subnet;
        bool broadcast = subnet.IsBroadcast(destination);
        Ipv4Address nextHop;
        if (broadcast || subnet.Contains(destination)) nextHop = destination;
        else if (_settings.Gateway is { } gw) nextHop = gw;
        else
        {
            _ctx.DropOutgoing(DropReason.Ipv4NoRoute);
            return SendResult.NoRoute;
        }

        var frame = _ctx.TxBuffer.AsSpan(0, EthernetFrame.HeaderLength + total);
        Ipv4Header.Write(frame[EthernetFrame.HeaderLength..], _ctx.Address, destination, protocol, payloadLength,
            _nextIdentification++, _settings.DefaultTtl, dontFragment);
        _ctx.Counters.Sent(Layer.Ipv4);

        MacAddress dstMac;
        if (broadcast) dstMac = MacAddress.Broadcast;
        else if (!_neighbours.TryResolve(nextHop, out dstMac))
            return _neighbours.Hold(nextHop, frame, layer, what, this) ? SendResult.Queued : SendResult.QueueFull;
        SendResolved(frame, dstMac, layer, what);
        return SendResult.Sent;
    }

    /// <summary>
    /// The largest datagram to <paramref name="destination"/> that may go as one TCP super-segment for the link to
    /// cut (<see cref="StackContext.SegmentationLimit"/>), or 0: the link cuts none, or the next hop is not resolved yet
    /// (what waits for ARP goes out later as plain frames, fragmented if need be, so it must be complete).
    /// </summary>
    public int SegmentationLimit(Ipv4Address destination)
    {
        int limit = _ctx.SegmentationLimit;
        if (limit == 0) return 0;
        var subnet = _ctx.Subnet;
        if (subnet.IsBroadcast(destination)) return 0;
        Ipv4Address nextHop;
        if (subnet.Contains(destination)) nextHop = destination;
        else if (_settings.Gateway is { } gw) nextHop = gw;
        else return 0;
        return _neighbours.TryResolve(nextHop, out _) ? limit : 0;
    }

    /// <summary>
    /// Sends the TCP super-segment of <paramref name="payloadLength"/> bytes already written at <see cref="TxPayload"/>
    /// (its checksum partial) as one frame with its offload for the link, which cuts it into pieces of
    /// <paramref name="segmentSize"/> data bytes. Only after <see cref="SegmentationLimit"/> said it may.
    /// </summary>
    public SendResult SendSuperSegment(Ipv4Address destination, int payloadLength, int tcpHeaderLength, int segmentSize, Decision what)
    {
        int total = Ipv4Header.MinimumLength + payloadLength;
        var subnet = _ctx.Subnet;
        var nextHop = subnet.Contains(destination) ? destination : _settings.Gateway ?? destination;
        // Neither is reached: the caller asked SegmentationLimit first, and sized the super-segment within it.
        if (total > _ctx.SegmentationLimit) { _ctx.DropOutgoing(DropReason.Ipv4TooBig); return SendResult.TooBig; }
        if (!_neighbours.TryResolve(nextHop, out var dstMac)) { _ctx.DropOutgoing(DropReason.Ipv4NoRoute); return SendResult.NoRoute; }
        var frame = _ctx.TxBuffer.AsSpan(0, EthernetFrame.HeaderLength + total);
        Ipv4Header.Write(frame[EthernetFrame.HeaderLength..], _ctx.Address, destination, IpProtocol.Tcp, payloadLength,
            _nextIdentification, _settings.DefaultTtl, dontFragment: false);
        // The link gives each piece the next identification (Linux's GSO does), so the next datagram starts after them.
        _nextIdentification += (ushort)((payloadLength - tcpHeaderLength + segmentSize - 1) / segmentSize);
        _ctx.Counters.Sent(Layer.Ipv4);
        int transport = EthernetFrame.HeaderLength + Ipv4Header.MinimumLength;
        _link.Send(frame, dstMac, EtherType.Ipv4, Layer.Tcp, what, FrameOffload.TcpSuperSegment(transport, transport + tcpHeaderLength, segmentSize));
        return SendResult.Sent;
    }

    /// <summary>Whether a route exists to <paramref name="destination"/> (on-link, or through the gateway).</summary>
    public bool HasRoute(Ipv4Address destination) => _ctx.Subnet.Contains(destination) || _settings.Gateway is not null;

    /// <summary>
    /// Puts a datagram on the wire. <paramref name="frame"/> is Ethernet header room followed by the datagram; if the
    /// datagram is larger than the MTU it goes as fragments (RFC 791 section 3.2, "fragmentation procedure").
    /// </summary>
    public void SendResolved(Span<byte> frame, MacAddress destination, Layer layer, Decision what)
    {
        if (frame.Length - EthernetFrame.HeaderLength <= _ctx.Mtu)
        {
            _link.Send(frame, destination, EtherType.Ipv4, layer, what);
            return;
        }
        var ip = new Ipv4Header(frame[EthernetFrame.HeaderLength..]);
        int hl = ip.HeaderLength;
        var data = ip.Payload;
        int maxData = (_ctx.Mtu - hl) & ~7; // every fragment but the last carries a multiple of 8 bytes
        var tx = _fragmentTx.AsSpan();
        frame[EthernetFrame.HeaderLength..(EthernetFrame.HeaderLength + hl)].CopyTo(tx[EthernetFrame.HeaderLength..]); // our datagrams carry no options to filter out
        for (int offset = 0; offset < data.Length; offset += maxData)
        {
            int piece = Math.Min(maxData, data.Length - offset);
            bool more = offset + piece < data.Length;
            var f = new Ipv4Header(tx[EthernetFrame.HeaderLength..]) { TotalLength = (ushort)(hl + piece) };
            f.FlagsAndFragmentOffset = (ushort)((more ? Ipv4Header.MoreFragmentsFlag : 0) | (offset >> 3));
            f.UpdateChecksum();
            data.Slice(offset, piece).CopyTo(tx[(EthernetFrame.HeaderLength + hl)..]);
            _link.Send(tx[..(EthernetFrame.HeaderLength + hl + piece)], destination, EtherType.Ipv4, layer, offset == 0 ? what : Decision.IpFragmentSent);
        }
    }

    /// <summary>
    /// ARP gave up on the next hop of a datagram of ours (RFC 1122 2.3.2.2): as a host's own stack does, the sender hears
    /// "host unreachable", reported by ourselves, as if an ICMP error had come back.
    /// </summary>
    public void NeighbourUnreachable(ReadOnlySpan<byte> datagram) =>
        Dispatch(_ctx.Address, IcmpType.DestinationUnreachable, IcmpUnreachableCode.Host, datagram, requireOurSource: false);

    public void Dispose() => _reassembler.Clear();
}
