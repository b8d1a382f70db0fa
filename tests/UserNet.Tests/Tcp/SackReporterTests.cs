using UserNet.Tcp;
using UserNet.Wire;

namespace UserNet.Tests.Tcp;

/// <summary>
/// The SACK blocks our ACKs carry: RFC 2018's examples (the burst of 8 segments of 500 bytes from 5000, its section 7)
/// and RFC 2883's (section 4), each ACK written as the RFC prints it, "ack, SACK=left-right, ...". A small receiver
/// plays the TCB's part: it keeps out-of-order data in a <see cref="ReceiveAssembler"/>, tells the reporter what
/// arrived, and sends an ACK for every segment.
/// </summary>
public sealed class SackReporterTests
{
    /// <summary>The receive side of a connection, as far as SACK needs it; RCV.NXT starts at <paramref name="rcvNxt"/>.</summary>
    private sealed class Receiver(uint rcvNxt)
    {
        private readonly ReceiveAssembler _held = new(16);
        private readonly TcpSackBlock[] _blocks = new TcpSackBlock[4];
        private SeqNumber _rcvNxt = new(rcvNxt);

        public SackReporter Sack { get; } = new();

        /// <summary>Segment [<paramref name="left"/>, <paramref name="right"/>) arrives; returns the ACK it triggers.</summary>
        public string Receive(uint left, uint right, int maxBlocks = 4)
        {
            var l = new SeqNumber(left);
            var r = new SeqNumber(right);

            // RFC 2883 section 4: the first duplicate sub-segment, below RCV.NXT or inside a held range.
            if (l < _rcvNxt) Sack.OnDuplicate(l, SeqNumber.Min(r, _rcvNxt));
            else
            {
                for (int i = 0; i < _held.RangeCount; i++)
                {
                    var (offset, length) = _held[i];
                    var s = SeqNumber.Max(l, _rcvNxt + offset);
                    var e = SeqNumber.Min(r, _rcvNxt + offset + length);
                    if (e > s) { Sack.OnDuplicate(s, e); break; }
                }
            }

            if (r > _rcvNxt)
            {
                if (l <= _rcvNxt)
                {
                    int count = r - _rcvNxt;
                    int beyond = _held.Advance(count);
                    _rcvNxt += count + beyond;
                    Sack.OnAdvance(_rcvNxt);
                }
                else
                {
                    int heldBefore = _held.HeldBytes;
                    Assert.True(_held.Add(l - _rcvNxt, r - l));
                    if (_held.HeldBytes > heldBefore)
                    {
                        // New out-of-order data: report the whole held range that now contains it.
                        for (int i = 0; i < _held.RangeCount; i++)
                        {
                            var (offset, length) = _held[i];
                            if (l - _rcvNxt >= offset && l - _rcvNxt < offset + length)
                                Sack.OnOutOfOrder(_rcvNxt + offset, _rcvNxt + offset + length);
                        }
                    }
                }
            }

            int n = Sack.Fill(_blocks, maxBlocks);
            Sack.OnAckSent();
            return Ack(_rcvNxt.Value, _blocks.AsSpan(0, n));
        }
    }

    private static string Ack(uint ack, ReadOnlySpan<TcpSackBlock> blocks)
    {
        if (blocks.IsEmpty) return ack.ToString();
        var parts = new string[blocks.Length];
        for (int i = 0; i < blocks.Length; i++) parts[i] = blocks[i].ToString();
        return $"{ack}, SACK={string.Join(", ", parts)}";
    }

    private static string Blocks(SackReporter sack, int maxBlocks = 4)
    {
        var blocks = new TcpSackBlock[4];
        int n = sack.Fill(blocks, maxBlocks);
        return string.Join(", ", blocks[..n]);
    }

    private static SeqNumber S(uint v) => new(v);

    // ============================================================ RFC 2018 section 7 (the rules of section 4)

    [Fact]
    public void Rfc2018_Case1_LastFourDropped_PlainAckNoSack()
    {
        var rx = new Receiver(5000);
        Assert.Equal("5500", rx.Receive(5000, 5500));
        Assert.Equal("6000", rx.Receive(5500, 6000));
        Assert.Equal("6500", rx.Receive(6000, 6500));
        Assert.Equal("7000", rx.Receive(6500, 7000));
        Assert.True(rx.Sack.IsEmpty);
    }

    [Fact]
    public void Rfc2018_Case2_FirstSegmentDropped_OneGrowingBlock()
    {
        var rx = new Receiver(5000);
        // 5000 (lost)
        Assert.Equal("5000, SACK=5500-6000", rx.Receive(5500, 6000));
        Assert.Equal("5000, SACK=5500-6500", rx.Receive(6000, 6500));
        Assert.Equal("5000, SACK=5500-7000", rx.Receive(6500, 7000));
        Assert.Equal("5000, SACK=5500-7500", rx.Receive(7000, 7500));
        Assert.Equal("5000, SACK=5500-8000", rx.Receive(7500, 8000));
        Assert.Equal("5000, SACK=5500-8500", rx.Receive(8000, 8500));
        Assert.Equal("5000, SACK=5500-9000", rx.Receive(8500, 9000));
    }

