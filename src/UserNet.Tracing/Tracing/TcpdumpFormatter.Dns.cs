using System.Text;

namespace UserNet.Tracing;

public sealed partial class TcpdumpFormatter
{
    // ---------------------------------------------------------------- DNS (RFC 1035 4.1), as tcpdump 4.99 -n and -v print it

    private const int MaxDomainName = 255; // RFC 1035 2.3.4

    /// <summary>
    /// A DNS message: <paramref name="m"/> holds the captured bytes (over TCP from its two-byte length prefix, RFC 1035
    /// 4.2.2), <paramref name="length"/> the bytes the transport says it has.
    /// </summary>
    private void Dns(ReadOnlySpan<byte> m, int length, bool overTcp, StringBuilder sb, bool mdns = false)
    {
        _protocol = "domain";
        if (overTcp)
        {
            if (length < 2) { sb.Append(" [DNS over TCP: length ").Append(length).Append(" < 2] (invalid)"); return; }
            length -= 2;
            ushort prefix = G16(m, 0);
            if (prefix != length) { sb.Append(" [prefix length(").Append(prefix).Append(") != length(").Append(length).Append(")] (invalid)"); return; }
            m = m[2..];
            sb.Append(' ');
        }
        if (length < 12) { sb.Append("domain [length ").Append(length).Append(" < 12] (invalid)"); return; }
        if (m.Length < 12) throw GiveUp; // tcpdump's ND_TCHECK: a goto, not a longjmp
        ushort id = U16(m, 0), flags = U16(m, 2);
        int qd = U16(m, 4), an = U16(m, 6), ns = U16(m, 8), ar = U16(m, 10);

        // The extended RCODE sits in an OPT record of the additional section (RFC 6891 6.1.3).
        int rcode = flags & 0xF;
        int cp = 12;
        int i;
        for (i = 0; i < qd; i++)
        {
            if ((cp = NameSkip(m, cp)) < 0) goto print;
            cp += 4;
            if (cp >= m.Length) goto print;
        }
        for (i = 0; i < an + ns; i++)
        {
            if ((cp = NameSkip(m, cp)) < 0) goto print;
            cp += 8;
            if (cp + 2 > m.Length) goto print;
            cp += 2 + U16(m, cp);
            if (cp >= m.Length) goto print;
        }
        while (cp < m.Length && i < an + ns + ar)
        {
            if ((cp = NameSkip(m, cp)) < 0) goto print;
            if (cp + 2 > m.Length) goto print;
            if (U16(m, cp) == 41) { rcode |= G8(m, cp + 4) << 4; goto print; }
            cp += 8;
            if (cp + 2 > m.Length) goto print;
            cp += 2 + U16(m, cp);
            i++;
        }

    print:
        int opcode = (flags >> 11) & 0xF;
        cp = 12;
        if ((flags & 0x8000) != 0)
        {
            sb.Append(id).Append(DnsOpcode(opcode)).Append(DnsRcode(rcode))
              .Append((flags & 0x0400) != 0 ? "*" : "").Append((flags & 0x0080) != 0 ? "" : "-")
              .Append((flags & 0x0200) != 0 ? "|" : "").Append((flags & 0x0020) != 0 ? "$" : "");
            if (qd != 1) sb.Append(" [").Append(qd).Append("q]");
            for (i = 0; i < qd; i++)
            {
                if (i != 0) sb.Append(',');
                if ((cp = NameSkip(m, cp)) < 0) throw GiveUp;
                cp += 4;
            }
            sb.Append(' ').Append(an).Append('/').Append(ns).Append('/').Append(ar);
            if (an > 0)
            {
                if ((cp = ResourceRecord(m, cp, mdns, sb)) < 0) throw GiveUp;
                an--;
                while (cp < m.Length && an > 0)
                {
                    sb.Append(',');
                    if ((cp = ResourceRecord(m, cp, mdns, sb)) < 0) throw GiveUp;
                    an--;
                }
            }
            if (an > 0) throw GiveUp;
        }
        else
        {
            sb.Append(id).Append(DnsOpcode(opcode)).Append((flags & 0x0100) != 0 ? "+" : "").Append((flags & 0x0010) != 0 ? "%" : "");
            if ((flags & 0x6cf) != 0) sb.Append(" [b2&3=0x").Append(flags.ToString("x")).Append(']');
            if (opcode == 1)
            {
                if (qd > 0) sb.Append(" [").Append(qd).Append("q]");
                if (an != 1) sb.Append(" [").Append(an).Append("a]");
            }
            else
            {
                if (an > 0) sb.Append(" [").Append(an).Append("a]");
                if (qd != 1) sb.Append(" [").Append(qd).Append("q]");
            }
            if (ns > 0) sb.Append(" [").Append(ns).Append("n]");
            if (ar > 0) sb.Append(" [").Append(ar).Append("au]");
            if (qd > 0)
            {
                if ((cp = Question(m, cp, mdns, sb)) < 0) throw GiveUp;
                qd--;
                while (cp < m.Length && qd > 0)
                {
                    if ((cp = Question(m, cp, mdns, sb)) < 0) throw GiveUp;
                    qd--;
                }
            }
            if (qd > 0) throw GiveUp;
        }
        sb.Append(" (").Append(length).Append(')');
    }

