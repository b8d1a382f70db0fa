using PacketDotNet;
using PacketDotNet.Tcp;
using PacketDotNet.Utils;
using UserNet.Wire;

namespace UserNet.Tests.Wire;

/// <summary>
/// The SACK option (RFC 2018 section 3): kind 5, length 2 + 8n, n blocks of a left and a right edge, each 32 bits in
/// network order, inside the 40 bytes of TCP options. We lay it out as Linux does, after the timestamps and behind two
/// NOPs (<c>nop,nop,TS val x ecr y,nop,nop,sack 1 {a:b}</c>), and PacketDotNet, a parser written by other people, must
/// read what we write.
/// </summary>
public class TcpOptionsSackTests
{
    private static readonly TcpOptions WithTimestamps = new() { TimestampValue = 0x01020304, TimestampEcho = 0xa0b0c0d0 };

    /// <summary>n blocks starting near the top of sequence space, so that some edges wrap past 2^32.</summary>
    private static TcpSackBlock[] Blocks(int n)
    {
        var blocks = new TcpSackBlock[n];
        uint left = uint.MaxValue - 1200;
        for (int i = 0; i < n; i++)
        {
            blocks[i] = new TcpSackBlock(left, unchecked(left + 500));
            left = unchecked(left + 1000);
        }
        return blocks;
    }

    private static byte[] Hex(string s) => Convert.FromHexString(s.Replace(" ", ""));

    // ---- layout ----

    [Fact]
    public void Rfc2018_Section3_OneBlockAfterTimestamps_IsLinuxLayout()
    {
        var area = new byte[TcpOptions.MaxLength];
        int n = WithTimestamps.Write(area, [new TcpSackBlock(0x11223344, 0x55667788)]);

        // nop,nop,TS val 0x01020304 ecr 0xa0b0c0d0,nop,nop,sack 1 {0x11223344:0x55667788}
        Assert.Equal(Hex("01 01 08 0a 01 02 03 04 a0 b0 c0 d0 01 01 05 0a 11 22 33 44 55 66 77 88"), area[..n]);
    }

    [Fact]
    public void Rfc2018_Section3_WithoutTimestamps_NopNopSackComesFirst()
    {
        var area = new byte[TcpOptions.MaxLength];
        int n = default(TcpOptions).Write(area, [new TcpSackBlock(1, 2), new TcpSackBlock(3, 4)]);
        Assert.Equal(Hex("01 01 05 12 00 00 00 01 00 00 00 02 00 00 00 03 00 00 00 04"), area[..n]);
    }

    [Fact]
    public void NoBlocks_WritesWhatTheOldWriteWrites()
    {
        var options = new TcpOptions(1460, 7, true, 5, 6);
        var a = new byte[TcpOptions.MaxLength];
        var b = new byte[TcpOptions.MaxLength];
        int na = options.Write(a);
        int nb = options.Write(b, ReadOnlySpan<TcpSackBlock>.Empty);
        Assert.Equal(a[..na], b[..nb]);
        Assert.Equal(0, TcpOptions.ReadSackBlocks(a.AsSpan(0, na), new TcpSackBlock[4]));
    }

    // ---- round trip, ours and PacketDotNet's ----

    [Theory]
    [InlineData(1, true)]
    [InlineData(2, true)]
    [InlineData(3, true)]
    [InlineData(1, false)]
    [InlineData(2, false)]
    [InlineData(3, false)]
    [InlineData(4, false)]
    public void Rfc2018_Section3_RoundTrip(int count, bool timestamps)
    {
        var options = timestamps ? WithTimestamps : default;
        var blocks = Blocks(count);
        var area = new byte[TcpOptions.MaxLength];
        int n = options.Write(area, blocks);
        Assert.Equal(0, n % 4);
        Assert.Equal((timestamps ? 12 : 0) + 4 + 8 * count, n);

        var read = new TcpSackBlock[4];
        Assert.Equal(count, TcpOptions.ReadSackBlocks(area.AsSpan(0, n), read));
        Assert.Equal(blocks, read[..count]);

        // The other options still parse as before.
        Assert.True(TcpOptions.TryParse(area.AsSpan(0, n), out var parsed));
        Assert.Equal(options, parsed);
    }

