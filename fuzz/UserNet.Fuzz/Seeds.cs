using System.Buffers.Binary;
using System.Text;
using UserNet.Capture;
using UserNet.Wire;

namespace UserNet.Fuzz;

/// <summary>
/// Writes the seed corpora (<c>fuzz/corpus/TARGET/</c>): inputs cut from the repository's captures
/// (<c>captures/*.pcapng</c>, <c>tests/UserNet.Trace.Tests/Fixtures/*.pcap</c>) and a few made here, each in its
/// target's input format. <c>dotnet run --project fuzz/UserNet.Fuzz -- --seeds .</c> writes them again.
/// </summary>
public static class Seeds
{
    /// <summary>Writes every target's seeds from the captures under <paramref name="repositoryRoot"/> into <paramref name="corpus"/>/TARGET/.</summary>
    public static void Write(string repositoryRoot, string corpus)
    {
        var captures = Directory.GetFiles(Path.Combine(repositoryRoot, "captures"), "*.pcapng").Order().ToArray();
        var fixtures = Directory.GetFiles(Path.Combine(repositoryRoot, "tests", "UserNet.Trace.Tests", "Fixtures"), "*.pcap").Order().ToArray();
        foreach (var target in FuzzTargets.All)
        {
            var dir = Path.Combine(corpus, target.Name);
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
            Directory.CreateDirectory(dir);
            var seeds = target.Name switch
            {
                "frames" => Frames(captures),
                "tcp-established" => TcpEstablished(),
                "capture" => Capture(captures.Concat(fixtures)),
                "tcpdump" => Tcpdump(fixtures.Concat(captures)),
                "iperf3-control" => Iperf3Control(),
                _ => throw new InvalidOperationException($"no seeds for {target.Name}"),
            };
            foreach (var (name, bytes) in seeds)
            {
                if (bytes.Length > target.MaxInputLength) throw new InvalidOperationException($"seed {target.Name}/{name} is {bytes.Length} bytes, longer than the target reads");
                File.WriteAllBytes(Path.Combine(dir, name), bytes);
            }
        }
    }

    private static List<CaptureRecord> Read(string path)
    {
        using var r = CaptureFile.Open(path);
        var list = new List<CaptureRecord>();
        while (r.Read() is { } rec) list.Add(rec);
        return list;
    }

    // ---------------------------------------------------------------- frames

    private static int FramesMaxInput => FuzzTargets.All.First(t => t.Name == "frames").MaxInputLength;

    private static IEnumerable<(string, byte[])> Frames(string[] captures)
    {
        foreach (var path in captures)
        {
            // The recordings' stack is 10.50.0.2; the target's is 10.0.0.2 with the same MAC: move the addresses over.
            var records = Read(path);
            var input = new MemoryStream();
            long? previous = null;
            bool malformed = path.Contains("malformed", StringComparison.Ordinal);
            foreach (var r in records.Where(r => r.LinkType == LinkTypes.Ethernet))
            {
                var frame = Readdress(r.Data);
                // A long recording is cut at a frame's edge where the target would cut it anyway.
                if (input.Length + 3 + frame.Length > FramesMaxInput) break;
                long gapMs = previous is { } p ? (r.Timestamp - p) / 1_000_000 : 0;
                previous = r.Timestamp;
                int k = 0;
                while (k < 15 && (10L << Math.Max(0, k - 1)) < gapMs && gapMs >= 10) k++;
                // Malformed frames keep their broken checksums; the others get theirs filled in again after the move.
                byte flags = (byte)(k << 4 | (malformed ? FramesTarget.AsIs : 0) | FramesTarget.Applications);
                input.WriteByte(flags);
                WriteU16(input, frame.Length);
                input.Write(frame);
            }
            yield return (Path.GetFileNameWithoutExtension(path), input.ToArray());
        }

        // Made here: a UDP datagram to the echo socket, a SYN to the listener, a TAP read of a TCP super-segment.
        var udp = new byte[8 + 5];
        UdpDatagram.Write(udp, 5000, FramesTarget.UdpPort, 5);
        "hello"u8.CopyTo(udp.AsSpan(8));
        yield return ("udp-echo", Record(FramesTarget.Applications, Ip(IpProtocol.Udp, udp)));

        var syn = new byte[24];
        TcpSegment.WriteHeader(syn, 40000, FramesTarget.TcpPort, 1000, 0, TcpFlags.Syn, 64240, new TcpOptions { Mss = 1460 });
        yield return ("tcp-syn", Record(FramesTarget.Applications, Ip(IpProtocol.Tcp, syn)));

        var super = new byte[20 + 3000];
        TcpSegment.WriteHeader(super, 40000, FramesTarget.TcpPort, 1001, 1, TcpFlags.Ack, 502, default);
        var frame2 = Ip(IpProtocol.Tcp, super);
        var virtio = new byte[VirtioNetHeader.Length];
        VirtioNetHeader.Write(virtio, FrameOffload.TcpSuperSegment(34, 54, 1448));
        yield return ("tap-super-segment", Record(FramesTarget.Virtio, [.. virtio, .. frame2]));
    }

