using System.Buffers.Binary;
using System.Text;

namespace UserNet.Capture;

/// <summary>
/// pcapng files (draft-ietf-opsawg-pcapng): a sequence of blocks, each <c>type, total length, body, total length</c>.
/// Reads Section Header, Interface Description, Enhanced Packet, Simple Packet and the obsolete Packet block;
/// skips every other block (name resolution, statistics, custom, ...) as section 3.1 asks of readers.
/// </summary>
public sealed class PcapNgReader : ICaptureReader
{
    internal const uint SectionHeaderBlockType = 0x0A0D0D0A;
    internal const uint InterfaceDescriptionBlockType = 1;
    internal const uint ObsoletePacketBlockType = 2;
    internal const uint SimplePacketBlockType = 3;
    internal const uint EnhancedPacketBlockType = 6;
    internal const uint ByteOrderMagic = 0x1A2B3C4D;
    internal const ushort OptionEnd = 0;
    internal const ushort OptionComment = 1;
    internal const ushort OptionTimestampResolution = 9;
    internal const ushort OptionTimestampOffset = 14;
    /// <summary>Blocks larger than this are taken as damage rather than allocated.</summary>
    private const int MaxBlockLength = 16 * 1024 * 1024;

    private readonly Stream _stream;
    private readonly bool _ownsStream;
    private byte[]? _pendingPrefix;
    private bool _bigEndian;
    private bool _inSection;
    private long _offset;
    private readonly List<Interface> _interfaces = new();
    private readonly byte[] _head = new byte[8];
    private readonly byte[] _word = new byte[4];

    private sealed record Interface(int LinkType, int SnapLength, long UnitsPerSecond, long OffsetSeconds);

    public PcapNgReader(Stream stream, bool ownsStream = true) : this(stream, null, ownsStream) { }

    /// <summary>
    /// The first section's <c>opt_comment</c> (several joined by newlines), once <see cref="Read"/> has read its header;
    /// null when it has none. <c>usernet up --pcap</c> says there which stack it recorded.
    /// </summary>
    public string? SectionComment { get; private set; }

    internal PcapNgReader(Stream stream, byte[]? prefixAlreadyRead, bool ownsStream)
    {
        _stream = stream;
        _ownsStream = ownsStream;
        _pendingPrefix = prefixAlreadyRead;
    }

    public CaptureRecord? Read()
    {
        while (true)
        {
            long blockOffset = _offset;
            Span<byte> head = _head;
            int have = 0;
            if (_pendingPrefix is { } p) { p.CopyTo(head); have = p.Length; _pendingPrefix = null; }
            int n = CaptureFile.ReadFully(_stream, head[have..]) + have;
            if (n == 0) return null;
            if (n < 8) throw new CaptureFormatException(blockOffset, $"pcapng block header truncated ({n} of 8 bytes)");
            // The SHB type is a palindrome, so it reads the same in either byte order; other blocks are in the section's.
            uint type = BinaryPrimitives.ReadUInt32LittleEndian(head) == SectionHeaderBlockType ? SectionHeaderBlockType : U32(head);
            byte[] body;
            if (type == SectionHeaderBlockType)
            {
                // The byte order of a section is only known after reading its byte-order magic (section 4.1).
                Span<byte> bom = _word;
                if (CaptureFile.ReadFully(_stream, bom) < 4) throw new CaptureFormatException(blockOffset, "pcapng section header truncated");
                if (BinaryPrimitives.ReadUInt32LittleEndian(bom) == ByteOrderMagic) _bigEndian = false;
                else if (BinaryPrimitives.ReadUInt32BigEndian(bom) == ByteOrderMagic) _bigEndian = true;
                else throw new CaptureFormatException(blockOffset + 8, "pcapng section header has a bad byte-order magic");
                uint length = U32(head[4..]);
                CheckLength(length, blockOffset, 28);
                body = new byte[length - 12];
                bom.CopyTo(body);
                int got = CaptureFile.ReadFully(_stream, body.AsSpan(4)) + 4;
                if (got < body.Length) throw new CaptureFormatException(blockOffset, $"pcapng block truncated ({8 + got} of {length} bytes)");
                ReadTrailer(length, blockOffset);
                _offset += length;
                ushort major = U16(body.AsSpan(4));
                if (major != 1) throw new CaptureFormatException(blockOffset + 12, $"pcapng major version {major} is not supported");
                if (!_inSection) SectionComment = CommentOf(body, 16, blockOffset + 24);
                _inSection = true;
                _interfaces.Clear();
                continue;
            }
            if (!_inSection) throw new CaptureFormatException(blockOffset, "pcapng file does not start with a section header block");
            {
                uint length = U32(head[4..]);
                CheckLength(length, blockOffset, 12);
                body = new byte[length - 12];
                int got = CaptureFile.ReadFully(_stream, body);
                if (got < body.Length) throw new CaptureFormatException(blockOffset, $"pcapng block truncated ({8 + got} of {length} bytes)");
                ReadTrailer(length, blockOffset);
                _offset += length;
            }
            switch (type)
            {
                case InterfaceDescriptionBlockType: ReadInterface(body, blockOffset); break;
                case EnhancedPacketBlockType: return ReadEnhancedPacket(body, blockOffset);
                case SimplePacketBlockType: return ReadSimplePacket(body, blockOffset);
                case ObsoletePacketBlockType: return ReadObsoletePacket(body, blockOffset);
                default: break; // unknown or uninteresting block: skip (section 3.1)
            }
        }
    }

