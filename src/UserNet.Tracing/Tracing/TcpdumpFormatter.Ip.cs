using System.Buffers.Binary;
using System.Text;
using UserNet.Wire;

namespace UserNet.Tracing;

public sealed partial class TcpdumpFormatter
{
    // ---------------------------------------------------------------- IPv4 (RFC 791)

    /// <param name="p">The captured bytes from the IP header on.</param>
    /// <param name="length">The bytes the link layer says the datagram had (captured or not).</param>
    /// <param name="sb">Where the text goes.</param>
    /// <param name="prefix">Print "IP " first (tcpdump leaves it out with -e, where the EtherType says it).</param>
    private void Ip(ReadOnlySpan<byte> p, int length, StringBuilder sb, bool prefix)
    {
        if (prefix) sb.Append("IP ");
        if (p.Length < 1) { sb.Append(" [|ip]"); return; }
        int version = p[0] >> 4;
        if (version != 4)
        {
            if (prefix) sb.Length -= 1; // "IP " becomes "IP" before the version
            else sb.Append("IP");
            sb.Append(version == 6 ? "6, wrong link-layer encapsulation" : version.ToString()).Append(" (invalid)");
            return;
        }
        if (p.Length < Ipv4Header.MinimumLength) { sb.Append(" [|ip]"); return; }
        int hlen = (p[0] & 0x0F) * 4;
        if (hlen < Ipv4Header.MinimumLength) { sb.Append("bad-hlen ").Append(hlen); return; }
        int total = BinaryPrimitives.ReadUInt16BigEndian(p[2..]);
        if (length < total) sb.Append("truncated-ip - ").Append(total - length).Append(" bytes missing! ");
        if (total < hlen) { sb.Append("bad-len ").Append(total); return; }
        ushort off = BinaryPrimitives.ReadUInt16BigEndian(p[6..]);
        byte proto = p[9];
        var src = new Ipv4Address(BinaryPrimitives.ReadUInt32BigEndian(p[12..]));
        var dst = new Ipv4Address(BinaryPrimitives.ReadUInt32BigEndian(p[16..]));
        if (_o.Verbose > 0)
        {
            byte tos = p[1];
            sb.Append("(tos 0x").Append(tos.ToString("x"));
            switch (tos & 3) { case 1: sb.Append(",ECT(1)"); break; case 2: sb.Append(",ECT(0)"); break; case 3: sb.Append(",CE"); break; }
            if (p[8] >= 1) sb.Append(", ttl ").Append(p[8]);
            sb.Append(", id ").Append(BinaryPrimitives.ReadUInt16BigEndian(p[4..]))
              .Append(", offset ").Append((off & 0x1FFF) * 8)
              .Append(", flags [").Append(FragmentFlags(off)).Append(']')
              .Append(", proto ").Append(IpProtocolName(proto)).Append(" (").Append(proto).Append(')')
              .Append(", length ").Append(total);
            if (hlen > Ipv4Header.MinimumLength && p.Length >= hlen) { sb.Append(", options ("); IpOptions(p[20..hlen], sb); sb.Append(')'); }
            if (p.Length >= hlen && InternetChecksum.Compute(p[..hlen]) != 0)
            {
                ushort field = BinaryPrimitives.ReadUInt16BigEndian(p[10..]);
                sb.Append(", bad cksum ").Append(field.ToString("x")).Append(" (->").Append(ShouldBe(p[..hlen], 10).ToString("x")).Append(")!");
            }
            sb.Append(")\n    ");
        }
        if (p.Length < hlen) { sb.Append(src.ToString()).Append(" > ").Append(dst.ToString()).Append(": ").Append(" [|ip]"); return; }
        int payloadLength = total - hlen;
        var payload = p[hlen..Math.Min(p.Length, total)];
        if ((off & 0x1FFF) != 0)
        {
            // Not the first fragment: the transport header is in another datagram.
            sb.Append(src.ToString()).Append(" > ").Append(dst.ToString()).Append(": ip-proto-").Append(proto);
            return;
        }
        bool fragmented = (off & 0x2000) != 0;
        switch (proto)
        {
            case IpProtocol.Icmp: Icmp(src, dst, payload, payloadLength, fragmented, sb); break;
            case IpProtocol.Udp: Udp(IpEnds.Of(src, dst), payload, payloadLength, fragmented, sb); break;
            case IpProtocol.Tcp: Tcp(IpEnds.Of(src, dst), payload, payloadLength, fragmented, sb); break;
            default:
                sb.Append(src.ToString()).Append(" > ").Append(dst.ToString()).Append(":  ip-proto-").Append(proto).Append(' ').Append(payloadLength);
                break;
        }
    }