    /// <summary>A recorded frame of 10.50.0.x, moved to 10.0.0.x (the frames target's subnet), checksums left to the target.</summary>
    private static byte[] Readdress(byte[] data)
    {
        var f = data.ToArray();
        for (int i = 0; i + 4 <= f.Length; i++)
            if (f[i] == 10 && f[i + 1] == 50 && f[i + 2] == 0 && f[i + 3] is 1 or 2) { f[i + 1] = 0; i += 3; }
        return f;
    }

    private static byte[] Ip(byte protocol, byte[] payload)
    {
        var f = new byte[EthernetFrame.HeaderLength + Ipv4Header.MinimumLength + payload.Length];
        EthernetFrame.Write(f, FramesTarget.OurMac, FramesTarget.PeerMac, EtherType.Ipv4);
        Ipv4Header.Write(f.AsSpan(EthernetFrame.HeaderLength), FramesTarget.PeerIp, FramesTarget.OurIp, protocol, payload.Length, 1);
        payload.CopyTo(f.AsSpan(EthernetFrame.HeaderLength + Ipv4Header.MinimumLength));
        return f;
    }

    private static byte[] Record(byte flags, byte[] frame)
    {
        var r = new MemoryStream();
        r.WriteByte(flags);
        WriteU16(r, frame.Length);
        r.Write(frame);
        return r.ToArray();
    }

    // ---------------------------------------------------------------- tcp-established

