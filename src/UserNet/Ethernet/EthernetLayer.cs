using UserNet.Core;
using UserNet.Wire;

namespace UserNet.Ethernet;

/// <summary>A network protocol carried in Ethernet frames, registered by its EtherType (ARP, IPv4; IPv6 would be one more).</summary>
internal interface IEtherTypeHandler
{
    /// <summary>One frame's payload, addressed to us or broadcast (<paramref name="linkBroadcast"/>).</summary>
    void Receive(Span<byte> payload, bool linkBroadcast);
}

/// <summary>
/// Ethernet II framing (IEEE 802.3 with EtherType): checks a received frame's length and destination, hands its payload
/// to the protocol registered for its EtherType, and writes the header of frames going out.
/// </summary>
internal sealed class EthernetLayer
{
    private readonly StackContext _ctx;
    private (ushort Type, IEtherTypeHandler Handler)[] _handlers = [];

    public EthernetLayer(StackContext context) => _ctx = context;

    public void Register(ushort etherType, IEtherTypeHandler handler) => _handlers = [.. _handlers, (etherType, handler)];

    public void Receive(Span<byte> frame)
    {
        if (!EthernetFrame.TryParse(frame, out var eth)) { _ctx.Drop(DropReason.EthernetTooShort); return; }
        // A super-segment from a link that coalesces (the kernel's GSO on a TAP) is larger than the MTU by design.
        int max = _ctx.RxOffload.IsSuperSegment ? EthernetFrame.HeaderLength + 65535 : EthernetFrame.HeaderLength + _ctx.Mtu;
        if (frame.Length > max) { _ctx.Drop(DropReason.EthernetTooLarge); return; }
        var dst = eth.Destination;
        if (dst != _ctx.Mac && !dst.IsBroadcast) { _ctx.Drop(DropReason.EthernetNotForUs); return; }
        _ctx.Counters.Received(Layer.Ethernet);
        var type = eth.EtherType;
        foreach (var (t, h) in _handlers)
        {
            if (t != type) continue;
            h.Receive(eth.Payload, dst.IsBroadcast);
            return;
        }
        _ctx.Drop(DropReason.EthernetUnknownType);
    }

    /// <summary>Writes the header of <paramref name="frame"/> (its first 14 bytes) and transmits it.</summary>
    public void Send(Span<byte> frame, MacAddress destination, ushort etherType, Layer layer, Decision what)
    {
        EthernetFrame.Write(frame, destination, _ctx.Mac, etherType);
        _ctx.Transmit(frame, layer, what);
    }

    /// <summary>Writes the header of a frame with offload work (a TCP super-segment) and hands it to the link.</summary>
    public void Send(Span<byte> frame, MacAddress destination, ushort etherType, Layer layer, Decision what, in FrameOffload offload)
    {
        EthernetFrame.Write(frame, destination, _ctx.Mac, etherType);
        _ctx.Transmit(frame, layer, what, offload);
    }
}