    /// <summary>The offset after the name at <paramref name="cp"/> (not following pointers), or -1 beyond the capture.</summary>
    private static int NameSkip(ReadOnlySpan<byte> m, int cp)
    {
        if (cp >= m.Length) return -1;
        int i = m[cp];
        while (i != 0)
        {
            switch (i & 0xC0)
            {
                case 0xC0: return cp + 2;
                case 0x40: return -1; // extended label types (RFC 6891 4.2): not decoded
                default: cp += i + 1; break;
            }
            if (cp >= m.Length) return -1;
            i = m[cp];
        }
        return cp + 1;
    }

    /// <summary>
    /// Prints the name at <paramref name="cp"/>, following compression pointers only backwards (so a loop cannot
    /// run forever: tcpdump prints <c>&lt;BAD PTR&gt;</c>), and returns the offset after it in the record, or -1.
    /// </summary>
    private static int DomainName(ReadOnlySpan<byte> m, int cp, StringBuilder sb)
    {
        if (cp >= m.Length) return -1;
        int maxOffset = cp;
        int i = m[cp], l = i;
        if ((i & 0xC0) == 0x40) return -1;
        cp++;
        int rp = -1;
        bool compressed = false;
        if ((i & 0xC0) != 0xC0) rp = cp + l;
        if (i == 0) { sb.Append('.'); return rp; }
        int chars = 0;
        while (i != 0 && cp < m.Length)
        {
            if ((i & 0xC0) == 0xC0)
            {
                if (!compressed) { rp = cp + 1; compressed = true; }
                if (cp >= m.Length) return -1;
                int offset = ((i << 8) | m[cp]) & 0x3fff;
                if (offset >= maxOffset) { sb.Append("<BAD PTR>"); return -1; }
                maxOffset = offset;
                cp = offset;
                if (cp >= m.Length) return -1;
                i = l = m[cp];
                if ((i & 0xC0) == 0x40) return -1;
                cp++;
                continue;
            }
            if ((i & 0xC0) == 0x40) return -1;
            if (chars + l <= MaxDomainName) { if (PrintN(m, cp, l, sb)) return -1; }
            else if (chars < MaxDomainName) { if (PrintN(m, cp, MaxDomainName - chars, sb)) return -1; }
            chars += l;
            cp += l;
            if (cp >= m.Length) return -1;
            i = l = m[cp];
            if ((i & 0xC0) == 0x40) return -1;
            cp++;
            if (!compressed) rp += l + 1;
            if (chars <= MaxDomainName) sb.Append('.');
            chars++;
        }
        if (chars > MaxDomainName) sb.Append("<DOMAIN NAME TOO LONG>");
        return rp;
    }

    /// <summary>tcpdump's nd_printn: up to n bytes, non-printables escaped (M-, ^); true when the capture ended first.</summary>
    private static bool PrintN(ReadOnlySpan<byte> m, int at, int n, StringBuilder sb)
    {
        while (n > 0 && at < m.Length)
        {
            n--;
            int c = m[at++];
            if (c >= 0x80) { c &= 0x7f; sb.Append("M-"); }
            if (c is < 0x20 or > 0x7e) { c ^= 0x40; sb.Append('^'); }
            sb.Append((char)c);
        }
        return n != 0;
    }

    private static int Question(ReadOnlySpan<byte> m, int cp, bool mdns, StringBuilder sb)
    {
        int start = cp;
        cp = NameSkip(m, cp);
        if (cp < 0 || cp + 4 > m.Length) return -1;
        sb.Append(' ').Append(DnsType(U16(m, cp)));
        int cls = U16(m, cp + 2);
        bool unicastResponse = mdns && (cls & 0x8000) != 0; // RFC 6762 5.4
        if (mdns) cls &= 0x7fff;
        if (cls != 1) sb.Append(' ').Append(DnsClass(cls));
        if (mdns) sb.Append(unicastResponse ? " (QU)" : " (QM)");
        sb.Append("? ");
        int end = DomainName(m, start, sb);
        return end < 0 ? -1 : end + 4;
    }

