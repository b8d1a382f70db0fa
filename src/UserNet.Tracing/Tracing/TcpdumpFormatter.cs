using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using UserNet.Capture;
using UserNet.Wire;

namespace UserNet.Tracing;

/// <summary>
/// Describes captured frames in the words of tcpdump 4.99 with <c>-n</c>, line for line, for Ethernet, Linux cooked
/// (SLL, SLL2) and raw-IP link types, ARP, IPv4, IPv6 (hop-by-hop, destination options, fragment), ICMP, ICMPv6
/// (neighbour and router discovery, MLDv1 and v2, errors), UDP, TCP, DNS and HTTP's first line (with <c>-v</c>,
/// <c>-e</c>, the <c>-t</c> family and <c>-x</c>/<c>-X</c>). Anything else still gets one line. Keeps per-conversation TCP state (for relative sequence numbers) and the previous timestamp, so
/// one formatter describes one capture, in order. Never throws for any bytes.
/// </summary>
public sealed partial class TcpdumpFormatter
{
    private readonly TcpdumpOptions _o;
    private readonly Dictionary<TcpConversation, (uint Seq, uint Ack)> _tcpInitial = new();
    /// <summary>Conversations remembered for relative sequence numbers; beyond this a long live trace starts afresh.</summary>
    private const int MaxTcpConversations = 65536;
    private long? _first, _previous;

    public TcpdumpFormatter(TcpdumpOptions? options = null) => _o = options ?? new TcpdumpOptions();

    public TcpdumpOptions Options => _o;

    /// <summary>The text for one record (no trailing newline; -v and -x output can span lines).</summary>
    public string Format(CaptureRecord record)
    {
        var sb = new StringBuilder(128);
        Format(record.Timestamp, record.Data, record.OriginalLength, record.LinkType, sb);
        return sb.ToString();
    }

    public string Format(long timestamp, ReadOnlySpan<byte> data, int originalLength, int linkType = LinkTypes.Ethernet)
    {
        var sb = new StringBuilder(128);
        Format(timestamp, data, originalLength, linkType, sb);
        return sb.ToString();
    }

    public void Format(long timestamp, ReadOnlySpan<byte> data, int originalLength, int linkType, StringBuilder sb)
    {
        if (data.Length == 0)
        {
            // tcpdump checks this before it prints the time.
            sb.Append("[Invalid header: caplen==0, len==").Append(originalLength).Append(']');
            return;
        }
        AppendTimestamp(timestamp, sb);
        int start = sb.Length;
        int linkHeader = 0;
        bool cutShort = false;
        _protocol = "";
        _linkHeader = 0;
        try
        {
            switch (linkType)
            {
                case LinkTypes.Ethernet: linkHeader = Ethernet(data, originalLength, sb); break;
                case LinkTypes.Raw or LinkTypes.DltRaw or LinkTypes.DltRawOpenBsd or LinkTypes.Ipv4 or LinkTypes.Ipv6:
                    if (_o.LinkHeader) sb.Append("ip: ");
                    IpN(data, originalLength, sb);
                    break;
                case LinkTypes.LinuxSll: linkHeader = Sll(data, originalLength, sb); break;
                case LinkTypes.LinuxSll2: linkHeader = Sll2(data, originalLength, sb); break;
                default: sb.Append("link-type ").Append(linkType).Append(", length ").Append(originalLength); break;
            }
        }
        catch (Truncated e)
        {
            // tcpdump's printers longjmp out at the first field beyond the capture; the hex dump then starts at the link header.
            sb.Append(" [|").Append(_protocol).Append(']');
            cutShort = e.LongJump;
            linkHeader = _linkHeader;
        }
        catch (Exception e) when (e is IndexOutOfRangeException or ArgumentOutOfRangeException or ArgumentException)
        {
            // A gap in our decoding, not in the frame: say so on the line instead of failing the whole trace.
            sb.Length = start;
            sb.Append("[undecodable frame, length ").Append(originalLength).Append(']');
        }
        if (_o.HexDump != HexDumpStyle.None)
        {
            // Like tcpdump: a truncated ARP or ICMP packet is dumped whole, link header included; a frame too short for a
            // link header only with -xx/-XX.
            var text = sb.ToString(start, sb.Length - start);
            bool truncated = text.Contains("[|arp]", StringComparison.Ordinal) || text.Contains("[|icmp]", StringComparison.Ordinal);
            int from = _o.HexDumpIncludesLinkHeader || truncated || cutShort ? 0 : Math.Min(linkHeader, data.Length);
            if (linkHeader >= 0 || _o.HexDumpIncludesLinkHeader)
                HexDump(data[from..], _o.HexDump == HexDumpStyle.HexAndAscii, sb);
        }
    }

