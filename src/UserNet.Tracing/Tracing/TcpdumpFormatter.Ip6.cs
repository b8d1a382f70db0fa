using System.Buffers.Binary;
using System.Text;
using UserNet.Wire;

namespace UserNet.Tracing;

/// <summary>
/// The two ends of an IP datagram, for the transport printers: IPv4 or IPv6 addresses, and whether tcpdump names the
/// addresses before the ports (it does not for a transport header behind IPv6 extension headers).
/// </summary>
internal readonly record struct IpEnds(UInt128 Src, UInt128 Dst, bool V6, bool WithAddresses = true)
{
    public static IpEnds Of(Ipv4Address src, Ipv4Address dst) => new(src.Value, dst.Value, false);

    public static IpEnds Of6(ReadOnlySpan<byte> src, ReadOnlySpan<byte> dst, bool withAddresses) =>
        new(BinaryPrimitives.ReadUInt128BigEndian(src), BinaryPrimitives.ReadUInt128BigEndian(dst), true, withAddresses);

    public string SrcText => Text(Src);
    public string DstText => Text(Dst);

    private string Text(UInt128 a)
    {
        if (!V6) return new Ipv4Address((uint)a).ToString();
        Span<byte> b = stackalloc byte[16];
        BinaryPrimitives.WriteUInt128BigEndian(b, a);
        return TcpdumpFormatter.Ip6Text(b);
    }

    /// <summary>The Internet checksum of <paramref name="segment"/> behind the pseudo-header (RFC 9293 3.1; RFC 8200 8.1).</summary>
    public ushort Checksum(byte protocol, ReadOnlySpan<byte> segment)
    {
        int header = V6 ? 40 : 12;
        var buf = new byte[header + segment.Length];
        if (V6)
        {
            BinaryPrimitives.WriteUInt128BigEndian(buf, Src);
            BinaryPrimitives.WriteUInt128BigEndian(buf.AsSpan(16), Dst);
            BinaryPrimitives.WriteUInt32BigEndian(buf.AsSpan(32), (uint)segment.Length);
            buf[39] = protocol;
        }
        else
        {
            BinaryPrimitives.WriteUInt32BigEndian(buf, (uint)Src);
            BinaryPrimitives.WriteUInt32BigEndian(buf.AsSpan(4), (uint)Dst);
            buf[9] = protocol;
            BinaryPrimitives.WriteUInt16BigEndian(buf.AsSpan(10), (ushort)segment.Length);
        }
        segment.CopyTo(buf.AsSpan(header));
        return InternetChecksum.Compute(buf);
    }

    /// <summary>The checksum field value that would make the segment sum correctly (tcpdump's in_cksum_shouldbe).</summary>
    public ushort ShouldBe(byte protocol, ReadOnlySpan<byte> segment, int checksumOffset)
    {
        var copy = segment.ToArray();
        copy[checksumOffset] = 0; copy[checksumOffset + 1] = 0;
        return Checksum(protocol, copy);
    }
}

public sealed partial class TcpdumpFormatter
{
    /// <summary>
    /// tcpdump's printers stop at the first field beyond the captured bytes and print <c>[|protocol]</c> (a longjmp in
    /// C). The new printers do the same with this exception, caught in <see cref="Format(long, ReadOnlySpan{byte}, int, int, StringBuilder)"/>.
    /// </summary>
    /// <param name="longJump">A field read beyond the capture (tcpdump's GET macros), rather than a printer's own
    /// <c>goto trunc</c>: only then does tcpdump's hex dump start at the link header.</param>
    private sealed class Truncated(bool longJump) : Exception
    {
        public bool LongJump { get; } = longJump;
    }

    /// <summary>The protocol whose printer is running, for <c>[|protocol]</c> (tcpdump's ndo_protocol).</summary>
    private string _protocol = "";
    /// <summary>A new exception each time (formatters on several threads must not share one); only a truncated packet pays for it.</summary>
    private static Truncated TruncatedInstance => new(true);
    private static Truncated GiveUp => new(false);

    private static void Need(ReadOnlySpan<byte> b, int end) { if (end > b.Length || end < 0) throw TruncatedInstance; }
    private static byte G8(ReadOnlySpan<byte> b, int at) { Need(b, at + 1); return b[at]; }
    private static ushort G16(ReadOnlySpan<byte> b, int at) { Need(b, at + 2); return BinaryPrimitives.ReadUInt16BigEndian(b[at..]); }
    private static uint G32(ReadOnlySpan<byte> b, int at) { Need(b, at + 4); return BinaryPrimitives.ReadUInt32BigEndian(b[at..]); }
    private static string GIp6(ReadOnlySpan<byte> b, int at) { Need(b, at + 16); return Ip6Text(b.Slice(at, 16)); }

