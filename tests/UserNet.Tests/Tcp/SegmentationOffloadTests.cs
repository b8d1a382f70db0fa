using System.Net;
using System.Security.Cryptography;
using UserNet.Core;
using UserNet.Sockets;
using UserNet.Stack;
using UserNet.Tcp;
using UserNet.TestSupport;
using UserNet.Wire;

namespace UserNet.Tests.Tcp;

/// <summary>
/// TCP over a link that offloads segmentation (a TAP with the virtio-net header: TSO4 and partial checksums, as
/// virtio-net 1.x section 5.1.6 and Linux's tun driver define them). Sending: TCP hands the link super-segments of
/// many full segments, which the link cuts; cut by the reference splitter, they must be exactly what TCP sends segment
/// by segment. Receiving: a super-segment enters TCP as one segment, and a partial checksum is trusted only when the
/// link says so, for the field it names.
/// </summary>
public sealed class SegmentationOffloadTests
{
    private static readonly TimeSpan OneWay = TimeSpan.FromMilliseconds(1);

    private enum Mode
    {
        /// <summary>The link takes no super-segments: TCP sends MSS-sized segments.</summary>
        Plain,
        /// <summary>The link takes super-segments and cuts them on the way (the kernel's GSO behind our TAP).</summary>
        Cut,
        /// <summary>The link hands super-segments to the receiver whole, with their offload (the kernel's TSO to our TAP).</summary>
        Whole,
    }

    /// <summary>One direction of the wire, a fixed delay, optional seeded loss applied to each frame on the wire.</summary>
    private sealed class Wire(Mode mode, Random random, double loss) : ISimulatedWire
    {
        private readonly Queue<(byte[] Frame, FrameOffload Offload, TimeSpan At)> _queue = new();
        public readonly List<byte[]> OnTheWire = new();
        public TimeSpan Now { get; set; }

        public int SegmentationLimit => mode == Mode.Plain ? 0 : 65535;

        public void Transmit(ReadOnlySpan<byte> frame) => Put(frame, default);

        public void Transmit(ReadOnlySpan<byte> frame, in FrameOffload offload)
        {
            Assert.NotEqual(Mode.Plain, mode);
            Assert.True(offload.IsSuperSegment);
            if (mode == Mode.Whole)
            {
                Put(frame, offload);
                return;
            }
            var piece = new byte[frame.Length];
            int n = TcpSegmentation.Count(frame, offload);
            for (int i = 0; i < n; i++) Put(piece.AsSpan(0, TcpSegmentation.WritePiece(frame, offload, i, piece)), default);
        }

        private void Put(ReadOnlySpan<byte> frame, FrameOffload offload)
        {
            if (loss > 0 && random.NextDouble() < loss) return;
            OnTheWire.Add(frame.ToArray());
            _queue.Enqueue((frame.ToArray(), offload, Now + OneWay));
        }

        public TimeSpan Next => _queue.TryPeek(out var f) ? f.At : TimeSpan.MaxValue;

        public void Deliver(NetStack to, TimeSpan now)
        {
            while (_queue.TryPeek(out var f) && f.At <= now)
            {
                _queue.Dequeue();
                to.Receive(f.Frame, now, f.Offload);
            }
        }
    }

    private sealed record Run(byte[] Received, List<byte[]> AtoB, List<byte[]> BtoA, StackCounters A, StackCounters B);

    private static Run Transfer(Mode mode, int size, double loss = 0, int seed = 5)
    {
        var ab = new Wire(mode, new Random(seed), loss);
        var ba = new Wire(Mode.Plain, new Random(seed + 1), loss);
        var r = SimulatedTransfer.Run(ab, ba, seed, size, TimeSpan.FromMinutes(5));
        return new Run(r.Received, ab.OnTheWire, ba.OnTheWire, r.A, r.B);
    }

    private static byte[] Data(int seed, int size) => SimulatedTransfer.Data(seed, size);

