using System.Net;
using UserNet.Wire;

namespace UserNet.Tests.Wire;

/// <summary>Addresses as people write them: dotted-quad IPv4 (RFC 791), colon-hex MAC (IEEE 802), A.B.C.D/N prefixes (RFC 4632).</summary>
public class AddressTests
{
    [Theory]
    [InlineData("10.0.0.1", 0x0A000001u)]
    [InlineData("0.0.0.0", 0u)]
    [InlineData("255.255.255.255", 0xFFFFFFFFu)]
    [InlineData("192.168.1.254", 0xC0A801FEu)]
    [InlineData("127.0.0.1", 0x7F000001u)]
    public void Ipv4Address_ParsesDottedQuad_AndFormatsItBack(string text, uint value)
    {
        var a = Ipv4Address.Parse(text);
        Assert.Equal(value, a.Value);
        Assert.Equal(text, a.ToString());
        Assert.Equal(text, $"{a}");
        Assert.True(Ipv4Address.TryParse(text, out var b));
        Assert.Equal(a, b);

        Span<char> chars = stackalloc char[15];
        Assert.True(a.TryFormat(chars, out int written, default, null));
        Assert.Equal(text, chars[..written].ToString());
    }

    [Fact]
    public void Ipv4Address_TryFormat_IntoTooSmallBuffer_ReturnsFalse()
    {
        Span<char> chars = stackalloc char[14];
        Assert.False(Ipv4Address.Parse("255.255.255.255").TryFormat(chars, out _, default, null));
    }

    [Theory]
    [InlineData("")]
    [InlineData("10.0.0")]
    [InlineData("10.0.0.1.5")]
    [InlineData("256.0.0.1")]
    [InlineData("10.0.0.1000")]
    [InlineData("10.0.0.-1")]
    [InlineData("10..0.1")]
    [InlineData("10.0.0.")]
    [InlineData(" 10.0.0.1")]
    [InlineData("10.0.0.1 ")]
    [InlineData("10.0.0.1/24")]
    [InlineData("a.b.c.d")]
    [InlineData("0x0a.0.0.1")]
    [InlineData("+10.0.0.1")]
    [InlineData("10.0.0.١")] // an Arabic-Indic digit one
    [InlineData("::1")]
    public void Ipv4Address_RejectsWhatIsNotADottedQuad(string text)
    {
        Assert.False(Ipv4Address.TryParse(text, out _));
        Assert.Throws<FormatException>(() => Ipv4Address.Parse(text));
    }

    [Fact]
    public void Ipv4Address_RejectsNull()
    {
        Assert.False(Ipv4Address.TryParse(null, out _));
    }

    [Fact]
    public void Ipv4Address_OctetConstructor_KeepsHighOctetsUnsigned()
    {
        Assert.Equal(0xC0A80101u, new Ipv4Address(192, 168, 1, 1).Value);
        Assert.Equal(0xFFFFFFFFu, new Ipv4Address(255, 255, 255, 255).Value);
        Assert.Equal(Ipv4Address.Broadcast, new Ipv4Address(255, 255, 255, 255));
    }

    [Fact]
    public void Ipv4Address_ReadsAndWritesNetworkOrder()
    {
        Span<byte> b = stackalloc byte[4];
        Ipv4Address.Parse("10.1.2.3").Write(b);
        Assert.Equal(new byte[] { 10, 1, 2, 3 }, b.ToArray());
        Assert.Equal(Ipv4Address.Parse("10.1.2.3"), Ipv4Address.Read(b));
    }

    [Fact]
    public void Ipv4Address_ConvertsToAndFromIPAddress()
    {
        var a = Ipv4Address.Parse("172.16.5.4");
        Assert.Equal(IPAddress.Parse("172.16.5.4"), a.ToIPAddress());
        Assert.Equal(a, Ipv4Address.FromIPAddress(IPAddress.Parse("172.16.5.4")));
        Assert.Throws<ArgumentException>(() => Ipv4Address.FromIPAddress(IPAddress.IPv6Loopback));
    }

