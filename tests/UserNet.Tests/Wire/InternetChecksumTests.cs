using UserNet.TestSupport;
using UserNet.Wire;

namespace UserNet.Tests.Wire;

/// <summary>The Internet checksum (RFC 1071) and its incremental update (RFC 1624).</summary>
public class InternetChecksumTests
{
    /// <summary>
    /// RFC 1071 section 4.1 written as plainly as possible: add big-endian 16-bit words (an odd last byte is the
    /// high half of a zero-padded word), fold the carries back in, complement.
    /// </summary>
    private static ushort ReferenceSum(ReadOnlySpan<byte> data)
    {
        ulong sum = 0;
        int i = 0;
        for (; i + 1 < data.Length; i += 2) sum += (uint)(data[i] << 8 | data[i + 1]);
        if (i < data.Length) sum += (uint)data[i] << 8;
        while (sum >> 16 != 0) sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)sum;
    }

    private static ushort ReferenceChecksum(ReadOnlySpan<byte> data) => (ushort)~ReferenceSum(data);

    /// <summary>Every length from 0 to 2000 (odd and even, below and above a vector's width), and the largest datagram.</summary>
    private static IEnumerable<int> Lengths() => Enumerable.Range(0, 2001).Append(65535);

    [Fact]
    public void Rfc1071_Section3_NumericExample_SumsToDdf2()
    {
        // "byte 0/1: 00 01, 2/3: f2 03, 4/5: f4 f5, 6/7: f6 f7 ... Sum2: dd f2" (before complementing).
        var bytes = Hex.Bytes("00 01 f2 03 f4 f5 f6 f7");
        Assert.Equal(0xddf2, InternetChecksum.FoldTo16(InternetChecksum.Add(0, bytes)));
        Assert.Equal(0x220d, InternetChecksum.Compute(bytes));
    }

    [Fact]
    public void Rfc1071_RandomDataOfEveryLengthUpTo2000AndMaximum_MatchesTheScalarReference()
    {
        var rng = new Random(1071);
        var buffer = new byte[65535 + 3];
        rng.NextBytes(buffer);
        var failures = new List<string>();
        foreach (int n in Lengths())
        {
            // Start at each of a few offsets so unaligned starts are covered as well as aligned ones.
            for (int offset = 0; offset < 4; offset++)
            {
                var data = buffer.AsSpan(offset, n);
                ushort expected = ReferenceChecksum(data);
                ushort actual = InternetChecksum.Compute(data);
                if (expected != actual) failures.Add($"length {n} offset {offset}: expected {expected:x4}, got {actual:x4}");
            }
        }
        Assert.Empty(failures);
    }

    [Fact]
    public void Rfc1071_AllOnesData_SumsWithoutLosingCarries()
    {
        // 65535 bytes of 0xff: the widest sum a datagram can produce.
        var data = new byte[65535];
        data.AsSpan().Fill(0xff);
        Assert.Equal(ReferenceChecksum(data), InternetChecksum.Compute(data));
    }

    [Fact]
    public void Rfc1071_RunningSumOverEvenSizedPieces_EqualsOneSumOverTheWhole()
    {
        var rng = new Random(2);
        var data = new byte[1501];
        rng.NextBytes(data);
        for (int split = 0; split <= 1500; split += 2)
        {
            ulong sum = InternetChecksum.Add(0, data.AsSpan(0, split));
            sum = InternetChecksum.Add(sum, data.AsSpan(split));
            Assert.Equal(ReferenceChecksum(data), InternetChecksum.Finish(sum));
        }
    }

    [Fact]
    public void Rfc1071_WordAndAddressAdders_AddBigEndianWords()
    {
        var bytes = Hex.Bytes("0a 00 00 01 12 34");
        ulong sum = InternetChecksum.Add(0, Ipv4Address.Parse("10.0.0.1"));
        sum = InternetChecksum.Add(sum, (ushort)0x1234);
        Assert.Equal(ReferenceChecksum(bytes), InternetChecksum.Finish(sum));
    }

    [Fact]
    public void Rfc1071_Section1_HeaderWithItsChecksumFilledIn_IsValid_AndAnyBitFlipMakesItInvalid()
    {
        var header = new byte[Ipv4Header.MinimumLength];
        Ipv4Header.Write(header, Ipv4Address.Parse("192.168.1.5"), Ipv4Address.Parse("8.8.8.8"), IpProtocol.Udp, 100, 0x4242);
        Assert.True(InternetChecksum.IsValid(header));
        Assert.True(new Ipv4Header(header).IsChecksumValid);
        Assert.Equal(0xFFFF, ReferenceSum(header));

        for (int bit = 0; bit < header.Length * 8; bit++)
        {
            header[bit / 8] ^= (byte)(1 << (bit % 8));
            Assert.False(InternetChecksum.IsValid(header), $"bit {bit} flipped but the header still checks");
            header[bit / 8] ^= (byte)(1 << (bit % 8));
        }
    }

    [Fact]
    public void Rfc1071_OddLengthMessageWithItsChecksumFilledIn_IsValid()
    {
        var message = new byte[8 + 57];
        new Random(3).NextBytes(message);
        message[2] = message[3] = 0;
        ushort c = InternetChecksum.Compute(message);
        message[2] = (byte)(c >> 8);
        message[3] = (byte)c;
        Assert.True(InternetChecksum.IsValid(message));
        Assert.Equal(0xFFFF, ReferenceSum(message));
    }

    [Fact]
    public void Rfc1624_Section4_Example_GivesFfffWhereTheEquationGivesZero()
    {
        // "Consider an IP packet header in which a 16-bit field m = 0x5555 changes to m' = 0x3285 ... HC = 0xDD2F ...
        //  HC' = ~(~HC + ~m + m') = ~(0x22D0 + 0xAAAA + 0x3285) = ~0xFFFF = 0x0000."
        // The equation cannot tell a rest that sums to -0 (where 0x0000 verifies) from one that sums to +0 (an
        // all-zero message, where only 0xFFFF does); 0xFFFF verifies in both, so that is what we write.
        Assert.Equal(0xFFFF, InternetChecksum.Update(0xDD2F, (ushort)0x5555, (ushort)0x3285));
    }

    [Fact]
    public void Rfc1624_IncrementalUpdateOfRandomWordChanges_EqualsFullRecompute()
    {
        var rng = new Random(1624);
        for (int trial = 0; trial < 5000; trial++)
        {
            var data = new byte[2 * rng.Next(2, 40)];
            rng.NextBytes(data);
            ushort before = InternetChecksum.Compute(data);
            int word = 2 * rng.Next(0, data.Length / 2);
            ushort oldWord = (ushort)(data[word] << 8 | data[word + 1]);
            ushort newWord = trial % 10 == 0 ? (ushort)~oldWord : (ushort)rng.Next(0, 65536);
            data[word] = (byte)(newWord >> 8);
            data[word + 1] = (byte)newWord;

            ushort expected = ReferenceChecksum(data), updated = InternetChecksum.Update(before, oldWord, newWord);
            // Equal, except that 0x0000 is written as 0xFFFF (the equivalent representation; see the test above).
            Assert.Equal(expected == 0 ? (ushort)0xFFFF : expected, updated);
        }
    }

    [Fact]
    public void Rfc1624_IncrementalUpdateOfA32BitField_EqualsFullRecompute()
    {
        var rng = new Random(16240);
        for (int trial = 0; trial < 2000; trial++)
        {
            var header = new byte[Ipv4Header.MinimumLength];
            var oldSource = new Ipv4Address((uint)rng.NextInt64(0, 1L << 32));
            var newSource = new Ipv4Address((uint)rng.NextInt64(0, 1L << 32));
            var h = Ipv4Header.Write(header, oldSource, Ipv4Address.Parse("10.0.0.2"), IpProtocol.Icmp, rng.Next(0, 1480), (ushort)rng.Next());
            ushort before = h.HeaderChecksum;
            h.Source = newSource;
            h.UpdateChecksum();

            Assert.Equal(h.HeaderChecksum, InternetChecksum.Update(before, oldSource.Value, newSource.Value));
        }
    }
}