    /// <summary>One resource record: with -v its owner name, then type, class (unless IN) and the data tcpdump decodes.</summary>
    private int ResourceRecord(ReadOnlySpan<byte> m, int cp, bool mdns, StringBuilder sb)
    {
        if (_o.Verbose > 0)
        {
            sb.Append(' ');
            if ((cp = DomainName(m, cp, sb)) < 0) return -1;
        }
        else cp = NameSkip(m, cp);
        if (cp < 0 || cp + 10 > m.Length) return m.Length;
        int type = U16(m, cp), cls = U16(m, cp + 2);
        bool cacheFlush = mdns && (cls & 0x8000) != 0; // RFC 6762 10.2
        if (mdns) cls &= 0x7fff;
        if (cls != 1 && type != 41) sb.Append(' ').Append(DnsClass(cls));
        if (cacheFlush) sb.Append(" (Cache flush)");
        int len = U16(m, cp + 8);
        cp += 10;
        int rp = cp + len;
        sb.Append(' ').Append(DnsType(type));
        if (rp > m.Length) return -1;
        switch (type)
        {
            case 1:
                if (cp + 4 > m.Length) return -1;
                sb.Append(' ').Append(m[cp]).Append('.').Append(m[cp + 1]).Append('.').Append(m[cp + 2]).Append('.').Append(m[cp + 3]);
                break;
            case 2: case 5: case 12: case 39:
                sb.Append(' ');
                if (DomainName(m, cp, sb) < 0) return -1;
                break;
            case 6:
                if (_o.Verbose == 0) break;
                sb.Append(' ');
                if ((cp = DomainName(m, cp, sb)) < 0) return -1;
                sb.Append(' ');
                if ((cp = DomainName(m, cp, sb)) < 0) return -1;
                for (int k = 0; k < 5; k++, cp += 4) sb.Append(' ').Append(G32(m, cp));
                break;
            case 15:
                sb.Append(' ');
                if (DomainName(m, cp + 2, sb) < 0) return -1;
                sb.Append(' ').Append(G16(m, cp));
                break;
            case 16:
                while (cp < rp)
                {
                    sb.Append(" \"");
                    if (cp >= m.Length) return -1;
                    int n = m[cp++];
                    if (PrintN(m, cp, n, sb)) return -1;
                    cp += n;
                    sb.Append('"');
                }
                break;
            case 33:
                sb.Append(' ');
                if (DomainName(m, cp + 6, sb) < 0) return -1;
                sb.Append(':').Append(G16(m, cp + 4)).Append(' ').Append(G16(m, cp)).Append(' ').Append(G16(m, cp + 2));
                break;
            case 28:
                if (cp + 16 > m.Length) return -1;
                sb.Append(' ').Append(Ip6Text(m.Slice(cp, 16)));
                break;
        }
        return rp;
    }

    private static string DnsOpcode(int op) => op switch
    {
        0 => "", 1 => " inv_q", 2 => " stat", 3 => " op3", 4 => " notify", 5 => " update", 6 => " op6", 7 => " op7", 8 => " op8",
        9 => " updateA", 10 => " updateD", 11 => " updateDA", 12 => " updateM", 13 => " updateMA", 14 => " zoneInit", _ => " zoneRef",
    };

    private static string DnsRcode(int rcode) => rcode switch
    {
        0 => "", 1 => " FormErr", 2 => " ServFail", 3 => " NXDomain", 4 => " NotImp", 5 => " Refused", 6 => " YXDomain",
        7 => " YXRRSet", 8 => " NXRRSet", 9 => " NotAuth", 10 => " NotZone", 16 => " BadVers", 17 => " BadKey",
        18 => " BadTime", 19 => " BadMode", 20 => " BadName", 21 => " BadAlg", 22 => " BadTrunc", 23 => " BadCookie",
        _ => " Resp" + rcode,
    };

    private static string DnsClass(int c) => c switch { 1 => "IN", 3 => "CHAOS", 4 => "HS", 255 => "ANY", _ => $"(Class {c})" };

