using System.Buffers.Binary;
using System.Text;
using UserNet.Wire;

namespace UserNet.Tracing;

/// <summary>A TCP conversation in one canonical direction (the lower address, then port, first), as tcpdump keys it.</summary>
internal readonly record struct TcpConversation(bool V6, UInt128 LowAddress, ushort LowPort, UInt128 HighAddress, ushort HighPort);

public sealed partial class TcpdumpFormatter
{
    private const byte Fin = 0x01, Syn = 0x02, Rst = 0x04, Psh = 0x08, Ack = 0x10, Urg = 0x20, Ece = 0x40, Cwr = 0x80;

    // ---------------------------------------------------------------- TCP (RFC 9293)

    private void Tcp(IpEnds e, ReadOnlySpan<byte> t, int length, bool fragmented, StringBuilder sb)
    {
        _protocol = "tcp";
        if (t.Length < 4) { Addresses(e, sb); sb.Append(" [|tcp]"); return; }
        ushort sport = U16(t, 0), dport = U16(t, 2);
        Ports(e, sport, dport, sb);
        if (t.Length < 20) { sb.Append(" [|tcp]"); return; }
        int hlen = (t[12] >> 4) * 4;
        if (hlen < 20) { sb.Append(" tcp ").Append(length - hlen).Append(" [bad hdr length ").Append(hlen).Append(" - too short, < 20]"); return; }
        uint seq = U32(t, 4), ack = U32(t, 8);
        byte flags = t[13];
        ushort win = U16(t, 14), urp = U16(t, 18);
        sb.Append("Flags [").Append(TcpFlags(flags)).Append(']');
        if (hlen > length) { sb.Append(" [bad hdr length ").Append(hlen).Append(" - too long, > ").Append(length).Append(']'); return; }

        // Relative sequence numbers, as tcpdump computes them: a conversation's initial numbers are recorded from the
        // first segment with ACK set (or any SYN with ACK), and later segments print their distance from those.
        uint thSeq = 0, thAck = 0;
        bool rev = false;
        if ((flags & Ack) != 0)
        {
            rev = e.Src > e.Dst || (e.Src == e.Dst && sport > dport);
            var key = rev ? new TcpConversation(e.V6, e.Dst, dport, e.Src, sport) : new TcpConversation(e.V6, e.Src, sport, e.Dst, dport);
            if (!_tcpInitial.TryGetValue(key, out var initial) || (flags & Syn) != 0)
            {
                if (_tcpInitial.Count >= MaxTcpConversations) _tcpInitial.Clear();
                initial = rev ? (Seq: ack - 1, Ack: seq) : (Seq: seq, Ack: ack - 1);
                _tcpInitial[key] = initial;
            }
            else if (rev) { seq -= initial.Ack; ack -= initial.Seq; }
            else { seq -= initial.Seq; ack -= initial.Ack; }
            (thSeq, thAck) = initial;
        }

        if (_o.Verbose > 0 && !fragmented && t.Length >= length)
        {
            ushort field = U16(t, 16);
            var sum = e.Checksum(IpProtocol.Tcp, t[..length]);
            sb.Append(", cksum 0x").Append(field.ToString("x4"));
            if (sum == 0) sb.Append(" (correct)");
            else sb.Append(" (incorrect -> 0x").Append(e.ShouldBe(IpProtocol.Tcp, t[..length], 16).ToString("x4")).Append(')');
        }
        int dataLength = length - hlen;
        if (_o.Verbose > 1 || dataLength > 0 || (flags & (Syn | Fin | Rst)) != 0)
        {
            sb.Append(", seq ").Append(seq);
            if (dataLength > 0) sb.Append(':').Append(seq + (uint)dataLength);
        }
        if ((flags & Ack) != 0) sb.Append(", ack ").Append(ack);
        sb.Append(", win ").Append(win);
        if ((flags & Urg) != 0) sb.Append(", urg ").Append(urp);
        if (hlen > 20)
        {
            sb.Append(", options [");
            // Options cut off by the capture are printed as far as they go, then [|tcp] (tcpdump's GET macros).
            if (!TcpOptions(t[20..Math.Min(hlen, t.Length)], hlen - 20, rev ? thSeq : thAck, sb)) return;
        }
        sb.Append(", length ").Append(dataLength);
        if (dataLength <= 0) return;
        var data = t.Length > hlen ? t[hlen..Math.Min(t.Length, length)] : default;
        if (sport is 80 or 8080 || dport is 80 or 8080) { sb.Append(": "); Http(data, dataLength, sb); }
        else if (sport == 53 || dport == 53) Dns(data, dataLength, overTcp: true, sb);
    }

    private static string TcpFlags(byte f)
    {
        if ((f & 0xFF) == 0) return "none";
        var sb = new StringBuilder(8);
        if ((f & Fin) != 0) sb.Append('F');
        if ((f & Syn) != 0) sb.Append('S');
        if ((f & Rst) != 0) sb.Append('R');
        if ((f & Psh) != 0) sb.Append('P');
        if ((f & Ack) != 0) sb.Append('.');
        if ((f & Urg) != 0) sb.Append('U');
        if ((f & Ece) != 0) sb.Append('E');
        if ((f & Cwr) != 0) sb.Append('W');
        return sb.ToString();
    }

