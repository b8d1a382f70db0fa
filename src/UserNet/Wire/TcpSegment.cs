using System.Buffers.Binary;

namespace UserNet.Wire;

/// <summary>TCP control bits (RFC 9293 section 3.1).</summary>
[Flags]
public enum TcpFlags : byte
{
    None = 0,
    Fin = 0x01,
    Syn = 0x02,
    Rst = 0x04,
    Psh = 0x08,
    Ack = 0x10,
    Urg = 0x20,
    Ece = 0x40,
    Cwr = 0x80,
}

/// <summary>The options we read and write (RFC 9293 3.2, RFC 7323, RFC 2018). Absent values are null.</summary>
public record struct TcpOptions(ushort? Mss, byte? WindowScale, bool SackPermitted, uint? TimestampValue, uint? TimestampEcho)
{
    public const byte End = 0, Nop = 1, MssKind = 2, WindowScaleKind = 3, SackPermittedKind = 4, SackKind = 5, TimestampKind = 8;

    /// <summary>Parses an options area; malformed options (a length running past the end, or below 2) make it return false.</summary>
    public static bool TryParse(ReadOnlySpan<byte> area, out TcpOptions options)
    {
        options = default;
        int i = 0;
        while (i < area.Length)
        {
            byte kind = area[i];
            if (kind == End) break;
            if (kind == Nop) { i++; continue; }
            if (i + 1 >= area.Length) return false;
            int len = area[i + 1];
            if (len < 2 || i + len > area.Length) return false;
            var body = area.Slice(i + 2, len - 2);
            switch (kind)
            {
                case MssKind when len == 4: options.Mss = BinaryPrimitives.ReadUInt16BigEndian(body); break;
                case WindowScaleKind when len == 3: options.WindowScale = body[0]; break;
                case SackPermittedKind when len == 2: options.SackPermitted = true; break;
                case TimestampKind when len == 10:
                    options.TimestampValue = BinaryPrimitives.ReadUInt32BigEndian(body);
                    options.TimestampEcho = BinaryPrimitives.ReadUInt32BigEndian(body[4..]);
                    break;
            }
            i += len;
        }
        return true;
    }

    /// <summary>Writes the options padded to a multiple of 4 bytes; returns the length written.</summary>
    public readonly int Write(Span<byte> area)
    {
        int i = 0;
        if (Mss is { } mss)
        {
            area[i++] = MssKind; area[i++] = 4;
            BinaryPrimitives.WriteUInt16BigEndian(area[i..], mss); i += 2;
        }
        if (SackPermitted) { area[i++] = Nop; area[i++] = Nop; area[i++] = SackPermittedKind; area[i++] = 2; }
        if (TimestampValue is { } tsv)
        {
            area[i++] = Nop; area[i++] = Nop; area[i++] = TimestampKind; area[i++] = 10;
            BinaryPrimitives.WriteUInt32BigEndian(area[i..], tsv); i += 4;
            BinaryPrimitives.WriteUInt32BigEndian(area[i..], TimestampEcho ?? 0); i += 4;
        }
        if (WindowScale is { } ws) { area[i++] = Nop; area[i++] = WindowScaleKind; area[i++] = 3; area[i++] = ws; }
        while (i % 4 != 0) area[i++] = End;
        return i;
    }
}

