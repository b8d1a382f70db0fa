using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Net.Sockets;
using UserNet.Sockets;
using UserNet.Stack;
using UserNet.Tcp;
using UserNet.Wire;

namespace UserNet.Fuzz;

/// <summary>
/// <c>tcp-established</c>: before each input the stack replays the start of a recorded conversation
/// (<c>captures/tcp-handshake-data-close.pcapng</c>: the kernel's ARP request, its SYN, its ACK), so the input begins
/// on an ESTABLISHED connection with a listener behind it. The input then plays the peer, the network, the clock and
/// the application; after it come the invariants of <see cref="FuzzedStack"/>, and all along every segment the stack
/// sends on the connection is checked against what the application wrote: valid checksums, and no byte it did not
/// write, nor one at the wrong place.
/// </summary>
/// <remarks>
/// The input is a sequence of records; the low three bits of each record's first byte (op) say what it is:
/// <list type="bullet">
/// <item>0 (and 7): a segment from the peer: <c>seq (4), ack (4), flags (1), window (2), options length (1), options,
/// data length (2), data</c>. seq counts from the peer's first data byte and ack from ours (relative numbers, as
/// tcpdump shows them), so small numbers are in the window. op bit 3: a wrong checksum; bit 4: from another port of
/// the peer (a new connection to the listener); bit 5: then an urgent pointer (2); bit 6: in two IP fragments;
/// bit 7: delivered twice.</item>
/// <item>1: a frame as in <see cref="FramesTarget"/>: <c>flags (1), length (2), bytes</c>.</item>
/// <item>2: an ICMP error from the peer about the connection: <c>type (1), code (1), next-hop MTU (2), quoted seq
/// (4, relative)</c>.</item>
/// <item>3: time: <c>n (1)</c>: op bit 3: to the stack's next deadline; else on by (n + 1) × 10 ms (× 100 with bit 4);
/// timers run.</item>
/// <item>4: the application writes <c>(n (1) + 1) × 64</c> bytes, unless its last write still waits for room.</item>
/// <item>5: the application reads <c>n (1)</c> × 64 bytes (0: all it can).</item>
/// <item>6: the application ends: op bits 3-4: 0 shuts down sending (FIN), 1 aborts (RST), 2 stops reading, 3 closes.</item>
/// </list>
/// </remarks>
public static class TcpEstablishedTarget
{
    // The recorded conversation: the stack 10.50.0.2 (02:00:00:00:00:02) on port 7, the kernel 10.50.0.1 on port 40010.
    public static readonly MacAddress OurMac = MacAddress.Parse("02:00:00:00:00:02");
    public static readonly Ipv4Address OurIp = Ipv4Address.Parse("10.50.0.2");
    public static readonly MacAddress PeerMac = MacAddress.Parse("82:33:ea:cf:d7:fc");
    public static readonly Ipv4Address PeerIp = Ipv4Address.Parse("10.50.0.1");
    public const ushort OurPort = 7, PeerPort = 40010, OtherPeerPort = 40011;
    /// <summary>The initial sequence numbers of the recording: the kernel's (its SYN) and the stack's (its SYN-ACK).</summary>
    public const uint PeerIss = 2481071193, OurIss = 3746497625;

    /// <summary>Frames 2, 4 and 6 of captures/tcp-handshake-data-close.pcapng (a test checks they still are).</summary>
    public static readonly byte[][] RecordedHandshake =
    [
        Convert.FromHexString("ffffffffffff8233eacfd7fc080600010800060400018233eacfd7fc0a3200010000000000000a320002"),
        Convert.FromHexString("0200000000028233eacfd7fc08004500003c01834000400624d30a3200010a3200029c4a000793e2245900000000a002faf087bd0000020405b40402080a30fb2b60000000000103030a"),
        Convert.FromHexString("0200000000028233eacfd7fc08004500002801844000400624e60a3200010a3200029c4a000793e2245adf4f045a5010003f62f70000"),
    ];

    public const int SendBufferSize = 16 * 1024, ReceiveBufferSize = 8 * 1024;

    public const byte Segment = 0, Frame = 1, IcmpError = 2, Time = 3, Write = 4, Read = 5, End = 6;