    /// <summary>
    /// Options in tcpdump's words; SACK edges are printed relative to <paramref name="sackBase"/>. Like tcpdump, a
    /// known option is read by its own size, and a length byte that disagrees is shown as <c>[len N]</c>. Returns
    /// false after <c>[bad opt]</c>, where tcpdump ends the line.
    /// </summary>
    private static bool TcpOptions(ReadOnlySpan<byte> o, int optionsLength, uint sackBase, StringBuilder sb)
    {
        int i = 0, remaining = optionsLength;
        bool first = true;
        while (remaining > 0)
        {
            if (!first) sb.Append(',');
            byte kind = G8(o, i++);
            int len = 1;
            if (kind is not (0 or 1))
            {
                if (remaining < 2) return BadOption(sb, first);
                len = G8(o, i++);
                if (len < 2 || len > remaining) return BadOption(sb, first);
                remaining--;
            }
            remaining--;
            sb.Append(OptionName(kind));
            int datalen = 0;
            switch (kind)
            {
                case 2:
                    datalen = 2;
                    if (datalen > remaining) return BadOption(sb, first);
                    if (o.Length < i + datalen) return CutShort(sb, first);
                    sb.Append(' ').Append(G16(o, i));
                    break;
                case 3:
                    datalen = 1;
                    if (datalen > remaining) return BadOption(sb, first);
                    if (o.Length < i + datalen) return CutShort(sb, first);
                    sb.Append(' ').Append(G8(o, i));
                    break;
                case 5:
                    datalen = len - 2;
                    if (datalen % 8 != 0) sb.Append(" invalid sack");
                    else
                    {
                        sb.Append(' ').Append(datalen / 8).Append(' ');
                        for (int b = 0; b < datalen; b += 8)
                        {
                            if (b + 8 > remaining) return BadOption(sb, first);
                            if (o.Length < i + b + 8) return CutShort(sb, first);
                            sb.Append('{').Append(G32(o, i + b) - sackBase).Append(':').Append(G32(o, i + b + 4) - sackBase).Append('}');
                        }
                    }
                    break;
                case 6: case 7: case 11: case 12: case 13:
                    datalen = 4;
                    if (datalen > remaining) return BadOption(sb, first);
                    if (o.Length < i + datalen) return CutShort(sb, first);
                    sb.Append(' ').Append(G32(o, i));
                    break;
                case 8:
                    datalen = 8;
                    if (datalen > remaining) return BadOption(sb, first);
                    if (o.Length < i + datalen) return CutShort(sb, first);
                    { uint val = G32(o, i), ecr = G32(o, i + 4); sb.Append(" val ").Append(val).Append(" ecr ").Append(ecr); }
                    break;
                case 19:
                    datalen = 16;
                    if (datalen > remaining) return BadOption(sb, first);
                    if (o.Length < i + datalen) return CutShort(sb, first);
                    Need(o, i + 16);
                    sb.Append(" shared secret not supplied with -M, can't check - ").Append(Convert.ToHexString(o.Slice(i, 16)).ToLowerInvariant());
                    break;
                case 0: case 1: case 4:
                    break;
                default:
                    datalen = len - 2;
                    if (datalen > remaining) return BadOption(sb, first);
                    if (o.Length < i + datalen) return CutShort(sb, first);
                    if (datalen > 0) { Need(o, i + datalen); sb.Append(" 0x").Append(Convert.ToHexString(o.Slice(i, datalen)).ToLowerInvariant()); }
                    break;
            }
            i += datalen;
            remaining -= datalen;
            int expected = datalen + (kind is 0 or 1 ? 1 : 2);
            if (expected != len) sb.Append("[len ").Append(len).Append(']');
            first = false;
            if (kind == 0) break;
        }
        sb.Append(']');
        return true;
    }

    /// <summary>An option's data beyond the capture (tcpdump's LENCHECK: a goto, so the words so far stay, then "&gt;").</summary>
    private static bool CutShort(StringBuilder sb, bool first)
    {
        sb.Append(" [|tcp]");
        if (!first) sb.Append('>');
        return false;
    }

    private static bool BadOption(StringBuilder sb, bool first)
    {
        sb.Append("[bad opt]");
        if (!first) sb.Append(']');
        return false;
    }

    private static string OptionName(byte kind) => kind switch
    {
        0 => "eol", 1 => "nop", 2 => "mss", 3 => "wscale", 4 => "sackOK", 5 => "sack", 6 => "echo", 7 => "echoreply",
        8 => "TS", 11 => "cc", 12 => "ccnew", 13 => "ccecho", 19 => "md5", 27 => "qs", 28 => "uto", 29 => "tcp-ao",
        30 => "mptcp", 34 => "tfo", 254 => "exp", _ => $"unknown-{kind}",
    };
}