    /// <summary>An IPv6 address as tcpdump writes it (RFC 5952: the longest run of zero groups as "::").</summary>
    internal static string Ip6Text(ReadOnlySpan<byte> a) => new System.Net.IPAddress(a).ToString();

    // ---------------------------------------------------------------- IPv6 (RFC 8200)

    /// <param name="p">The captured bytes from the IPv6 header on.</param>
    /// <param name="length">The bytes the link layer says the packet had.</param>
    /// <param name="sb">Where the text goes.</param>
    private void Ipv6(ReadOnlySpan<byte> p, int length, StringBuilder sb)
    {
        _protocol = "ip6";
        if (p.Length < 40) { sb.Append(" [|ip6]"); return; }
        if (length < 40) { sb.Append("truncated-ip6 ").Append(length); return; }
        if (!_o.LinkHeader) sb.Append("IP6 ");
        int version = p[0] >> 4;
        if (version != 6) { sb.Append("version error: ").Append(version).Append(" != 6"); return; }
        int payloadLength = U16(p, 4);
        int len;
        if (payloadLength != 0)
        {
            len = payloadLength + 40;
            if (length < len) sb.Append("truncated-ip6 - ").Append(len - length).Append(" bytes missing!");
        }
        // A jumbogram (RFC 2675) or nonsense: tcpdump takes the link's length (a file may claim up to 4 GiB of it).
        else len = length > int.MaxValue - 40 ? int.MaxValue : length + 40;
        int nh = p[6];
        if (_o.Verbose > 0)
        {
            uint flow = U32(p, 0);
            sb.Append('(');
            if ((flow & 0x0ff00000) != 0) sb.Append("class 0x").Append(((flow & 0x0ff00000) >> 20).ToString("x2")).Append(", ");
            if ((flow & 0x000fffff) != 0) sb.Append("flowlabel 0x").Append((flow & 0x000fffff).ToString("x5")).Append(", ");
            sb.Append("hlim ").Append(p[7]).Append(", next-header ").Append(IpProtocolName((byte)nh)).Append(" (").Append(nh)
              .Append(") payload length: ").Append(payloadLength).Append(") ");
        }
        // Like tcpdump, nothing past the end of the IPv6 payload is read.
        if (len < p.Length) p = p[..len];
        int at = 0, advance = 40;
        bool fragmented = false;
        while (true)
        {
            if (len < advance) throw GiveUp;
            at += advance;
            len -= advance;
            if (at == 40 && nh is not (IpProtocol.Tcp or IpProtocol.Udp or 33 or 132))
                sb.Append(Ip6Text(p.Slice(8, 16))).Append(" > ").Append(Ip6Text(p.Slice(24, 16))).Append(": ");
            var h = p[at..];
            switch (nh)
            {
                case 0: // hop-by-hop options (RFC 8200 4.3)
                    _protocol = "hbhopt";
                    advance = OptionsHeader(h, "HBH ", sb);
                    if (advance < 0) return;
                    nh = h[0];
                    break;
                case 60: // destination options (RFC 8200 4.6)
                    _protocol = "dstopt";
                    advance = OptionsHeader(h, "DSTOPT ", sb);
                    if (advance < 0) return;
                    nh = h[0];
                    break;
                case 44: // fragment (RFC 8200 4.5)
                {
                    _protocol = "frag6";
                    ushort offlg = G16(h, 2);
                    uint ident = _o.Verbose > 0 ? G32(h, 4) : 0;
                    int rest = 40 + payloadLength - at - 8;
                    sb.Append("frag (");
                    if (_o.Verbose > 0) sb.Append("0x").Append(ident.ToString("x8")).Append(':');
                    sb.Append(offlg & 0xfff8).Append('|').Append(rest).Append(')');
                    if ((offlg & 0xfff8) != 0) return; // a later fragment: its transport header is elsewhere
                    sb.Append(' ');
                    if (p.Length <= at + 8) return;
                    advance = 8;
                    nh = h[0];
                    fragmented = true;
                    break;
                }
                case 59:
                    sb.Append("no next header");
                    return;
                default:
                {
                    var ends = IpEnds.Of6(p.Slice(8, 16), p.Slice(24, 16), withAddresses: p[6] == nh);
                    switch (nh)
                    {
                        case IpProtocol.Tcp: Tcp(ends, h, len, fragmented, sb); break;
                        case IpProtocol.Udp: Udp(ends, h, len, fragmented, sb); break;
                        case 58: Icmp6(p, h, len, fragmented, sb); break;
                        default: sb.Append(" ip-proto-").Append(nh).Append(' ').Append(len); break;
                    }
                    return;
                }
            }
            _protocol = "ip6";
        }
    }

