using System.Buffers.Binary;

namespace UserNet.Wire;

/// <summary>A UDP datagram (RFC 768): ports, length, checksum over a pseudo-header, data.</summary>
public readonly ref struct UdpDatagram
{
    public const int HeaderLength = 8;

    private const int SourcePortOffset = 0;
    private const int DestinationPortOffset = 2;
    private const int LengthOffset = 4;
    private const int ChecksumOffset = 6;
    /// <summary>Where the checksum field is, from the start of the header (what a partial-checksum offload names).</summary>
    public const int ChecksumFieldOffset = ChecksumOffset;

    public readonly Span<byte> Buffer;

    public UdpDatagram(Span<byte> buffer) => Buffer = buffer;

    public ushort SourcePort { get => BinaryPrimitives.ReadUInt16BigEndian(Buffer[SourcePortOffset..]); set => BinaryPrimitives.WriteUInt16BigEndian(Buffer[SourcePortOffset..], value); }
    public ushort DestinationPort { get => BinaryPrimitives.ReadUInt16BigEndian(Buffer[DestinationPortOffset..]); set => BinaryPrimitives.WriteUInt16BigEndian(Buffer[DestinationPortOffset..], value); }
    /// <summary>Header plus data, in bytes.</summary>
    public ushort Length { get => BinaryPrimitives.ReadUInt16BigEndian(Buffer[LengthOffset..]); set => BinaryPrimitives.WriteUInt16BigEndian(Buffer[LengthOffset..], value); }
    /// <summary>Zero means the sender computed none (RFC 768); a computed zero is sent as 0xFFFF.</summary>
    public ushort Checksum { get => BinaryPrimitives.ReadUInt16BigEndian(Buffer[ChecksumOffset..]); set => BinaryPrimitives.WriteUInt16BigEndian(Buffer[ChecksumOffset..], value); }
    public Span<byte> Data => Buffer[HeaderLength..];

    /// <summary>The sum of the IPv4 pseudo-header (RFC 768): addresses, protocol and UDP length.</summary>
    public static ulong PseudoHeaderSum(Ipv4Address source, Ipv4Address destination, byte protocol, int length) =>
        InternetChecksum.Add(InternetChecksum.Add(0, source), destination) + protocol + (uint)length;

    /// <summary>True when the checksum is absent (zero) or correct over pseudo-header, header and data.</summary>
    public bool IsChecksumValid(Ipv4Address source, Ipv4Address destination) =>
        Checksum == 0 || InternetChecksum.FoldTo16(InternetChecksum.Add(PseudoHeaderSum(source, destination, IpProtocol.Udp, Buffer.Length), Buffer)) == 0xFFFF;

    /// <summary>Computes and stores the checksum; always sent (RFC 1122 4.1.3.4: SHOULD by default).</summary>
    public void UpdateChecksum(Ipv4Address source, Ipv4Address destination)
    {
        Checksum = 0;
        var c = InternetChecksum.Finish(InternetChecksum.Add(PseudoHeaderSum(source, destination, IpProtocol.Udp, Buffer.Length), Buffer));
        Checksum = c == 0 ? (ushort)0xFFFF : c;
    }

    /// <summary>Writes the header for <paramref name="dataLength"/> bytes of data already in place; then call <see cref="UpdateChecksum"/>.</summary>
    public static UdpDatagram Write(Span<byte> buffer, ushort sourcePort, ushort destinationPort, int dataLength) =>
        new(buffer[..(HeaderLength + dataLength)]) { SourcePort = sourcePort, DestinationPort = destinationPort, Length = checked((ushort)(HeaderLength + dataLength)), Checksum = 0 };
}
