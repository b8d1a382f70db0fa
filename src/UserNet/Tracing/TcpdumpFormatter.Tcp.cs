using System.Buffers.Binary;
using System.Text;
using UserNet.Wire;

namespace UserNet.Tracing;

/// <summary>A TCP conversation in one canonical direction (the lower address, then port, first), as tcpdump keys it.</summary>
internal readonly record struct TcpConversation(uint LowAddress, ushort LowPort, uint HighAddress, ushort HighPort);

public sealed partial class TcpdumpFormatter
{
    private const byte Fin = 0x01, Syn = 0x02, Rst = 0x04, Psh = 0x08, Ack = 0x10, Urg = 0x20, Ece = 0x40, Cwr = 0x80;

    // ---------------------------------------------------------------- TCP (RFC 9293)

    private void Tcp(Ipv4Address src, Ipv4Address dst, ReadOnlySpan<byte> t, int length, bool fragmented, StringBuilder sb)
    {
        if (t.Length < 4) { sb.Append(src.ToString()).Append(" > ").Append(dst.ToString()).Append(": ").Append(" [|tcp]"); return; }
        ushort sport = U16(t, 0), dport = U16(t, 2);
        sb.Append(src.ToString()).Append('.').Append(sport).Append(" > ").Append(dst.ToString()).Append('.').Append(dport).Append(": ");
        if (t.Length < 20) { sb.Append(" [|tcp]"); return; }
        int hlen = (t[12] >> 4) * 4;
        if (hlen < 20) { sb.Append("tcp ").Append(length - 20).Append(" [bad hdr length ").Append(hlen).Append(" - too short, < 20]"); return; }
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
            rev = src.Value > dst.Value || (src.Value == dst.Value && sport > dport);
            var key = rev ? new TcpConversation(dst.Value, dport, src.Value, sport) : new TcpConversation(src.Value, sport, dst.Value, dport);
            if (!_tcpInitial.TryGetValue(key, out var initial) || (flags & Syn) != 0)
            {
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
            var sum = TcpChecksum(src, dst, t[..length]);
            sb.Append(", cksum 0x").Append(field.ToString("x4"));
            if (sum == 0) sb.Append(" (correct)");
            else sb.Append(" (incorrect -> 0x").Append(ShouldBeTcp(src, dst, t[..length]).ToString("x4")).Append(')');
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
            if (t.Length < hlen) { sb.Append("|tcp]"); return; }
            TcpOptions(t[20..hlen], rev ? thSeq : thAck, sb);
        }
        sb.Append(", length ").Append(dataLength);
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

    /// <summary>Options in tcpdump's words; SACK edges are printed relative to <paramref name="sackBase"/>.</summary>
    private static void TcpOptions(ReadOnlySpan<byte> o, uint sackBase, StringBuilder sb)
    {
        int i = 0;
        bool first = true;
        while (i < o.Length)
        {
            if (!first) sb.Append(',');
            first = false;
            byte kind = o[i];
            int len;
            if (kind is 0 or 1) len = 1;
            else
            {
                if (i + 1 >= o.Length) { sb.Append(OptionName(kind)).Append("[bad opt]]"); return; }
                len = o[i + 1];
                if (len < 2 || len > o.Length - i) { sb.Append(OptionName(kind)).Append("[bad opt]]"); return; }
            }
            var data = o.Slice(i + (len == 1 ? 1 : 2), Math.Max(0, len - 2));
            sb.Append(OptionName(kind));
            int expected = len;
            switch (kind)
            {
                case 0: case 1: break;
                case 2: if (data.Length < 2) { sb.Append("[bad opt]]"); return; } sb.Append(' ').Append(U16(data, 0)); expected = 4; break;
                case 3: if (data.Length < 1) { sb.Append("[bad opt]]"); return; } sb.Append(' ').Append(data[0]); expected = 3; break;
                case 4: expected = 2; break;
                case 5:
                    sb.Append(' ').Append(data.Length / 8).Append(' ');
                    for (int b = 0; b + 8 <= data.Length; b += 8)
                        sb.Append('{').Append(U32(data, b) - sackBase).Append(':').Append(U32(data, b + 4) - sackBase).Append('}');
                    if (data.Length % 8 != 0) sb.Append(" invalid sack");
                    break;
                case 8:
                    if (data.Length < 8) { sb.Append("[bad opt]]"); return; }
                    sb.Append(" val ").Append(U32(data, 0)).Append(" ecr ").Append(U32(data, 4)); expected = 10; break;
                default:
                    if (data.Length > 0) sb.Append(" 0x").Append(Convert.ToHexString(data).ToLowerInvariant());
                    break;
            }
            if (expected != len) sb.Append("[len ").Append(len).Append(']');
            i += len;
            if (kind == 0) break;
        }
        sb.Append(']');
    }

    private static string OptionName(byte kind) => kind switch
    {
        0 => "eol", 1 => "nop", 2 => "mss", 3 => "wscale", 4 => "sackOK", 5 => "sack", 6 => "echo", 7 => "echoreply",
        8 => "TS", 11 => "cc", 12 => "ccnew", 13 => "ccecho", 19 => "md5", 27 => "qs", 28 => "uto", 29 => "tcp-ao",
        30 => "mptcp", 34 => "tfo", 254 => "exp", _ => $"unknown-{kind}",
    };

    private static ushort TcpChecksum(Ipv4Address src, Ipv4Address dst, ReadOnlySpan<byte> segment)
    {
        var buf = new byte[12 + segment.Length];
        src.Write(buf); dst.Write(buf.AsSpan(4));
        buf[9] = IpProtocol.Tcp;
        BinaryPrimitives.WriteUInt16BigEndian(buf.AsSpan(10), (ushort)segment.Length);
        segment.CopyTo(buf.AsSpan(12));
        return InternetChecksum.Compute(buf);
    }

    private static ushort ShouldBeTcp(Ipv4Address src, Ipv4Address dst, ReadOnlySpan<byte> segment)
    {
        var copy = segment.ToArray();
        copy[16] = 0; copy[17] = 0;
        return TcpChecksum(src, dst, copy);
    }
}
