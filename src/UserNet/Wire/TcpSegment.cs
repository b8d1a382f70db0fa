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

    /// <summary>The most bytes a TCP header's options may take (a data offset of 15 words less the 20-byte header).</summary>
    public const int MaxLength = 40;

    /// <summary>
    /// The most SACK blocks that fit beside the other options of a segment that is not a SYN (RFC 2018 section 3):
    /// NOP NOP and the option's own 2 bytes leave room for 4 blocks of 8 bytes in 40, and for 3 beside the 12 bytes
    /// of NOP NOP TS.
    /// </summary>
    public static int MaxSackBlocks(bool timestamps) => timestamps ? 3 : 4;

    /// <summary>
    /// Copies the blocks of the first SACK option (kind 5, RFC 2018 section 3) in the options area into
    /// <paramref name="blocks"/>, at most its length, and returns how many it copied. It returns 0 when there is no
    /// SACK option, when the area is malformed (as <see cref="TryParse"/> judges it), or when the SACK option's
    /// length is not 2 + 8n with n from 1 to 4.
    /// </summary>
    public static int ReadSackBlocks(ReadOnlySpan<byte> area, Span<TcpSackBlock> blocks)
    {
        int i = 0;
        while (i < area.Length)
        {
            byte kind = area[i];
            if (kind == End) break;
            if (kind == Nop) { i++; continue; }
            if (i + 1 >= area.Length) return 0;
            int len = area[i + 1];
            if (len < 2 || i + len > area.Length) return 0;
            if (kind == SackKind)
            {
                int n = (len - 2) / 8;
                if ((len - 2) % 8 != 0 || n < 1 || n > 4) return 0;
                n = Math.Min(n, blocks.Length);
                var body = area.Slice(i + 2, len - 2);
                for (int b = 0; b < n; b++)
                    blocks[b] = new TcpSackBlock(BinaryPrimitives.ReadUInt32BigEndian(body[(8 * b)..]), BinaryPrimitives.ReadUInt32BigEndian(body[(8 * b + 4)..]));
                return n;
            }
            i += len;
        }
        return 0;
    }

    /// <summary>Writes the options padded to a multiple of 4 bytes; returns the length written.</summary>
    public readonly int Write(Span<byte> area) => Write(area, default);

    /// <summary>
    /// Writes the options padded to a multiple of 4 bytes, with a SACK option carrying <paramref name="sackBlocks"/>
    /// after the timestamps as Linux lays it out (<c>nop,nop,TS val x ecr y,nop,nop,sack 1 {a:b}</c>); returns the
    /// length written. Blocks that would take the options past <see cref="MaxLength"/> bytes, or past 4, are left
    /// out from the end: the first blocks are the ones that matter (RFC 2018 section 4). No blocks, no SACK option.
    /// </summary>
    public readonly int Write(Span<byte> area, ReadOnlySpan<TcpSackBlock> sackBlocks)
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
        // Every option above and the window scale below take a multiple of 4 bytes, so what is left is exact.
        int windowScaleLength = WindowScale is null ? 0 : 4;
        int n = Math.Min(Math.Min(sackBlocks.Length, 4), (MaxLength - i - windowScaleLength - 4) / 8);
        if (n > 0)
        {
            area[i++] = Nop; area[i++] = Nop; area[i++] = SackKind; area[i++] = (byte)(2 + 8 * n);
            for (int b = 0; b < n; b++)
            {
                BinaryPrimitives.WriteUInt32BigEndian(area[i..], sackBlocks[b].Left); i += 4;
                BinaryPrimitives.WriteUInt32BigEndian(area[i..], sackBlocks[b].Right); i += 4;
            }
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
    /// <summary>Where the checksum field is, from the start of the header (what a partial-checksum offload names).</summary>
    public const int ChecksumFieldOffset = ChecksumOffset;
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

    /// <summary>
    /// Leaves the checksum for the link to finish (a partial checksum, virtio's NEEDS_CSUM): the field holds the folded
    /// pseudo-header sum, not complemented, over this segment's length, as Linux's TCP writes it for TSO.
    /// </summary>
    public void SetPartialChecksum(Ipv4Address source, Ipv4Address destination) =>
        Checksum = InternetChecksum.FoldTo16(UdpDatagram.PseudoHeaderSum(source, destination, IpProtocol.Tcp, Buffer.Length));

    /// <summary>Writes a header with the given options (payload, if any, already in place after it); returns the header length.</summary>
    public static int WriteHeader(Span<byte> buffer, ushort sourcePort, ushort destinationPort, uint seq, uint ack, TcpFlags flags, ushort window, in TcpOptions options) =>
        WriteHeader(buffer, sourcePort, destinationPort, seq, ack, flags, window, options, default);

    /// <summary>
    /// Writes a header with the given options and a SACK option carrying <paramref name="sackBlocks"/> (as many as
    /// fit, see <see cref="TcpOptions.Write(Span{byte}, ReadOnlySpan{TcpSackBlock})"/>); returns the header length.
    /// </summary>
    public static int WriteHeader(Span<byte> buffer, ushort sourcePort, ushort destinationPort, uint seq, uint ack, TcpFlags flags, ushort window, in TcpOptions options, ReadOnlySpan<TcpSackBlock> sackBlocks)
    {
        int optLen = options.Write(buffer[MinimumHeaderLength..], sackBlocks);
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
