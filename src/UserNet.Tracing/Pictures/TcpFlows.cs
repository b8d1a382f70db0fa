using System.Buffers.Binary;
using System.Text.RegularExpressions;
using UserNet.Capture;
using UserNet.Wire;

namespace UserNet.Pictures;

/// <summary>One TCP segment of a frame, with what the page needs of it.</summary>
internal sealed record TcpPoint(int Frame, double Time, int Direction, uint Seq, uint Ack, TcpFlags Flags, uint Window, int Length,
    byte? WindowScale, TcpSackBlock[] Sacks)
{
    /// <summary>Sequence space the segment takes: its data, and one each for SYN and FIN (RFC 9293 section 3.4).</summary>
    public int Consumes => Length + (Flags.HasFlag(TcpFlags.Syn) ? 1 : 0) + (Flags.HasFlag(TcpFlags.Fin) ? 1 : 0);
    /// <summary>Set when the same sequence range was sent before: tcptrace's "R".</summary>
    public bool Retransmission { get; set; }
}

/// <summary>A TCP connection seen in a capture: its two endpoints (A sent first) and its segments in frame order.</summary>
internal sealed class TcpConnection(string a, string b)
{
    public string A { get; } = a;
    public string B { get; } = b;
    public List<TcpPoint> Segments { get; } = new();
    /// <summary>State changes the stack's decisions name, as (frame index, time, "SYN-RECEIVED -> ESTABLISHED").</summary>
    public List<(int Frame, double Time, string Change)> States { get; } = new();

    private readonly uint?[] _syn = new uint?[2], _first = new uint?[2];

    public void Add(TcpPoint p)
    {
        Segments.Add(p);
        _first[p.Direction] ??= p.Seq;
        if (p.Flags.HasFlag(TcpFlags.Syn)) _syn[p.Direction] ??= p.Seq;
    }

    /// <summary>The first sequence number of a direction: its SYN's, or else the first it sent.</summary>
    public uint? Initial(int direction) => _syn[direction] ?? _first[direction];

    /// <summary>
    /// The shift to apply to the window a direction advertises: its SYN's window scale, when both SYNs carried the
    /// option (RFC 7323 section 2.2), else none.
    /// </summary>
    public int Scale(int direction)
    {
        byte? mine = null, theirs = null;
        bool sawMine = false, sawTheirs = false;
        foreach (var s in Segments)
        {
            if (!s.Flags.HasFlag(TcpFlags.Syn)) continue;
            if (s.Direction == direction && !sawMine) { mine = s.WindowScale; sawMine = true; }
            if (s.Direction != direction && !sawTheirs) { theirs = s.WindowScale; sawTheirs = true; }
        }
        return mine is { } m && theirs is not null ? Math.Min((int)m, 14) : 0;
    }

    public string Name(int direction) => direction == 0 ? $"{A} > {B}" : $"{B} > {A}";
}

/// <summary>Finds the TCP connections among the frames and marks retransmissions as tcptrace does.</summary>
internal static partial class TcpFlows
{
    [GeneratedRegex(@"\(([A-Z][A-Z0-9-]*) -> ([A-Z][A-Z0-9-]*)\)")]
    private static partial Regex StateChange();

    /// <summary>The connections in order of their first frame; <paramref name="retransmitted"/> gets each frame index marked.</summary>
    public static List<TcpConnection> Find(IReadOnlyList<FlowFrame> frames, long start, HashSet<int> retransmitted)
    {
        var byKey = new Dictionary<(string, string), TcpConnection>();
        var list = new List<TcpConnection>();
        var highest = new Dictionary<(TcpConnection, int), long>();
        for (int i = 0; i < frames.Count; i++)
        {
            var f = frames[i];
            if (!TryParse(f.Record, out var src, out var dst, out var seg)) continue;
            double t = (f.Record.Timestamp - start) / 1e9;
            TcpConnection c;
            int dir;
            if (byKey.TryGetValue((src, dst), out var found)) { c = found; dir = 0; }
            else if (byKey.TryGetValue((dst, src), out found)) { c = found; dir = 1; }
            else { c = new TcpConnection(src, dst); byKey[(src, dst)] = c; list.Add(c); dir = 0; }
            var p = seg(i, t, dir);
            c.Add(p);
            // A segment whose sequence range starts below the highest sent so far in its direction was sent before.
            if (p.Consumes > 0)
            {
                uint isn = c.Initial(dir)!.Value;
                long rel = unchecked((int)(p.Seq - isn));
                if (highest.TryGetValue((c, dir), out var high) && rel < high) { p.Retransmission = true; retransmitted.Add(i); }
                highest[(c, dir)] = Math.Max(high, rel + p.Consumes);
            }
            if (f.Decision is { } d && StateChange().Match(d) is { Success: true } m)
                c.States.Add((i, t, $"{m.Groups[1].Value} -> {m.Groups[2].Value}"));
        }
        return list;
    }

    /// <summary>An unfragmented TCP segment in an IPv4 datagram whose headers hold together; never throws.</summary>
    private static bool TryParse(CaptureRecord r, out string src, out string dst, out Func<int, double, int, TcpPoint> make)
    {
        src = dst = ""; make = null!;
        var f = r.Data;
        int ip;
        if (r.LinkType == LinkTypes.Raw) ip = 0;
        else if (r.LinkType == LinkTypes.Ethernet && f.Length >= 14 && BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(12)) == EtherType.Ipv4) ip = 14;
        else return false;
        if (f.Length < ip + 20 || f[ip] >> 4 != 4 || f[ip + 9] != IpProtocol.Tcp) return false;
        int ihl = (f[ip] & 0x0F) * 4;
        int total = BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(ip + 2));
        if (ihl < 20 || total < ihl + 20 || (BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(ip + 6)) & 0x3FFF) != 0) return false;
        int tcp = ip + ihl;
        if (f.Length < tcp + 20) return false;
        int offset = (f[tcp + 12] >> 4) * 4;
        if (offset < 20 || f.Length < tcp + offset || total < ihl + offset) return false;
        var s = new Ipv4Address(BinaryPrimitives.ReadUInt32BigEndian(f.AsSpan(ip + 12)));
        var d = new Ipv4Address(BinaryPrimitives.ReadUInt32BigEndian(f.AsSpan(ip + 16)));
        ushort sport = BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(tcp)), dport = BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(tcp + 2));
        src = $"{s}.{sport}"; dst = $"{d}.{dport}";
        uint seq = BinaryPrimitives.ReadUInt32BigEndian(f.AsSpan(tcp + 4));
        uint ack = BinaryPrimitives.ReadUInt32BigEndian(f.AsSpan(tcp + 8));
        var flags = (TcpFlags)f[tcp + 13];
        uint window = BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(tcp + 14));
        int length = total - ihl - offset;
        var area = f.AsSpan(tcp + 20, offset - 20);
        byte? scale = TcpOptions.TryParse(area, out var o) ? o.WindowScale : null;
        Span<TcpSackBlock> blocks = stackalloc TcpSackBlock[4];
        var sacks = blocks[..TcpOptions.ReadSackBlocks(area, blocks)].ToArray();
        make = (i, t, dir) => new TcpPoint(i, t, dir, seq, ack, flags, window, length, scale, sacks);
        return true;
    }
}