    /// <summary>bittok2str order and separator: "+" (more fragments), "DF", "rsvd"; "none" for none.</summary>
    private static string FragmentFlags(ushort off)
    {
        var parts = new List<string>(3);
        if ((off & 0x2000) != 0) parts.Add("+");
        if ((off & 0x4000) != 0) parts.Add("DF");
        if ((off & 0x8000) != 0) parts.Add("rsvd");
        return parts.Count == 0 ? "none" : string.Join(", ", parts);
    }

    /// <summary>IP options as tcpdump -v names them (RFC 791 section 3.1), comma-separated, stopping at End of Option List.</summary>
    private static void IpOptions(ReadOnlySpan<byte> o, StringBuilder sb)
    {
        bool first = true;
        for (int i = 0; i < o.Length;)
        {
            if (!first) sb.Append(',');
            first = false;
            byte type = o[i];
            int len = type is 0 or 1 ? 1 : i + 1 < o.Length ? o[i + 1] : 0;
            sb.Append(type switch
            {
                0 => "EOL", 1 => "NOP", 7 => "RR", 68 => "timestamp", 130 => "security", 131 => "LSRR", 137 => "SSRR", 148 => "RA",
                _ => $"unknown {type}",
            });
            if (type == 0) return;
            if (type == 1) { i++; continue; }
            if (len < 2 || i + len > o.Length) { sb.Append(" [bad length ").Append(len).Append(']'); return; }
            var option = o.Slice(i, len);
            if (type is 7 or 131 or 137) Route(option, sb);
            else if (type == 148 && len >= 4 && U16(option, 2) != 0) sb.Append(" value ").Append(U16(option, 2));
            i += len;
        }
    }

    /// <summary>A recorded or source route: the addresses, a comma after those already passed (the pointer).</summary>
    private static void Route(ReadOnlySpan<byte> option, StringBuilder sb)
    {
        int length = option.Length;
        if (length < 3) { sb.Append(" [bad length ").Append(length).Append(']'); return; }
        if (((length + 1) & 3) != 0) sb.Append(" [bad length ").Append(length).Append(']');
        int ptr = option[2] - 1;
        if (ptr < 3 || ((ptr + 1) & 3) != 0 || ptr > length + 1) sb.Append(" [bad ptr ").Append(option[2]).Append(']');
        for (int at = 3; at + 4 <= length; at += 4)
        {
            sb.Append(' ').Append(new Ipv4Address(BinaryPrimitives.ReadUInt32BigEndian(option[at..])).ToString());
            if (ptr > at) sb.Append(',');
        }
    }

    /// <summary>tcpdump's ipproto_values: the names -v prints for an IP protocol number (IPv4 and IPv6 alike).</summary>
    private static string IpProtocolName(byte p) => p switch
    {
        0 => "Options", 1 => "ICMP", 2 => "IGMP", 4 => "IPIP", 6 => "TCP", 8 => "EGP", 9 => "IGRP", 17 => "UDP", 33 => "DCCP",
        41 => "IPv6", 43 => "Routing", 44 => "Fragment", 46 => "RSVP", 47 => "GRE", 50 => "ESP", 51 => "AH", 55 => "Mobile IP",
        58 => "ICMPv6", 62 => "Mobile IP (old)", 88 => "EIGRP", 89 => "OSPF", 103 => "PIM", 108 => "Compressed IP",
        112 => "VRRP", 113 => "PGM", 132 => "SCTP", 135 => "Mobility",
        _ => "unknown",
    };

    /// <summary>The checksum field value that would make <paramref name="data"/> sum correctly (tcpdump's in_cksum_shouldbe).</summary>
    private static ushort ShouldBe(ReadOnlySpan<byte> data, int checksumOffset)
    {
        var copy = data.ToArray();
        copy[checksumOffset] = 0; copy[checksumOffset + 1] = 0;
        return InternetChecksum.Compute(copy);
    }

    // ---------------------------------------------------------------- ICMP (RFC 792)

