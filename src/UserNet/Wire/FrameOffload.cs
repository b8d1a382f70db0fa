namespace UserNet.Wire;

/// <summary>
/// What a frame carries besides its bytes when the link offloads work (the virtio-net header of a TAP opened with
/// IFF_VNET_HDR, see <see cref="VirtioNetHeader"/>): a transport checksum left for the other side to finish, and a TCP
/// super-segment larger than the MTU that the other side cuts into segments of <see cref="SegmentSize"/> bytes of
/// data. <c>default</c> is a plain frame: every checksum filled in, no larger than the MTU.
/// </summary>
public readonly record struct FrameOffload
{
    /// <summary>
    /// The transport checksum is partial (virtio's NEEDS_CSUM): the field at <see cref="ChecksumStart"/> +
    /// <see cref="ChecksumOffset"/> holds only the pseudo-header's sum, and the bytes from ChecksumStart on have not
    /// been summed. A frame from the local kernel; its checksum is trusted, not verified.
    /// </summary>
    public bool ChecksumPartial { get; init; }
    /// <summary>Where the checksummed part begins, from the start of the Ethernet frame (the transport header).</summary>
    public ushort ChecksumStart { get; init; }
    /// <summary>Where the checksum field is, from <see cref="ChecksumStart"/> (16 for TCP, 6 for UDP).</summary>
    public ushort ChecksumOffset { get; init; }
    /// <summary>
    /// Non-zero for a TCP/IPv4 super-segment (virtio's GSO_TCPV4): the data is cut into pieces of this many bytes, each
    /// sent behind a copy of the headers; the last piece may be shorter. Zero for a frame that goes as it is.
    /// </summary>
    public ushort SegmentSize { get; init; }
    /// <summary>The length of the headers (Ethernet, IP, TCP) each piece of a super-segment repeats.</summary>
    public ushort HeaderLength { get; init; }

    /// <summary>True for a super-segment (<see cref="SegmentSize"/> is set).</summary>
    public bool IsSuperSegment => SegmentSize != 0;

    /// <summary>A TCP/IPv4 super-segment with a partial checksum, as TCP hands one to a link that segments.</summary>
    /// <param name="transportStart">Where the TCP header begins in the frame.</param>
    /// <param name="headerLength">Ethernet, IP and TCP headers together.</param>
    /// <param name="segmentSize">Data bytes per piece (the MSS less options).</param>
    public static FrameOffload TcpSuperSegment(int transportStart, int headerLength, int segmentSize) => new()
    {
        ChecksumPartial = true,
        ChecksumStart = (ushort)transportStart,
        ChecksumOffset = 16,
        SegmentSize = (ushort)segmentSize,
        HeaderLength = (ushort)headerLength,
    };
}