    public static void Run(ReadOnlySpan<byte> input)
    {
        using var s = new FuzzedStack(new StackOptions
        {
            Address = new Ipv4Subnet(OurIp, 24), Mac = OurMac, Seed = 1,
            Tcp = new TcpSettings
            {
                SendBufferSize = SendBufferSize, ReceiveBufferSize = ReceiveBufferSize, MaxOutOfOrderRanges = 8,
                KeepAliveTime = TimeSpan.FromSeconds(10), KeepAliveInterval = TimeSpan.FromSeconds(1), KeepAliveProbes = 3,
                DataRetries = 4, TimeWait = TimeSpan.FromSeconds(5),
            },
            // The replay's way to the recorded numbers: the stack picks the ISN its recording picked (for a second
            // connection from another port too, so that relative numbers fit it as well).
            TcpInitialSequenceNumbers = (_, localPort, _, _) => localPort == OurPort ? OurIss : null,
        }, PeerMac, PeerIp, TimeSpan.FromSeconds(1));
        var run = new Conversation(s);
        run.Handshake();

        var r = new InputReader(input);
        while (!r.AtEnd)
        {
            byte op = r.U8();
            switch (op & 7)
            {
                case Segment or 7: run.PeerSegment(op, ref r); break;
                case Frame:
                    byte flags = r.U8();
                    FramesTarget.Deliver(s, r.Bytes(r.U16()), flags);
                    break;
                case IcmpError: run.IcmpError(r.U8(), r.U8(), r.U16(), r.U32()); break;
                case Time:
                    byte n = r.U8();
                    if ((op & 8) != 0) s.RunNextTimer();
                    else s.Advance(TimeSpan.FromMilliseconds((n + 1) * 10 * ((op & 16) != 0 ? 100 : 1)));
                    break;
                case Write: run.AppWrite((r.U8() + 1) * 64); break;
                case Read: run.AppRead(r.U8() * 64); break;
                case End: run.AppEnd((op >> 3) & 3); break;
            }
            run.CheckSent();
        }
        s.CheckInvariants();
        run.CheckSent();
    }

    /// <summary>The byte the application writes at <paramref name="offset"/> of its stream: never the same for offsets 256 apart.</summary>
    public static byte Pattern(long offset) => (byte)(offset * 131 + (offset >> 8) * 7 + (offset >> 16));

    /// <summary>The connection as the application and the peer see it.</summary>
    private sealed class Conversation(FuzzedStack s)
    {
        private TcpConnection _c = null!;
        private long _written;
        private ValueTask<FlushResult> _flush;
        private bool _writing;
        private bool _outputDone, _inputDone;
        private ushort _ipId = 0x0200;

        public void Handshake()
        {
            var listen = TcpConnectionListener.StartAsync(s.Stack, OurPort, backlog: 4);
            if (!listen.IsCompletedSuccessfully) throw new FuzzFailure("a listener on a bare stack did not start at once");
            var listener = listen.Result;
            s.Receive(RecordedHandshake[0]);
            s.Receive(RecordedHandshake[1]);
            var synAck = s.Sent.Select(Parse).LastOrDefault(x => x is { } t && t.Flags == (TcpFlags.Syn | TcpFlags.Ack));
            if (synAck is not { } sa || sa.Seq != OurIss || sa.Ack != PeerIss + 1)
                throw new FuzzFailure("the recorded SYN no longer gets the recorded SYN-ACK (seq and ack)");
            s.Advance(TimeSpan.FromMilliseconds(67));
            s.Receive(RecordedHandshake[2]);
            var accept = listener.AcceptAsync();
            if (!accept.IsCompletedSuccessfully || accept.Result.State != TcpState.Established)
                throw new FuzzFailure("the recorded handshake did not establish a connection");
            _c = accept.Result;
            s.ClearSent();
        }