    [Fact]
    public void Rfc2018_Case3_EverySecondSegmentDropped_MostRecentFirst_ThenTheHolesFill()
    {
        var rx = new Receiver(5000);
        Assert.Equal("5500", rx.Receive(5000, 5500));
        // 5500 (lost)
        Assert.Equal("5500, SACK=6000-6500", rx.Receive(6000, 6500));
        // 6500 (lost)
        Assert.Equal("5500, SACK=7000-7500, 6000-6500", rx.Receive(7000, 7500));
        // 7500 (lost)
        Assert.Equal("5500, SACK=8000-8500, 7000-7500, 6000-6500", rx.Receive(8000, 8500));
        // 8500 (lost)

        // "Suppose at this point, the 4th packet is received out of order ... the data receiver has only two SACK blocks to report."
        Assert.Equal("5500, SACK=6000-7500, 8000-8500", rx.Receive(6500, 7000));

        // "Suppose at this point, the 2nd segment is received."
        Assert.Equal("7500, SACK=8000-8500", rx.Receive(5500, 6000));
    }

    [Fact]
    public void Rfc2018_Case3_WithTimestamps_ThreeBlocksFit()
    {
        var rx = new Receiver(5000);
        rx.Receive(5000, 5500);
        rx.Receive(6000, 6500);
        rx.Receive(7000, 7500);
        Assert.Equal("5500, SACK=8000-8500, 7000-7500, 6000-6500", rx.Receive(8000, 8500, TcpOptions.MaxSackBlocks(timestamps: true)));
        // A fourth hole: the oldest block is the one left out of the option, and it is still remembered.
        Assert.Equal("5500, SACK=9000-9500, 8000-8500, 7000-7500", rx.Receive(9000, 9500, TcpOptions.MaxSackBlocks(timestamps: true)));
        Assert.Equal("9000-9500, 8000-8500, 7000-7500, 6000-6500", Blocks(rx.Sack));
    }

    // ============================================================ RFC 2883 section 4.1: whole duplicate segments

    [Fact]
    public void Rfc2883_Example1_DuplicateOfAReceivedSegment()
    {
        var rx = new Receiver(3000);
        Assert.Equal("3500", rx.Receive(3000, 3500));                 // ACK dropped
        Assert.Equal("4000", rx.Receive(3500, 4000));                 // ACK dropped
        Assert.Equal("4000, SACK=3000-3500", rx.Receive(3000, 3500));  // D-SACK
    }

    [Fact]
    public void Rfc2883_Example2_OutOfOrderSegmentAndADuplicate()
    {
        var rx = new Receiver(3000);
        Assert.Equal("3500", rx.Receive(3000, 3500));                             // ACK dropped
        Assert.Equal("4000", rx.Receive(3500, 4000));                             // ACK dropped
        // 4000-4499 (data packet dropped)
        Assert.Equal("4000, SACK=4500-5000", rx.Receive(4500, 5000));             // ACK dropped
        Assert.Equal("4000, SACK=3000-3500, 4500-5000", rx.Receive(3000, 3500));  // D-SACK first
    }

    [Fact]
    public void Rfc2883_Example3_DuplicateOfAnOutOfOrderSegment_ItsBlockComesSecond()
    {
        var rx = new Receiver(3000);
        Assert.Equal("3500", rx.Receive(3000, 3500));
        Assert.Equal("4000", rx.Receive(3500, 4000));
        // 4000-4499 (data packet dropped)
        Assert.Equal("4000, SACK=4500-5000", rx.Receive(4500, 5000));
        Assert.Equal("4000, SACK=4500-5500", rx.Receive(5000, 5500));
        // (duplicated packet)
        Assert.Equal("4000, SACK=5000-5500, 4500-5500", rx.Receive(5000, 5500));
    }

    [Fact]
    public void Rfc2883_Section4_DsackIsReportedOnce()
    {
        var rx = new Receiver(3000);
        rx.Receive(3000, 3500);
        rx.Receive(4000, 4500);
        Assert.Equal("3500, SACK=3000-3500, 4000-4500", rx.Receive(3000, 3500));
        // The next ACK (here for a window update, or any other reason) no longer carries it.
        Assert.Equal("4000-4500", Blocks(rx.Sack));
        Assert.Equal("3500, SACK=4000-5000", rx.Receive(4500, 5000));
    }

    // ============================================================ RFC 2883 section 4.2: partial duplicates, reordered segments

