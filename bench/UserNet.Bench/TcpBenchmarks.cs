using System.Buffers;
using System.Buffers.Binary;
using BenchmarkDotNet.Attributes;
using UserNet.Core;
using UserNet.Sockets;
using UserNet.Stack;
using UserNet.Tcp;
using UserNet.Wire;

namespace UserNet.Bench;

/// <summary>
/// TCP segment processing on the bare core, per segment: the in-order receive path (checks, demultiplexing,
/// acceptability, delivery into the receive pipe, the delayed-ACK decision, an ACK every second segment) and the
/// send path with its ACK (the application writes one segment's worth, the stack sends it, the peer's ACK frees it).
/// </summary>
[MemoryDiagnoser]
public class TcpBenchmarks
{
    private const int Mss = 1460;
    private const ushort PeerPort = 40000, StackPort = 5001;
    private static readonly MacAddress StackMac = MacAddress.Parse("02:00:00:00:00:02");
    private static readonly MacAddress PeerMac = MacAddress.Parse("02:00:00:00:00:01");
    private static readonly Ipv4Address StackIp = Ipv4Address.Parse("10.0.0.2");
    private static readonly Ipv4Address PeerIp = Ipv4Address.Parse("10.0.0.1");
    private static readonly TimeSpan Now = TimeSpan.FromSeconds(1);

    private readonly LastFrameTransmitter _tx = new();
    private NetStack _stack = null!;
    private TcpConnection _conn = null!;
    private byte[] _data = [], _ack = [];
    private uint _peerSeq, _stackSeq;
    private readonly byte[] _payload = new byte[Mss];

    [GlobalSetup]
    public void Setup()
    {
        _stack = new NetStack(new StackOptions { Address = new Ipv4Subnet(StackIp, 24), Mac = StackMac, Seed = 1,
            Tcp = new TcpSettings { ReceiveBufferSize = 4 << 20, SendBufferSize = 4 << 20, NoDelay = true } }, _tx);
        var arp = new byte[42];
        EthernetFrame.Write(arp, MacAddress.Broadcast, PeerMac, EtherType.Arp);
        ArpPacket.Write(arp.AsSpan(14), ArpOperation.Request, PeerMac, PeerIp, MacAddress.Zero, StackIp);
        _stack.Receive(arp, Now);

        var start = TcpConnectionListener.StartAsync(_stack, StackPort, backlog: 8); // a bare core: starts at once
        if (!start.IsCompletedSuccessfully) throw new InvalidOperationException("listener did not start");
        var listener = start.Result;
        _peerSeq = 1000;
        _stack.Receive(Segment(TcpFlags.Syn, _peerSeq, 0, 0, new TcpOptions { Mss = Mss, WindowScale = 7 }), Now);
        var synAck = new TcpSegment(_tx.Last.AsSpan(34));
        if (synAck.Flags != (TcpFlags.Syn | TcpFlags.Ack)) throw new InvalidOperationException("no SYN-ACK");
        _stackSeq = synAck.SequenceNumber + 1;
        _peerSeq++;
        _stack.Receive(Segment(TcpFlags.Ack, _peerSeq, _stackSeq, 0, default), Now);
        if (!listener.TryAccept(out _conn!)) throw new InvalidOperationException("not established");

        _data = Segment(TcpFlags.Ack | TcpFlags.Psh, _peerSeq, _stackSeq, Mss, default);
        _ack = Segment(TcpFlags.Ack, _peerSeq, _stackSeq, 0, default);

        // Check the receive path really delivers: one segment in, its bytes readable by the application.
        ReceiveOne();
        if (!_conn.Input.TryRead(out var r) || r.Buffer.Length != Mss) throw new InvalidOperationException("data not delivered");
        _conn.Input.AdvanceTo(r.Buffer.End);
        // And the send path: one write goes out as one segment, and its ACK is accepted.
        long sent = _stack.Counters.SentBy(Layer.Tcp);
        SendOneAndAck();
        if (_stack.Counters.SentBy(Layer.Tcp) - sent < 1) throw new InvalidOperationException("nothing sent");
    }

    [GlobalCleanup]
    public void Cleanup() => _stack.Dispose();

    /// <summary>One in-order 1460-byte segment received and read by the application.</summary>
    [Benchmark]
    public void InOrderDataSegment()
    {
        ReceiveOne();
        // The application reads what arrived, so the window stays open (as a real reader would).
        if (_conn.Input.TryRead(out var r)) _conn.Input.AdvanceTo(r.Buffer.End);
    }

    /// <summary>The application writes 1460 bytes, the stack sends a segment, the peer's ACK for it is processed.</summary>
    [Benchmark]
    public void DataSegmentSentAndAcked() => SendOneAndAck();

    private void ReceiveOne()
    {
        // Patch sequence number and checksum in place (RFC 1624), as a new segment from the peer would carry.
        var tcp = new TcpSegment(_data.AsSpan(34));
        uint old = tcp.SequenceNumber;
        tcp.SequenceNumber = _peerSeq;
        tcp.Checksum = InternetChecksum.Update(tcp.Checksum, old, _peerSeq);
        _stack.Receive(_data, Now);
        _peerSeq += Mss;
    }

    private void SendOneAndAck()
    {
        var w = _conn.Output;
        _payload.CopyTo(w.GetSpan(Mss));
        w.Advance(Mss);
        _ = w.FlushAsync(); // runs the stack's output inline: no host on a bare core
        _stackSeq += Mss;
        var tcp = new TcpSegment(_ack.AsSpan(34));
        uint oldAck = tcp.AcknowledgmentNumber, oldSeq = tcp.SequenceNumber;
        tcp.AcknowledgmentNumber = _stackSeq;
        tcp.SequenceNumber = _peerSeq;
        tcp.Checksum = InternetChecksum.Update(InternetChecksum.Update(tcp.Checksum, oldAck, _stackSeq), oldSeq, _peerSeq);
        _stack.Receive(_ack, Now);
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

    private sealed class LastFrameTransmitter : IFrameTransmitter
    {
        public byte[] Last = new byte[2048];
        public void Transmit(ReadOnlySpan<byte> frame) => frame.CopyTo(Last);
    }
}