/// <summary>A TCP segment (RFC 9293 section 3.1) over a buffer that starts at the TCP header.</summary>
public readonly ref struct TcpSegment
{
    public const int MinimumHeaderLength = 20;

    private const int SourcePortOffset = 0;
    private const int DestinationPortOffset = 2;
    private const int SequenceOffset = 4;
    private const int AcknowledgmentOffset = 8;
    private const int DataOffsetOffset = 12;
    private const int FlagsOffset = 13;
    private const int WindowOffset = 14;
    private const int ChecksumOffset = 16;
    private const int UrgentOffset = 18;

    public readonly Span<byte> Buffer;

    public TcpSegment(Span<byte> buffer) => Buffer = buffer;

    /// <summary>Checks the header fits (20 bytes, and the data offset within the buffer); the checksum is separate.</summary>
    public static bool TryParse(Span<byte> buffer, out TcpSegment segment)
    {
        segment = new TcpSegment(buffer);
        if (buffer.Length < MinimumHeaderLength) return false;
        int hl = segment.HeaderLength;
        return hl >= MinimumHeaderLength && hl <= buffer.Length;
    }

    public ushort SourcePort { get => BinaryPrimitives.ReadUInt16BigEndian(Buffer[SourcePortOffset..]); set => BinaryPrimitives.WriteUInt16BigEndian(Buffer[SourcePortOffset..], value); }
    public ushort DestinationPort { get => BinaryPrimitives.ReadUInt16BigEndian(Buffer[DestinationPortOffset..]); set => BinaryPrimitives.WriteUInt16BigEndian(Buffer[DestinationPortOffset..], value); }
    public uint SequenceNumber { get => BinaryPrimitives.ReadUInt32BigEndian(Buffer[SequenceOffset..]); set => BinaryPrimitives.WriteUInt32BigEndian(Buffer[SequenceOffset..], value); }
    public uint AcknowledgmentNumber { get => BinaryPrimitives.ReadUInt32BigEndian(Buffer[AcknowledgmentOffset..]); set => BinaryPrimitives.WriteUInt32BigEndian(Buffer[AcknowledgmentOffset..], value); }
    /// <summary>Header length in bytes (data offset times 4).</summary>
    public int HeaderLength => (Buffer[DataOffsetOffset] >> 4) * 4;
    public TcpFlags Flags { get => (TcpFlags)Buffer[FlagsOffset]; set => Buffer[FlagsOffset] = (byte)value; }
    public ushort Window { get => BinaryPrimitives.ReadUInt16BigEndian(Buffer[WindowOffset..]); set => BinaryPrimitives.WriteUInt16BigEndian(Buffer[WindowOffset..], value); }
    public ushort Checksum { get => BinaryPrimitives.ReadUInt16BigEndian(Buffer[ChecksumOffset..]); set => BinaryPrimitives.WriteUInt16BigEndian(Buffer[ChecksumOffset..], value); }
    public ushort UrgentPointer { get => BinaryPrimitives.ReadUInt16BigEndian(Buffer[UrgentOffset..]); set => BinaryPrimitives.WriteUInt16BigEndian(Buffer[UrgentOffset..], value); }
    public Span<byte> Options => Buffer[MinimumHeaderLength..HeaderLength];
    public Span<byte> Payload => Buffer[HeaderLength..];

    public bool Has(TcpFlags f) => (Flags & f) != 0;

    public bool IsChecksumValid(Ipv4Address source, Ipv4Address destination) =>
        InternetChecksum.FoldTo16(InternetChecksum.Add(UdpDatagram.PseudoHeaderSum(source, destination, IpProtocol.Tcp, Buffer.Length), Buffer)) == 0xFFFF;

    public void UpdateChecksum(Ipv4Address source, Ipv4Address destination)
    {
        Checksum = 0;
        Checksum = InternetChecksum.Finish(InternetChecksum.Add(UdpDatagram.PseudoHeaderSum(source, destination, IpProtocol.Tcp, Buffer.Length), Buffer));
    }

    /// <summary>Writes a header with the given options (payload, if any, already in place after it); returns the header length.</summary>
    public static int WriteHeader(Span<byte> buffer, ushort sourcePort, ushort destinationPort, uint seq, uint ack, TcpFlags flags, ushort window, in TcpOptions options)
    {
        int optLen = options.Write(buffer[MinimumHeaderLength..]);
        int hl = MinimumHeaderLength + optLen;
        var s = new TcpSegment(buffer)
        {
            SourcePort = sourcePort,
            DestinationPort = destinationPort,
            SequenceNumber = seq,
            AcknowledgmentNumber = ack,
            Flags = flags,
            Window = window,
            Checksum = 0,
            UrgentPointer = 0,
        };
        buffer[DataOffsetOffset] = (byte)((hl / 4) << 4);
        return hl;
    }
}