    [Fact]
    public void Super_segments_cut_by_the_reference_splitter_are_the_segments_TCP_sends_one_by_one()
    {
        const int size = 1 << 20;
        var plain = Transfer(Mode.Plain, size);
        var cut = Transfer(Mode.Cut, size);
        Assert.Equal(0, plain.A.CountOf(TcpCounter.SuperSegmentsSent));
        Assert.True(cut.A.CountOf(TcpCounter.SuperSegmentsSent) > 10, $"{cut.A.CountOf(TcpCounter.SuperSegmentsSent)} super-segments");
        // Byte for byte the same frames on the wire, in the same order: headers, sequence numbers, IP identifications,
        // flags (PSH on the last piece only), checksums; and so the same ACKs back.
        Assert.Equal(plain.AtoB.Count, cut.AtoB.Count);
        for (int i = 0; i < plain.AtoB.Count; i++) Assert.True(plain.AtoB[i].AsSpan().SequenceEqual(cut.AtoB[i]), $"frame {i} differs");
        Assert.Equal(plain.BtoA.Count, cut.BtoA.Count);
        Assert.Equal(Data(5, size), cut.Received);
    }

    [Fact]
    public void Pieces_lost_on_the_wire_are_repaired_one_by_one()
    {
        // 2% of the pieces are lost after the link cut them: the scoreboard holds one entry per piece, so SACK and
        // RACK see single holes and resend single segments, not whole super-segments.
        const int size = 2 << 20;
        var run = Transfer(Mode.Cut, size, loss: 0.02, seed: 7);
        Assert.Equal(SHA256.HashData(Data(7, size)), SHA256.HashData(run.Received));
        Assert.True(run.A.CountOf(TcpCounter.SuperSegmentsSent) > 0);
        Assert.True(run.A.CountOf(TcpCounter.RackRetransmissions) > 0);
        Assert.True(run.AtoB.All(f => f.Length <= EthernetFrame.HeaderLength + 1500), "every frame on the wire fits the MTU");
    }

    [Fact]
    public void A_super_segment_received_whole_enters_TCP_as_one_segment_and_is_acknowledged_at_once()
    {
        const int size = 1 << 20;
        var plain = Transfer(Mode.Plain, size);
        var whole = Transfer(Mode.Whole, size);
        Assert.Equal(Data(5, size), whole.Received);
        long supers = whole.B.CountOf(TcpCounter.SuperSegmentsReceived);
        Assert.True(supers > 10, $"{supers} super-segments received");
        Assert.Equal(supers, whole.A.CountOf(TcpCounter.SuperSegmentsSent));
        // Counted as what it is: one TCP segment per frame, with a partial checksum that was not verified.
        Assert.Equal(whole.AtoB.Count, whole.B.ReceivedBy(Layer.Tcp) + whole.B.ReceivedBy(Layer.Arp));
        Assert.Equal(0, whole.B.DroppedFor(DropReason.TcpBadChecksum));
        Assert.True(whole.AtoB.Count < plain.AtoB.Count / 10);
        // RFC 1122 4.2.3.2 (an ACK at least every second full-sized segment): each super-segment is many, so it is acknowledged at once.
        Assert.True(whole.BtoA.Count <= whole.AtoB.Count + 4, $"{whole.BtoA.Count} frames back for {whole.AtoB.Count}");
        Assert.True(whole.BtoA.Count < plain.BtoA.Count);
    }

    // ---------------------------------------------------------------- partial checksums on receive

    /// <summary>A SYN from the peer to port 80 whose checksum field holds only the pseudo-header's sum, as the kernel leaves it.</summary>
    private static byte[] SynWithPartialChecksum()
    {
        var tcp = new byte[TcpSegment.MinimumHeaderLength];
        TcpSegment.WriteHeader(tcp, 40000, 80, 1000, 0, TcpFlags.Syn, 64240, default);
        new TcpSegment(tcp).SetPartialChecksum(TestStack.PeerIp, TestStack.OurIp);
        return TestStack.IpFrame(IpProtocol.Tcp, tcp);
    }