    [Theory]
    [InlineData("0.0.0.0", true, false, false, false, false)]
    [InlineData("255.255.255.255", false, true, false, false, false)]
    [InlineData("127.0.0.1", false, false, true, false, false)]
    [InlineData("127.255.0.9", false, false, true, false, false)]
    [InlineData("224.0.0.1", false, false, false, true, false)]
    [InlineData("239.255.255.255", false, false, false, true, false)]
    [InlineData("240.0.0.1", false, false, false, false, true)]
    [InlineData("10.0.0.1", false, false, false, false, false)]
    public void Ipv4Address_Rfc1122_3_2_1_3_AddressClasses(string text, bool unspecified, bool broadcast, bool loopback, bool multicast, bool reserved)
    {
        var a = Ipv4Address.Parse(text);
        Assert.Equal(unspecified, a.IsUnspecified);
        Assert.Equal(broadcast, a.IsLimitedBroadcast);
        Assert.Equal(loopback, a.IsLoopback);
        Assert.Equal(multicast, a.IsMulticast);
        Assert.Equal(reserved, a.IsReserved);
    }

    [Theory]
    [InlineData("52:54:00:12:34:56", 0x525400123456ul, "52:54:00:12:34:56")]
    [InlineData("52-54-00-12-34-56", 0x525400123456ul, "52:54:00:12:34:56")]
    [InlineData("02:AB:cd:EF:00:01", 0x02ABCDEF0001ul, "02:ab:cd:ef:00:01")]
    [InlineData("ff:ff:ff:ff:ff:ff", 0xFFFFFFFFFFFFul, "ff:ff:ff:ff:ff:ff")]
    [InlineData("0:1:2:3:4:5", 0x000102030405ul, "00:01:02:03:04:05")]
    public void MacAddress_ParsesColonOrDashHex_AndFormatsLowercaseColons(string text, ulong value, string formatted)
    {
        var m = MacAddress.Parse(text);
        Assert.Equal(value, m.Value);
        Assert.Equal(formatted, m.ToString());
        Assert.Equal(formatted, $"{m}");
        Span<char> chars = stackalloc char[17];
        Assert.True(m.TryFormat(chars, out int written, default, null));
        Assert.Equal(formatted, chars[..written].ToString());
        Assert.False(m.TryFormat(stackalloc char[16], out _, default, null));
    }

    [Theory]
    [InlineData("")]
    [InlineData("52:54:00:12:34")]
    [InlineData("52:54:00:12:34:56:78")]
    [InlineData("525400123456")]
    [InlineData("52:54:00:12:34:5g")]
    [InlineData("052:54:00:12:34:56")]
    [InlineData("52:54:00:12:34:")]
    [InlineData("52::00:12:34:56")]
    [InlineData("52.54.00.12.34.56")]
    public void MacAddress_RejectsWhatIsNotSixHexOctets(string text)
    {
        Assert.False(MacAddress.TryParse(text, out _));
        Assert.Throws<FormatException>(() => MacAddress.Parse(text));
        Assert.False(MacAddress.TryParse(null, out _));
    }

    [Theory]
    [InlineData("52:54:00:12:34: 6")]
    [InlineData("52:54:00:12:34:6 ")]
    [InlineData(" 2:54:00:12:34:56")]
    public void MacAddress_RejectsWhitespaceInsideAnOctet(string text)
    {
        Assert.False(MacAddress.TryParse(text, out _));
    }

    [Fact]
    public void MacAddress_ReadsAndWritesWireOrder()
    {
        Span<byte> b = stackalloc byte[6];
        MacAddress.Parse("52:54:00:12:34:56").Write(b);
        Assert.Equal(new byte[] { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 }, b.ToArray());
        Assert.Equal(MacAddress.Parse("52:54:00:12:34:56"), MacAddress.Read(b));
    }

