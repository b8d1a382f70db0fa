using System.Buffers.Binary;

namespace UserNet.Wire;

/// <summary>IP protocol numbers (IANA) that the stack knows by name.</summary>
public static class IpProtocol
{
    public const byte Icmp = 1;
    public const byte Tcp = 6;
    public const byte Udp = 17;
}

/// <summary>Why an IPv4 header failed validation (RFC 791, RFC 1122 section 3.2.1).</summary>
public enum Ipv4ParseError
{
    None,
    Truncated,
    BadVersion,
    BadHeaderLength,
    BadTotalLength,
    BadChecksum,
}

/// <summary>
/// An IPv4 header (RFC 791 section 3.1) over a buffer that starts at the header.
/// Options are skipped by IHL; <see cref="Payload"/> is bounded by the total length, so Ethernet padding is trimmed.
/// </summary>
public readonly ref struct Ipv4Header
{
    public const int MinimumLength = 20;
    public const ushort DontFragmentFlag = 0x4000;
    public const ushort MoreFragmentsFlag = 0x2000;
    private const ushort FragmentOffsetMask = 0x1FFF;

    private const int VersionIhlOffset = 0;
    private const int TosOffset = 1;
    private const int TotalLengthOffset = 2;
    private const int IdentificationOffset = 4;
    private const int FlagsFragmentOffset = 6;
    private const int TtlOffset = 8;
    private const int ProtocolOffset = 9;
    private const int ChecksumOffset = 10;
    private const int SourceOffset = 12;
    private const int DestinationOffset = 16;

    public readonly Span<byte> Buffer;

    public Ipv4Header(Span<byte> buffer) => Buffer = buffer;

    /// <summary>
    /// Validates in the order RFC 1122 section 3.2.1 implies: enough bytes, version 4, IHL at least 5,
    /// total length covering the header and within the buffer, then the header checksum. After success every accessor is safe.
    /// </summary>
    public static Ipv4ParseError TryParse(Span<byte> buffer, out Ipv4Header header)
    {
        header = new Ipv4Header(buffer);
        if (buffer.Length < MinimumLength) return Ipv4ParseError.Truncated;
        if (header.Version != 4) return Ipv4ParseError.BadVersion;
        int hl = header.HeaderLength;
        if (hl < MinimumLength || hl > buffer.Length) return Ipv4ParseError.BadHeaderLength;
        int total = header.TotalLength;
        if (total < hl || total > buffer.Length) return Ipv4ParseError.BadTotalLength;
        if (!InternetChecksum.IsValid(buffer[..hl])) return Ipv4ParseError.BadChecksum;
        header = new Ipv4Header(buffer[..total]);
        return Ipv4ParseError.None;
    }

    public int Version => Buffer[VersionIhlOffset] >> 4;
    /// <summary>IHL in 32-bit words.</summary>
    public int Ihl => Buffer[VersionIhlOffset] & 0x0F;
    public int HeaderLength => Ihl * 4;
    public byte TypeOfService { get => Buffer[TosOffset]; set => Buffer[TosOffset] = value; }
    public ushort TotalLength { get => BinaryPrimitives.ReadUInt16BigEndian(Buffer[TotalLengthOffset..]); set => BinaryPrimitives.WriteUInt16BigEndian(Buffer[TotalLengthOffset..], value); }
    public ushort Identification { get => BinaryPrimitives.ReadUInt16BigEndian(Buffer[IdentificationOffset..]); set => BinaryPrimitives.WriteUInt16BigEndian(Buffer[IdentificationOffset..], value); }
    /// <summary>The flags (top 3 bits) and fragment offset (low 13 bits, in 8-byte units) word.</summary>
    public ushort FlagsAndFragmentOffset { get => BinaryPrimitives.ReadUInt16BigEndian(Buffer[FlagsFragmentOffset..]); set => BinaryPrimitives.WriteUInt16BigEndian(Buffer[FlagsFragmentOffset..], value); }
    public bool DontFragment => (FlagsAndFragmentOffset & DontFragmentFlag) != 0;
    public bool MoreFragments => (FlagsAndFragmentOffset & MoreFragmentsFlag) != 0;
    /// <summary>Fragment offset in bytes.</summary>
    public int FragmentOffset => (FlagsAndFragmentOffset & FragmentOffsetMask) * 8;
    /// <summary>True for any fragment, first or not (MF set or a non-zero offset).</summary>
    public bool IsFragment => (FlagsAndFragmentOffset & (MoreFragmentsFlag | FragmentOffsetMask)) != 0;
    public byte TimeToLive { get => Buffer[TtlOffset]; set => Buffer[TtlOffset] = value; }
    public byte Protocol { get => Buffer[ProtocolOffset]; set => Buffer[ProtocolOffset] = value; }
    public ushort HeaderChecksum { get => BinaryPrimitives.ReadUInt16BigEndian(Buffer[ChecksumOffset..]); set => BinaryPrimitives.WriteUInt16BigEndian(Buffer[ChecksumOffset..], value); }
    public Ipv4Address Source { get => Ipv4Address.Read(Buffer[SourceOffset..]); set => value.Write(Buffer[SourceOffset..]); }
    public Ipv4Address Destination { get => Ipv4Address.Read(Buffer[DestinationOffset..]); set => value.Write(Buffer[DestinationOffset..]); }
    public Span<byte> Options => Buffer[MinimumLength..HeaderLength];
    /// <summary>The bytes after the header up to the total length.</summary>
    public Span<byte> Payload => Buffer[HeaderLength..TotalLength];

    public bool IsChecksumValid => InternetChecksum.IsValid(Buffer[..HeaderLength]);

    public void UpdateChecksum()
    {
        HeaderChecksum = 0;
        HeaderChecksum = InternetChecksum.Compute(Buffer[..HeaderLength]);
    }

    /// <summary>Writes a 20-byte header with no options and a correct checksum.</summary>
    public static Ipv4Header Write(Span<byte> buffer, Ipv4Address source, Ipv4Address destination, byte protocol,
        int payloadLength, ushort identification, byte ttl = 64, bool dontFragment = false, byte tos = 0)
    {
        var h = new Ipv4Header(buffer);
        buffer[VersionIhlOffset] = 0x45;
        h.TypeOfService = tos;
        h.TotalLength = checked((ushort)(MinimumLength + payloadLength));
        h.Identification = identification;
        h.FlagsAndFragmentOffset = dontFragment ? DontFragmentFlag : (ushort)0;
        h.TimeToLive = ttl;
        h.Protocol = protocol;
        h.Source = source;
        h.Destination = destination;
        h.UpdateChecksum();
        return h;
    }

    /// <summary>Sets version 4 and the header length in bytes (a multiple of 4, 20 to 60).</summary>
    public void SetVersionAndHeaderLength(int headerLength) => Buffer[VersionIhlOffset] = (byte)(0x40 | (headerLength / 4));
}
