using BenchmarkDotNet.Attributes;
using UserNet.Core;
using UserNet.Sockets;
using UserNet.Stack;
using UserNet.Tcp;
using UserNet.Wire;

namespace UserNet.Bench;

/// <summary>
/// TCP segment processing on the bare core: the in-order receive path (checks, demultiplexing, acceptability,
/// delivery into the receive pipe, the delayed-ACK decision, an ACK every second segment) and the send path with its
/// ACK (the application writes, the stack sends, the peer's ACK frees it); each for one 1460-byte segment and for a
/// 64 KiB super-segment on a link that offloads segmentation (a TAP with TSO4: 44 segments' worth in one frame,
/// received with the partial checksum the kernel leaves, sent for the kernel to cut).
/// </summary>
[MemoryDiagnoser]
public class TcpBenchmarks
{
    private const int Mss = 1460;
    /// <summary>The largest whole number of segments in one IP datagram: 44 × 1460 = 64240 bytes.</summary>
    private const int SuperLength = 44 * Mss;

    private Connection _plain = null!, _offload = null!;

    [GlobalSetup]
    public void Setup()
    {
        _plain = new Connection(segmentationLimit: 0, Mss);
        _offload = new Connection(segmentationLimit: 65535, SuperLength);
        // The super-segment paths really are what they claim (the constructor sent and received one): one frame each way.
        var counters = _offload.Stack.Counters;
        if (counters.CountOf(TcpCounter.SuperSegmentsReceived) != 1) throw new InvalidOperationException("not taken as a super-segment");
        if (counters.CountOf(TcpCounter.SuperSegmentsSent) == 0 || _offload.Transmitter.LastLength < SuperLength)
            throw new InvalidOperationException("not sent as a super-segment");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _plain.Stack.Dispose();
        _offload.Stack.Dispose();
    }

    /// <summary>One in-order 1460-byte segment received and read by the application.</summary>
    [Benchmark]
    public void InOrderDataSegment()
    {
        _plain.ReceiveOne();
        _plain.Read(); // the application reads what arrived, so the window stays open (as a real reader would)
    }

    /// <summary>The application writes 1460 bytes, the stack sends a segment, the peer's ACK for it is processed.</summary>
    [Benchmark]
    public void DataSegmentSentAndAcked() => _plain.SendOneAndAck();

    /// <summary>One in-order 64240-byte super-segment from the kernel's TSO (checksum partial) received and read.</summary>
    [Benchmark]
    public void SuperSegmentReceived()
    {
        _offload.ReceiveOne();
        _offload.Read();
    }

    /// <summary>The application writes 64240 bytes, the stack sends them as one super-segment, the peer's ACK is processed.</summary>
    [Benchmark]
    public void SuperSegmentSentAndAcked() => _offload.SendOneAndAck();

    /// <summary>A stack with one established connection from a scripted peer, and the frames the peer sends it.</summary>
    private sealed class Connection
    {
        private const ushort PeerPort = 40000, StackPort = 5001;
        private static readonly MacAddress StackMac = MacAddress.Parse("02:00:00:00:00:02");
        private static readonly MacAddress PeerMac = MacAddress.Parse("02:00:00:00:00:01");
        private static readonly Ipv4Address StackIp = Ipv4Address.Parse("10.0.0.2");
        private static readonly Ipv4Address PeerIp = Ipv4Address.Parse("10.0.0.1");
        private static readonly TimeSpan Now = TimeSpan.FromSeconds(1);
        private static readonly FrameOffload KernelPartial = new() { ChecksumPartial = true, ChecksumStart = 34, ChecksumOffset = 16 };

        private readonly TcpConnection _conn;
        private readonly byte[] _data, _ack, _payload;
        private readonly int _length;
        private uint _peerSeq, _stackSeq;

        public Connection(int segmentationLimit, int length)
        {
            _length = length;
            _payload = new byte[length];
            Transmitter = new LastFrameTransmitter(segmentationLimit);
            Stack = new NetStack(new StackOptions { Address = new Ipv4Subnet(StackIp, 24), Mac = StackMac, Seed = 1,
                Tcp = new TcpSettings { ReceiveBufferSize = 4 << 20, SendBufferSize = 4 << 20, NoDelay = true } }, Transmitter);
            var arp = new byte[42];
            EthernetFrame.Write(arp, MacAddress.Broadcast, PeerMac, EtherType.Arp);
            ArpPacket.Write(arp.AsSpan(14), ArpOperation.Request, PeerMac, PeerIp, MacAddress.Zero, StackIp);
            Stack.Receive(arp, Now);

            var start = TcpConnectionListener.StartAsync(Stack, StackPort, backlog: 8); // a bare core: starts at once
            if (!start.IsCompletedSuccessfully) throw new InvalidOperationException("listener did not start");
            var listener = start.Result;
            _peerSeq = 1000;
            Stack.Receive(Segment(TcpFlags.Syn, _peerSeq, 0, 0, new TcpOptions { Mss = Mss, WindowScale = 7 }), Now);
            var synAck = new TcpSegment(Transmitter.Last.AsSpan(34));
            if (synAck.Flags != (TcpFlags.Syn | TcpFlags.Ack)) throw new InvalidOperationException("no SYN-ACK");
            _stackSeq = synAck.SequenceNumber + 1;
            _peerSeq++;
            // The peer's window, scaled by 128: room for many super-segments.
            Stack.Receive(Segment(TcpFlags.Ack, _peerSeq, _stackSeq, 0, default), Now);
            if (!listener.TryAccept(out _conn!)) throw new InvalidOperationException("not established");

            _data = Segment(TcpFlags.Ack | TcpFlags.Psh, _peerSeq, _stackSeq, length, default);
            _ack = Segment(TcpFlags.Ack, _peerSeq, _stackSeq, 0, default);

            // Check the receive path really delivers: one segment in, its bytes readable by the application.
            ReceiveOne();
            if (!_conn.Input.TryRead(out var r) || r.Buffer.Length != length) throw new InvalidOperationException("data not delivered");
            _conn.Input.AdvanceTo(r.Buffer.End);
            // And the send path: one write goes out, and its ACK is accepted.
            long sent = Stack.Counters.SentBy(Layer.Tcp);
            SendOneAndAck();
            if (Stack.Counters.SentBy(Layer.Tcp) - sent < 1) throw new InvalidOperationException("nothing sent");
            // Slow start opens cwnd past a super-segment's worth within a few rounds; from then on each write goes whole.
            for (int i = 0; i < 20; i++) SendOneAndAck();
        }