    /// <summary>A hop-by-hop or destination options header: its name, and with -v each option (RFC 8200 4.2). Returns its length, or -1 after <c>[|...]</c>.</summary>
    private int OptionsHeader(ReadOnlySpan<byte> h, string name, StringBuilder sb)
    {
        int hlen = (G8(h, 1) + 1) << 3;
        if (h.Length < hlen) { sb.Append(" [|").Append(_protocol).Append(']'); return -1; }
        sb.Append(name);
        if (_o.Verbose > 0 && !Ip6Options(h[2..hlen], sb)) { sb.Append(" [|").Append(_protocol).Append(']'); return -1; }
        return hlen;
    }

    private static bool Ip6Options(ReadOnlySpan<byte> o, StringBuilder sb)
    {
        for (int i = 0, optlen; i < o.Length; i += optlen)
        {
            if (o[i] == 0) optlen = 1;
            else if (i + 1 < o.Length) optlen = o[i + 1] + 2;
            else return false;
            if (i + optlen > o.Length) return false;
            switch (o[i])
            {
                case 0: sb.Append("(pad1)"); break;
                case 1: sb.Append("(padn)"); break;
                case 5: // router alert (RFC 2711)
                    if (o[i + 1] != 2) { sb.Append("(rtalert: invalid len ").Append(o[i + 1]).Append(')'); return false; }
                    sb.Append("(rtalert: 0x").Append(U16(o, i + 2).ToString("x4")).Append(") ");
                    break;
                case 0xc2: // jumbo payload (RFC 2675)
                    if (o[i + 1] != 4) { sb.Append("(jumbo: invalid len ").Append(o[i + 1]).Append(')'); return false; }
                    sb.Append("(jumbo: ").Append(U32(o, i + 2)).Append(") ");
                    break;
                default: sb.Append("(opt_type 0x").Append(o[i].ToString("x2")).Append(": len=").Append(o[i + 1]).Append(')'); break;
            }
        }
        sb.Append(' ');
        return true;
    }

    // ---------------------------------------------------------------- ICMPv6 (RFC 4443), ND (RFC 4861), MLD (RFC 2710, RFC 3810)