    private void AppendTimestamp(long ts, StringBuilder sb)
    {
        _first ??= ts;
        long previous = _previous ?? ts;
        _previous = ts;
        switch (_o.Timestamps)
        {
            case TimestampStyle.None: return;
            case TimestampStyle.Epoch:
                sb.Append(FloorDiv(ts, 1_000_000_000)).Append('.').Append(Micros(ts).ToString("D6", CultureInfo.InvariantCulture)).Append(' ');
                return;
            case TimestampStyle.SincePrevious: Delta(ts - previous, sb); return;
            case TimestampStyle.SinceFirst: Delta(ts - _first.Value, sb); return;
        }
        var utc = DateTime.UnixEpoch.AddTicks(FloorDiv(ts, 1_000_000_000) * TimeSpan.TicksPerSecond);
        var local = TimeZoneInfo.ConvertTimeFromUtc(utc, _o.TimeZone);
        if (_o.Timestamps == TimestampStyle.DateAndTime) sb.Append(local.ToString("yyyy-MM-dd ", CultureInfo.InvariantCulture));
        sb.Append(local.ToString("HH:mm:ss", CultureInfo.InvariantCulture)).Append('.').Append(Micros(ts).ToString("D6", CultureInfo.InvariantCulture)).Append(' ');
    }

    private static void Delta(long nanos, StringBuilder sb)
    {
        if (nanos < 0) { sb.Append('-'); nanos = -nanos; }
        else sb.Append(' ');
        long s = nanos / 1_000_000_000;
        sb.Append((s / 3600).ToString("D2", CultureInfo.InvariantCulture)).Append(':')
          .Append((s / 60 % 60).ToString("D2", CultureInfo.InvariantCulture)).Append(':')
          .Append((s % 60).ToString("D2", CultureInfo.InvariantCulture)).Append('.')
          .Append((nanos % 1_000_000_000 / 1000).ToString("D6", CultureInfo.InvariantCulture)).Append(' ');
    }

    private static long FloorDiv(long a, long b) => a >= 0 ? a / b : (a - b + 1) / b;
    private static long Micros(long ts) => (ts - FloorDiv(ts, 1_000_000_000) * 1_000_000_000) / 1000;

    // ---------------------------------------------------------------- Ethernet (IEEE 802.3)

