using System.Buffers.Binary;
using UserNet.Core;
using UserNet.Ip;
using UserNet.Wire;

namespace UserNet.Icmp;

/// <summary>Told about ICMP echo replies addressed to us, so that a ping client can match them.</summary>
public interface IEchoReplyListener
{
    /// <summary>Returns true when the reply matched an outstanding request.</summary>
    bool OnEchoReply(Ipv4Address from, ushort identifier, ushort sequence, byte ttl, ReadOnlySpan<byte> data, TimeSpan time);

    /// <summary>
    /// An echo request of ours failed: an ICMP error about it arrived from <paramref name="reporter"/>, or (type 3,
    /// code 1, reporter our own address) ARP never found the next hop. Returns true when it matched a request.
    /// </summary>
    bool OnEchoError(Ipv4Address reporter, ushort identifier, ushort sequence, byte type, byte code, TimeSpan time) => false;
}

/// <summary>
/// ICMPv4 (RFC 792, RFC 1122 section 3.2.2) as a protocol above IP: answers echo requests, hands echo replies (and
/// errors about our echo requests) to the ping client, and passes every other error to IP, which gives it to the
/// protocol of the quoted datagram. The errors we send are IP's job (<see cref="Ipv4Layer.SendIcmpError"/>).
/// </summary>
internal sealed class IcmpLayer : ITransportProtocol
{
    private readonly StackContext _ctx;
    private readonly Ipv4Layer _ip;

    public IcmpLayer(StackContext context, Ipv4Layer ip)
    {
        _ctx = context;
        _ip = ip;
    }

    /// <summary>Receives echo replies (the ping client).</summary>
    public IEchoReplyListener? EchoListener { get; set; }

    public TransportDisposition Receive(Ipv4Header ip, bool toBroadcast)
    {
        var payload = ip.Payload;
        if (!IcmpMessage.TryParse(payload, out var icmp)) { _ctx.Drop(DropReason.IcmpTruncated); return TransportDisposition.Handled; }
        if (!icmp.IsChecksumValid) { _ctx.Drop(DropReason.IcmpBadChecksum); return TransportDisposition.Handled; }
        switch (icmp.Type)
        {
            case IcmpType.EchoRequest:
                // RFC 1122 3.2.2.6: an echo request to a broadcast address MAY be silently discarded; Linux does so too.
                if (toBroadcast) { _ctx.Drop(DropReason.IcmpEchoToBroadcast); break; }
                _ctx.Counters.Received(Layer.Icmp);
                _ctx.Decide(Decision.IcmpEchoRequestReply);
                SendEchoReply(ip.Source, icmp);
                break;
            case IcmpType.EchoReply:
                if (EchoListener?.OnEchoReply(ip.Source, icmp.Identifier, icmp.SequenceNumber, ip.TimeToLive, icmp.Data, _ctx.Now) == true)
                {
                    _ctx.Counters.Received(Layer.Icmp);
                    _ctx.Decide(Decision.IcmpEchoReplyToPing);
                }
                else _ctx.Drop(DropReason.IcmpUnmatchedReply);
                break;
            case IcmpType.DestinationUnreachable:
            case IcmpType.TimeExceeded:
                switch (_ip.DeliverIcmpError(ip.Source, icmp.Type, icmp.Code, icmp.Data))
                {
                    case IcmpErrorDelivery.Malformed: _ctx.Drop(DropReason.IcmpErrorMalformed); break;
                    case IcmpErrorDelivery.Unmatched: _ctx.Drop(DropReason.IcmpErrorUnmatched); break;
                    default:
                        _ctx.Counters.Received(Layer.Icmp);
                        _ctx.Decide(Decision.IcmpErrorDelivered);
                        break;
                }
                break;
            default:
                _ctx.Drop(DropReason.IcmpUnhandledType);
                break;
        }
        return TransportDisposition.Handled;
    }

    /// <summary>An error about an ICMP message of ours: only echo requests (the ping client's) are ours to match.</summary>
    public bool ReceiveError(IcmpErrorReport report)
    {
        var q = report.QuotedTransport;
        return q[0] == IcmpType.EchoRequest && EchoListener is { } l
            && l.OnEchoError(report.Reporter, BinaryPrimitives.ReadUInt16BigEndian(q[4..]), BinaryPrimitives.ReadUInt16BigEndian(q[6..]), report.Type, report.Code, _ctx.Now);
    }

    /// <summary>
    /// Echo reply (RFC 792): the same message with type 0. The data is returned entire (RFC 1122 3.2.2.6);
    /// the checksum is patched for the changed type word (RFC 1624) instead of summing the data again.
    /// </summary>
    private void SendEchoReply(Ipv4Address to, IcmpMessage request)
    {
        int length = request.Buffer.Length;
        var tx = _ip.TxPayload[..length];
        request.Buffer.CopyTo(tx);
        var reply = new IcmpMessage(tx);
        ushort oldWord = (ushort)(request.Type << 8 | request.Code);
        reply.Type = IcmpType.EchoReply;
        reply.Checksum = InternetChecksum.Update(request.Checksum, oldWord, (ushort)(IcmpType.EchoReply << 8 | request.Code));
        _ctx.Counters.Sent(Layer.Icmp);
        _ip.Send(to, IpProtocol.Icmp, length, Layer.Icmp, Decision.IcmpEchoReplySent);
    }

    public bool SendEchoRequest(Ipv4Address to, ushort identifier, ushort sequence, ReadOnlySpan<byte> data)
    {
        int length = IcmpMessage.HeaderLength + data.Length;
        if (Ipv4Header.MinimumLength + length > 65535) { _ctx.DropOutgoing(DropReason.Ipv4TooBig); return false; }
        var tx = _ip.TxPayload[..length];
        var m = IcmpMessage.WriteEcho(tx, IcmpType.EchoRequest, identifier, sequence);
        data.CopyTo(m.Data);
        m.UpdateChecksum();
        _ctx.Counters.Sent(Layer.Icmp);
        return _ip.Send(to, IpProtocol.Icmp, length, Layer.Icmp, Decision.IcmpEchoRequestSent) is SendResult.Sent or SendResult.Queued;
    }
}
