using System.Buffers.Binary;
using System.Text;

namespace UserNet.Capture;

/// <summary>
/// Writes pcapng (draft-ietf-opsawg-pcapng), little-endian: one Section Header Block, one Interface Description
/// Block with nanosecond timestamps (if_tsresol 9), then an Enhanced Packet Block per packet with its comment
/// as <c>opt_comment</c>, which Wireshark shows and <c>tshark -T fields -e frame.comment</c> prints. Several named
/// interfaces (one per network segment, say) may be declared; each packet then says which one it was seen on.
/// </summary>
public sealed class PcapNgWriter : ICaptureWriter
{
    private readonly Stream _stream;
    private readonly MemoryStream _block = new();

    /// <summary>Writes the section header and the one interface description.</summary>
    /// <param name="stream">Where the file goes.</param>
    /// <param name="linkType">The interface's link type (<see cref="LinkTypes"/>).</param>
    /// <param name="application">The section's <c>shb_userappl</c>: the program that wrote the file.</param>
    /// <param name="snapLength">The interface's snapshot length; 0 for none.</param>
    /// <param name="comment">The section's <c>opt_comment</c>, about the whole capture (the recorder says which stack it was); null for none.</param>
    public PcapNgWriter(Stream stream, int linkType = LinkTypes.Ethernet, string application = "UserNet", int snapLength = 0, string? comment = null)
        : this(stream, [null], linkType, application, snapLength, comment)
    {
    }

    /// <summary>
    /// A section with one Interface Description Block per name (its <c>if_name</c> option), numbered from 0 in this
    /// order; write packets with <see cref="Write(CaptureRecord, int)"/>. Nothing of the clock or the machine enters the
    /// file, so the same packets give the same bytes.
    /// </summary>
    public PcapNgWriter(Stream stream, IReadOnlyList<string?> interfaceNames, int linkType, string application, int snapLength, string? comment)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(interfaceNames);
        if (interfaceNames.Count == 0) throw new ArgumentException("a capture needs at least one interface", nameof(interfaceNames));
        _stream = stream;
        _interfaces = interfaceNames.Count;
        // Section Header Block (section 4.1): byte-order magic, version 1.0, section length unknown (-1).
        Begin(PcapNgReader.SectionHeaderBlockType);
        U32(PcapNgReader.ByteOrderMagic); U16(1); U16(0); I64(-1);
        if (comment is not null) Option(PcapNgReader.OptionComment, Encoding.UTF8.GetBytes(comment));
        Option(4, Encoding.UTF8.GetBytes(application)); // shb_userappl
        EndOptions();
        End();
        _linkType = linkType;
        _snapLength = snapLength;
        // Interface Description Blocks (section 4.2), numbered from 0 in this order.
        foreach (var name in interfaceNames) WriteInterface(name);
    }

    /// <summary>
    /// Declares one more interface (an Interface Description Block may come anywhere in the section, section 4.2);
    /// returns its number for <see cref="Write(CaptureRecord, int)"/>.
    /// </summary>
    public int AddInterface(string? name)
    {
        WriteInterface(name);
        return _interfaces++;
    }

    private void WriteInterface(string? name)
    {
        Begin(PcapNgReader.InterfaceDescriptionBlockType);
        U16((ushort)_linkType); U16(0); U32((uint)_snapLength);
        if (name is not null) Option(OptionInterfaceName, Encoding.UTF8.GetBytes(name)); // if_name
        Option(PcapNgReader.OptionTimestampResolution, [9]);
        EndOptions();
        End();
    }

    /// <summary>pcapng section 4.2: if_name, the interface's name as UTF-8.</summary>
    private const ushort OptionInterfaceName = 2;
    private int _interfaces;
    private readonly int _linkType;
    private readonly int _snapLength;

    public void Write(CaptureRecord r) => Write(r, 0);

    /// <summary>Writes a packet seen on interface <paramref name="interfaceId"/> (its index among the names given).</summary>
    public void Write(CaptureRecord r, int interfaceId)
    {
        ArgumentNullException.ThrowIfNull(r);
        ArgumentOutOfRangeException.ThrowIfNegative(interfaceId);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(interfaceId, _interfaces);
        // Enhanced Packet Block (section 4.3): the interface, timestamp in the interface's units (nanoseconds).
        ulong ts = (ulong)r.Timestamp;
        Begin(PcapNgReader.EnhancedPacketBlockType);
        U32((uint)interfaceId); U32((uint)(ts >> 32)); U32((uint)ts);
        U32((uint)r.Data.Length); U32((uint)Math.Max(r.OriginalLength, r.Data.Length));
        _block.Write(r.Data);
        Pad();
        if (r.Comment is { } c)
        {
            Option(PcapNgReader.OptionComment, Encoding.UTF8.GetBytes(c));
            EndOptions();
        }
        End();
    }

    private void Begin(uint type)
    {
        _block.SetLength(0);
        U32(type); U32(0); // length patched in End
    }

    private void End()
    {
        uint length = (uint)_block.Length + 4;
        U32(length);
        var buf = _block.GetBuffer();
        BinaryPrimitives.WriteUInt32LittleEndian(buf.AsSpan(4), length);
        _stream.Write(buf, 0, (int)_block.Length);
    }

    private void Option(ushort code, byte[] value)
    {
        U16(code); U16((ushort)value.Length);
        _block.Write(value);
        Pad();
    }

    private void EndOptions() { U16(PcapNgReader.OptionEnd); U16(0); }
    private void Pad() { while (_block.Length % 4 != 0) _block.WriteByte(0); }
    private void U16(ushort v) { Span<byte> b = stackalloc byte[2]; BinaryPrimitives.WriteUInt16LittleEndian(b, v); _block.Write(b); }
    private void U32(uint v) { Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, v); _block.Write(b); }
    private void I64(long v) { Span<byte> b = stackalloc byte[8]; BinaryPrimitives.WriteInt64LittleEndian(b, v); _block.Write(b); }

    public void Flush() => _stream.Flush();
    public void Dispose() { _stream.Flush(); _stream.Dispose(); }
}