        public void PeerSegment(byte op, ref InputReader r)
        {
            uint seq = unchecked(PeerIss + 1 + r.U32()), ack = unchecked(OurIss + 1 + r.U32());
            byte flags = r.U8();
            ushort window = r.U16();
            var options = r.Bytes(Math.Min((int)r.U8(), TcpOptions.MaxLength));
            ushort urgent = (op & 32) != 0 ? r.U16() : (ushort)0;
            var data = r.Bytes(r.U16());
            int headerLength = 20 + (options.Length + 3) / 4 * 4;
            var segment = new byte[headerLength + data.Length];
            BinaryPrimitives.WriteUInt16BigEndian(segment, (op & 16) != 0 ? OtherPeerPort : PeerPort);
            BinaryPrimitives.WriteUInt16BigEndian(segment.AsSpan(2), OurPort);
            BinaryPrimitives.WriteUInt32BigEndian(segment.AsSpan(4), seq);
            BinaryPrimitives.WriteUInt32BigEndian(segment.AsSpan(8), ack);
            segment[12] = (byte)(headerLength / 4 << 4);
            segment[13] = flags;
            BinaryPrimitives.WriteUInt16BigEndian(segment.AsSpan(14), window);
            BinaryPrimitives.WriteUInt16BigEndian(segment.AsSpan(18), urgent);
            options.CopyTo(segment.AsSpan(20)); // the rest of the option space stays zero: end of options
            data.CopyTo(segment.AsSpan(headerLength));
            var tcp = new TcpSegment(segment);
            tcp.UpdateChecksum(PeerIp, OurIp);
            if ((op & 8) != 0) tcp.Checksum ^= 0x5555;
            int times = (op & 128) != 0 ? 2 : 1;
            for (int i = 0; i < times; i++)
            {
                if ((op & 64) != 0) SendInTwoFragments(segment);
                else s.Receive(IpFrame(IpProtocol.Tcp, segment, _ipId++, dontFragment: true));
            }
        }

        /// <summary>The peer's datagram in two fragments: the first 8 bytes of the TCP segment, then the rest (RFC 791).</summary>
        private void SendInTwoFragments(byte[] segment)
        {
            ushort id = _ipId++;
            var first = IpFrame(IpProtocol.Tcp, segment.AsSpan(0, 8), id, dontFragment: false);
            var h = new Ipv4Header(first.AsSpan(EthernetFrame.HeaderLength));
            h.FlagsAndFragmentOffset = 0x2000; // more fragments, offset 0
            h.UpdateChecksum();
            var second = IpFrame(IpProtocol.Tcp, segment.AsSpan(8), id, dontFragment: false);
            h = new Ipv4Header(second.AsSpan(EthernetFrame.HeaderLength));
            h.FlagsAndFragmentOffset = 1; // last fragment, offset 8 bytes
            h.UpdateChecksum();
            s.Receive(first);
            s.Receive(second);
        }

        private static byte[] IpFrame(byte protocol, ReadOnlySpan<byte> payload, ushort id, bool dontFragment)
        {
            var f = new byte[EthernetFrame.HeaderLength + Ipv4Header.MinimumLength + payload.Length];
            EthernetFrame.Write(f, OurMac, PeerMac, EtherType.Ipv4);
            Ipv4Header.Write(f.AsSpan(EthernetFrame.HeaderLength), PeerIp, OurIp, protocol, payload.Length, id, 64, dontFragment);
            payload.CopyTo(f.AsSpan(EthernetFrame.HeaderLength + Ipv4Header.MinimumLength));
            return f;
        }

        /// <summary>An ICMP error from the peer quoting a segment of ours on the connection (RFC 792: IP header and 8 bytes).</summary>
        public void IcmpError(byte type, byte code, ushort mtu, uint quotedSeq)
        {
            var icmp = new byte[IcmpMessage.HeaderLength + Ipv4Header.MinimumLength + 8];
            var m = new IcmpMessage(icmp) { Type = type, Code = code, RestOfHeader = mtu };
            var quote = icmp.AsSpan(IcmpMessage.HeaderLength);
            Ipv4Header.Write(quote, OurIp, PeerIp, IpProtocol.Tcp, 20, 0x0100, 64, dontFragment: true);
            BinaryPrimitives.WriteUInt16BigEndian(quote[20..], OurPort);
            BinaryPrimitives.WriteUInt16BigEndian(quote[22..], PeerPort);
            BinaryPrimitives.WriteUInt32BigEndian(quote[24..], unchecked(OurIss + 1 + quotedSeq));
            m.UpdateChecksum();
            s.Receive(IpFrame(IpProtocol.Icmp, icmp, _ipId++, dontFragment: false));
        }

