using System.Buffers;
using System.IO.Pipelines;
using UserNet.Core;
using UserNet.Sockets;
using UserNet.Stack;
using UserNet.Tcp;
using UserNet.TestSupport;
using UserNet.Wire;

namespace UserNet.Tests.Tcp;

/// <summary>A segment the stack sent, parsed back from the captured frame (checksums verified).</summary>
internal sealed record Segment(ushort SourcePort, ushort DestinationPort, uint Seq, uint Ack, TcpFlags Flags, ushort Window, TcpOptions Options, byte[] Payload)
{
    /// <summary>True when every flag in <paramref name="f"/> is set.</summary>
    public bool Has(TcpFlags f) => (Flags & f) == f;
    /// <summary>The blocks of the SACK option (RFC 2018 section 3), in the order sent; empty without one.</summary>
    public TcpSackBlock[] SackBlocks { get; init; } = [];
    /// <summary>SEG.LEN: payload plus one for SYN and one for FIN.</summary>
    public int Length => Payload.Length + (Has(TcpFlags.Syn) ? 1 : 0) + (Has(TcpFlags.Fin) ? 1 : 0);
    public override string ToString() => $"{Flags} seq={Seq} ack={Ack} win={Window} len={Payload.Length}";
}

/// <summary>
/// The test plays the peer (10.0.0.1) of a bare <see cref="NetStack"/> (10.0.0.2): it crafts segments with the wire
/// views, reads back what the stack sent, and moves the clock. It keeps the peer's side of the sequence spaces
/// (<see cref="SndNxt"/>: the peer's next sequence number; <see cref="RcvNxt"/>: what the peer acknowledges).
/// </summary>
internal sealed class TcpPeer
{
    public const ushort ServerPort = 80;
    public const ushort PeerPort = 40000;
    public const uint DefaultPeerIss = 1_000_000;

    public TcpPeer(TcpSettings? settings = null, TcpSettings? stackDefaults = null, int mtu = 1500, IFrameObserver? observer = null,
        TcpIsnSelector? isnSelector = null, StackLimits? limits = null)
    {
        Settings = settings ?? new TcpSettings();
        F = TestStack.Started(o => new StackOptions
        {
            Address = o.Address,
            Mac = o.Mac,
            Seed = o.Seed,
            Mtu = mtu,
            ArpEntryLifetime = TimeSpan.FromHours(10), // the clock jumps far in some tests: keep the peer resolved
            Tcp = stackDefaults ?? new TcpSettings(),
            Observer = observer,
            TcpInitialSequenceNumbers = isnSelector,
            Limits = limits ?? new StackLimits(),
        });
        F.LearnPeer();
    }

    public TestStack F { get; }
    public NetStack Stack => F.Stack;
    public TcpSettings Settings { get; }
    public TimeSpan Now => F.Now;

    /// <summary>The stack's port in the connection under test, and the peer's.</summary>
    public ushort LocalPort { get; set; } = ServerPort;
    public ushort RemotePort { get; set; } = PeerPort;

    /// <summary>The peer's initial sequence number and next sequence number to send.</summary>
    public uint Iss { get; set; } = DefaultPeerIss;
    public uint SndNxt { get; set; }
    /// <summary>The next sequence number the peer expects from the stack (what it acknowledges).</summary>
    public uint RcvNxt { get; set; }
    /// <summary>The stack's initial sequence number, as read from its SYN or SYN-ACK.</summary>
    public uint StackIss { get; set; }
    /// <summary>The window the peer advertises (unscaled field value).</summary>
    public ushort Window { get; set; } = 65535;

