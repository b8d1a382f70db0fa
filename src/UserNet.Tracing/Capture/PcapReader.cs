using System.Buffers.Binary;

namespace UserNet.Capture;

/// <summary>
/// Classic libpcap files (draft-ietf-opsawg-pcap): a 24-byte file header whose magic gives byte order and timestamp
/// unit (0xA1B2C3D4 microseconds, 0xA1B23C4D nanoseconds), then per packet a 16-byte record header and the data.
/// </summary>
public sealed class PcapReader : ICaptureReader
{
    public const uint MicrosecondMagic = 0xA1B2C3D4;
    public const uint NanosecondMagic = 0xA1B23C4D;
    private const int FileHeaderLength = 24;
    private const int RecordHeaderLength = 16;
    /// <summary>Larger than any link's frame; a bigger record length means a damaged file, not a big packet.</summary>
    private const int MaxRecordLength = 256 * 1024;

    private readonly Stream _stream;
    private readonly bool _ownsStream;
    private readonly bool _bigEndian;
    private long _offset;

    public bool Nanosecond { get; }
    public int LinkType { get; }
    public int SnapLength { get; }

    internal static bool IsMagic(ReadOnlySpan<byte> m)
    {
        uint le = BinaryPrimitives.ReadUInt32LittleEndian(m), be = BinaryPrimitives.ReadUInt32BigEndian(m);
        return le is MicrosecondMagic or NanosecondMagic || be is MicrosecondMagic or NanosecondMagic;
    }

    public PcapReader(Stream stream, bool ownsStream = true) : this(stream, null, ownsStream) { }

    internal PcapReader(Stream stream, byte[]? magicAlreadyRead, bool ownsStream)
    {
        _stream = stream;
        _ownsStream = ownsStream;
        var header = new byte[FileHeaderLength];
        int have = 0;
        if (magicAlreadyRead is not null) { magicAlreadyRead.CopyTo(header, 0); have = magicAlreadyRead.Length; }
        int n = CaptureFile.ReadFully(stream, header.AsSpan(have)) + have;
        if (n < FileHeaderLength) throw new CaptureFormatException(n, $"pcap file header truncated ({n} of {FileHeaderLength} bytes)");
        uint le = BinaryPrimitives.ReadUInt32LittleEndian(header);
        uint be = BinaryPrimitives.ReadUInt32BigEndian(header);
        if (le is MicrosecondMagic or NanosecondMagic) { _bigEndian = false; Nanosecond = le == NanosecondMagic; }
        else if (be is MicrosecondMagic or NanosecondMagic) { _bigEndian = true; Nanosecond = be == NanosecondMagic; }
        else throw new CaptureFormatException(0, "not a pcap file (bad magic)");
        SnapLength = (int)Math.Min(U32(header.AsSpan(16)), int.MaxValue);
        // The link type is the low 16 bits; the upper bits carry FCS information (draft-ietf-opsawg-pcap section 4).
        LinkType = (int)(U32(header.AsSpan(20)) & 0xFFFF);
        _offset = FileHeaderLength;
    }

    private uint U32(ReadOnlySpan<byte> b) => _bigEndian ? BinaryPrimitives.ReadUInt32BigEndian(b) : BinaryPrimitives.ReadUInt32LittleEndian(b);

    public CaptureRecord? Read()
    {
        Span<byte> h = stackalloc byte[RecordHeaderLength];
        int n = CaptureFile.ReadFully(_stream, h);
        if (n == 0) return null;
        if (n < RecordHeaderLength) throw new CaptureFormatException(_offset, $"pcap record header truncated ({n} of {RecordHeaderLength} bytes)");
        uint seconds = U32(h), fraction = U32(h[4..]), included = U32(h[8..]), original = U32(h[12..]);
        if (included > MaxRecordLength) throw new CaptureFormatException(_offset, $"pcap record length {included} is implausible");
        if (fraction >= (Nanosecond ? 1_000_000_000u : 1_000_000u)) throw new CaptureFormatException(_offset, $"pcap record timestamp fraction {fraction} is out of range");
        var data = new byte[included];
        int got = CaptureFile.ReadFully(_stream, data);
        if (got < included) throw new CaptureFormatException(_offset, $"pcap record truncated ({got} of {included} bytes of packet data)");
        long ts = seconds * 1_000_000_000L + (Nanosecond ? fraction : fraction * 1000L);
        _offset += RecordHeaderLength + included;
        return new CaptureRecord(ts, (int)Math.Min(original, int.MaxValue), data, LinkType);
    }

    public void Dispose() { if (_ownsStream) _stream.Dispose(); }
}

/// <summary>Writes classic pcap, little-endian, microsecond or nanosecond timestamps. Comments cannot be stored and are dropped.</summary>
public sealed class PcapWriter : ICaptureWriter
{
    private readonly Stream _stream;
    private readonly bool _nanosecond;

    public PcapWriter(Stream stream, int linkType = LinkTypes.Ethernet, bool nanosecond = false, int snapLength = 262144)
    {
        _stream = stream;
        _nanosecond = nanosecond;
        Span<byte> h = stackalloc byte[24];
        BinaryPrimitives.WriteUInt32LittleEndian(h, nanosecond ? PcapReader.NanosecondMagic : PcapReader.MicrosecondMagic);
        BinaryPrimitives.WriteUInt16LittleEndian(h[4..], 2);
        BinaryPrimitives.WriteUInt16LittleEndian(h[6..], 4);
        BinaryPrimitives.WriteInt32LittleEndian(h[8..], 0);   // thiszone: always 0 (times are UTC)
        BinaryPrimitives.WriteUInt32LittleEndian(h[12..], 0); // sigfigs: always 0
        BinaryPrimitives.WriteInt32LittleEndian(h[16..], snapLength);
        BinaryPrimitives.WriteInt32LittleEndian(h[20..], linkType);
        _stream.Write(h);
    }

    public void Write(CaptureRecord r)
    {
        Span<byte> h = stackalloc byte[16];
        BinaryPrimitives.WriteUInt32LittleEndian(h, (uint)r.Seconds);
        BinaryPrimitives.WriteUInt32LittleEndian(h[4..], (uint)(_nanosecond ? r.Nanoseconds : r.Nanoseconds / 1000));
        BinaryPrimitives.WriteInt32LittleEndian(h[8..], r.Data.Length);
        BinaryPrimitives.WriteInt32LittleEndian(h[12..], Math.Max(r.OriginalLength, r.Data.Length));
        _stream.Write(h);
        _stream.Write(r.Data);
    }

    public void Flush() => _stream.Flush();
    public void Dispose() { _stream.Flush(); _stream.Dispose(); }
}