    [Theory]
    [InlineData(1, true)]
    [InlineData(3, true)]
    [InlineData(1, false)]
    [InlineData(4, false)]
    public void Rfc2018_Section3_SegmentWeBuild_PacketDotNetReadsTheBlocks(int count, bool timestamps)
    {
        var options = timestamps ? WithTimestamps : default;
        var blocks = Blocks(count);
        var bytes = new byte[TcpSegment.MinimumHeaderLength + TcpOptions.MaxLength];
        int hl = TcpSegment.WriteHeader(bytes, 40000, 80, 1000, 2000, TcpFlags.Ack, 500, options, blocks);

        var tcp = new TcpPacket(new ByteArraySegment(bytes, 0, hl));
        Assert.Equal(hl, tcp.DataOffset * 4);
        Assert.Equal(2000u, tcp.AcknowledgmentNumber);
        var all = tcp.OptionsCollection;
        var sack = Assert.Single(all.OfType<SelectiveAcknowledgmentOption>());
        Assert.Equal(OptionTypes.SelectiveAcknowledgment, sack.Kind);
        Assert.Equal(2 + 8 * count, sack.Length);
        // PacketDotNet hands the option's bytes back as they stand: kind, length, then the edges in network order.
        var raw = sack.Bytes;
        for (int i = 0; i < count; i++)
        {
            Assert.Equal(blocks[i].Left, System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(raw.AsSpan(2 + 8 * i)));
            Assert.Equal(blocks[i].Right, System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(raw.AsSpan(6 + 8 * i)));
        }
        if (timestamps)
        {
            var ts = Assert.Single(all.OfType<TimeStampOption>());
            Assert.Equal(0x01020304u, ts.Value);
            Assert.Equal(0xa0b0c0d0u, ts.EchoReply);
        }
        // Nothing but NOPs besides: no stray bytes PacketDotNet would read as another option.
        Assert.All(all.Where(o => o is not SelectiveAcknowledgmentOption and not TimeStampOption), o => Assert.IsType<NoOperationOption>(o));
    }

    [Fact]
    public void Rfc2018_Section3_OptionsInLinuxLayout_WeReadTheBlock()
    {
        // An ACK's options laid out as Linux writes them, tcpdump's nop,nop,TS val 3016829532 ecr 1296405634,nop,nop,
        // sack 1 {1449:2897} for a connection whose sequence numbers start at 0x8c4f5a1d.
        var area = Hex("01 01 08 0a b3 d1 2a 5c 4d 45 94 82 01 01 05 0a 8c 4f 5f c6 8c 4f 65 6e");
        var read = new TcpSackBlock[4];
        Assert.Equal(1, TcpOptions.ReadSackBlocks(area, read));
        Assert.Equal(new TcpSackBlock(0x8c4f5a1du + 1449, 0x8c4f5a1du + 2897), read[0]);
    }

    // ---- malformed ----

    [Theory]
    [InlineData("05 02")]                                  // n = 0
    [InlineData("05 09 00 00 00 01 00 00 00")]             // 2 + 7: not a whole block
    [InlineData("05 0b 00 00 00 01 00 00 00 02 00")]       // 2 + 9
    [InlineData("05 01 00 00 00 01 00 00 00 02")]          // length below 2
    [InlineData("05 0a 00 00 00 01 00 00 00")]             // runs past the end of the area
    [InlineData("01 01 05")]                               // the length byte is missing
    public void MalformedSackOption_GivesNoBlocks(string hex)
    {
        Assert.Equal(0, TcpOptions.ReadSackBlocks(Hex(hex), new TcpSackBlock[4]));
    }

    [Fact]
    public void FiveBlocks_AreMoreThanAnOptionHolds_GiveNoBlocks()
    {
        // 2 + 8 * 5 = 42: longer than the 40-byte options area could ever be, so only a forged area carries it.
        var area = new byte[42];
        area[0] = TcpOptions.SackKind;
        area[1] = 42;
        Assert.Equal(0, TcpOptions.ReadSackBlocks(area, new TcpSackBlock[8]));
    }