    private void CheckLength(uint length, long at, int minimum)
    {
        if (length < minimum || length % 4 != 0 || length > MaxBlockLength)
            throw new CaptureFormatException(at + 4, $"pcapng block length {length} is invalid");
    }

    private void ReadTrailer(uint length, long blockOffset)
    {
        Span<byte> t = _word;
        if (CaptureFile.ReadFully(_stream, t) < 4) throw new CaptureFormatException(blockOffset, $"pcapng block truncated (trailing length missing)");
        if (U32(t) != length) throw new CaptureFormatException(blockOffset + length - 4, $"pcapng block's trailing length {U32(t)} does not match its leading length {length}");
    }

    private void ReadInterface(byte[] body, long at)
    {
        if (body.Length < 8) throw new CaptureFormatException(at, "pcapng interface description block too short");
        int linkType = U16(body);
        int snap = (int)Math.Min(U32(body.AsSpan(4)), int.MaxValue);
        long unitsPerSecond = 1_000_000; // default resolution: microseconds (section 4.2, if_tsresol)
        long offsetSeconds = 0;
        foreach (var (code, value) in Options(body, 8, at + 8))
        {
            if (code == OptionTimestampResolution && value.Length >= 1)
            {
                byte r = value[0];
                int exponent = r & 0x7F;
                bool binary = (r & 0x80) != 0;
                if ((binary && exponent > 62) || (!binary && exponent > 18))
                    throw new CaptureFormatException(at, $"pcapng if_tsresol {r:x2} is out of range");
                unitsPerSecond = binary ? 1L << exponent : (long)Math.Pow(10, exponent);
            }
            else if (code == OptionTimestampOffset && value.Length >= 8)
                offsetSeconds = _bigEndian ? BinaryPrimitives.ReadInt64BigEndian(value) : BinaryPrimitives.ReadInt64LittleEndian(value);
        }
        _interfaces.Add(new Interface(linkType, snap, unitsPerSecond, offsetSeconds));
    }

    private Interface InterfaceAt(uint id, long at) =>
        id < _interfaces.Count ? _interfaces[(int)id] : throw new CaptureFormatException(at, $"pcapng packet names interface {id}, which was not described");

    private CaptureRecord ReadEnhancedPacket(byte[] body, long at)
    {
        if (body.Length < 20) throw new CaptureFormatException(at, "pcapng enhanced packet block too short");
        var iface = InterfaceAt(U32(body), at);
        ulong units = ((ulong)U32(body.AsSpan(4)) << 32) | U32(body.AsSpan(8));
        uint captured = U32(body.AsSpan(12)), original = U32(body.AsSpan(16));
        if (captured > body.Length - 20) throw new CaptureFormatException(at + 20, $"pcapng packet's captured length {captured} exceeds its block");
        var data = body.AsSpan(20, (int)captured).ToArray();
        string? comment = null;
        foreach (var (code, value) in Options(body, 20 + Pad4((int)captured), at + 8 + 20 + Pad4((int)captured)))
            if (code == OptionComment) comment = comment is null ? Encoding.UTF8.GetString(value) : comment + "\n" + Encoding.UTF8.GetString(value);
        return new CaptureRecord(ToNanoseconds(units, iface), (int)Math.Min(original, int.MaxValue), data, iface.LinkType, comment);
    }

