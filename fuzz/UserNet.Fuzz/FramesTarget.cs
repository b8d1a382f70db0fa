using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using UserNet.Ip;
using UserNet.Sockets;
using UserNet.Stack;
using UserNet.Tcp;
using UserNet.Wire;

namespace UserNet.Fuzz;

/// <summary>
/// <c>frames</c>: a fresh stack (10.0.0.2/24) with a UDP socket on port 7 and a TCP listener on port 80, receiving the
/// frames cut from one input, then the invariants of <see cref="FuzzedStack"/>. Limits are small (a queue of four
/// datagrams, four ARP entries, four datagrams in reassembly, 4 KiB TCP buffers) so that short inputs reach them.
/// </summary>
/// <remarks>
/// The input is a sequence of records, each <c>flags (1 byte), length (2 bytes, big-endian), bytes</c>:
/// <list type="bullet">
/// <item>flags bit 0: hand the frame in as it is; otherwise its IPv4, TCP, UDP and ICMP checksums are filled in
/// first (<see cref="FrameChecksums"/>), so that mutations get past the checksums.</item>
/// <item>bit 1: the bytes are a TAP read with offloads: a 10-byte <c>virtio_net_hdr</c>, then the frame; read as the
/// TAP device reads it (a header it rejects drops the record).</item>
/// <item>bit 2: after the frame, the applications run: the UDP socket echoes each datagram it has, and the listener's
/// connections are accepted, echo what they read, and close when the peer has.</item>
/// <item>bits 4 to 7 (k): before the frame the clock moves on by 10 ms × 2^(k-1) (k = 0: not at all) and timers run.</item>
/// </list>
/// </remarks>
public static class FramesTarget
{
    public static readonly MacAddress OurMac = MacAddress.Parse("02:00:00:00:00:02");
    public static readonly Ipv4Address OurIp = Ipv4Address.Parse("10.0.0.2");
    public static readonly MacAddress PeerMac = MacAddress.Parse("52:54:00:12:34:56");
    public static readonly Ipv4Address PeerIp = Ipv4Address.Parse("10.0.0.1");
    public const ushort UdpPort = 7, TcpPort = 80;

    public const byte AsIs = 1, Virtio = 2, Applications = 4;

    public static void Run(ReadOnlySpan<byte> input)
    {
        var tcp = new TcpSettings { SendBufferSize = 4096, ReceiveBufferSize = 4096, MaxOutOfOrderRanges = 4, KeepAliveTime = TimeSpan.FromSeconds(5) };
        using var s = new FuzzedStack(new StackOptions
        {
            Address = new Ipv4Subnet(OurIp, 24), Mac = OurMac, Seed = 1,
            ArpQueueLength = 2, ArpCacheCapacity = 4, UdpReceiveQueueLength = 4,
            Reassembly = new ReassemblyOptions { MaxDatagrams = 4, MaxBytes = 16 * 1024 },
            Tcp = tcp,
        }, PeerMac, PeerIp, TimeSpan.FromSeconds(1));
        var apps = new EchoApplications(s, tcp);

        var r = new InputReader(input);
        while (!r.AtEnd)
        {
            byte flags = r.U8();
            var bytes = r.Bytes(r.U16());
            int k = flags >> 4;
            if (k > 0) s.Advance(TimeSpan.FromMilliseconds(10L << (k - 1)));
            Deliver(s, bytes, flags);
            if ((flags & Applications) != 0) apps.Run();
        }
        s.CheckInvariants();
    }

    /// <summary>Hands in one record's frame: through the TAP's virtio header if asked, with checksums filled in unless asked not to.</summary>
    internal static void Deliver(FuzzedStack s, ReadOnlySpan<byte> bytes, byte flags)
    {
        var offload = default(FrameOffload);
        if ((flags & Virtio) != 0)
        {
            // As TapDevice reads a frame: too short for the header, or a header it cannot honour, and the frame is dropped.
            if (bytes.Length < VirtioNetHeader.Length) return;
            var header = bytes[..VirtioNetHeader.Length].ToArray();
            if (!new VirtioNetHeader(header).TryRead(bytes.Length - VirtioNetHeader.Length, out offload)) return;
            bytes = bytes[VirtioNetHeader.Length..];
        }
        var frame = bytes.ToArray();
        if ((flags & AsIs) == 0) FrameChecksums.Fix(frame);
        s.Receive(frame, offload);
    }

    /// <summary>
    /// What runs on the stack between frames when the input asks: a UDP echo on port 7 and a TCP echo behind the
    /// listener on port 80, written as an application would, with reads that complete when something is there.
    /// </summary>
    private sealed class EchoApplications
    {
        private readonly FuzzedStack _s;
        private readonly UdpSocket _udp;
        private readonly TcpConnectionListener _listener;
        private readonly List<Echo> _echoes = new();
        private readonly byte[] _buffer = new byte[2048];
        private ValueTask<UdpReceiveFromResult>? _udpRead;
        private ValueTask<TcpConnection>? _accept;

        public EchoApplications(FuzzedStack s, TcpSettings settings)
        {
            _s = s;
            _udp = Completed(UdpSocket.BindAsync(s.Stack, UdpPort), "binding the UDP socket");
            _listener = Completed(TcpConnectionListener.StartAsync(s.Stack, TcpPort, backlog: 2, settings), "starting the listener");
        }

        public void Run() => _s.App(() =>
        {
            // UDP echo: every datagram waiting goes back where it came from.
            for (int i = 0; i < 8; i++)
            {
                _udpRead ??= _udp.ReceiveFromAsync(_buffer);
                if (!_udpRead.Value.IsCompleted) break;
                var got = _udpRead.Value.Result;
                _udpRead = null;
                _ = _udp.SendToAsync(_buffer.AsMemory(0, got.ReceivedBytes), got.RemoteEndPoint);
            }
            // TCP: accept whoever is waiting, then let each connection echo.
            for (int i = 0; i < 4; i++)
            {
                _accept ??= _listener.AcceptAsync();
                if (!_accept.Value.IsCompleted) break;
                _echoes.Add(new Echo(_accept.Value.Result));
                _accept = null;
            }
            foreach (var e in _echoes) e.Step();
            _echoes.RemoveAll(e => e.Done);
        });

        private static T Completed<T>(Task<T> t, string what) =>
            t.IsCompletedSuccessfully ? t.Result : throw new FuzzFailure($"{what} on a bare stack did not complete at once");
    }

    /// <summary>One accepted connection that sends back what it reads, and finishes once the peer has.</summary>
    private sealed class Echo(TcpConnection c)
    {
        private ValueTask<FlushResult> _flush;
        private bool _finished;

        public bool Done => _finished;

        public void Step()
        {
            if (!_flush.IsCompleted || _finished) return;
            ReadResult r;
            try
            {
                if (!c.Input.TryRead(out r)) return;
            }
            catch (System.Net.Sockets.SocketException)
            {
                _finished = true; // reset: the read says so, and the connection is gone
                return;
            }
            foreach (var segment in r.Buffer) c.Output.Write(segment.Span);
            c.Input.AdvanceTo(r.Buffer.End);
            _flush = c.Output.FlushAsync();
            if (r.IsCompleted)
            {
                c.Output.Complete();
                c.Input.Complete();
                _finished = true;
            }
        }
    }
}
