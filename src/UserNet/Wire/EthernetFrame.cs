using System.Buffers.Binary;

namespace UserNet.Wire;

/// <summary>EtherType values we dispatch on (IEEE 802.3 / IANA).</summary>
public static class EtherType
{
    public const ushort Ipv4 = 0x0800;
    public const ushort Arp = 0x0806;
    public const ushort Vlan = 0x8100;
    public const ushort Ipv6 = 0x86DD;
}

/// <summary>An Ethernet II frame: destination, source, EtherType, payload. No FCS (the TAP strips it).</summary>
public readonly ref struct EthernetFrame
{
    public const int HeaderLength = 14;
    /// <summary>The smallest frame on the wire without FCS; shorter frames are padded (IEEE 802.3).</summary>
    public const int MinimumLength = 60;

    private const int DestinationOffset = 0;
    private const int SourceOffset = 6;
    private const int EtherTypeOffset = 12;

    public readonly Span<byte> Buffer;

    /// <summary>Wraps a buffer already known to hold at least <see cref="HeaderLength"/> bytes.</summary>
    public EthernetFrame(Span<byte> buffer) => Buffer = buffer;

    public static bool TryParse(Span<byte> buffer, out EthernetFrame frame)
    {
        frame = new EthernetFrame(buffer);
        return buffer.Length >= HeaderLength;
    }

    public MacAddress Destination
    {
        get => MacAddress.Read(Buffer[DestinationOffset..]);
        set => value.Write(Buffer[DestinationOffset..]);
    }

    public MacAddress Source
    {
        get => MacAddress.Read(Buffer[SourceOffset..]);
        set => value.Write(Buffer[SourceOffset..]);
    }

    public ushort EtherType
    {
        get => BinaryPrimitives.ReadUInt16BigEndian(Buffer[EtherTypeOffset..]);
        set => BinaryPrimitives.WriteUInt16BigEndian(Buffer[EtherTypeOffset..], value);
    }

    public Span<byte> Payload => Buffer[HeaderLength..];

    public static void Write(Span<byte> buffer, MacAddress destination, MacAddress source, ushort etherType)
    {
        var f = new EthernetFrame(buffer) { Destination = destination, Source = source, EtherType = etherType };
        _ = f;
    }
}