    /// <summary>Returns the link header length (for the hex dump), or -1 when the hex dump was already printed.</summary>
    private int Ethernet(ReadOnlySpan<byte> f, int wireLength, StringBuilder sb)
    {
        if (f.Length < EthernetFrame.HeaderLength) { sb.Append(" [|ether]"); return -1; }
        ushort type = BinaryPrimitives.ReadUInt16BigEndian(f[12..]);
        int header = EthernetFrame.HeaderLength;
        int payloadLength = wireLength - header;
        if (type <= 1500)
        {
            // An IEEE 802.3 length field with an LLC header: outside what we decode.
            Macs(f, sb); sb.Append(", 802.3, length ").Append(wireLength).Append(": LLC, length ").Append(type);
            return header;
        }
        if (_o.LinkHeader)
        {
            Macs(f, sb);
            sb.Append(", ethertype ").Append(EtherTypeName(type)).Append(" (0x").Append(type.ToString("x4")).Append("), length ").Append(wireLength).Append(": ");
        }
        var payload = f[header..];
        if (type == EtherType.Vlan)
        {
            if (payload.Length < 4) { sb.Append(" [|vlan]"); return header; }
            ushort tci = BinaryPrimitives.ReadUInt16BigEndian(payload);
            type = BinaryPrimitives.ReadUInt16BigEndian(payload[2..]);
            if (_o.LinkHeader)
                sb.Append("vlan ").Append(tci & 0xFFF).Append(", p ").Append(tci >> 13).Append((tci & 0x1000) != 0 ? ", DEI" : "")
                  .Append(", ethertype ").Append(EtherTypeName(type)).Append(" (0x").Append(type.ToString("x4")).Append("), ");
            payload = payload[4..];
            payloadLength -= 4;
            header += 4;
        }
        _linkHeader = header;
        switch (type)
        {
            case EtherType.Arp: Arp(payload, payloadLength, sb); break;
            case EtherType.Ipv4: Ip(payload, payloadLength, sb, prefix: !_o.LinkHeader); break;
            case EtherType.Ipv6: Ipv6(payload, payloadLength, sb); break;
            default:
                if (!_o.LinkHeader)
                {
                    // tcpdump prints the link header and the bytes for an EtherType it does not know.
                    Macs(f, sb);
                    sb.Append(", ethertype ").Append(EtherTypeName(type)).Append(" (0x").Append(type.ToString("x4")).Append("), length ").Append(wireLength).Append(": ");
                }
                if (_o.HexDump == HexDumpStyle.None) { HexDump(payload, ascii: true, sb); return -1; }
                break;
        }
        return header;
    }

    private static void Macs(ReadOnlySpan<byte> f, StringBuilder sb) =>
        sb.Append(MacAddress.Read(f[6..]).ToString()).Append(" > ").Append(MacAddress.Read(f).ToString());

    private static string EtherTypeName(ushort t) => t switch
    {
        EtherType.Ipv4 => "IPv4",
        EtherType.Arp => "ARP",
        EtherType.Ipv6 => "IPv6",
        EtherType.Vlan => "802.1Q",
        0x8035 => "Reverse ARP",
        0x88cc => "LLDP",
        0x8847 => "MPLS unicast",
        0x88a8 => "802.1Q-QinQ",
        _ => "Unknown",
    };

    /// <summary>tcpdump's hex dump: 16 bytes a line in 2-byte groups, optionally followed by the printable ASCII.</summary>
    private static void HexDump(ReadOnlySpan<byte> bytes, bool ascii, StringBuilder sb)
    {
        for (int line = 0; line < bytes.Length; line += 16)
        {
            var chunk = bytes.Slice(line, Math.Min(16, bytes.Length - line));
            sb.Append("\n\t0x").Append(line.ToString("x4")).Append(": ");
            int width = 0;
            for (int i = 0; i < chunk.Length; i++)
            {
                if (i % 2 == 0) { sb.Append(' '); width++; }
                sb.Append(chunk[i].ToString("x2"));
                width += 2;
            }
            if (ascii)
            {
                sb.Append(' ', 40 - width + 2);
                foreach (var b in chunk) sb.Append(b is > 0x20 and < 0x7F ? (char)b : '.'); // tcpdump shows a space as '.'
            }
        }
    }

    // ---------------------------------------------------------------- ARP (RFC 826)