    [Fact]
    public void NoSackOption_GivesNoBlocks()
    {
        var area = new byte[TcpOptions.MaxLength];
        int n = new TcpOptions(1460, 7, true, 1, 2).Write(area);
        Assert.Equal(0, TcpOptions.ReadSackBlocks(area.AsSpan(0, n), new TcpSackBlock[4]));
        Assert.Equal(0, TcpOptions.ReadSackBlocks([], new TcpSackBlock[4]));
    }

    [Fact]
    public void ShortDestination_CopiesWhatFits()
    {
        var area = new byte[TcpOptions.MaxLength];
        int n = default(TcpOptions).Write(area, Blocks(4));
        var read = new TcpSackBlock[2];
        Assert.Equal(2, TcpOptions.ReadSackBlocks(area.AsSpan(0, n), read));
        Assert.Equal(Blocks(4)[..2], read);
    }

    [Fact]
    public void SackAfterEnd_IsNotRead()
    {
        var area = Hex("00 00 05 0a 00 00 00 01 00 00 00 02");
        Assert.Equal(0, TcpOptions.ReadSackBlocks(area, new TcpSackBlock[4]));
    }

    // ---- the 40-byte limit ----

    [Theory]
    [InlineData(true, 3)]
    [InlineData(false, 4)]
    public void Rfc2018_Section3_MaxSackBlocks(bool timestamps, int expected)
    {
        Assert.Equal(expected, TcpOptions.MaxSackBlocks(timestamps));
        var area = new byte[TcpOptions.MaxLength];
        int n = (timestamps ? WithTimestamps : default).Write(area, Blocks(expected));
        Assert.True(n <= TcpOptions.MaxLength);
        Assert.Equal(expected, TcpOptions.ReadSackBlocks(area.AsSpan(0, n), new TcpSackBlock[4]));
    }

    [Theory]
    [InlineData(true, 4, 3)]    // 12 + 4 + 24 = 40
    [InlineData(true, 9, 3)]
    [InlineData(false, 5, 4)]   // 4 + 32 = 36
    public void TooManyBlocks_AreClampedToTheFirstThatFit(bool timestamps, int offered, int written)
    {
        var area = new byte[TcpOptions.MaxLength];
        var blocks = Blocks(offered);
        int n = (timestamps ? WithTimestamps : default).Write(area, blocks);
        Assert.True(n <= TcpOptions.MaxLength);
        var read = new TcpSackBlock[4];
        Assert.Equal(written, TcpOptions.ReadSackBlocks(area.AsSpan(0, n), read));
        Assert.Equal(blocks[..written], read[..written]);
    }

    [Fact]
    public void EveryOptionAtOnce_StaysWithin40Bytes()
    {
        // MSS 4 + SACK-permitted 4 + timestamps 12 + window scale 4 = 24: one block of 8 fits behind NOP NOP SACK.
        var options = new TcpOptions(1460, 7, true, 1, 2);
        var area = new byte[TcpOptions.MaxLength];
        int n = options.Write(area, Blocks(4));
        Assert.Equal(36, n);
        var read = new TcpSackBlock[4];
        Assert.Equal(1, TcpOptions.ReadSackBlocks(area.AsSpan(0, n), read));
        Assert.Equal(Blocks(1)[0], read[0]);
        Assert.True(TcpOptions.TryParse(area.AsSpan(0, n), out var parsed));
        Assert.Equal(options, parsed);
    }

    [Fact]
    public void WriteAndRead_DoNotAllocate()
    {
        var options = WithTimestamps;
        var blocks = Blocks(3);
        var area = new byte[TcpOptions.MaxLength];
        var read = new TcpSackBlock[4];
        options.Write(area, blocks);
        TcpOptions.ReadSackBlocks(area, read);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++)
        {
            int n = options.Write(area, blocks);
            TcpOptions.ReadSackBlocks(area.AsSpan(0, n), read);
        }
        Assert.Equal(before, GC.GetAllocatedBytesForCurrentThread());
    }
}