    [Fact]
    public void Rfc2883_Example4_SingleDuplicateSubsegment()
    {
        var rx = new Receiver(500);
        Assert.Equal("1000", rx.Receive(500, 1000));
        // 1000-1499 (delayed), 1500-1999 (data packet dropped)
        Assert.Equal("1000, SACK=2000-2500", rx.Receive(2000, 2500));
        Assert.Equal("1500, SACK=2000-2500", rx.Receive(1000, 1500));  // the delayed one
        Assert.Equal("2500, SACK=1000-1500", rx.Receive(1000, 2000));  // the 1000-byte retransmission
    }

    [Fact]
    public void Rfc2883_Example5_TwoDuplicateSubsegmentsBelowTheCumulativeAck_OnlyTheFirstIsReported()
    {
        var rx = new Receiver(500);
        Assert.Equal("1000", rx.Receive(500, 1000));
        // 1000-1499 (delayed), 1500-1999 (dropped), 2000-2499 (delayed), 2500-2999 (dropped)
        Assert.Equal("1000, SACK=3000-3500", rx.Receive(3000, 3500));
        Assert.Equal("1500, SACK=3000-3500", rx.Receive(1000, 1500));
        Assert.Equal("1500, SACK=2000-2500, 3000-3500", rx.Receive(2000, 2500));
        Assert.Equal("2500, SACK=1000-1500, 3000-3500", rx.Receive(1000, 2500));  // the 1500-byte retransmission
    }

    [Fact]
    public void Rfc2883_Example6_TwoDuplicateSubsegmentsAboveTheCumulativeAck_TheFirstThenItsBlock()
    {
        var rx = new Receiver(500);
        Assert.Equal("1000", rx.Receive(500, 1000));
        // 1000-1499 (dropped), 1500-1999 (delayed), 2000-2499 (dropped), 2500-2999 (delayed), 3000-3499 (dropped)
        Assert.Equal("1000, SACK=3500-4000", rx.Receive(3500, 4000));
        // 1000-1499 retransmitted and dropped again
        Assert.Equal("1000, SACK=1500-2000, 3500-4000", rx.Receive(1500, 2000));
        Assert.Equal("1000, SACK=2500-3000, 1500-2000, 3500-4000", rx.Receive(2500, 3000));
        Assert.Equal("1000, SACK=1500-2000, 1500-3000, 3500-4000", rx.Receive(1500, 3000));  // the 1500-byte retransmission
    }

    // ============================================================ the reporter alone

    [Fact]
    public void Rfc2018_Section4_MoreThanFourBlocks_KeepsTheFourMostRecent()
    {
        var sack = new SackReporter();
        for (uint i = 0; i < 6; i++) sack.OnOutOfOrder(S(1000 + 1000 * i), S(1500 + 1000 * i));
        Assert.Equal("6000-6500, 5000-5500, 4000-4500, 3000-3500", Blocks(sack));

        // A forgotten block comes back when data arrives in it.
        sack.OnOutOfOrder(S(1000), S(1600));
        Assert.Equal("1000-1600, 6000-6500, 5000-5500, 4000-4500", Blocks(sack));
    }

    [Fact]
    public void NewBlockJoiningTwo_TakesTheirPlaceAtTheFront_OthersKeepTheirOrder()
    {
        var sack = new SackReporter();
        sack.OnOutOfOrder(S(1000), S(1500));
        sack.OnOutOfOrder(S(3000), S(3500));
        sack.OnOutOfOrder(S(5000), S(5500));
        sack.OnOutOfOrder(S(7000), S(7500));
        sack.OnOutOfOrder(S(3000), S(5500)); // 3500-5000 arrived
        Assert.Equal("3000-5500, 7000-7500, 1000-1500", Blocks(sack));
    }

    [Fact]
    public void OnAdvance_ForgetsBlocksBelow_AndTrimsTheOneItCutsInto()
    {
        var sack = new SackReporter();
        sack.OnOutOfOrder(S(1000), S(1500));
        sack.OnOutOfOrder(S(2000), S(2500));
        sack.OnOutOfOrder(S(3000), S(3500));
        sack.OnAdvance(S(1500));
        Assert.Equal("3000-3500, 2000-2500", Blocks(sack));
        sack.OnAdvance(S(2200));
        Assert.Equal("3000-3500, 2200-2500", Blocks(sack));
        sack.OnAdvance(S(3500));
        Assert.True(sack.IsEmpty);
        Assert.Equal("", Blocks(sack));
    }