        public NetStack Stack { get; }
        public LastFrameTransmitter Transmitter { get; }

        /// <summary>The next in-order segment from the peer; a super-segment comes as the kernel's TSO hands it over, checksum partial.</summary>
        public void ReceiveOne()
        {
            // Patch sequence number and checksum in place (RFC 1624), as a new segment from the peer would carry.
            var tcp = new TcpSegment(_data.AsSpan(34));
            uint old = tcp.SequenceNumber;
            tcp.SequenceNumber = _peerSeq;
            tcp.Checksum = InternetChecksum.Update(tcp.Checksum, old, _peerSeq);
            if (_length > Mss) Stack.Receive(_data, Now, KernelPartial with { SegmentSize = Mss, HeaderLength = 54 });
            else Stack.Receive(_data, Now);
            _peerSeq += (uint)_length;
        }

        public void Read()
        {
            if (_conn.Input.TryRead(out var r)) _conn.Input.AdvanceTo(r.Buffer.End);
        }

        public void SendOneAndAck()
        {
            var w = _conn.Output;
            _payload.CopyTo(w.GetSpan(_length));
            w.Advance(_length);
            _ = w.FlushAsync(); // runs the stack's output inline: no host on a bare core
            _stackSeq = Transmitter.LastEnd; // the peer acknowledges all it got (all that cwnd let go)
            var tcp = new TcpSegment(_ack.AsSpan(34));
            uint oldAck = tcp.AcknowledgmentNumber, oldSeq = tcp.SequenceNumber;
            tcp.AcknowledgmentNumber = _stackSeq;
            tcp.SequenceNumber = _peerSeq;
            tcp.Checksum = InternetChecksum.Update(InternetChecksum.Update(tcp.Checksum, oldAck, _stackSeq), oldSeq, _peerSeq);
            Stack.Receive(_ack, Now);
        }

        private static byte[] Segment(TcpFlags flags, uint seq, uint ack, int dataLength, TcpOptions options)
        {
            var frame = new byte[14 + 20 + 60 + dataLength];
            var tcpArea = frame.AsSpan(34);
            int hl = TcpSegment.WriteHeader(tcpArea, PeerPort, StackPort, seq, ack, flags, 65535, options);
            for (int i = 0; i < dataLength; i++) tcpArea[hl + i] = (byte)i;
            int tcpLength = hl + dataLength;
            new TcpSegment(tcpArea[..tcpLength]).UpdateChecksum(PeerIp, StackIp);
            Ipv4Header.Write(frame.AsSpan(14), PeerIp, StackIp, IpProtocol.Tcp, tcpLength, 1);
            EthernetFrame.Write(frame, StackMac, PeerMac, EtherType.Ipv4);
            return frame[..(34 + tcpLength)];
        }
    }

    /// <summary>
    /// Keeps the last plain frame (the handshake's replies); of a super-segment only its length, as a TAP's writev
    /// hands it on; and of either, where the TCP data it carried ends.
    /// </summary>
    private sealed class LastFrameTransmitter(int segmentationLimit) : IFrameTransmitter
    {
        public readonly byte[] Last = new byte[2048];
        public int LastLength;
        public uint LastEnd;
        public int SegmentationLimit => segmentationLimit;
        public void Transmit(ReadOnlySpan<byte> frame)
        {
            frame.CopyTo(Last);
            Note(frame);
        }
        public void Transmit(ReadOnlySpan<byte> frame, in FrameOffload offload) => Note(frame);

        private void Note(ReadOnlySpan<byte> frame)
        {
            LastLength = frame.Length;
            if (frame.Length < 54 || frame[23] != IpProtocol.Tcp) return;
            int data = frame.Length - 34 - (frame[46] >> 4) * 4;
            uint seq = (uint)(frame[38] << 24 | frame[39] << 16 | frame[40] << 8 | frame[41]);
            if (data > 0) LastEnd = seq + (uint)data;
        }
    }
}
