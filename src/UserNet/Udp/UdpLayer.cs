using System.Net.Sockets;
using UserNet.Core;
using UserNet.Ip;
using UserNet.Wire;

namespace UserNet.Udp;

/// <summary>
/// UDP (RFC 768, RFC 1122 section 4.1): checks, demultiplexing to bound sockets, port unreachable for the rest,
/// and ICMP errors passed to the socket that sent the quoted datagram. Runs on the stack's loop.
/// </summary>
internal sealed class UdpLayer : IDisposable
{
    /// <summary>IANA's dynamic port range (RFC 6335 section 6).</summary>
    private const int EphemeralFirst = 49152, EphemeralLast = 65535;

    private readonly NetStack _stack;
    private readonly Dictionary<ushort, UdpEndpoint> _bound = new();
    private int _nextEphemeral;

    public UdpLayer(NetStack stack)
    {
        _stack = stack;
        var rng = stack.Options.Seed is { } seed ? new Random(seed + 17) : Random.Shared;
        _nextEphemeral = rng.Next(EphemeralFirst, EphemeralLast + 1);
    }

    public void Receive(Ipv4Header ip, bool broadcast)
    {
        var payload = ip.Payload;
        if (payload.Length < UdpDatagram.HeaderLength) { _stack.Drop(DropReason.UdpTruncated); return; }
        var udp = new UdpDatagram(payload);
        int length = udp.Length;
        // RFC 768: the length counts header and data; less than the IP payload leaves trailing bytes we ignore.
        if (length < UdpDatagram.HeaderLength || length > payload.Length) { _stack.Drop(DropReason.UdpBadLength); return; }
        udp = new UdpDatagram(payload[..length]);
        if (!udp.IsChecksumValid(ip.Source, ip.Destination)) { _stack.Drop(DropReason.UdpBadChecksum); return; }

        if (!_bound.TryGetValue(udp.DestinationPort, out var endpoint) || !endpoint.Accepts(ip.Source, udp.SourcePort))
        {
            _stack.Drop(DropReason.UdpNoSocket);
            // RFC 1122 4.1.3.1: SHOULD send port unreachable; never for broadcasts (3.2.2).
            if (!broadcast)
                _stack.Icmp.SendError(ip, IcmpType.DestinationUnreachable, IcmpUnreachableCode.Port, "icmp port unreachable");
            return;
        }
        _stack.Counters.Received(Layer.Udp);
        if (endpoint.Deliver(ip.Source, udp.SourcePort, udp.Data))
            _stack.Decide(Layer.Udp, endpoint.Decision);
        else
            _stack.Drop(DropReason.UdpReceiveQueueFull);
    }

    /// <summary>Sends one datagram from <paramref name="sourcePort"/>; the data is copied into the transmit buffer.</summary>
    public SendResult Send(ushort sourcePort, Ipv4Address destination, ushort destinationPort, ReadOnlySpan<byte> data, bool dontFragment = false)
    {
        if (data.Length > 65535 - Ipv4Header.MinimumLength - UdpDatagram.HeaderLength) return SendResult.TooBig;
        var tx = _stack.TxIpPayload;
        data.CopyTo(tx[UdpDatagram.HeaderLength..]);
        var udp = UdpDatagram.Write(tx, sourcePort, destinationPort, data.Length);
        udp.UpdateChecksum(_stack.IpAddress, destination);
        _stack.Counters.Sent(Layer.Udp);
        return _stack.Ip.Send(destination, IpProtocol.Udp, udp.Buffer.Length, Layer.Udp, "udp datagram", dontFragment);
    }

    /// <summary>Binds <paramref name="endpoint"/> to a port, or to a free ephemeral one when the port is 0.</summary>
    public ushort Bind(UdpEndpoint endpoint, int port)
    {
        if (port != 0)
        {
            if (!_bound.TryAdd((ushort)port, endpoint)) throw new SocketException((int)SocketError.AddressAlreadyInUse);
            return (ushort)port;
        }
        for (int tries = 0; tries <= EphemeralLast - EphemeralFirst; tries++)
        {
            var p = (ushort)_nextEphemeral;
            _nextEphemeral = _nextEphemeral == EphemeralLast ? EphemeralFirst : _nextEphemeral + 1;
            if (_bound.TryAdd(p, endpoint)) return p;
        }
        throw new SocketException((int)SocketError.AddressAlreadyInUse);
    }

    public void Unbind(ushort port, UdpEndpoint endpoint)
    {
        if (_bound.TryGetValue(port, out var e) && e == endpoint) _bound.Remove(port);
    }

    /// <summary>Passes an ICMP error about a datagram we sent to the socket that sent it. Returns false when none did.</summary>
    public bool OnIcmpError(Ipv4Address quotedDestination, UdpDatagram quoted, byte type, byte code)
    {
        if (!_bound.TryGetValue(quoted.SourcePort, out var endpoint)) return false;
        endpoint.DeliverError(quotedDestination, quoted.DestinationPort, SocketErrorFor(type, code));
        return true;
    }

    /// <summary>How Linux reports ICMP errors to sockets (icmp_err_convert), in .NET's words.</summary>
    public static SocketError SocketErrorFor(byte type, byte code) =>
        (type, code) switch
        {
            (IcmpType.DestinationUnreachable, IcmpUnreachableCode.Port or IcmpUnreachableCode.Protocol) => SocketError.ConnectionRefused,
            (IcmpType.DestinationUnreachable, IcmpUnreachableCode.Network) => SocketError.NetworkUnreachable,
            (IcmpType.DestinationUnreachable, IcmpUnreachableCode.FragmentationNeeded) => SocketError.MessageSize,
            (IcmpType.DestinationUnreachable, _) => SocketError.HostUnreachable,
            _ => SocketError.HostUnreachable, // time exceeded: Linux reports EHOSTUNREACH too
        };

    public void Dispose()
    {
        foreach (var e in _bound.Values.ToArray()) e.Close();
        _bound.Clear();
    }
}

/// <summary>What the UDP layer delivers to: a socket's receive queue (or a built-in service).</summary>
internal abstract class UdpEndpoint
{
    /// <summary>The trace text when a datagram is delivered (a constant).</summary>
    public abstract string Decision { get; }
    /// <summary>False when this endpoint does not take datagrams from that peer (a connected socket).</summary>
    public abstract bool Accepts(Ipv4Address source, ushort sourcePort);
    /// <summary>Takes a datagram; false when the receive queue is full.</summary>
    public abstract bool Deliver(Ipv4Address source, ushort sourcePort, ReadOnlySpan<byte> data);
    public abstract void DeliverError(Ipv4Address destination, ushort destinationPort, SocketError error);
    public abstract void Close();
}