    private static string DnsType(int t) => t switch
    {
        1 => "A", 2 => "NS", 3 => "MD", 4 => "MF", 5 => "CNAME", 6 => "SOA", 7 => "MB", 8 => "MG", 9 => "MR", 10 => "NULL",
        11 => "WKS", 12 => "PTR", 13 => "HINFO", 14 => "MINFO", 15 => "MX", 16 => "TXT", 17 => "RP", 18 => "AFSDB",
        19 => "X25", 20 => "ISDN", 21 => "RT", 22 => "NSAP", 23 => "NSAP_PTR", 24 => "SIG", 25 => "KEY", 26 => "PX",
        27 => "GPOS", 28 => "AAAA", 29 => "LOC", 30 => "NXT", 31 => "EID", 32 => "NIMLOC", 33 => "SRV", 34 => "ATMA",
        35 => "NAPTR", 36 => "KX", 37 => "CERT", 38 => "A6", 39 => "DNAME", 40 => "SINK", 41 => "OPT", 42 => "APL",
        43 => "DS", 44 => "SSHFP", 45 => "IPSECKEY", 46 => "RRSIG", 47 => "NSEC", 48 => "DNSKEY", 49 => "DHCID",
        50 => "NSEC3", 51 => "NSEC3PARAM", 52 => "TLSA", 53 => "SMIMEA", 55 => "HIP", 56 => "NINFO", 57 => "RKEY",
        58 => "TALINK", 59 => "CDS", 60 => "CDNSKEY", 61 => "OPENPGPKEY", 62 => "CSYNC", 63 => "ZONEMD", 64 => "SVCB",
        65 => "HTTPS", 99 => "SPF", 100 => "UINFO", 101 => "UID", 102 => "GID", 103 => "UNSPEC", 104 => "NID",
        105 => "L32", 106 => "L64", 107 => "LP", 108 => "EUI48", 109 => "EUI64", 249 => "TKEY", 250 => "TSIG",
        251 => "IXFR", 252 => "AXFR", 253 => "MAILB", 254 => "MAILA", 255 => "ANY", 256 => "URI", 257 => "CAA",
        258 => "AVC", 259 => "DOA", 260 => "AMTRELAY", 32768 => "TA", 32769 => "DLV",
        _ => "Type" + t,
    };

    // ---------------------------------------------------------------- HTTP (RFC 9112 3, 4): the request or status line

    private static readonly string[] HttpMethods =
    [
        "OPTIONS", "GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "CONNECT", "PROPFIND", "PROPPATCH", "MKCOL", "COPY",
        "MOVE", "LOCK", "UNLOCK", "ORDERPATCH", "CHECKOUT", "CHECKIN", "UNCHECKOUT", "VERSION-CONTROL", "REPORT",
        "MKWORKSPACE", "UPDATE", "LABEL", "MERGE", "BASELINE-CONTROL", "MKACTIVITY", "ACL", "PATCH",
    ];

    /// <summary>tcpdump's txtproto_print for HTTP: "HTTP", then the first line if the data starts a request or response (all lines with -v).</summary>
    private void Http(ReadOnlySpan<byte> d, int len, StringBuilder sb)
    {
        _protocol = "http";
        bool print = false;
        int idx = FetchToken(d, 0, len, out var token);
        if (idx != 0)
        {
            foreach (var method in HttpMethods)
                if (string.Equals(token, method, StringComparison.OrdinalIgnoreCase)) { print = true; break; }
            idx = FetchToken(d, idx, len, out token);
            if (idx != 0 && token.Length == 3 && char.IsAsciiDigit(token[0]) && char.IsAsciiDigit(token[1]) && char.IsAsciiDigit(token[2]))
                print = true;
        }
        sb.Append("HTTP");
        if (!print) return;
        if (_o.Verbose > 0)
        {
            sb.Append(", length: ").Append(len);
            for (idx = 0; idx < len && (idx = TextLine(d, "\n\t", idx, len, sb)) != 0;) { }
        }
        else TextLine(d, ": ", 0, len, sb);
    }

    private static int FetchToken(ReadOnlySpan<byte> d, int idx, int len, out string token)
    {
        token = "";
        int start = idx;
        for (; idx < len; idx++)
        {
            if (idx >= d.Length) return 0;
            byte c = d[idx];
            if (c is < 0x20 or > 0x7e) return 0;
            if (c is (byte)' ' or (byte)'\t') break;
            if (idx - start + 2 > 129) return 0;
        }
        if (idx == start) return 0;
        token = Encoding.ASCII.GetString(d[start..idx]);
        for (; idx < len; idx++)
        {
            if (idx >= d.Length) break;
            byte c = d[idx];
            if (c is (byte)'\r' or (byte)'\n') break;
            if (c is < 0x20 or > 0x7e) break;
            if (c is not ((byte)' ' or (byte)'\t')) break;
        }
        return idx;
    }

    /// <summary>tcpdump's print_txt_line: one CRLF- or LF-terminated printable line after <paramref name="prefix"/>; returns the next offset, 0 at the end.</summary>
    private static int TextLine(ReadOnlySpan<byte> d, string prefix, int idx, int len, StringBuilder sb)
    {
        int start = idx, lineLength;
        while (idx < len)
        {
            byte c = G8(d, idx);
            if (c == '\n') { lineLength = idx - start; idx++; goto print; }
            if (c == '\r')
            {
                if (idx + 1 >= len) return 0;
                if (G8(d, idx + 1) == '\n') { lineLength = idx - start; idx += 2; goto print; }
                return 0;
            }
            if (c is not (>= 0x20 and <= 0x7e or (byte)'\t')) return 0;
            idx++;
        }
        sb.Append(prefix).Append(Encoding.ASCII.GetString(d[start..idx])).Append(" [|http]");
        return 0;
    print:
        sb.Append(prefix).Append(Encoding.ASCII.GetString(d.Slice(start, lineLength)));
        return idx;
    }
}