    /// <summary>
    /// The peer uses timestamps (RFC 7323): every segment it sends without a TSopt of its own gets one, TSval from
    /// <see cref="PeerTsVal"/> and TSecr the stack's latest TSval (<see cref="StackTsVal"/>; zero on a SYN without ACK).
    /// </summary>
    public bool Timestamps { get; set; }
    /// <summary>The peer's TSval clock: milliseconds of the manual clock plus <see cref="PeerTsOffset"/>.</summary>
    public uint PeerTsOffset { get; set; } = 7_000_000;
    public uint PeerTsVal => unchecked((uint)(long)Now.TotalMilliseconds + PeerTsOffset);
    /// <summary>The TSval of the latest segment taken from the stack that carried one.</summary>
    public uint StackTsVal { get; private set; }

    public TcpConnectionListener? Listener { get; private set; }
    /// <summary>The stack's SYN-ACK of the last passive open.</summary>
    public Segment? SynAck { get; private set; }
    public TcpControlBlock? Tcb { get; set; }
    /// <summary>The application's side of <see cref="Tcb"/>.</summary>
    public TcpConnection? Connection => Tcb?.User as TcpConnection;

    // ------------------------------------------------------------------ sending as the peer

    /// <summary>Sends one segment from the peer with correct TCP and IP checksums.</summary>
    public void Send(TcpFlags flags, uint seq, uint ack, ReadOnlySpan<byte> payload = default, ushort? window = null,
        TcpOptions options = default, ushort? fromPort = null, ushort? toPort = null, ReadOnlySpan<TcpSackBlock> sack = default)
    {
        if (Timestamps && options.TimestampValue is null)
        {
            options.TimestampValue = PeerTsVal;
            options.TimestampEcho = (flags & TcpFlags.Ack) != 0 ? StackTsVal : 0;
        }
        var buf = new byte[60 + payload.Length];
        int hl = TcpSegment.WriteHeader(buf, fromPort ?? RemotePort, toPort ?? LocalPort, seq, ack, flags, window ?? Window, options, sack);
        payload.CopyTo(buf.AsSpan(hl));
        var seg = new TcpSegment(buf.AsSpan(0, hl + payload.Length));
        seg.UpdateChecksum(TestStack.PeerIp, TestStack.OurIp);
        F.Receive(TestStack.IpFrame(IpProtocol.Tcp, seg.Buffer));
    }

    /// <summary>Data (with ACK) at the peer's next sequence number; moves <see cref="SndNxt"/> on.</summary>
    public void SendData(ReadOnlySpan<byte> data, TcpFlags extra = TcpFlags.None)
    {
        Send(TcpFlags.Ack | extra, SndNxt, RcvNxt, data);
        SndNxt += (uint)data.Length + ((extra & TcpFlags.Fin) != 0 ? 1u : 0u);
    }

    /// <summary>A pure ACK of <paramref name="ack"/> (default: everything the peer has seen, <see cref="RcvNxt"/>).</summary>
    public void SendAck(uint? ack = null, ushort? window = null) => Send(TcpFlags.Ack, SndNxt, ack ?? RcvNxt, window: window);

    /// <summary>
    /// A pure ACK of <paramref name="ack"/> with a SACK option carrying <paramref name="blocks"/> ([left, right) each),
    /// first block first (RFC 2018 section 3).
    /// </summary>
    public void SendSack(uint ack, params (uint Left, uint Right)[] blocks)
    {
        var sack = blocks.Select(b => new TcpSackBlock(b.Left, b.Right)).ToArray();
        Send(TcpFlags.Ack, SndNxt, ack, sack: sack);
    }

    /// <summary>The peer's FIN (with ACK); moves <see cref="SndNxt"/> past it.</summary>
    public void SendFin(uint? ack = null)
    {
        Send(TcpFlags.Fin | TcpFlags.Ack, SndNxt, ack ?? RcvNxt);
        SndNxt++;
    }

    // ------------------------------------------------------------------ what the stack sent

    /// <summary>Every TCP segment the stack sent since the last call, oldest first; clears the capture.</summary>
    public List<Segment> Take()
    {
        var list = new List<Segment>();
        foreach (var frame in F.Sent)
            if (Parse(frame) is { } s)
            {
                list.Add(s);
                if (s.Options.TimestampValue is { } tsVal) StackTsVal = tsVal;
            }
        F.ClearSent();
        return list;
    }

