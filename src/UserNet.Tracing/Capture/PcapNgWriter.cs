using System.Buffers.Binary;
using System.Text;

namespace UserNet.Capture;

/// <summary>
/// Writes pcapng (draft-ietf-opsawg-pcapng), little-endian: one Section Header Block, one Interface Description
/// Block with nanosecond timestamps (if_tsresol 9), then an Enhanced Packet Block per packet with its comment
/// as <c>opt_comment</c>, which Wireshark shows and <c>tshark -T fields -e frame.comment</c> prints.
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
    {
        _stream = stream;
        // Section Header Block (section 4.1): byte-order magic, version 1.0, section length unknown (-1).
        Begin(PcapNgReader.SectionHeaderBlockType);
        U32(PcapNgReader.ByteOrderMagic); U16(1); U16(0); I64(-1);
        if (comment is not null) Option(PcapNgReader.OptionComment, Encoding.UTF8.GetBytes(comment));
        Option(4, Encoding.UTF8.GetBytes(application)); // shb_userappl
        EndOptions();
        End();
        // Interface Description Block (section 4.2).
        Begin(PcapNgReader.InterfaceDescriptionBlockType);
        U16((ushort)linkType); U16(0); U32((uint)snapLength);
        Option(PcapNgReader.OptionTimestampResolution, [9]);
        EndOptions();
        End();
    }

    public void Write(CaptureRecord r)
    {
        // Enhanced Packet Block (section 4.3): interface 0, timestamp in the interface's units (nanoseconds).
        ulong ts = (ulong)r.Timestamp;
        Begin(PcapNgReader.EnhancedPacketBlockType);
        U32(0); U32((uint)(ts >> 32)); U32((uint)ts);
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