    private void Arp(ReadOnlySpan<byte> p, int length, StringBuilder sb)
    {
        if (!_o.LinkHeader) sb.Append("ARP, ");
        if (p.Length < 8) { TrimProtocolPrefix(sb, "ARP, "); sb.Append(" [|arp]"); return; }
        ushort hrd = BinaryPrimitives.ReadUInt16BigEndian(p), pro = BinaryPrimitives.ReadUInt16BigEndian(p[2..]);
        int hln = p[4], pln = p[5];
        ushort op = BinaryPrimitives.ReadUInt16BigEndian(p[6..]);
        int needed = 8 + 2 * hln + 2 * pln;
        if (pro != EtherType.Ipv4 || pln != 4 || hln == 0)
        {
            sb.Append(ArpHardwareName(hrd)).Append(", ").Append(pro == EtherType.Ipv4 ? "IPv4" : $"Unknown Protocol (0x{pro:x4})");
            if (p.Length < needed) { sb.Append(" [|arp]"); return; }
            sb.Append(", length ").Append(length);
            return;
        }
        if (p.Length < needed) { TrimProtocolPrefix(sb, "ARP, "); sb.Append(" [|arp]"); return; }
        if (_o.Verbose > 0) sb.Append(ArpHardwareName(hrd)).Append(" (len ").Append(hln).Append("), IPv4 (len 4), ");
        var sha = p.Slice(8, hln); var spa = new Ipv4Address(BinaryPrimitives.ReadUInt32BigEndian(p[(8 + hln)..]));
        var tha = p.Slice(12 + hln, hln); var tpa = new Ipv4Address(BinaryPrimitives.ReadUInt32BigEndian(p[(12 + 2 * hln)..]));
        switch (op)
        {
            case 1:
                sb.Append("Request who-has ").Append(tpa.ToString());
                if (tha.IndexOfAnyExcept((byte)0) >= 0) sb.Append(" (").Append(LinkAddress(tha)).Append(')');
                sb.Append(" tell ").Append(spa.ToString());
                break;
            case 2: sb.Append("Reply ").Append(spa.ToString()).Append(" is-at ").Append(LinkAddress(sha)); break;
            case 3: sb.Append("Reverse Request who-is ").Append(LinkAddress(tha)).Append(" tell ").Append(LinkAddress(sha)); break;
            case 4: sb.Append("Reverse Reply ").Append(LinkAddress(tha)).Append(" at ").Append(tpa.ToString()); break;
            case 8: sb.Append("Inverse Request who-is ").Append(LinkAddress(tha)).Append(" tell ").Append(LinkAddress(sha)); break;
            case 9: sb.Append("Inverse Reply ").Append(LinkAddress(sha)).Append(" at ").Append(spa.ToString()); break;
            default: sb.Append("Unknown (").Append(op).Append(')'); break;
        }
        sb.Append(", length ").Append(length);
    }

    private static void TrimProtocolPrefix(StringBuilder sb, string prefix)
    {
        // tcpdump prints truncation without the "ARP, " words it had not printed yet.
        if (sb.Length >= prefix.Length && sb.ToString(sb.Length - prefix.Length, prefix.Length) == prefix) sb.Length -= prefix.Length;
    }

    private static string ArpHardwareName(ushort h) => h switch
    {
        1 => "Ethernet",
        6 => "TokenRing",
        15 => "Frame Relay",
        24 => "IEEE1394",
        _ => $"Unknown Hardware ({h})",
    };

    private static string LinkAddress(ReadOnlySpan<byte> a)
    {
        var sb = new StringBuilder(a.Length * 3);
        for (int i = 0; i < a.Length; i++) { if (i > 0) sb.Append(':'); sb.Append(a[i].ToString("x2")); }
        return sb.ToString();
    }

    // ---------------------------------------------------------------- Raw IP and Linux cooked captures (LINKTYPE_RAW, LINUX_SLL, LINUX_SLL2)

    /// <summary>A raw IP packet: IPv4 or IPv6 by its version nibble (tcpdump's ipN_print).</summary>
    private void IpN(ReadOnlySpan<byte> p, int length, StringBuilder sb)
    {
        _protocol = "ipn";
        if (length < 1) { sb.Append("truncated-ip ").Append(length); return; }
        switch (G8(p, 0) & 0xF0)
        {
            case 0x40: Ip(p, length, sb, prefix: !_o.LinkHeader); break;
            case 0x60: Ipv6(p, length, sb); break;
            default: sb.Append("unknown ip ").Append(p[0] >> 4); break;
        }
    }

    private static string SllPacketType(int t) => t switch { 0 => "In", 1 => "B", 2 => "M", 3 => "P", 4 => "Out", _ => "?" };

    /// <summary>"ethertype IPv6 (0x86dd), length N: " as the cooked headers print the protocol.</summary>
    private static void SllProtocol(ushort type, int length, StringBuilder sb)
    {
        if (type <= 1500)
            sb.Append(type switch { 1 => "802.3", 4 => "802.2", _ => $"ethertype Unknown (0x{type:x4})" });
        else sb.Append("ethertype ").Append(EtherTypeName(type)).Append(" (0x").Append(type.ToString("x4")).Append(')');
        sb.Append(", length ").Append(length).Append(": ");
    }