    /// <summary>Exactly one segment was sent; returns it.</summary>
    public Segment TakeOne()
    {
        var list = Take();
        Assert.True(list.Count == 1, $"expected one segment, got {list.Count}: {string.Join("; ", list)}");
        return list[0];
    }

    /// <summary>Nothing was sent.</summary>
    public void ExpectNothing()
    {
        var list = Take();
        Assert.True(list.Count == 0, $"expected no segment, got {list.Count}: {string.Join("; ", list)}");
    }

    /// <summary>Takes the segments sent and moves <see cref="RcvNxt"/> past their data (the peer received them).</summary>
    public List<Segment> TakeAndReceive()
    {
        var list = Take();
        foreach (var s in list)
        {
            uint end = s.Seq + (uint)s.Length;
            if (s.Length > 0 && new SeqNumber(end) > new SeqNumber(RcvNxt) && new SeqNumber(s.Seq) <= new SeqNumber(RcvNxt)) RcvNxt = end;
        }
        return list;
    }

    public static Segment? Parse(byte[] frame)
    {
        var span = frame.AsSpan();
        if (!EthernetFrame.TryParse(span, out var eth) || eth.EtherType != EtherType.Ipv4) return null;
        Assert.Equal(Ipv4ParseError.None, Ipv4Header.TryParse(eth.Payload, out var ip));
        if (ip.Protocol != IpProtocol.Tcp) return null;
        Assert.Equal(TestStack.OurIp, ip.Source);
        Assert.Equal(TestStack.PeerIp, ip.Destination);
        Assert.True(TcpSegment.TryParse(ip.Payload, out var seg), "truncated TCP header");
        Assert.True(seg.IsChecksumValid(ip.Source, ip.Destination), "bad TCP checksum");
        Assert.True(TcpOptions.TryParse(seg.Options, out var options), "malformed TCP options");
        Span<TcpSackBlock> blocks = stackalloc TcpSackBlock[4];
        int blockCount = TcpOptions.ReadSackBlocks(seg.Options, blocks);
        return new Segment(seg.SourcePort, seg.DestinationPort, seg.SequenceNumber, seg.AcknowledgmentNumber, seg.Flags, seg.Window, options, seg.Payload.ToArray())
        {
            SackBlocks = blocks[..blockCount].ToArray(),
        };
    }

    // ------------------------------------------------------------------ the clock

    /// <summary>Moves the clock to <paramref name="t"/> and runs the timers that are due.</summary>
    public void At(TimeSpan t)
    {
        F.Now = t;
        Stack.Poll(t);
    }

    public void Advance(TimeSpan by) => At(Now + by);
    public void Advance(int milliseconds) => Advance(TimeSpan.FromMilliseconds(milliseconds));

    /// <summary>Moves the clock to the stack's next deadline and runs it; returns how far the clock moved.</summary>
    public TimeSpan RunNextTimer()
    {
        var d = Stack.NextDeadline;
        Assert.NotEqual(TimeSpan.MaxValue, d);
        var moved = d - Now;
        At(d);
        return moved;
    }

    // ------------------------------------------------------------------ opening

    /// <summary>The stack listens on <see cref="LocalPort"/>.</summary>
    public TcpConnectionListener Listen(int backlog = 16)
    {
        var start = TcpConnectionListener.StartAsync(Stack, LocalPort, backlog, Settings);
        Assert.True(start.IsCompletedSuccessfully, "a listener on a bare stack starts at once");
        Listener = start.Result;
        return Listener;
    }

    /// <summary>The connection's control block, found through the TCP layer's table.</summary>
    public TcpControlBlock? FindTcb() =>
        Stack.Tcp.Connections.FirstOrDefault(c => c.RemotePort == RemotePort && c.LocalPort == LocalPort && c.RemoteAddress == TestStack.PeerIp);

