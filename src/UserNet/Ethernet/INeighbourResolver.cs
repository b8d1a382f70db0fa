using UserNet.Core;
using UserNet.Wire;

namespace UserNet.Ethernet;

/// <summary>
/// Finds the link address of an IPv4 next hop (ARP implements it, RFC 826), holding datagrams while it asks.
/// IP depends on this, never on ARP itself.
/// </summary>
internal interface INeighbourResolver
{
    /// <summary>The next hop's MAC, if known and fresh. No side effects.</summary>
    bool TryResolve(Ipv4Address nextHop, out MacAddress mac);

    /// <summary>
    /// Keeps <paramref name="frame"/> (room for the Ethernet header, then the datagram) until <paramref name="nextHop"/>
    /// resolves, asking for it if nobody is asking yet; <paramref name="owner"/> then sends it, or hears that the next hop
    /// never answered. Returns false when the wait queue is full: the frame is dropped and counted.
    /// </summary>
    bool Hold(Ipv4Address nextHop, ReadOnlySpan<byte> frame, Layer layer, Decision what, INeighbourClient owner);
}

/// <summary>The network layer's side of a held datagram (IPv4 implements it).</summary>
internal interface INeighbourClient
{
    /// <summary>The next hop answered: send <paramref name="frame"/> to <paramref name="destination"/>.</summary>
    void SendResolved(Span<byte> frame, MacAddress destination, Layer layer, Decision what);

    /// <summary>The next hop never answered: the held <paramref name="datagram"/> (no Ethernet header) is dropped.</summary>
    void NeighbourUnreachable(ReadOnlySpan<byte> datagram);
}