    private static readonly FrameOffload KernelPartial = new() { ChecksumPartial = true, ChecksumStart = 34, ChecksumOffset = 16 };

    private static TestStack Listening()
    {
        var s = TestStack.Started();
        s.LearnPeer();
        Assert.True(TcpConnectionListener.StartAsync(s.Stack, 80).IsCompleted);
        return s;
    }

    [Fact]
    public void A_partial_checksum_is_trusted_when_the_link_says_it_is_partial()
    {
        using var s = Listening();
        s.Stack.Receive(SynWithPartialChecksum(), s.Now, KernelPartial);
        Assert.Equal(0, s.Counters.DroppedFor(DropReason.TcpBadChecksum));
        var synAck = new TcpSegment(Assert.Single(s.Sent).AsSpan(34));
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, synAck.Flags);
    }

    [Fact]
    public void The_same_frame_without_the_flag_fails_verification()
    {
        using var s = Listening();
        s.Stack.Receive(SynWithPartialChecksum(), s.Now);
        Assert.Equal(1, s.Counters.DroppedFor(DropReason.TcpBadChecksum));
        Assert.Empty(s.Sent);
    }

    [Theory]
    [InlineData(30, 16)] // the offset names a field that is not TCP's
    [InlineData(34, 6)]  // UDP's checksum field, in a TCP segment
    public void A_partial_checksum_that_names_another_field_is_verified_and_fails(int start, int offset)
    {
        using var s = Listening();
        s.Stack.Receive(SynWithPartialChecksum(), s.Now, KernelPartial with { ChecksumStart = (ushort)start, ChecksumOffset = (ushort)offset });
        Assert.Equal(1, s.Counters.DroppedFor(DropReason.TcpBadChecksum));
        Assert.Empty(s.Sent);
    }

    [Fact]
    public void A_UDP_checksum_left_partial_is_trusted_with_the_flag_and_fails_without()
    {
        // With TUN_F_CSUM the kernel leaves UDP checksums partial too; csum_offset 6 names UDP's field.
        var udp = new byte[UdpDatagram.HeaderLength + 20];
        var d = UdpDatagram.Write(udp, 4000, 4444, 20);
        d.Checksum = InternetChecksum.FoldTo16(UdpDatagram.PseudoHeaderSum(TestStack.PeerIp, TestStack.OurIp, IpProtocol.Udp, udp.Length));
        var frame = TestStack.IpFrame(IpProtocol.Udp, udp);
        using var s = Listening();
        s.Stack.Receive(frame.ToArray(), s.Now, KernelPartial with { ChecksumOffset = 6 });
        Assert.Equal(0, s.Counters.DroppedFor(DropReason.UdpBadChecksum));
        Assert.Equal(1, s.Counters.DroppedFor(DropReason.UdpNoSocket)); // verified as good: it reached the port lookup
        s.Stack.Receive(frame.ToArray(), s.Now);
        Assert.Equal(1, s.Counters.DroppedFor(DropReason.UdpBadChecksum));
    }

    [Fact]
    public void A_super_segment_that_is_not_TCP_is_dropped_with_its_reason()
    {
        using var s = Listening();
        var udp = TestStack.UdpFrame(4000, 9, new byte[3000]);
        s.Stack.Receive(udp, s.Now, new FrameOffload { SegmentSize = 1448, HeaderLength = 42 });
        Assert.Equal(1, s.Counters.DroppedFor(DropReason.Ipv4SuperSegmentNotTcp));
    }

    [Fact]
    public void A_frame_larger_than_the_MTU_without_the_super_segment_flag_is_too_large()
    {
        using var s = Listening();
        s.Stack.Receive(TestStack.UdpFrame(4000, 9, new byte[3000]), s.Now);
        Assert.Equal(1, s.Counters.DroppedFor(DropReason.EthernetTooLarge));
    }
}
