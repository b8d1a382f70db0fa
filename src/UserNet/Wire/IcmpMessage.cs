using System.Buffers.Binary;

namespace UserNet.Wire;

/// <summary>ICMPv4 message types (RFC 792).</summary>
public static class IcmpType
{
    public const byte EchoReply = 0;
    public const byte DestinationUnreachable = 3;
    public const byte SourceQuench = 4;
    public const byte Redirect = 5;
    public const byte EchoRequest = 8;
    public const byte TimeExceeded = 11;
    public const byte ParameterProblem = 12;
    public const byte Timestamp = 13;
    public const byte TimestampReply = 14;

    /// <summary>Error messages (as opposed to queries); RFC 1122 3.2.2 forbids answering these with errors.</summary>
    public static bool IsError(byte type) =>
        type is DestinationUnreachable or SourceQuench or Redirect or TimeExceeded or ParameterProblem;
}

/// <summary>Destination unreachable codes (RFC 792, RFC 1122 3.2.2.1).</summary>
public static class IcmpUnreachableCode
{
    public const byte Network = 0;
    public const byte Host = 1;
    public const byte Protocol = 2;
    public const byte Port = 3;
    public const byte FragmentationNeeded = 4;
}

/// <summary>
/// An ICMPv4 message (RFC 792): type, code, checksum over the whole message, a 4-byte rest-of-header
/// (identifier and sequence number for echo), then data.
/// </summary>
public readonly ref struct IcmpMessage
{
    public const int HeaderLength = 8;

    private const int TypeOffset = 0;
    private const int CodeOffset = 1;
    private const int ChecksumOffset = 2;
    private const int IdentifierOffset = 4;
    private const int SequenceOffset = 6;

    public readonly Span<byte> Buffer;

    public IcmpMessage(Span<byte> buffer) => Buffer = buffer;

    public static bool TryParse(Span<byte> buffer, out IcmpMessage message)
    {
        message = new IcmpMessage(buffer);
        return buffer.Length >= HeaderLength;
    }

    public byte Type { get => Buffer[TypeOffset]; set => Buffer[TypeOffset] = value; }
    public byte Code { get => Buffer[CodeOffset]; set => Buffer[CodeOffset] = value; }
    public ushort Checksum { get => BinaryPrimitives.ReadUInt16BigEndian(Buffer[ChecksumOffset..]); set => BinaryPrimitives.WriteUInt16BigEndian(Buffer[ChecksumOffset..], value); }
    /// <summary>Echo identifier (RFC 792: "to aid in matching echos and replies").</summary>
    public ushort Identifier { get => BinaryPrimitives.ReadUInt16BigEndian(Buffer[IdentifierOffset..]); set => BinaryPrimitives.WriteUInt16BigEndian(Buffer[IdentifierOffset..], value); }
    public ushort SequenceNumber { get => BinaryPrimitives.ReadUInt16BigEndian(Buffer[SequenceOffset..]); set => BinaryPrimitives.WriteUInt16BigEndian(Buffer[SequenceOffset..], value); }
    /// <summary>The 32 bits after the checksum: unused (zero) in most error messages.</summary>
    public uint RestOfHeader { get => BinaryPrimitives.ReadUInt32BigEndian(Buffer[IdentifierOffset..]); set => BinaryPrimitives.WriteUInt32BigEndian(Buffer[IdentifierOffset..], value); }
    public Span<byte> Data => Buffer[HeaderLength..];

    public bool IsChecksumValid => InternetChecksum.IsValid(Buffer);

    public void UpdateChecksum()
    {
        Checksum = 0;
        Checksum = InternetChecksum.Compute(Buffer);
    }

    /// <summary>Writes an echo request or reply header; the caller fills <see cref="Data"/> and then calls <see cref="UpdateChecksum"/>.</summary>
    public static IcmpMessage WriteEcho(Span<byte> buffer, byte type, ushort identifier, ushort sequence)
    {
        var m = new IcmpMessage(buffer) { Type = type, Code = 0, Checksum = 0, Identifier = identifier, SequenceNumber = sequence };
        return m;
    }
}