    [Fact]
    public void AcrossTheWrap_BlocksCompareModulo2To32()
    {
        const uint top = uint.MaxValue - 999; // RCV.NXT 1000 below 2^32
        var rx = new Receiver(top);
        // top .. top+500 lost; top+500 .. top+1500 spans the wrap.
        Assert.Equal($"{top}, SACK={top + 500}-500", rx.Receive(top + 500, unchecked(top + 1500)));
        Assert.Equal($"{top}, SACK=1000-1500, {top + 500}-500", rx.Receive(1000, 1500));
        Assert.Equal($"{top}, SACK={top + 500}-1500", rx.Receive(500, 1000));
        // The hole fills: RCV.NXT passes 2^32 and the block is delivered.
        Assert.Equal("1500", rx.Receive(top, top + 500));
        Assert.True(rx.Sack.IsEmpty);
    }

    [Fact]
    public void AcrossTheWrap_OnAdvanceTrims()
    {
        var sack = new SackReporter();
        sack.OnOutOfOrder(S(uint.MaxValue - 99), S(400));   // [2^32 - 100, 400)
        sack.OnOutOfOrder(S(1000), S(1200));
        sack.OnAdvance(S(uint.MaxValue - 49));               // cuts 50 bytes off the first
        Assert.Equal($"1000-1200, {uint.MaxValue - 49}-400", Blocks(sack));
        sack.OnAdvance(S(100));                              // past 2^32, still inside it
        Assert.Equal("1000-1200, 100-400", Blocks(sack));
        sack.OnAdvance(S(400));
        Assert.Equal("1000-1200", Blocks(sack));
    }

    [Fact]
    public void Fill_RespectsMaxBlocks_DsackFirstThenItsBlock()
    {
        var sack = new SackReporter();
        sack.OnOutOfOrder(S(1000), S(2000));
        sack.OnOutOfOrder(S(3000), S(4000));
        sack.OnOutOfOrder(S(5000), S(6000));
        sack.OnDuplicate(S(1200), S(1400));
        Assert.Equal("1200-1400", Blocks(sack, 1));
        Assert.Equal("1200-1400, 1000-2000", Blocks(sack, 2));
        Assert.Equal("1200-1400, 1000-2000, 5000-6000", Blocks(sack, 3));
        Assert.Equal("1200-1400, 1000-2000, 5000-6000, 3000-4000", Blocks(sack, 4));
        Assert.Equal(0, sack.Fill(new TcpSackBlock[4], 0));
        Assert.Equal(0, sack.Fill([], 4));

        // Filling is not sending: the D-SACK stays until the ACK goes out, then is gone.
        Assert.Equal("1200-1400, 1000-2000, 5000-6000", Blocks(sack, 3));
        sack.OnAckSent();
        Assert.Equal("5000-6000, 3000-4000, 1000-2000", Blocks(sack, 3));
    }

    [Fact]
    public void Duplicates_BeforeOneAck_TheLatestIsReported_OrTheUnionWhenTheyTouch()
    {
        var sack = new SackReporter();
        sack.OnDuplicate(S(1000), S(1500));
        sack.OnDuplicate(S(1500), S(2000));
        Assert.Equal("1000-2000", Blocks(sack));
        sack.OnDuplicate(S(3000), S(3500));
        Assert.Equal("3000-3500", Blocks(sack));
        sack.OnAckSent();
        Assert.True(sack.IsEmpty);
    }

    [Fact]
    public void Dsack_SurvivesTheAdvanceOfTheSameSegment()
    {
        var sack = new SackReporter();
        sack.OnOutOfOrder(S(2000), S(2500));
        sack.OnDuplicate(S(1000), S(1500));
        sack.OnAdvance(S(2500));
        Assert.False(sack.IsEmpty);
        Assert.Equal("1000-1500", Blocks(sack));
    }

    [Fact]
    public void Clear_ForgetsEverything()
    {
        var sack = new SackReporter();
        sack.OnOutOfOrder(S(2000), S(2500));
        sack.OnDuplicate(S(1000), S(1500));
        sack.Clear();
        Assert.True(sack.IsEmpty);
        Assert.Equal("", Blocks(sack));
    }

    [Fact]
    public void EmptyRanges_AreRefused()
    {
        var sack = new SackReporter();
        Assert.Throws<ArgumentOutOfRangeException>(() => sack.OnOutOfOrder(S(1000), S(1000)));
        Assert.Throws<ArgumentOutOfRangeException>(() => sack.OnDuplicate(S(1000), S(900)));
    }

    [Fact]
    public void NoAllocation_AfterConstruction()
    {
        var sack = new SackReporter();
        var blocks = new TcpSackBlock[4];
        sack.OnOutOfOrder(S(1), S(2));
        sack.Fill(blocks, 4);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (uint i = 0; i < 100; i++)
        {
            sack.OnOutOfOrder(S(1000 * i + 500), S(1000 * i + 900));
            sack.OnDuplicate(S(1000 * i + 600), S(1000 * i + 700));
            sack.Fill(blocks, 3);
            sack.OnAckSent();
            sack.OnAdvance(S(1000 * i));
        }
        Assert.Equal(before, GC.GetAllocatedBytesForCurrentThread());
    }
}