    /// <summary>The peer's SYN to the listener; returns the stack's SYN-ACK.</summary>
    public Segment SendSyn(TcpOptions? options = null, ushort? window = null)
    {
        SndNxt = Iss;
        Send(TcpFlags.Syn, Iss, 0, window: window, options: options ?? new TcpOptions { Mss = 1460, WindowScale = 7 });
        SndNxt = Iss + 1;
        var synAck = TakeOne();
        SynAck = synAck;
        StackIss = synAck.Seq;
        RcvNxt = synAck.Seq + 1;
        return synAck;
    }

    /// <summary>Passive open through the whole handshake (listening first if needed); returns the accepted connection.</summary>
    public TcpConnection Accept(TcpOptions? synOptions = null, ushort? finalAckWindow = null)
    {
        if (Listener is null) Listen();
        SendSyn(synOptions ?? new TcpOptions { Mss = 1460 });
        Send(TcpFlags.Ack, SndNxt, RcvNxt, window: finalAckWindow);
        ExpectNothing();
        Assert.True(Listener!.TryAccept(out var conn), "no connection was accepted");
        Tcb = FindTcb();
        Assert.NotNull(Tcb);
        Assert.Equal(TcpState.Established, Tcb!.State);
        return conn;
    }

    /// <summary>Active open from the stack to the peer: returns the control block in SYN-SENT; the SYN is left captured.</summary>
    public TcpControlBlock StartConnect()
    {
        var tcb = Stack.Tcp.Connect(TestStack.PeerIp, RemotePort, Settings, new TcpConnection(Stack, Settings));
        LocalPort = tcb.LocalPort;
        tcb.Connect();
        Tcb = tcb;
        return tcb;
    }

    /// <summary>Active open through the handshake: SYN, the peer's SYN-ACK, the stack's ACK.</summary>
    public TcpControlBlock Connect(TcpOptions? synAckOptions = null, ushort? window = null)
    {
        var tcb = StartConnect();
        var syn = TakeOne();
        StackIss = syn.Seq;
        RcvNxt = syn.Seq + 1;
        SndNxt = Iss;
        Send(TcpFlags.Syn | TcpFlags.Ack, Iss, RcvNxt, window: window, options: synAckOptions ?? new TcpOptions { Mss = 1460 });
        SndNxt = Iss + 1;
        var ack = TakeOne();
        Assert.Equal(TcpFlags.Ack, ack.Flags);
        Assert.Equal(TcpState.Established, tcb.State);
        return tcb;
    }

    // ------------------------------------------------------------------ the application

    /// <summary>The application writes (runs the stack's output inline: no host is attached).</summary>
    public void AppWrite(ReadOnlySpan<byte> data)
    {
        var t = Connection!.Output.WriteAsync(data.ToArray());
        Assert.True(t.IsCompleted, "the write should not wait");
    }

    /// <summary>The application finishes sending (CLOSE, or half-close): FIN after the data.</summary>
    public void AppClose() => Connection!.Output.Complete();

    /// <summary>Reads and consumes everything the application can read now; the bool says the stream ended (FIN).</summary>
    public (byte[] Data, bool Completed) AppRead()
    {
        var input = Connection!.Input;
        if (!input.TryRead(out var r)) return (Array.Empty<byte>(), false);
        var bytes = r.Buffer.ToArray();
        input.AdvanceTo(r.Buffer.End);
        return (bytes, r.IsCompleted);
    }

    /// <summary>The exception the application sees when it reads.</summary>
    public static System.Net.Sockets.SocketException ReadError(PipeReader input)
    {
        var e = Record.Exception(() => input.TryRead(out _));
        return Assert.IsType<System.Net.Sockets.SocketException>(e);
    }

    public static byte[] Bytes(int count, int seed = 0)
    {
        var b = new byte[count];
        for (int i = 0; i < count; i++) b[i] = (byte)(i * 7 + seed);
        return b;
    }
}