        public void AppWrite(int count)
        {
            if (_outputDone || !FlushDone()) return;
            var data = new byte[count];
            for (int i = 0; i < count; i++) data[i] = Pattern(_written + i);
            s.App(() =>
            {
                try
                {
                    _flush = _c.Output.WriteAsync(data);
                    _writing = true;
                }
                catch (SocketException)
                {
                    _outputDone = true; // the connection failed before: the writer is told so at once
                }
            });
            _written += count; // in the send buffer now, whether or not the flush waits for room
        }

        /// <summary>True when the last write's flush is over (and its result taken); a reset connection ends the writing.</summary>
        private bool FlushDone()
        {
            if (!_writing) return true;
            if (!_flush.IsCompleted) return false;
            _writing = false;
            try
            {
                if (_flush.GetAwaiter().GetResult().IsCompleted) _outputDone = true; // nobody reads the send buffer any more
            }
            catch (SocketException)
            {
                _outputDone = true; // the connection failed: the writer is told so
            }
            return true;
        }

        public void AppRead(int most)
        {
            if (_inputDone) return;
            s.App(() =>
            {
                try
                {
                    if (!_c.Input.TryRead(out var r)) return;
                    long take = most == 0 ? r.Buffer.Length : Math.Min(most, r.Buffer.Length);
                    _c.Input.AdvanceTo(r.Buffer.GetPosition(take));
                    if (r.IsCompleted && take == r.Buffer.Length) _inputDone = true;
                }
                catch (SocketException)
                {
                    _inputDone = true; // reset or timed out: the reader is told so
                }
            });
        }

        public void AppEnd(int how)
        {
            switch (how)
            {
                case 0:
                    if (_outputDone) return;
                    _outputDone = true;
                    s.App(() => _c.Output.Complete());
                    break;
                case 1:
                    s.App(_c.Abort);
                    break;
                case 2:
                    if (_inputDone) return;
                    _inputDone = true;
                    s.App(() => _c.Input.Complete());
                    break;
                default:
                    _outputDone = _inputDone = true;
                    s.App(() => _ = _c.CloseAsync());
                    break;
            }
        }

        /// <summary>
        /// Every frame the stack sent since the last look: a TCP segment of the connection has correct checksums, and its
        /// data is the application's bytes at their place in the stream, none beyond what was written.
        /// </summary>
        public void CheckSent()
        {
            foreach (var frame in s.Sent)
            {
                if (Parse(frame) is not { } t || t.SourcePort != OurPort || t.DestinationPort != PeerPort) continue;
                if (!t.ChecksumsValid) throw new FuzzFailure($"a segment the stack sent has a bad checksum: {Convert.ToHexString(frame)}");
                if (t.DataLength == 0) continue;
                long offset = unchecked(t.Seq - (OurIss + 1)); // as a 32-bit distance: the stream here is far shorter than 2^31
                offset = (int)offset;
                if (offset < 0 || offset + t.DataLength > _written)
                    throw new FuzzFailure($"the stack sent bytes {offset}..{offset + t.DataLength} of its stream, but the application wrote {_written}");
                var data = frame.AsSpan(t.DataStart, t.DataLength);
                for (int i = 0; i < data.Length; i++)
                    if (data[i] != Pattern(offset + i))
                        throw new FuzzFailure($"the stack sent byte {offset + i} of its stream as 0x{data[i]:x2}; the application wrote 0x{Pattern(offset + i):x2}");
            }
            s.ClearSent();
        }
    }

    private readonly record struct Sent(ushort SourcePort, ushort DestinationPort, uint Seq, uint Ack, TcpFlags Flags, int DataStart, int DataLength, bool ChecksumsValid);

    private static Sent? Parse(byte[] frame)
    {
        var f = frame.AsSpan();
        if (!EthernetFrame.TryParse(f, out var eth) || eth.EtherType != EtherType.Ipv4) return null;
        if (Ipv4Header.TryParse(eth.Payload, out var ip) != Ipv4ParseError.None || ip.Protocol != IpProtocol.Tcp || ip.IsFragment) return null;
        if (!TcpSegment.TryParse(ip.Payload, out var seg)) return null;
        int dataStart = EthernetFrame.HeaderLength + ip.HeaderLength + seg.HeaderLength;
        return new Sent(seg.SourcePort, seg.DestinationPort, seg.SequenceNumber, seg.AcknowledgmentNumber, seg.Flags, dataStart, seg.Payload.Length,
            ip.IsChecksumValid && seg.IsChecksumValid(ip.Source, ip.Destination));
    }
}
