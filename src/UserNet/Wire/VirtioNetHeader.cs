using System.Buffers.Binary;

namespace UserNet.Wire;

/// <summary>
/// <c>struct virtio_net_hdr</c> (virtio 1.x, section 5.1.6; linux/virtio_net.h): the 10 bytes a TAP opened with
/// IFF_VNET_HDR puts in front of every frame, both ways. Little-endian (virtio 1.0; a TAP on a little-endian host).
/// It says whether the transport checksum is partial and whether the frame is a super-segment to be cut (GSO).
/// </summary>
public readonly ref struct VirtioNetHeader
{
    /// <summary>The header's length without <c>num_buffers</c> (what TUNSETVNETHDRSZ is set to).</summary>
    public const int Length = 10;

    /// <summary>VIRTIO_NET_HDR_F_NEEDS_CSUM: checksum from csum_start on, store at csum_start + csum_offset.</summary>
    public const byte FlagNeedsChecksum = 1;
    /// <summary>VIRTIO_NET_HDR_F_DATA_VALID: the checksum was verified (receive only).</summary>
    public const byte FlagDataValid = 2;
    public const byte GsoNone = 0;
    public const byte GsoTcpV4 = 1;
    public const byte GsoUdp = 3;
    public const byte GsoTcpV6 = 4;
    /// <summary>VIRTIO_NET_HDR_GSO_ECN, or'ed into the type: the super-segment carries CWR.</summary>
    public const byte GsoEcn = 0x80;

    private const int FlagsOffset = 0;
    private const int GsoTypeOffset = 1;
    private const int HeaderLengthOffset = 2;
    private const int GsoSizeOffset = 4;
    private const int ChecksumStartOffset = 6;
    private const int ChecksumOffsetOffset = 8;

    public readonly Span<byte> Buffer;

    public VirtioNetHeader(Span<byte> buffer) => Buffer = buffer;

    public byte Flags { get => Buffer[FlagsOffset]; set => Buffer[FlagsOffset] = value; }
    public byte GsoType { get => Buffer[GsoTypeOffset]; set => Buffer[GsoTypeOffset] = value; }
    /// <summary>hdr_len: the headers' length, a hint (Linux takes it as at least the headers to copy).</summary>
    public ushort HeaderLength { get => BinaryPrimitives.ReadUInt16LittleEndian(Buffer[HeaderLengthOffset..]); set => BinaryPrimitives.WriteUInt16LittleEndian(Buffer[HeaderLengthOffset..], value); }
    /// <summary>gso_size: the data bytes per segment.</summary>
    public ushort GsoSize { get => BinaryPrimitives.ReadUInt16LittleEndian(Buffer[GsoSizeOffset..]); set => BinaryPrimitives.WriteUInt16LittleEndian(Buffer[GsoSizeOffset..], value); }
    public ushort ChecksumStart { get => BinaryPrimitives.ReadUInt16LittleEndian(Buffer[ChecksumStartOffset..]); set => BinaryPrimitives.WriteUInt16LittleEndian(Buffer[ChecksumStartOffset..], value); }
    public ushort ChecksumOffset { get => BinaryPrimitives.ReadUInt16LittleEndian(Buffer[ChecksumOffsetOffset..]); set => BinaryPrimitives.WriteUInt16LittleEndian(Buffer[ChecksumOffsetOffset..], value); }

    /// <summary>
    /// Reads what a received header says about the frame behind it. False for what we do not take: a GSO type other
    /// than TCP/IPv4 (we never ask the kernel for those), or offsets that point outside the frame.
    /// </summary>
    public bool TryRead(int frameLength, out FrameOffload offload)
    {
        offload = default;
        byte flags = Flags;
        byte gso = (byte)(GsoType & ~GsoEcn);
        bool partial = (flags & FlagNeedsChecksum) != 0;
        ushort start = ChecksumStart, offset = ChecksumOffset;
        if (partial && start + offset + 2 > frameLength) return false;
        if (gso == GsoNone)
        {
            offload = partial ? new FrameOffload { ChecksumPartial = true, ChecksumStart = start, ChecksumOffset = offset } : default;
            return true;
        }
        if (gso != GsoTcpV4 || GsoSize == 0) return false;
        offload = new FrameOffload
        {
            ChecksumPartial = partial,
            ChecksumStart = start,
            ChecksumOffset = offset,
            SegmentSize = GsoSize,
            HeaderLength = HeaderLength,
        };
        return true;
    }

    /// <summary>Writes the header for a frame we send with <paramref name="offload"/> (all zero for a plain frame).</summary>
    public static void Write(Span<byte> buffer, in FrameOffload offload)
    {
        var h = new VirtioNetHeader(buffer[..Length])
        {
            Flags = offload.ChecksumPartial ? FlagNeedsChecksum : (byte)0,
            GsoType = offload.IsSuperSegment ? GsoTcpV4 : GsoNone,
            HeaderLength = offload.HeaderLength,
            GsoSize = offload.SegmentSize,
            ChecksumStart = offload.ChecksumPartial ? offload.ChecksumStart : (ushort)0,
            ChecksumOffset = offload.ChecksumPartial ? offload.ChecksumOffset : (ushort)0,
        };
    }
}