    private void Icmp(Ipv4Address src, Ipv4Address dst, ReadOnlySpan<byte> m, int length, bool fragmented, StringBuilder sb)
    {
        sb.Append(src.ToString()).Append(" > ").Append(dst.ToString()).Append(": ");
        if (m.Length < 4) { sb.Append(" [|icmp]"); return; }
        byte type = m[0], code = m[1];
        bool isError = type is 3 or 4 or 5 or 11 or 12;
        string? text = null;
        if (isError || type is 0 or 8 or 9 or 13 or 14 or 15 or 16 or 17 or 18)
        {
            int need = isError && type is not (4 or 12) ? 8 + 20 : 8; // source quench and parameter problem read nothing of the inner datagram
            if (m.Length < need) { sb.Append(" [|icmp]"); return; }
        }
        switch (type)
        {
            case 0: case 8:
                text = (type == 8 ? "echo request" : "echo reply") + $", id {U16(m, 4)}, seq {U16(m, 6)}";
                break;
            case 3: text = Unreachable(code, m); break;
            case 4: text = "source quench"; break;
            case 5:
                var gw = new Ipv4Address(BinaryPrimitives.ReadUInt32BigEndian(m[4..]));
                var rdst = InnerDestination(m);
                text = code switch
                {
                    0 => $"redirect {rdst} to net {gw}",
                    1 => $"redirect {rdst} to host {gw}",
                    2 => $"redirect-tos {rdst} to net {gw}",
                    3 => $"redirect-tos {rdst} to host {gw}",
                    _ => $"redirect-#{code} {rdst} to {gw}",
                };
                break;
            case 9: text = RouterAdvertisement(m); break;
            case 10: text = "router solicitation"; break;
            case 11: text = code switch { 0 => "time exceeded in-transit", 1 => "ip reassembly time exceeded", _ => $"time exceeded-#{code}" }; break;
            case 12: text = code == 0 ? $"parameter problem - octet {m[4]}" : $"parameter problem - code {code}"; break;
            case 13: text = $"time stamp query id {U16(m, 4)} seq {U16(m, 6)}"; break;
            case 14:
                if (m.Length < 20) { sb.Append(" [|icmp]"); return; }
                text = $"time stamp reply id {U16(m, 4)} seq {U16(m, 6)}: org {MillisecondsOfDay(U32(m, 8))}, recv {MillisecondsOfDay(U32(m, 12))}, xmit {MillisecondsOfDay(U32(m, 16))}";
                break;
            case 15: text = "information request"; break;
            case 16: text = "information reply"; break;
            case 17: text = "address mask request"; break;
            case 18: text = "address mask reply"; break;
            default: text = $"type-#{type}"; break;
        }
        sb.Append("ICMP ").Append(text).Append(", length ").Append(length);
        if (_o.Verbose > 0 && !fragmented && m.Length >= length && InternetChecksum.Compute(m[..length]) != 0)
            sb.Append(" (wrong icmp cksum ").Append(U16(m, 2).ToString("x")).Append(" (->").Append(ShouldBe(m[..length], 2).ToString("x")).Append(")!)");
        if (_o.Verbose > 0 && isError)
        {
            // The datagram that caused the error, as tcpdump -v prints it: on its own line, decoded in full.
            sb.Append("\n\t");
            var inner = m[8..];
            int innerLength = inner.Length >= 4 ? U16(inner, 2) : 0;
            Ip(inner, innerLength, sb, prefix: !_o.LinkHeader);
        }
    }

    /// <summary>An RFC 792 timestamp: milliseconds since midnight UT, as HH:MM:SS.mmm.</summary>
    private static string MillisecondsOfDay(uint t)
    {
        uint ms = t % 1000, sec = t / 1000, min = sec / 60, hrs = min / 60;
        return $"{hrs:D2}:{min % 60:D2}:{sec % 60:D2}.{ms:D3}";
    }

    /// <summary>RFC 1256 router advertisement: lifetime, then each address with its preference.</summary>
    private static string RouterAdvertisement(ReadOnlySpan<byte> m)
    {
        int lifetime = U16(m, 6), count = m[4], size = m[5];
        var sb = new StringBuilder("router advertisement lifetime ");
        if (lifetime < 60) sb.Append(lifetime);
        else if (lifetime < 3600) sb.Append(lifetime / 60).Append(':').Append((lifetime % 60).ToString("D2"));
        else sb.Append(lifetime / 3600).Append(':').Append((lifetime % 3600 / 60).ToString("D2")).Append(':').Append((lifetime % 60).ToString("D2"));
        sb.Append(' ').Append(count).Append(':');
        if (size != 2) return sb.Append(" [size ").Append(size).Append(']').ToString();
        for (int i = 0, at = 8; i < count; i++, at += 8)
        {
            if (at + 8 > m.Length) return sb.Append(" [|icmp]").ToString();
            sb.Append(" {").Append(new Ipv4Address(U32(m, at)).ToString()).Append(' ').Append(U32(m, at + 4)).Append('}');
        }
        return sb.ToString();
    }