    /// <summary>The rest of recorded conversations, and a few made here, in the target's records (see <see cref="TcpEstablishedTarget"/>).</summary>
    private static IEnumerable<(string, byte[])> TcpEstablished()
    {
        const TcpFlags Ack = TcpFlags.Ack, Psh = TcpFlags.Psh, Fin = TcpFlags.Fin;
        var hello = "hello, tcp echo\n"u8.ToArray();

        // captures/tcp-handshake-data-close.pcapng from frame 7 on: data, FIN, the echo (64 bytes here), the close.
        yield return ("recorded-echo-and-close", new TcpInput()
            .Segment(0, 0, Psh | Ack, 63, data: hello).Segment(16, 0, Fin | Ack, 63)
            .Read(0).Write(0).Time(1).Segment(17, 64, Ack, 63).End(0).Segment(17, 65, Ack, 63).NextTimer().Bytes());

        // captures/tcp-retransmission.pcapng: our data is lost, the timer resends it, the ACK comes.
        yield return ("recorded-retransmission", new TcpInput()
            .Segment(0, 0, Psh | Ack, 63, data: hello).Read(0).Write(0).NextTimer().NextTimer().Segment(16, 64, Ack, 63).Bytes());

        yield return ("bulk-send-with-sack", new TcpInput()
            .Write(63).Write(63).Time(5)
            .Segment(0, 0, Ack, 501, options: Sack((1460, 2920))).Segment(0, 0, Ack, 501, options: Sack((1460, 4380)))
            .Segment(0, 0, Ack, 501, options: Sack((1460, 5840))).Time(30).Segment(0, 8192, Ack, 501).Bytes());

        yield return ("out-of-order-then-fill", new TcpInput()
            .Segment(100, 0, Ack, 501, data: Fill(50)).Segment(300, 0, Ack, 501, data: Fill(20)).Segment(0, 0, Ack, 501, data: Fill(100))
            .Read(0).Segment(150, 0, Ack, 501, data: Fill(150)).Read(0).Time(4).Bytes());

        yield return ("zero-window", new TcpInput()
            .Segment(0, 0, Ack, 501, data: Fill(1460)).Segment(1460, 0, Ack, 501, data: Fill(1460))
            .Segment(2920, 0, Ack, 501, data: Fill(1460)).Segment(4380, 0, Ack, 501, data: Fill(1460))
            .Write(10).Segment(5840, 0, Ack, 0).NextTimer().NextTimer().Read(0).Segment(5840, 0, Ack, 501).Bytes());

        yield return ("timestamps", new TcpInput()
            .Segment(0, 0, Psh | Ack, 501, options: Timestamps(1000, 0), data: hello).Write(3)
            .Segment(16, 256, Ack, 501, options: Timestamps(1010, 1)).Segment(16, 256, Ack, 501, options: Timestamps(900, 1))
            .Time(10).Bytes());

        yield return ("reset-in-window", new TcpInput()
            .Segment(5, 0, TcpFlags.Rst, 0).Segment(0, 0, TcpFlags.Rst, 0).Write(0).Read(0).Bytes());

        yield return ("icmp-fragmentation-needed", new TcpInput()
            .Write(40).IcmpError(IcmpType.DestinationUnreachable, 4, 576, 0).NextTimer().Segment(0, 576, Ack, 501).Bytes());

        yield return ("keepalive-and-timeout", new TcpInput()
            .Time(250, hundreds: true).Time(250, hundreds: true).NextTimer().NextTimer().NextTimer().NextTimer().Bytes());

        yield return ("second-connection", new TcpInput()
            .Segment(unchecked(0u - 1000), 0, TcpFlags.Syn, 64240, options: [2, 4, 5, 0xb4], otherPort: true)
            .Segment(unchecked(0u - 999), 0, Ack, 501, otherPort: true).Segment(unchecked(0u - 999), 0, Psh | Ack, 501, data: hello, otherPort: true).Bytes());

        yield return ("data-in-fragments-twice", new TcpInput()
            .Segment(0, 0, Psh | Ack, 501, data: hello, fragments: true, twice: true).Read(0).End(3).Time(9).Bytes());

        yield return ("abort", new TcpInput().Write(5).End(1).Segment(0, 0, Ack, 501).Bytes());

        // We close first: FIN-WAIT-1, its ACK (FIN-WAIT-2), the peer's FIN (TIME-WAIT), and TIME-WAIT's end.
        yield return ("active-close-time-wait", new TcpInput()
            .Write(0).End(0).Segment(0, 65, Ack, 501).Segment(0, 65, Psh | Ack, 501, data: hello).Segment(16, 65, Fin | Ack, 501)
            .Read(0).NextTimer().NextTimer().Bytes());
    }

    private static byte[] Fill(int n) => Enumerable.Range(0, n).Select(i => (byte)('a' + i % 26)).ToArray();

    private static byte[] Sack(params (uint Left, uint Right)[] blocks)
    {
        var o = new List<byte> { 1, 1, TcpOptions.SackKind, (byte)(2 + 8 * blocks.Length) };
        foreach (var (l, r) in blocks)
        {
            o.AddRange(U32(TcpEstablishedTarget.OurIss + 1 + l));
            o.AddRange(U32(TcpEstablishedTarget.OurIss + 1 + r));
        }
        return [.. o];
    }

    private static byte[] Timestamps(uint value, uint echo) => [1, 1, TcpOptions.TimestampKind, 10, .. U32(value), .. U32(echo)];

    private static byte[] U32(uint v)
    {
        var b = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(b, v);
        return b;
    }

    /// <summary>Builds a tcp-established input record by record.</summary>
    private sealed class TcpInput
    {
        private readonly MemoryStream _m = new();

        public TcpInput Segment(uint seq, uint ack, TcpFlags flags, ushort window, byte[]? options = null, byte[]? data = null,
            bool otherPort = false, bool fragments = false, bool twice = false)
        {
            options ??= [];
            data ??= [];
            int op = TcpEstablishedTarget.Segment | (otherPort ? 16 : 0) | (fragments ? 64 : 0) | (twice ? 128 : 0);
            _m.WriteByte((byte)op);
            _m.Write(U32(seq));
            _m.Write(U32(ack));
            _m.WriteByte((byte)flags);
            WriteU16(_m, window);
            _m.WriteByte((byte)options.Length);
            _m.Write(options);
            WriteU16(_m, data.Length);
            _m.Write(data);
            return this;
        }