    /// <summary>What follows a cooked header: false when tcpdump does not decode the protocol.</summary>
    private bool CookedPayload(ushort type, ReadOnlySpan<byte> p, int length, StringBuilder sb)
    {
        switch (type)
        {
            case EtherType.Ipv4: Ip(p, length, sb, prefix: !_o.LinkHeader); return true;
            case EtherType.Ipv6: Ipv6(p, length, sb); return true;
            case EtherType.Arp: Arp(p, length, sb); return true;
            default: return false;
        }
    }

    /// <summary>LINKTYPE_LINUX_SLL: packet type, address type and length, 8 address bytes, protocol (16 bytes).</summary>
    private int Sll(ReadOnlySpan<byte> f, int wireLength, StringBuilder sb)
    {
        const int header = 16;
        _protocol = "sll";
        if (f.Length < header) { sb.Append(" [|sll]"); return 0; }
        ushort type = U16(f, 14);
        _linkHeader = header;
        void Print(ReadOnlySpan<byte> f, StringBuilder sb)
        {
            sb.Append(SllPacketType(U16(f, 0)).PadLeft(3)).Append(' ');
            if (U16(f, 4) == 6) sb.Append(LinkAddress(f.Slice(6, 6))).Append(' ');
            SllProtocol(U16(f, 14), wireLength, sb);
        }
        if (_o.LinkHeader) Print(f, sb);
        if (type > 1500 && CookedPayload(type, f[header..], wireLength - header, sb)) return header;
        if (!_o.LinkHeader && type > 1500) Print(f, sb);
        if (_o.HexDump == HexDumpStyle.None) { HexDump(f[header..], ascii: true, sb); return -1; }
        return header;
    }

    /// <summary>LINKTYPE_LINUX_SLL2 (what tcpdump -i any writes): protocol, interface index, address type, packet type, address (20 bytes).</summary>
    private int Sll2(ReadOnlySpan<byte> f, int wireLength, StringBuilder sb)
    {
        const int header = 20;
        _protocol = "sll2";
        if (f.Length < header) { sb.Append(" [|sll2]"); return 0; }
        uint ifindex = U32(f, 4);
        sb.Append((InterfaceName(ifindex) ?? "?").PadRight(5)).Append(' ');
        sb.Append(SllPacketType(f[10]).PadRight(3)).Append(' ');
        ushort type = U16(f, 0);
        _linkHeader = header;
        void Print(ReadOnlySpan<byte> f, StringBuilder sb)
        {
            sb.Append("ifindex ").Append(U32(f, 4)).Append(' ');
            if (f[11] == 6) sb.Append(LinkAddress(f.Slice(12, 6))).Append(' ');
            SllProtocol(U16(f, 0), wireLength, sb);
        }
        if (_o.LinkHeader) Print(f, sb);
        if (type > 1500 && CookedPayload(type, f[header..], wireLength - header, sb)) return header;
        if (!_o.LinkHeader && type > 1500) Print(f, sb);
        if (_o.HexDump == HexDumpStyle.None) { HexDump(f[header..], ascii: true, sb); return -1; }
        return header;
    }

    private static Dictionary<uint, string>? _interfaceNames;
    /// <summary>The link header's length once known, for the hex dump of a packet whose printer gave up.</summary>
    private int _linkHeader;

    /// <summary>The name of this machine's interface with that index, as tcpdump's if_indextoname gives it (Linux: /sys/class/net).</summary>
    private static string? InterfaceName(uint index)
    {
        var names = _interfaceNames;
        if (names is null)
        {
            names = new Dictionary<uint, string>();
            try
            {
                foreach (var dir in Directory.EnumerateDirectories("/sys/class/net"))
                    if (uint.TryParse(File.ReadAllText(Path.Combine(dir, "ifindex")).Trim(), out var i)) names[i] = Path.GetFileName(dir);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
            _interfaceNames = names;
        }
        return names.GetValueOrDefault(index);
    }
}