    private CaptureRecord ReadSimplePacket(byte[] body, long at)
    {
        if (body.Length < 4) throw new CaptureFormatException(at, "pcapng simple packet block too short");
        var iface = InterfaceAt(0, at);
        uint original = U32(body);
        // Section 4.4: the captured length is the smaller of the original length and the interface's snap length.
        long captured = Math.Min(original, body.Length - 4);
        if (iface.SnapLength > 0) captured = Math.Min(captured, iface.SnapLength);
        return new CaptureRecord(0, (int)Math.Min(original, int.MaxValue), body.AsSpan(4, (int)captured).ToArray(), iface.LinkType);
    }

    private CaptureRecord ReadObsoletePacket(byte[] body, long at)
    {
        if (body.Length < 20) throw new CaptureFormatException(at, "pcapng packet block too short");
        var iface = InterfaceAt(U16(body), at);
        ulong units = ((ulong)U32(body.AsSpan(4)) << 32) | U32(body.AsSpan(8));
        uint captured = U32(body.AsSpan(12)), original = U32(body.AsSpan(16));
        if (captured > body.Length - 20) throw new CaptureFormatException(at + 20, $"pcapng packet's captured length {captured} exceeds its block");
        return new CaptureRecord(ToNanoseconds(units, iface), (int)Math.Min(original, int.MaxValue), body.AsSpan(20, (int)captured).ToArray(), iface.LinkType);
    }

    private static long ToNanoseconds(ulong units, Interface iface)
    {
        ulong perSecond = (ulong)iface.UnitsPerSecond;
        ulong seconds = units / perSecond, rest = units % perSecond;
        long nanos = (long)((UInt128)rest * 1_000_000_000UL / perSecond);
        return ((long)seconds + iface.OffsetSeconds) * 1_000_000_000L + nanos;
    }

    /// <summary>Options: code, length, value padded to 32 bits, ending with opt_endofopt or the end of the body (section 3.5).</summary>
    private List<(ushort Code, byte[] Value)> Options(byte[] body, int start, long fileOffset)
    {
        var list = new List<(ushort, byte[])>();
        int i = start;
        while (i + 4 <= body.Length)
        {
            ushort code = U16(body.AsSpan(i)), length = U16(body.AsSpan(i + 2));
            if (code == OptionEnd) break;
            if (i + 4 + length > body.Length) throw new CaptureFormatException(fileOffset + (i - start), $"pcapng option {code} of length {length} runs past its block");
            list.Add((code, body.AsSpan(i + 4, length).ToArray()));
            i += 4 + Pad4(length);
        }
        return list;
    }

    /// <summary>The comments among a block's options, joined; an option that runs past the block ends them (a comment is no reason to refuse a file).</summary>
    private string? CommentOf(byte[] body, int start, long fileOffset)
    {
        string? comment = null;
        try
        {
            foreach (var (code, value) in Options(body, start, fileOffset))
                if (code == OptionComment) comment = comment is null ? Encoding.UTF8.GetString(value) : comment + "\n" + Encoding.UTF8.GetString(value);
        }
        catch (CaptureFormatException) { }
        return comment;
    }

    internal static int Pad4(int n) => (n + 3) & ~3;
    private uint U32(ReadOnlySpan<byte> b) => _bigEndian ? BinaryPrimitives.ReadUInt32BigEndian(b) : BinaryPrimitives.ReadUInt32LittleEndian(b);
    private ushort U16(ReadOnlySpan<byte> b) => _bigEndian ? BinaryPrimitives.ReadUInt16BigEndian(b) : BinaryPrimitives.ReadUInt16LittleEndian(b);

    public void Dispose() { if (_ownsStream) _stream.Dispose(); }
}
