using UserNet.Core;
using UserNet.Wire;

namespace UserNet.Ip;

/// <summary>
/// ICMP error messages about datagrams we could not deliver (RFC 792, RFC 1122 3.2.2): port and protocol unreachable,
/// reassembly time exceeded. Limited by a token bucket (RFC 1812 4.3.2.8 allows it), and never about an ICMP error,
/// a non-first fragment, or a non-unicast source or destination. Sent by IP itself, so no transport needs ICMP.
/// </summary>
internal sealed class IcmpErrorSender(StackContext context, TokenBucket budget)
{
    /// <summary>Builds the error in <paramref name="tx"/> and returns its length, or 0 when none may be sent.</summary>
    public int Build(Ipv4Header offending, byte type, byte code, Span<byte> tx)
    {
        if (offending.FragmentOffset != 0) return 0;
        var src = offending.Source;
        if (src.IsMulticast || src.IsLimitedBroadcast || src.IsUnspecified) return 0;
        if (offending.Destination.IsMulticast || offending.Destination.IsLimitedBroadcast) return 0;
        if (offending.Protocol == IpProtocol.Icmp)
        {
            var p = offending.Buffer[offending.HeaderLength..];
            if (p.Length < 1 || IcmpType.IsError(p[0])) return 0;
        }
        if (!budget.TryTake(context.Now)) { context.DropOutgoing(DropReason.IcmpErrorRateLimited); return 0; }

        int quoted = Math.Min(offending.Buffer.Length, offending.HeaderLength + 8);
        int length = IcmpMessage.HeaderLength + quoted;
        var m = new IcmpMessage(tx[..length]) { Type = type, Code = code, Checksum = 0, RestOfHeader = 0 };
        offending.Buffer[..quoted].CopyTo(m.Data);
        m.UpdateChecksum();
        context.Counters.Sent(Layer.Icmp);
        return length;
    }
}