    /// <summary>An ICMPv6 message <paramref name="m"/> (captured bytes) of <paramref name="length"/> bytes inside the IPv6 packet <paramref name="ip"/>.</summary>
    private void Icmp6(ReadOnlySpan<byte> ip, ReadOnlySpan<byte> m, int length, bool fragmented, StringBuilder sb)
    {
        _protocol = "icmp6";
        if (length == 0) { sb.Append("ICMP6, length 0 (invalid)"); return; }
        if (_o.Verbose > 0 && !fragmented && m.Length >= length)
        {
            var ends = IpEnds.Of6(ip.Slice(8, 16), ip.Slice(24, 16), true);
            var msg = m[..length];
            if (ends.Checksum(58, msg) != 0)
                sb.Append("[bad icmp6 cksum 0x").Append(G16(m, 2).ToString("x4")).Append(" -> 0x").Append(ends.ShouldBe(58, msg, 2).ToString("x4")).Append("!] ");
            else sb.Append("[icmp6 sum ok] ");
        }
        byte type = G8(m, 0);
        byte code = m.Length > 1 ? m[1] : (byte)0;
        sb.Append("ICMP6, ").Append(Icmp6TypeName(type) ?? $"unknown icmp6 type ({type})");
        if (_o.Verbose > 0 && type is 133 or 134 or 135 or 136 or 137 or 145 or 147) sb.Append(", length ").Append(length);
        code = G8(m, 1);
        const int inner = 8; // the invoking packet of an error message
        switch (type)
        {
            case 1:
                sb.Append(", ").Append(code switch
                {
                    0 => "unreachable route", 1 => " unreachable prohibited", 2 => "beyond scope", 3 => "unreachable address", 4 => "unreachable port",
                    _ => $"unknown unreach code ({code})",
                });
                switch (code)
                {
                    case 0: case 1: case 3: { var a = GIp6(m, inner + 24); sb.Append(' ').Append(a); break; }
                    case 2: { string a = GIp6(m, inner + 24), b = GIp6(m, inner + 8); sb.Append(' ').Append(a).Append(", source address ").Append(b); break; }
                    case 4:
                    {
                        var (proto, at) = UpperLayer(m, inner);
                        if (at < 0) throw GiveUp;
                        ushort dport = G16(m, at + 2);
                        string dst = GIp6(m, inner + 24);
                        sb.Append(proto switch
                        {
                            IpProtocol.Tcp => $", {dst} tcp port {dport}",
                            IpProtocol.Udp => $", {dst} udp port {dport}",
                            _ => $", {dst} protocol {proto} port {dport} unreachable",
                        });
                        break;
                    }
                    default:
                        UnknownData(m[..Math.Min(m.Length, length)], "\n\t", sb);
                        return;
                }
                break;
            case 2: { var mtu = G32(m, 4); sb.Append(", mtu ").Append(mtu); break; }
            case 3:
                if (code == 0) { var a = GIp6(m, inner + 24); sb.Append(" for ").Append(a); }
                else if (code == 1) sb.Append(" (reassembly)");
                else sb.Append(", unknown code (").Append(code).Append(')');
                break;
            case 4:
                if (m.Length < inner + 40) throw GiveUp; // tcpdump's ND_TCHECK: a goto, not a longjmp
                sb.Append(code switch
                {
                    0 => ", erroneous - octet ", 1 => ", next header - octet ", 2 => ", option - octet ", 3 => ", incomplete header chain - octet ",
                    _ => null,
                } is { } words ? words + U32(m, 4) : $", code-#{code}");
                break;
            case 128: case 129: { ushort id = G16(m, 4), seq = G16(m, 6); sb.Append(", id ").Append(id).Append(", seq ").Append(seq); break; }
            case 130:
                if (length == 24) Mld1(m, sb);
                else if (length >= 28) { sb.Append(" v2"); Mld2Query(m, length, sb); }
                else sb.Append(" unknown-version (len ").Append(length).Append(") ");
                break;
            case 131: case 132: Mld1(m, sb); break;
            case 133: if (_o.Verbose > 0 && !NdOptions(m, 8, length - 8, sb)) throw GiveUp; break;
            case 134:
                if (_o.Verbose > 0)
                {
                    byte flags = G8(m, 5);
                    Need(m, 16);
                    sb.Append("\n\thop limit ").Append(G8(m, 4)).Append(", Flags [").Append(RaFlags(flags)).Append("], pref ").Append(RoutePreference(flags))
                      .Append(", router lifetime ").Append(G16(m, 6)).Append("s, reachable time ").Append(G32(m, 8))
                      .Append("ms, retrans timer ").Append(G32(m, 12)).Append("ms");
                    if (!NdOptions(m, 16, length - 16, sb)) throw GiveUp;
                }
                break;
            case 135:
                { var target = GIp6(m, 8); sb.Append(", who has ").Append(target); }
                if (_o.Verbose > 0 && !NdOptions(m, 24, length - 24, sb)) throw GiveUp;
                break;
            case 136:
                { var target = GIp6(m, 8); sb.Append(", tgt is ").Append(target); }
                if (_o.Verbose > 0)
                {
                    uint f = U32(m, 4);
                    var names = new List<string>(3);
                    if ((f & 0x80000000) != 0) names.Add("router");
                    if ((f & 0x40000000) != 0) names.Add("solicited");
                    if ((f & 0x20000000) != 0) names.Add("override");
                    sb.Append(", Flags [").Append(names.Count == 0 ? "none" : string.Join(", ", names)).Append(']');
                    if (!NdOptions(m, 24, length - 24, sb)) throw GiveUp;
                }
                break;
            case 137:
                { string dst = GIp6(m, 24), target = GIp6(m, 8); sb.Append(", ").Append(dst).Append(" to ").Append(target); }
                if (_o.Verbose > 0 && !NdOptions(m, 40, length - 40, sb)) throw GiveUp;
                break;
            case 143: Mld2Report(m, length, sb); break;
            default:
                sb.Append(", length ").Append(length);
                UnknownData(m[..Math.Min(m.Length, length)], "\n\t", sb);
                return;
        }
        if (_o.Verbose == 0) sb.Append(", length ").Append(length);
    }