    private static string Unreachable(byte code, ReadOnlySpan<byte> m)
    {
        var dst = InnerDestination(m);
        var inner = m[8..];
        int ihl = (inner[0] & 0x0F) * 4;
        return code switch
        {
            0 => $"net {dst} unreachable",
            1 => $"host {dst} unreachable",
            2 => $"{dst} protocol {inner[9]} unreachable",
            3 => PortUnreachable(dst, inner, ihl),
            4 => U16(m, 6) != 0 ? $"{dst} unreachable - need to frag (mtu {U16(m, 6)})" : $"{dst} unreachable - need to frag",
            5 => $"{dst} unreachable - source route failed",
            6 => $"net {dst} unreachable - unknown",
            7 => $"host {dst} unreachable - unknown",
            8 => $"{dst} unreachable - source host isolated",
            9 => $"net {dst} unreachable - admin prohibited",
            10 => $"host {dst} unreachable - admin prohibited",
            11 => $"net {dst} unreachable - tos prohibited",
            12 => $"host {dst} unreachable - tos prohibited",
            13 => $"host {dst} unreachable - admin prohibited filter",
            14 => $"host {dst} unreachable - host precedence violation",
            15 => $"host {dst} unreachable - precedence cutoff",
            _ => $"{dst} unreachable - #{code}",
        };
    }

    private static string PortUnreachable(Ipv4Address dst, ReadOnlySpan<byte> inner, int ihl)
    {
        byte proto = inner[9];
        int port = inner.Length >= ihl + 4 ? U16(inner, ihl + 2) : 0;
        return proto switch
        {
            IpProtocol.Udp => $"{dst} udp port {port} unreachable",
            IpProtocol.Tcp => $"{dst} tcp port {port} unreachable",
            _ => $"{dst} protocol {proto} port {port} unreachable",
        };
    }

    private static Ipv4Address InnerDestination(ReadOnlySpan<byte> m) => new(BinaryPrimitives.ReadUInt32BigEndian(m[(8 + 16)..]));

    private static ushort U16(ReadOnlySpan<byte> b, int at) => BinaryPrimitives.ReadUInt16BigEndian(b[at..]);
    private static uint U32(ReadOnlySpan<byte> b, int at) => BinaryPrimitives.ReadUInt32BigEndian(b[at..]);

    // ---------------------------------------------------------------- UDP (RFC 768)

    private void Udp(IpEnds e, ReadOnlySpan<byte> u, int length, bool fragmented, StringBuilder sb)
    {
        _protocol = "udp";
        if (u.Length < 4) { Addresses(e, sb); sb.Append(" [|udp]"); return; }
        ushort sport = U16(u, 0), dport = U16(u, 2);
        Ports(e, sport, dport, sb);
        if (length < 8) { sb.Append("truncated-udp ").Append(length); return; }
        if (u.Length < 8) { sb.Append(" [|udp]"); return; }
        int ulen = U16(u, 4);
        if (ulen < 8) { sb.Append("truncated-udplength ").Append(ulen); return; }
        if (ulen > length && !fragmented) { sb.Append("UDP, bad length ").Append(ulen - 8).Append(" > ").Append(length - 8); return; }
        int checkedLength = Math.Min(ulen, length);
        if (_o.Verbose > 0 && e.V6 && !fragmented && u.Length >= checkedLength)
        {
            // UDP's checksum is mandatory over IPv6 (RFC 8200 8.1), and tcpdump checks it with one -v (over IPv4 only with -vv).
            var segment = u[..checkedLength];
            if (e.Checksum(IpProtocol.Udp, segment) != 0)
                sb.Append("[bad udp cksum 0x").Append(U16(u, 6).ToString("x4")).Append(" -> 0x").Append(e.ShouldBe(IpProtocol.Udp, segment, 6).ToString("x4")).Append("!] ");
            else sb.Append("[udp sum ok] ");
        }
        if (sport == 53 || dport == 53 || sport == 5353 || dport == 5353)
        {
            Dns(u[8..Math.Min(u.Length, checkedLength)], checkedLength - 8, overTcp: false, sb, mdns: sport != 53 && dport != 53);
            return;
        }
        sb.Append("UDP, length ").Append(ulen - 8);
    }

    /// <summary>"src > dst: ", as tcpdump prints an IP datagram whose transport header is cut off.</summary>
    private static void Addresses(IpEnds e, StringBuilder sb)
    {
        if (e.WithAddresses) sb.Append(e.SrcText).Append(" > ").Append(e.DstText).Append(": ");
    }

    /// <summary>"src.port > dst.port: ", or only the ports behind IPv6 extension headers.</summary>
    private static void Ports(IpEnds e, ushort sport, ushort dport, StringBuilder sb)
    {
        if (e.WithAddresses) sb.Append(e.SrcText).Append('.').Append(sport).Append(" > ").Append(e.DstText).Append('.').Append(dport).Append(": ");
        else sb.Append(sport).Append(" > ").Append(dport).Append(": ");
    }
}
