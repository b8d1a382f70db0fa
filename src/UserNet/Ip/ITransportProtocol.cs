using System.Net.Sockets;
using UserNet.Wire;

namespace UserNet.Ip;

/// <summary>What became of a datagram IP handed to a transport protocol.</summary>
internal enum TransportDisposition
{
    /// <summary>Taken: delivered, answered, or dropped and counted by the transport itself.</summary>
    Handled,
    /// <summary>No socket on that port: the transport counted the drop, and IP answers with ICMP port unreachable (RFC 1122 4.1.3.1).</summary>
    PortUnreachable,
}

/// <summary>
/// A protocol above IPv4, registered by its protocol number (ICMP 1, TCP 6, UDP 17). IP answers numbers nobody
/// registered with protocol unreachable, and passes each ICMP error to the protocol of the datagram it quotes.
/// </summary>
internal interface ITransportProtocol
{
    /// <summary>A datagram for us (its checksum, length and addresses checked; reassembled if it came in fragments).</summary>
    TransportDisposition Receive(Ipv4Header ip, bool broadcast);

    /// <summary>
    /// An ICMP error about a datagram of this protocol that we sent, or (reported by ourselves) the next hop never
    /// answered ARP. Returns true when it matched something of ours (RFC 1122 3.2.2: errors MUST reach the transport).
    /// </summary>
    bool ReceiveError(IcmpErrorReport report);
}

/// <summary>An ICMP error as a transport sees it: who reported it, why, and the quoted header of our datagram.</summary>
internal readonly ref struct IcmpErrorReport(Ipv4Address reporter, byte type, byte code, Ipv4Address quotedDestination, ReadOnlySpan<byte> quotedTransport)
{
    /// <summary>Who sent the error; our own address when ARP never found the next hop.</summary>
    public Ipv4Address Reporter { get; } = reporter;
    public byte Type { get; } = type;
    public byte Code { get; } = code;
    /// <summary>The destination of the datagram we sent.</summary>
    public Ipv4Address QuotedDestination { get; } = quotedDestination;
    /// <summary>At least the first 8 bytes of that datagram's transport header (RFC 792).</summary>
    public ReadOnlySpan<byte> QuotedTransport { get; } = quotedTransport;

    /// <summary>How Linux reports the error to a socket (icmp_err_convert), in .NET's words.</summary>
    public SocketError SocketError => (Type, Code) switch
    {
        (IcmpType.DestinationUnreachable, IcmpUnreachableCode.Port or IcmpUnreachableCode.Protocol) => SocketError.ConnectionRefused,
        (IcmpType.DestinationUnreachable, IcmpUnreachableCode.Network) => SocketError.NetworkUnreachable,
        (IcmpType.DestinationUnreachable, IcmpUnreachableCode.FragmentationNeeded) => SocketError.MessageSize,
        (IcmpType.DestinationUnreachable, _) => SocketError.HostUnreachable,
        _ => SocketError.HostUnreachable, // time exceeded: Linux reports EHOSTUNREACH too
    };
}