    private static string? Icmp6TypeName(byte t) => t switch
    {
        1 => "destination unreachable", 2 => "packet too big", 3 => "time exceeded in-transit", 4 => "parameter problem",
        128 => "echo request", 129 => "echo reply", 130 => "multicast listener query", 131 => "multicast listener report",
        132 => "multicast listener done", 133 => "router solicitation", 134 => "router advertisement",
        135 => "neighbor solicitation", 136 => "neighbor advertisement", 137 => "redirect", 143 => "multicast listener report v2",
        200 => "mtrace response", 201 => "mtrace message",
        _ => null,
    };

    /// <summary>The transport protocol and offset behind an ICMPv6 error's invoking packet (at <paramref name="at"/>), skipping extension headers; offset -1 if it is not there.</summary>
    private static (int Protocol, int At) UpperLayer(ReadOnlySpan<byte> m, int at)
    {
        if (m.Length < at + 40) return (0, -1);
        int nh = m[at + 6];
        at += 40;
        for (int hops = 0; hops < 16; hops++)
        {
            switch (nh)
            {
                case 0: case 43: case 60:
                    if (m.Length < at + 2) return (nh, -1);
                    nh = m[at]; at += (m[at + 1] + 1) << 3;
                    break;
                case 44:
                    if (m.Length < at + 4) return (nh, -1);
                    if ((U16(m, at + 2) & 0xfff8) != 0) return (nh, -1);
                    nh = m[at]; at += 8;
                    break;
                case 51:
                    if (m.Length < at + 2) return (nh, -1);
                    nh = m[at]; at += (m[at + 1] + 2) << 2;
                    break;
                default:
                    return m.Length >= at + 4 ? (nh, at) : (nh, -1);
            }
        }
        return (nh, -1);
    }

    private void Mld1(ReadOnlySpan<byte> m, StringBuilder sb)
    {
        if (m.Length < 24) return;
        sb.Append("max resp delay: ").Append(U16(m, 4)).Append(" addr: ").Append(Ip6Text(m.Slice(8, 16)));
    }

    private void Mld2Query(ReadOnlySpan<byte> m, int len, StringBuilder sb)
    {
        if (len < 28) { sb.Append(" [invalid len ").Append(len).Append(']'); return; }
        int mrc = G16(m, 4);
        int mrt = mrc < 32768 ? mrc : ((mrc & 0x0fff) | 0x1000) << (((mrc & 0x7000) >> 12) + 3);
        if (_o.Verbose > 0) sb.Append(" [max resp delay=").Append(mrt).Append(']');
        var group = GIp6(m, 8);
        sb.Append(" [gaddr ").Append(group);
        if (_o.Verbose > 0)
        {
            byte s = G8(m, 24), q = G8(m, 25);
            if ((s & 0x08) != 0) sb.Append(" sflag");
            if ((s & 0x07) != 0) sb.Append(" robustness=").Append(s & 0x07);
            int qqi = q < 128 ? q : ((q & 0x0f) | 0x10) << (((q & 0x70) >> 4) + 3);
            sb.Append(" qqi=").Append(qqi);
        }
        int nsrcs = G16(m, 26);
        if (nsrcs > 0)
        {
            if (len < 28 + nsrcs * 16) sb.Append(" [invalid number of sources]");
            else sb.Append(", ").Append(nsrcs).Append(" source(s)");
        }
        sb.Append(']');
    }

    /// <summary>An MLDv2 report (RFC 3810 5.2): the number of group records, and with -v each record.</summary>
    private void Mld2Report(ReadOnlySpan<byte> m, int len, StringBuilder sb)
    {
        if (len < 8) { sb.Append(" [invalid len ").Append(len).Append(']'); return; }
        int groups = G16(m, 6);
        sb.Append(", ").Append(groups).Append(" group record(s)");
        if (_o.Verbose == 0) return;
        for (int i = 0, at = 8; i < groups; i++)
        {
            if (len < at + 20) { sb.Append(" [invalid number of groups]"); return; }
            var group = GIp6(m, at + 4);
            sb.Append(" [gaddr ").Append(group);
            byte rtype = G8(m, at);
            sb.Append(' ').Append(rtype switch
            {
                1 => "is_in", 2 => "is_ex", 3 => "to_in", 4 => "to_ex", 5 => "allow", 6 => "block",
                _ => $" [v2-report-#{rtype}]",
            });
            int nsrcs = G16(m, at + 2);
            if (len < at + 20 + nsrcs * 16) { sb.Append(" [invalid number of sources ").Append(nsrcs).Append(']'); return; }
            sb.Append(", ").Append(nsrcs).Append(" source(s)");
            at += 20 + nsrcs * 16;
            sb.Append(']');
        }
    }