        public TcpInput IcmpError(byte type, byte code, ushort mtu, uint seq)
        {
            _m.WriteByte(TcpEstablishedTarget.IcmpError);
            _m.WriteByte(type);
            _m.WriteByte(code);
            WriteU16(_m, mtu);
            _m.Write(U32(seq));
            return this;
        }

        public TcpInput Time(byte n, bool hundreds = false) => Op(TcpEstablishedTarget.Time | (hundreds ? 16 : 0), n);
        public TcpInput NextTimer() => Op(TcpEstablishedTarget.Time | 8, 0);
        public TcpInput Write(byte n) => Op(TcpEstablishedTarget.Write, n);
        public TcpInput Read(byte n) => Op(TcpEstablishedTarget.Read, n);
        public TcpInput End(int how) => Op(TcpEstablishedTarget.End | how << 3, null);

        private TcpInput Op(int op, byte? argument)
        {
            _m.WriteByte((byte)op);
            if (argument is { } a) _m.WriteByte(a);
            return this;
        }

        public byte[] Bytes() => _m.ToArray();
    }

    // ---------------------------------------------------------------- capture and tcpdump

    private static IEnumerable<(string, byte[])> Capture(IEnumerable<string> files)
    {
        // A file longer than the target reads would only be cut; the frames and tcpdump targets see its packets.
        int max = FuzzTargets.All.First(t => t.Name == "capture").MaxInputLength;
        foreach (var path in files.Where(f => new FileInfo(f).Length <= max)) yield return (Path.GetFileName(path), File.ReadAllBytes(path));

        // Made here: what the readers take that our captures do not show.
        var frame = Convert.FromHexString("ffffffffffff8233eacfd7fc080600010800060400018233eacfd7fc0a3200010000000000000a320002");
        yield return ("pcap-big-endian-nanoseconds", PcapBigEndianNanoseconds(frame));
        yield return ("pcapng-big-endian-blocks", PcapNgBigEndian(frame));
    }

    /// <summary>Classic pcap, big-endian, nanosecond magic (0xA1B23C4D), one packet cut to 30 of its 42 bytes.</summary>
    private static byte[] PcapBigEndianNanoseconds(byte[] frame)
    {
        var m = new MemoryStream();
        m.Write(U32(PcapReader.NanosecondMagic)); m.Write([0, 2, 0, 4]); m.Write(U32(0)); m.Write(U32(0)); m.Write(U32(30)); m.Write(U32(1));
        m.Write(U32(1_700_000_000)); m.Write(U32(999_999_999)); m.Write(U32(30)); m.Write(U32((uint)frame.Length));
        m.Write(frame.AsSpan(0, 30));
        return m.ToArray();
    }

    /// <summary>
    /// pcapng, big-endian: a section header, an interface description with if_tsresol (2^-10 s) and if_tsoffset, a
    /// simple packet block, an obsolete packet block, an unknown block to skip, and an enhanced packet with a comment.
    /// </summary>
    private static byte[] PcapNgBigEndian(byte[] frame)
    {
        var m = new MemoryStream();
        void Block(uint type, byte[] body)
        {
            uint length = (uint)(12 + body.Length);
            m.Write(U32(type)); m.Write(U32(length)); m.Write(body); m.Write(U32(length));
        }
        byte[] Padded(byte[] b) => [.. b, .. new byte[(4 - b.Length % 4) % 4]];
        byte[] Option(ushort code, byte[] value) => [(byte)(code >> 8), (byte)code, (byte)(value.Length >> 8), (byte)value.Length, .. Padded(value)];
        Block(0x0A0D0D0A, [.. U32(0x1A2B3C4D), 0, 1, 0, 0, .. Enumerable.Repeat((byte)0xFF, 8)]);
        Block(1, [0, 1, 0, 0, .. U32(0), .. Option(9, [0x8A]), .. Option(14, [0, 0, 0, 0, 0x65, 0x53, 0xF1, 0x00]), 0, 0, 0, 0]);
        Block(3, [.. U32((uint)frame.Length), .. Padded(frame)]);
        Block(2, [0, 0, 0, 0, .. U32(0), .. U32(1024), .. U32((uint)frame.Length), .. U32((uint)frame.Length), .. Padded(frame)]);
        Block(0x0BAD, [1, 2, 3, 4]);
        Block(6, [.. U32(0), .. U32(0), .. U32(2048), .. U32((uint)frame.Length), .. U32((uint)frame.Length), .. Padded(frame),
            .. Option(1, Encoding.UTF8.GetBytes("rx: arp request for us -> reply")), 0, 0, 0, 0]);
        return m.ToArray();
    }

