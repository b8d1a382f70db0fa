using System.Buffers.Binary;
using UserNet.Core;
using UserNet.Ip;
using UserNet.Wire;

namespace UserNet.Icmp;

/// <summary>
/// ICMPv4 (RFC 792, RFC 1122 section 3.2.2): answers echo requests, hands echo replies to the ping client,
/// and sends rate-limited error messages about datagrams we could not deliver.
/// </summary>
internal sealed class IcmpLayer
{
    private readonly NetStack _stack;
    private readonly TokenBucket _errorBudget;

    public IcmpLayer(NetStack stack)
    {
        _stack = stack;
        _errorBudget = new TokenBucket(stack.Options.IcmpErrorsPerSecond, stack.Options.IcmpErrorBurst);
    }

    public void Receive(Ipv4Header ip, bool toBroadcast)
    {
        var payload = ip.Payload;
        if (!IcmpMessage.TryParse(payload, out var icmp)) { _stack.Drop(DropReason.IcmpTruncated); return; }
        if (!icmp.IsChecksumValid) { _stack.Drop(DropReason.IcmpBadChecksum); return; }
        switch (icmp.Type)
        {
            case IcmpType.EchoRequest:
                // RFC 1122 3.2.2.6: an echo request to a broadcast address MAY be silently discarded; Linux does so too.
                if (toBroadcast) { _stack.Drop(DropReason.IcmpEchoToBroadcast); return; }
                _stack.Counters.Received(Layer.Icmp);
                _stack.Decide(Layer.Icmp, "icmp echo request -> reply");
                SendEchoReply(ip.Source, icmp);
                break;
            case IcmpType.EchoReply:
                if (_stack.EchoListener?.OnEchoReply(ip.Source, icmp.Identifier, icmp.SequenceNumber, ip.TimeToLive, icmp.Data, _stack.Now) == true)
                {
                    _stack.Counters.Received(Layer.Icmp);
                    _stack.Decide(Layer.Icmp, "icmp echo reply -> ping");
                }
                else _stack.Drop(DropReason.IcmpUnmatchedReply);
                break;
            case IcmpType.DestinationUnreachable:
            case IcmpType.TimeExceeded:
                ReceiveError(icmp, ip.Source);
                break;
            default:
                _stack.Drop(DropReason.IcmpUnhandledType);
                break;
        }
    }

    /// <summary>
    /// An error about a datagram we sent: find the sender from the quoted header and ports (RFC 1122 3.2.2: the
    /// error MUST be passed to the transport layer) and hand it over.
    /// </summary>
    private void ReceiveError(IcmpMessage icmp, Ipv4Address reporter)
    {
        var quote = icmp.Data;
        if (quote.Length < Ipv4Header.MinimumLength) { _stack.Drop(DropReason.IcmpErrorMalformed); return; }
        var inner = new Ipv4Header(quote);
        int hl = inner.HeaderLength;
        if (inner.Version != 4 || hl < Ipv4Header.MinimumLength || quote.Length < hl + 8 || inner.Source != _stack.IpAddress)
        {
            _stack.Drop(DropReason.IcmpErrorMalformed);
            return;
        }
        bool delivered = inner.Protocol switch
        {
            IpProtocol.Icmp => quote[hl] == IcmpType.EchoRequest && _stack.EchoListener is { } l
                && l.OnEchoError(reporter, BinaryPrimitives.ReadUInt16BigEndian(quote[(hl + 4)..]), BinaryPrimitives.ReadUInt16BigEndian(quote[(hl + 6)..]), icmp.Type, icmp.Code, _stack.Now),
            IpProtocol.Udp => _stack.Udp.OnIcmpError(inner.Destination, new UdpDatagram(quote.Slice(hl, 8)), icmp.Type, icmp.Code),
            IpProtocol.Tcp => _stack.Tcp.OnIcmpError(inner.Destination, quote.Slice(hl, 8), Udp.UdpLayer.SocketErrorFor(icmp.Type, icmp.Code)),
            _ => false,
        };
        if (!delivered) { _stack.Drop(DropReason.IcmpErrorUnmatched); return; }
        _stack.Counters.Received(Layer.Icmp);
        _stack.Decide(Layer.Icmp, "icmp error -> delivered to socket");
    }

