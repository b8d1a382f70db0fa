using UserNet.TestSupport;
using UserNet.Wire;

namespace UserNet.Tests.Wire;

/// <summary>
/// RFC 1122 section 3.2.1 and RFC 791 section 3.1: what makes an IPv4 header unusable, one fault at a time.
/// Each fault is made on a valid datagram and the header checksum is then corrected, so only the fault under test is wrong.
/// </summary>
public class Ipv4HeaderParseTests
{
    /// <summary>The IP part of iputils' echo request (84 bytes: 20 header, 8 ICMP header, 56 data).</summary>
    private static byte[] ValidDatagram()
    {
        var icmp = Frames.IcmpEcho(IcmpType.EchoRequest, 0x0d2f, 1, Frames.PingData());
        var datagram = new byte[Ipv4Header.MinimumLength + icmp.Length];
        Ipv4Header.Write(datagram, Ipv4Address.Parse("10.0.0.1"), Ipv4Address.Parse("10.0.0.2"), IpProtocol.Icmp, icmp.Length, 0x1c46, dontFragment: true);
        icmp.CopyTo(datagram, Ipv4Header.MinimumLength);
        return datagram;
    }

    /// <summary>Recomputes the checksum over the first <paramref name="headerLength"/> bytes.</summary>
    private static void FixChecksum(byte[] datagram, int headerLength = Ipv4Header.MinimumLength)
    {
        datagram[10] = datagram[11] = 0;
        ushort c = InternetChecksum.Compute(datagram.AsSpan(0, headerLength));
        datagram[10] = (byte)(c >> 8);
        datagram[11] = (byte)c;
    }

    [Fact]
    public void ValidDatagram_ParsesWithNoError()
    {
        var d = ValidDatagram();
        Assert.Equal(Ipv4ParseError.None, Ipv4Header.TryParse(d, out var ip));
        Assert.Equal(84, ip.Buffer.Length);
        Assert.Equal(64, ip.Payload.Length);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(19)]
    public void FewerThan20Bytes_IsTruncated(int length)
    {
        var d = ValidDatagram();
        Assert.Equal(Ipv4ParseError.Truncated, Ipv4Header.TryParse(d.AsSpan(0, length), out _));
    }

    [Theory]
    [InlineData(6)]
    [InlineData(0)]
    [InlineData(5)]
    [InlineData(15)]
    public void VersionOtherThan4_IsBadVersion(int version)
    {
        var d = ValidDatagram();
        d[0] = (byte)(version << 4 | 5);
        FixChecksum(d);
        Assert.Equal(Ipv4ParseError.BadVersion, Ipv4Header.TryParse(d, out _));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(4)]
    public void IhlBelow5_IsBadHeaderLength(int ihl)
    {
        var d = ValidDatagram();
        d[0] = (byte)(0x40 | ihl);
        FixChecksum(d);
        Assert.Equal(Ipv4ParseError.BadHeaderLength, Ipv4Header.TryParse(d, out _));
    }

    [Fact]
    public void IhlReachingBeyondTheBuffer_IsBadHeaderLength()
    {
        // A 28-byte datagram (20 header + 8 payload) that claims a 60-byte header (IHL 15).
        var d = ValidDatagram()[..28];
        d[0] = 0x4f;
        d[2] = 0; d[3] = 28;
        Assert.Equal(Ipv4ParseError.BadHeaderLength, Ipv4Header.TryParse(d, out _));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(19)]
    public void TotalLengthShorterThanTheHeader_IsBadTotalLength(int totalLength)
    {
        var d = ValidDatagram();
        d[2] = (byte)(totalLength >> 8); d[3] = (byte)totalLength;
        FixChecksum(d);
        Assert.Equal(Ipv4ParseError.BadTotalLength, Ipv4Header.TryParse(d, out _));
    }

    [Fact]
    public void TotalLengthShorterThanAHeaderWithOptions_IsBadTotalLength()
    {
        // IHL 6 (24 bytes) but total length 22.
        var d = new byte[24];
        Ipv4Header.Write(d, Ipv4Address.Parse("10.0.0.1"), Ipv4Address.Parse("10.0.0.2"), 253, 0, 1);
        d[0] = 0x46; d[2] = 0; d[3] = 22;
        FixChecksum(d, 24);
        Assert.Equal(Ipv4ParseError.BadTotalLength, Ipv4Header.TryParse(d, out _));
    }

    [Theory]
    [InlineData(85)]
    [InlineData(1500)]
    [InlineData(65535)]
    public void TotalLengthBeyondTheBuffer_IsBadTotalLength(int totalLength)
    {
        var d = ValidDatagram();
        d[2] = (byte)(totalLength >> 8); d[3] = (byte)totalLength;
        FixChecksum(d);
        Assert.Equal(Ipv4ParseError.BadTotalLength, Ipv4Header.TryParse(d, out _));
    }

    [Theory]
    [InlineData(8)]  // TTL
    [InlineData(11)] // the checksum itself
    [InlineData(15)] // the source address
    [InlineData(19)] // the destination address
    public void AnyHeaderByteChangedWithoutTheChecksum_IsBadChecksum(int offset)
    {
        var d = ValidDatagram();
        d[offset] ^= 0x01;
        Assert.Equal(Ipv4ParseError.BadChecksum, Ipv4Header.TryParse(d, out _));
    }

    [Fact]
    public void PayloadCorruption_IsNotTheHeaderChecksumsConcern()
    {
        var d = ValidDatagram();
        d[40] ^= 0xff;
        Assert.Equal(Ipv4ParseError.None, Ipv4Header.TryParse(d, out _));
    }

    [Fact]
    public void EthernetPadding_IsTrimmed_PayloadEndsAtTotalLength()
    {
        // A 28-byte echo request with no data arrives in a 60-byte frame: 18 bytes of padding follow it.
        var icmp = Frames.IcmpEcho(IcmpType.EchoRequest, 7, 9, ReadOnlySpan<byte>.Empty);
        var frame = Frames.Ipv4(MacAddress.Parse("02:00:00:00:00:02"), MacAddress.Parse("52:54:00:12:34:56"),
            Ipv4Address.Parse("10.0.0.1"), Ipv4Address.Parse("10.0.0.2"), IpProtocol.Icmp, icmp);
        Array.Resize(ref frame, EthernetFrame.MinimumLength);
        frame.AsSpan(42).Fill(0xa5); // padding is not always zero

        var payload = frame.AsSpan(EthernetFrame.HeaderLength);
        Assert.Equal(46, payload.Length);
        Assert.Equal(Ipv4ParseError.None, Ipv4Header.TryParse(payload, out var ip));
        Assert.Equal(28, ip.TotalLength);
        Assert.Equal(28, ip.Buffer.Length);
        Assert.Equal(8, ip.Payload.Length);
        Assert.Equal(icmp, ip.Payload.ToArray());
        Assert.True(IcmpMessage.TryParse(ip.Payload, out var m));
        Assert.True(m.IsChecksumValid);
    }
}
