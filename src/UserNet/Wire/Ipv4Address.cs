using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Net;

namespace UserNet.Wire;

/// <summary>An IPv4 address held as a host-order 32-bit value; converts to and from the wire's network order.</summary>
public readonly record struct Ipv4Address(uint Value) : ISpanFormattable
{
    public static readonly Ipv4Address Any = new(0);
    public static readonly Ipv4Address Broadcast = new(0xFFFF_FFFF);

    public Ipv4Address(byte a, byte b, byte c, byte d) : this((uint)(a << 24 | b << 16 | c << 8 | d)) { }

    public static Ipv4Address Read(ReadOnlySpan<byte> s) => new(BinaryPrimitives.ReadUInt32BigEndian(s));
    public void Write(Span<byte> s) => BinaryPrimitives.WriteUInt32BigEndian(s, Value);

    public bool IsUnspecified => Value == 0;
    public bool IsLimitedBroadcast => Value == 0xFFFF_FFFF;
    /// <summary>127.0.0.0/8 (RFC 1122 3.2.1.3 (g)).</summary>
    public bool IsLoopback => (Value >> 24) == 127;
    /// <summary>224.0.0.0/4, class D.</summary>
    public bool IsMulticast => (Value >> 28) == 0xE;
    /// <summary>240.0.0.0/4 minus the limited broadcast, class E (reserved).</summary>
    public bool IsReserved => (Value >> 28) == 0xF && Value != 0xFFFF_FFFF;

    public static Ipv4Address Parse(string s) =>
        TryParse(s, out var a) ? a : throw new FormatException($"'{s}' is not an IPv4 address (expected A.B.C.D)");

    public static bool TryParse([NotNullWhen(true)] string? s, out Ipv4Address address)
    {
        address = default;
        if (s is null) return false;
        var parts = s.Split('.');
        if (parts.Length != 4) return false;
        uint v = 0;
        foreach (var p in parts)
        {
            if (p.Length is 0 or > 3 || !p.All(char.IsAsciiDigit) || !uint.TryParse(p, out var octet) || octet > 255) return false;
            v = v << 8 | octet;
        }
        address = new Ipv4Address(v);
        return true;
    }

    public IPAddress ToIPAddress() => new(new[] { (byte)(Value >> 24), (byte)(Value >> 16), (byte)(Value >> 8), (byte)Value });
    public static Ipv4Address FromIPAddress(IPAddress ip)
    {
        Span<byte> b = stackalloc byte[4];
        if (ip.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork || !ip.TryWriteBytes(b, out _))
            throw new ArgumentException($"{ip} is not an IPv4 address", nameof(ip));
        return Read(b);
    }

    public override string ToString() => $"{Value >> 24}.{(Value >> 16) & 0xFF}.{(Value >> 8) & 0xFF}.{Value & 0xFF}";
    public string ToString(string? format, IFormatProvider? formatProvider) => ToString();
    public bool TryFormat(Span<char> destination, out int charsWritten, ReadOnlySpan<char> format, IFormatProvider? provider) =>
        destination.TryWrite($"{Value >> 24}.{(Value >> 16) & 0xFF}.{(Value >> 8) & 0xFF}.{Value & 0xFF}", out charsWritten);
}

/// <summary>An address with its prefix length, as written A.B.C.D/N.</summary>
public readonly record struct Ipv4Subnet(Ipv4Address Address, int PrefixLength)
{
    public uint Mask => PrefixLength == 0 ? 0 : uint.MaxValue << (32 - PrefixLength);
    public Ipv4Address Network => new(Address.Value & Mask);
    public Ipv4Address DirectedBroadcast => new(Address.Value | ~Mask);
    public bool Contains(Ipv4Address a) => (a.Value & Mask) == (Address.Value & Mask);

    /// <summary>
    /// True for the limited broadcast (255.255.255.255) and this prefix's directed broadcast. A /31 has no broadcast
    /// address (RFC 3021: both addresses are hosts), nor has a /32.
    /// </summary>
    public bool IsBroadcast(Ipv4Address a) => a.IsLimitedBroadcast || (PrefixLength < 31 && a == DirectedBroadcast);

    public static Ipv4Subnet Parse(string s)
    {
        var slash = s.IndexOf('/');
        if (slash < 0) throw new FormatException($"'{s}' needs a prefix length, as in 10.0.0.2/24");
        var addr = Ipv4Address.Parse(s[..slash]);
        var len = s[(slash + 1)..];
        if (len.Length is < 1 or > 2 || !len.All(char.IsAsciiDigit) || !int.TryParse(len, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) || n is < 1 or > 32)
            throw new FormatException($"'{s}': the prefix length must be 1 to 32");
        return new Ipv4Subnet(addr, n);
    }

    public override string ToString() => $"{Address}/{PrefixLength}";
}