    private static string RaFlags(byte f)
    {
        var names = new List<string>(4);
        if ((f & 0x80) != 0) names.Add("managed");
        if ((f & 0x40) != 0) names.Add("other stateful");
        if ((f & 0x20) != 0) names.Add("Home Agent");
        if ((f & 0x04) != 0) names.Add("proxy");
        return names.Count == 0 ? "none" : string.Join(", ", names);
    }

    private static string RoutePreference(byte flags) => ((flags & 0x18) >> 3) switch { 0 => "medium", 1 => "high", 2 => "rsv", _ => "low" };

    private static string Lifetime(uint v) => v == uint.MaxValue ? "infinity" : v + "s";

    /// <summary>Neighbour discovery options (RFC 4861 4.6, RFC 8106), one line each as tcpdump -v prints them. False when truncated.</summary>
    private static bool NdOptions(ReadOnlySpan<byte> m, int at, int resid, StringBuilder sb)
    {
        int start = at;
        while (at < m.Length)
        {
            if (m.Length < at + 2) return false;
            if (resid <= 0) return true;
            byte type = m[at];
            int olen = m[at + 1];
            if (olen == 0 || at + (olen << 3) > m.Length) return false;
            var o = m.Slice(at, olen << 3);
            sb.Append("\n\t  ").Append(type switch
            {
                1 => "source link-address", 2 => "destination link-address", 3 => "prefix info", 4 => "redirected header", 5 => "mtu",
                7 => "advertisement interval", 8 => "homeagent information", 24 => "route info", 25 => "rdnss", 31 => "dnssl",
                _ => "unknown",
            }).Append(" option (").Append(type).Append("), length ").Append(olen << 3).Append(" (").Append(olen).Append("): ");
            switch (type)
            {
                case 1: case 2: sb.Append(LinkAddress(o[2..])); break;
                case 3:
                    if (o.Length < 32) return false;
                    sb.Append(Ip6Text(o.Slice(16, 16))).Append('/').Append(o[2]).Append(olen != 4 ? "badlen" : "")
                      .Append(", Flags [").Append(PrefixFlags(o[3])).Append("], valid time ").Append(Lifetime(U32(o, 4)))
                      .Append(", pref. time ").Append(Lifetime(U32(o, 8)));
                    break;
                case 4: UnknownData(m[start..], "\n\t    ", sb, olen << 3); break;
                case 5: sb.Append(' ').Append(U32(o, 4)).Append(olen != 1 ? "bad option length" : ""); break;
                case 7: sb.Append(' ').Append(U32(o, 4)).Append("ms"); break;
                case 8: sb.Append(" preference ").Append(U16(o, 4)).Append(", lifetime ").Append(U16(o, 6)); break;
                case 25:
                    sb.Append(" lifetime ").Append(U32(o, 4)).Append("s,");
                    for (int i = 0; i < (olen - 1) / 2; i++) sb.Append(" addr: ").Append(Ip6Text(o.Slice(8 + 16 * i, 16)));
                    break;
                default:
                    UnknownData(o[2..], "\n\t  ", sb);
                    return true;
            }
            at += olen << 3;
            resid -= olen << 3;
        }
        return true;
    }

    private static string PrefixFlags(byte f)
    {
        var names = new List<string>(3);
        if ((f & 0x80) != 0) names.Add("onlink");
        if ((f & 0x40) != 0) names.Add("auto");
        if ((f & 0x20) != 0) names.Add("router");
        return names.Count == 0 ? "none" : string.Join(", ", names);
    }

    /// <summary>tcpdump's print_unknown_data: a hex dump (no ASCII) whose lines start with <paramref name="prefix"/>.</summary>
    private static void UnknownData(ReadOnlySpan<byte> bytes, string prefix, StringBuilder sb, int count = -1)
    {
        if (count >= 0) bytes = bytes[..Math.Min(count, bytes.Length)];
        for (int line = 0; line < bytes.Length; line += 16)
        {
            var chunk = bytes.Slice(line, Math.Min(16, bytes.Length - line));
            sb.Append(prefix).Append("0x").Append(line.ToString("x4")).Append(": ");
            for (int i = 0; i < chunk.Length; i++)
            {
                if (i % 2 == 0) sb.Append(' ');
                sb.Append(chunk[i].ToString("x2"));
            }
        }
    }
}