    /// <summary>
    /// Echo reply (RFC 792): the same message with type 0. The data is returned entire (RFC 1122 3.2.2.6);
    /// the checksum is patched for the changed type word (RFC 1624) instead of summing the data again.
    /// </summary>
    private void SendEchoReply(Ipv4Address to, IcmpMessage request)
    {
        int length = request.Buffer.Length;
        var tx = _stack.TxIpPayload[..length];
        request.Buffer.CopyTo(tx);
        var reply = new IcmpMessage(tx);
        ushort oldWord = (ushort)(request.Type << 8 | request.Code);
        reply.Type = IcmpType.EchoReply;
        reply.Checksum = InternetChecksum.Update(request.Checksum, oldWord, (ushort)(IcmpType.EchoReply << 8 | request.Code));
        _stack.Counters.Sent(Layer.Icmp);
        _stack.Ip.Send(to, IpProtocol.Icmp, length, Layer.Icmp, "icmp echo reply");
    }

    /// <summary>ARP gave up on the next hop of a datagram of ours: if it is an echo request, tell the ping client.</summary>
    public void NotifyLocalUnreachable(ReadOnlySpan<byte> datagram)
    {
        if (datagram.Length < Ipv4Header.MinimumLength + IcmpMessage.HeaderLength || datagram[9] != IpProtocol.Icmp) return;
        int hl = (datagram[0] & 0x0F) * 4;
        if (datagram.Length < hl + IcmpMessage.HeaderLength || datagram[hl] != IcmpType.EchoRequest) return;
        _stack.EchoListener?.OnEchoError(_stack.IpAddress, BinaryPrimitives.ReadUInt16BigEndian(datagram[(hl + 4)..]),
            BinaryPrimitives.ReadUInt16BigEndian(datagram[(hl + 6)..]), IcmpType.DestinationUnreachable, IcmpUnreachableCode.Host, _stack.Now);
    }

    public bool SendEchoRequest(Ipv4Address to, ushort identifier, ushort sequence, ReadOnlySpan<byte> data)
    {
        int length = IcmpMessage.HeaderLength + data.Length;
        if (Ipv4Header.MinimumLength + length > 65535) { _stack.DropOutgoing(DropReason.Ipv4TooBig); return false; }
        var tx = _stack.TxIpPayload[..length];
        var m = IcmpMessage.WriteEcho(tx, IcmpType.EchoRequest, identifier, sequence);
        data.CopyTo(m.Data);
        m.UpdateChecksum();
        _stack.Counters.Sent(Layer.Icmp);
        return _stack.Ip.Send(to, IpProtocol.Icmp, length, Layer.Icmp, "icmp echo request") is SendResult.Sent or SendResult.Queued;
    }

    /// <summary>
    /// An error about <paramref name="offending"/>, quoting its IP header and first 8 data bytes (RFC 792).
    /// Never about an ICMP error, a non-first fragment, or a non-unicast source or destination (RFC 1122 3.2.2).
    /// </summary>
    public void SendError(Ipv4Header offending, byte type, byte code, string what)
    {
        if (offending.FragmentOffset != 0) return;
        var src = offending.Source;
        if (src.IsMulticast || src.IsLimitedBroadcast || src.IsUnspecified) return;
        if (offending.Destination.IsMulticast || offending.Destination.IsLimitedBroadcast) return;
        if (offending.Protocol == IpProtocol.Icmp)
        {
            var p = offending.Buffer[offending.HeaderLength..];
            if (p.Length < 1 || IcmpType.IsError(p[0])) return;
        }
        if (!_errorBudget.TryTake(_stack.Now)) { _stack.DropOutgoing(DropReason.IcmpErrorRateLimited); return; }

        int quoted = Math.Min(offending.Buffer.Length, offending.HeaderLength + 8);
        int length = IcmpMessage.HeaderLength + quoted;
        var tx = _stack.TxIpPayload[..length];
        var m = new IcmpMessage(tx) { Type = type, Code = code, Checksum = 0, RestOfHeader = 0 };
        offending.Buffer[..quoted].CopyTo(m.Data);
        m.UpdateChecksum();
        _stack.Counters.Sent(Layer.Icmp);
        _stack.Ip.Send(src, IpProtocol.Icmp, length, Layer.Icmp, what);
    }
}