    [Theory]
    [InlineData("ff:ff:ff:ff:ff:ff", true, true)]
    [InlineData("01:00:5e:00:00:fb", false, true)]
    [InlineData("33:33:00:00:00:01", false, true)]
    [InlineData("52:54:00:12:34:56", false, false)]
    [InlineData("02:00:00:00:00:01", false, false)]
    public void MacAddress_IeeeGroupBit_MarksMulticastAndBroadcast(string text, bool broadcast, bool multicast)
    {
        var m = MacAddress.Parse(text);
        Assert.Equal(broadcast, m.IsBroadcast);
        Assert.Equal(multicast, m.IsMulticast);
    }

    [Fact]
    public void MacAddress_RandomLocal_IsUnicastAndLocallyAdministered()
    {
        var rng = new Random(5);
        for (int i = 0; i < 1000; i++)
        {
            var m = MacAddress.RandomLocal(rng);
            var first = (byte)(m.Value >> 40);
            Assert.False(m.IsMulticast);
            Assert.Equal(0x02, first & 0x03);
        }
    }

    [Theory]
    [InlineData("10.0.0.2/24", "10.0.0.2", 24, 0xFFFFFF00u, "10.0.0.0", "10.0.0.255")]
    [InlineData("192.168.7.9/16", "192.168.7.9", 16, 0xFFFF0000u, "192.168.0.0", "192.168.255.255")]
    [InlineData("172.16.0.5/30", "172.16.0.5", 30, 0xFFFFFFFCu, "172.16.0.4", "172.16.0.7")]
    [InlineData("10.9.8.7/32", "10.9.8.7", 32, 0xFFFFFFFFu, "10.9.8.7", "10.9.8.7")]
    [InlineData("10.9.8.7/1", "10.9.8.7", 1, 0x80000000u, "0.0.0.0", "127.255.255.255")]
    public void Ipv4Subnet_ParsesPrefixNotation(string text, string address, int prefix, uint mask, string network, string broadcast)
    {
        var s = Ipv4Subnet.Parse(text);
        Assert.Equal(Ipv4Address.Parse(address), s.Address);
        Assert.Equal(prefix, s.PrefixLength);
        Assert.Equal(mask, s.Mask);
        Assert.Equal(Ipv4Address.Parse(network), s.Network);
        Assert.Equal(Ipv4Address.Parse(broadcast), s.DirectedBroadcast);
        Assert.Equal(text, s.ToString());
    }

    [Fact]
    public void Ipv4Subnet_Contains_OnlyAddressesUnderThePrefix()
    {
        var s = Ipv4Subnet.Parse("10.0.0.2/24");
        Assert.True(s.Contains(Ipv4Address.Parse("10.0.0.0")));
        Assert.True(s.Contains(Ipv4Address.Parse("10.0.0.1")));
        Assert.True(s.Contains(Ipv4Address.Parse("10.0.0.255")));
        Assert.False(s.Contains(Ipv4Address.Parse("10.0.1.1")));
        Assert.False(s.Contains(Ipv4Address.Parse("9.255.255.255")));
        Assert.False(s.Contains(Ipv4Address.Parse("138.0.0.1"))); // differs only in the top bit
    }

    [Theory]
    [InlineData("10.0.0.2")]
    [InlineData("10.0.0.2/")]
    [InlineData("10.0.0.2/0")]
    [InlineData("10.0.0.2/33")]
    [InlineData("10.0.0.2/-1")]
    [InlineData("10.0.0.2/x")]
    [InlineData("10.0.0.256/24")]
    [InlineData("/24")]
    [InlineData("10.0.0.2/24/8")]
    public void Ipv4Subnet_RejectsWhatIsNotAddressSlashPrefix(string text)
    {
        Assert.Throws<FormatException>(() => Ipv4Subnet.Parse(text));
    }

    [Theory]
    [InlineData("10.0.0.2/+24")]
    [InlineData("10.0.0.2/ 24")]
    [InlineData("10.0.0.2/24 ")]
    public void Ipv4Subnet_RejectsAPrefixLengthWithSignOrWhitespace(string text)
    {
        Assert.Throws<FormatException>(() => Ipv4Subnet.Parse(text));
    }
}
