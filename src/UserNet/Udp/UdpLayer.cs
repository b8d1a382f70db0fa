using System.Net.Sockets;
using UserNet.Core;
using UserNet.Ip;
using UserNet.Wire;

namespace UserNet.Udp;

/// <summary>
/// UDP (RFC 768, RFC 1122 section 4.1): checks, demultiplexing to bound endpoints, "port unreachable" for the rest
/// (which IP answers), and ICMP errors passed to the endpoint that sent the quoted datagram. Runs on the stack's loop.
/// </summary>
internal sealed class UdpLayer : ITransportProtocol, IDisposable
{
    private readonly StackContext _ctx;
    private readonly Ipv4Layer _ip;
    private readonly Dictionary<ushort, UdpEndpoint> _bound = new();
    private readonly EphemeralPorts _ephemeral;

    public UdpLayer(StackContext context, Ipv4Layer ip, Random random)
    {
        _ctx = context;
        _ip = ip;
        _ephemeral = new EphemeralPorts(random);
    }

    public TransportDisposition Receive(Ipv4Header ip, bool broadcast)
    {
        var payload = ip.Payload;
        if (payload.Length < UdpDatagram.HeaderLength) { _ctx.Drop(DropReason.UdpTruncated); return TransportDisposition.Handled; }
        var udp = new UdpDatagram(payload);
        int length = udp.Length;
        // RFC 768: the length counts header and data; less than the IP payload leaves trailing bytes we ignore.
        if (length < UdpDatagram.HeaderLength || length > payload.Length) { _ctx.Drop(DropReason.UdpBadLength); return TransportDisposition.Handled; }
        udp = new UdpDatagram(payload[..length]);
        if (!_ctx.ChecksumLeftPartial(EthernetFrame.HeaderLength + ip.HeaderLength, UdpDatagram.ChecksumFieldOffset)
            && !udp.IsChecksumValid(ip.Source, ip.Destination)) { _ctx.Drop(DropReason.UdpBadChecksum); return TransportDisposition.Handled; }

        if (!_bound.TryGetValue(udp.DestinationPort, out var endpoint) || !endpoint.Accepts(ip.Source, udp.SourcePort))
        {
            _ctx.Drop(DropReason.UdpNoSocket);
            return TransportDisposition.PortUnreachable;
        }
        _ctx.Counters.Received(Layer.Udp);
        switch (endpoint.Deliver(ip.Source, udp.SourcePort, udp.Data))
        {
            case DeliverResult.Delivered: _ctx.Decide(Decision.UdpDatagramToSocket); break;
            case DeliverResult.StackLimit: _ctx.Drop(DropReason.UdpQueueLimit); break;
            default: _ctx.Drop(DropReason.UdpReceiveQueueFull); break;
        }
        return TransportDisposition.Handled;
    }

    /// <summary>Sends one datagram from <paramref name="sourcePort"/>; the data is copied into the transmit buffer.</summary>
    public SendResult Send(ushort sourcePort, Ipv4Address destination, ushort destinationPort, ReadOnlySpan<byte> data, bool dontFragment = false)
    {
        if (data.Length > 65535 - Ipv4Header.MinimumLength - UdpDatagram.HeaderLength) return SendResult.TooBig;
        var tx = _ip.TxPayload;
        data.CopyTo(tx[UdpDatagram.HeaderLength..]);
        var udp = UdpDatagram.Write(tx, sourcePort, destinationPort, data.Length);
        udp.UpdateChecksum(_ctx.Address, destination);
        _ctx.Counters.Sent(Layer.Udp);
        return _ip.Send(destination, IpProtocol.Udp, udp.Buffer.Length, Layer.Udp, Decision.UdpDatagramSent, dontFragment);
    }

    /// <summary>Binds <paramref name="endpoint"/> to a port, or to a free ephemeral one when the port is 0.</summary>
    public ushort Bind(UdpEndpoint endpoint, int port)
    {
        if (port != 0)
        {
            if (!_bound.TryAdd((ushort)port, endpoint)) throw new SocketException((int)SocketError.AddressAlreadyInUse);
            return (ushort)port;
        }
        if (_ephemeral.TryTake((_bound, endpoint), static (s, p) => s._bound.TryAdd(p, s.endpoint), out var picked)) return picked;
        throw new SocketException((int)SocketError.AddressAlreadyInUse);
    }

    public void Unbind(ushort port, UdpEndpoint endpoint)
    {
        if (_bound.TryGetValue(port, out var e) && e == endpoint) _bound.Remove(port);
    }

    /// <summary>Passes an ICMP error about a datagram we sent to the endpoint that sent it. Returns false when none did.</summary>
    public bool ReceiveError(IcmpErrorReport report)
    {
        var quoted = report.QuotedTransport;
        ushort sourcePort = (ushort)(quoted[0] << 8 | quoted[1]);
        ushort destinationPort = (ushort)(quoted[2] << 8 | quoted[3]);
        if (!_bound.TryGetValue(sourcePort, out var endpoint)) return false;
        endpoint.DeliverError(report.QuotedDestination, destinationPort, report.SocketError);
        return true;
    }

    public void Dispose()
    {
        foreach (var e in _bound.Values.ToArray()) e.Close();
        _bound.Clear();
    }
}

/// <summary>What became of a datagram handed to a UDP endpoint.</summary>
internal enum DeliverResult { Delivered, QueueFull, StackLimit }

/// <summary>What the UDP layer delivers to: a socket's receive queue. Its methods run on the stack's loop.</summary>
internal abstract class UdpEndpoint
{
    /// <summary>False when this endpoint does not take datagrams from that peer (a connected socket).</summary>
    public abstract bool Accepts(Ipv4Address source, ushort sourcePort);
    /// <summary>Takes a datagram, or says why not: the socket's queue is full, or the stack's limit on queued bytes is reached.</summary>
    public abstract DeliverResult Deliver(Ipv4Address source, ushort sourcePort, ReadOnlySpan<byte> data);
    public abstract void DeliverError(Ipv4Address destination, ushort destinationPort, SocketError error);
    public abstract void Close();
}