    private static IEnumerable<(string, byte[])> Tcpdump(IEnumerable<string> files)
    {
        // Options: 0 (the default), 0x07 (-v -e -x), 0x0d|0x10 (-v -XX), 0x20|0x08 (-t -X), 0x80|0x03 (-tttt -v -e).
        byte[] options = [0x00, 0x07, 0x1D, 0x28, 0x83];
        int n = 0;
        foreach (var path in files)
        {
            var records = Read(path);
            for (int start = 0; start < records.Count; start += 12)
            {
                var input = new MemoryStream();
                input.WriteByte(options[n % options.Length]);
                long? previous = null;
                foreach (var r in records.Skip(start).Take(12))
                {
                    input.WriteByte(r.LinkType switch { LinkTypes.Ethernet => 0, LinkTypes.Raw => 1, LinkTypes.LinuxSll => 2, LinkTypes.LinuxSll2 => 3, _ => (byte)r.LinkType });
                    long step = previous is { } p ? (r.Timestamp - p) / 1000 : 0;
                    previous = r.Timestamp;
                    input.Write(U32((uint)(int)Math.Clamp(step, int.MinValue, int.MaxValue)));
                    input.WriteByte((byte)(sbyte)Math.Clamp(r.OriginalLength - r.Data.Length, sbyte.MinValue, sbyte.MaxValue));
                    WriteU16(input, r.Data.Length);
                    input.Write(r.Data);
                }
                if (input.Length > 4096) continue;
                yield return ($"{Path.GetFileNameWithoutExtension(path)}-{start / 12}", input.ToArray());
                n++;
            }
        }
    }

    // ---------------------------------------------------------------- iperf3-control

    private static IEnumerable<(string, byte[])> Iperf3Control()
    {
        var cookie = Encoding.ASCII.GetBytes("abcdefghijklmnopqrstuvwxyz2345672345\0");
        const string Parameters = """{"tcp":true,"omit":0,"time":2,"num":0,"blockcount":0,"parallel":2,"reverse":true,"len":131072,"pacing_timer":1000,"client_version":"3.12"}""";
        const string Results = """{"cpu_util_total":83.29,"cpu_util_user":1.12,"cpu_util_system":82.16,"sender_has_retransmits":1.8446744073709552e+19,"congestion_used":"bbr","streams":[{"id":1,"bytes":2688548864,"retransmits":1.8446744073709552e+19,"jitter":0,"errors":0,"packets":0,"start_time":0,"end_time":2.000624}]}""";

        // What iperf 3.12's client sends to our server: cookie, parameters, TEST_END, results, IPERF_DONE.
        yield return ("server-reads-a-whole-test", [0, .. cookie, .. Json(Parameters), 4, .. Json(Results), 16]);
        yield return ("server-reads-udp-parameters", [0, .. cookie, .. Json("""{"udp":true,"time":1,"parallel":1,"len":32768,"bandwidth":1048576,"window":4096}""")]);
        yield return ("server-reads-client-terminate", [0, .. cookie, .. Json("""{"tcp":true,"time":1}"""), 12]);
        // What iperf 3.12's server sends to our client: the states of a test with the results between them.
        yield return ("client-reads-a-whole-test", [1, 9, 10, 1, 2, 13, .. Json(Results), 14]);
        yield return ("client-reads-server-error", [1, 9, 0xFE, 0, 0, 0, 13, 0, 0, 0, 0]);
        yield return ("client-reads-access-denied", [1, 0xFF]);
    }

    private static byte[] Json(string json)
    {
        var bytes = Encoding.UTF8.GetBytes(json);
        return [.. U32((uint)bytes.Length), .. bytes];
    }

    private static void WriteU16(Stream s, int v)
    {
        s.WriteByte((byte)(v >> 8));
        s.WriteByte((byte)v);
    }
}
