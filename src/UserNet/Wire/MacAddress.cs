using System.Globalization;

namespace UserNet.Wire;

/// <summary>A 48-bit Ethernet address.</summary>
public readonly record struct MacAddress(ulong Value) : ISpanFormattable
{
    public static readonly MacAddress Zero = new(0);
    public static readonly MacAddress Broadcast = new(0xFFFF_FFFF_FFFF);

    public static MacAddress Read(ReadOnlySpan<byte> s) =>
        new((ulong)s[0] << 40 | (ulong)s[1] << 32 | (ulong)s[2] << 24 | (ulong)s[3] << 16 | (ulong)s[4] << 8 | s[5]);

    public void Write(Span<byte> s)
    {
        s[0] = (byte)(Value >> 40); s[1] = (byte)(Value >> 32); s[2] = (byte)(Value >> 24);
        s[3] = (byte)(Value >> 16); s[4] = (byte)(Value >> 8); s[5] = (byte)Value;
    }

    public bool IsBroadcast => Value == 0xFFFF_FFFF_FFFF;
    /// <summary>The I/G bit of the first octet (IEEE 802): set for group (multicast and broadcast) addresses.</summary>
    public bool IsMulticast => (Value & 0x0100_0000_0000) != 0;

    public static MacAddress Parse(string s) =>
        TryParse(s, out var m) ? m : throw new FormatException($"'{s}' is not a MAC address (expected XX:XX:XX:XX:XX:XX)");

    public static bool TryParse(string? s, out MacAddress mac)
    {
        mac = default;
        if (s is null) return false;
        var parts = s.Split(':', '-');
        if (parts.Length != 6) return false;
        ulong v = 0;
        foreach (var p in parts)
        {
            if (p.Length is 0 or > 2 || !byte.TryParse(p, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var b)) return false;
            v = v << 8 | b;
        }
        mac = new MacAddress(v);
        return true;
    }

    /// <summary>A locally administered unicast address with random low bits (02:xx:...).</summary>
    public static MacAddress RandomLocal(Random? rng = null)
    {
        Span<byte> b = stackalloc byte[6];
        (rng ?? Random.Shared).NextBytes(b);
        b[0] = (byte)((b[0] & 0xFC) | 0x02);
        return Read(b);
    }

    public override string ToString() => string.Create(17, Value, static (d, v) => { Format(v, d); });
    public string ToString(string? format, IFormatProvider? formatProvider) => ToString();
    public bool TryFormat(Span<char> destination, out int charsWritten, ReadOnlySpan<char> format, IFormatProvider? provider)
    {
        if (destination.Length < 17) { charsWritten = 0; return false; }
        Format(Value, destination);
        charsWritten = 17;
        return true;
    }

    private static void Format(ulong v, Span<char> d)
    {
        const string hex = "0123456789abcdef";
        for (int i = 0; i < 6; i++)
        {
            var b = (byte)(v >> (40 - 8 * i));
            d[i * 3] = hex[b >> 4];
            d[i * 3 + 1] = hex[b & 0xF];
            if (i < 5) d[i * 3 + 2] = ':';
        }
    }
}
