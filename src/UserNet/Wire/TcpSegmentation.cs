namespace UserNet.Wire;

/// <summary>
/// What a link that segments does with a TCP/IPv4 super-segment (see <see cref="FrameOffload"/>), as Linux's GSO does
/// it (tcp_gso_segment, inet_gso_segment): the data is cut into pieces of the segment size, each behind a copy of the
/// Ethernet, IP and TCP headers; piece <c>i</c> has the sequence number moved on by <c>i</c> pieces, the IP
/// identification moved on by <c>i</c>, its own lengths and full checksums; FIN and PSH stay on the last piece only and
/// CWR on the first only. The in-memory link uses it to model a segmenting link, and the tests hold TCP's
/// super-segments against it.
/// </summary>
internal static class TcpSegmentation
{
    /// <summary>The headers' length (Ethernet, IP, TCP) of a super-segment frame, or -1 when it is not whole TCP/IPv4.</summary>
    public static int HeaderLength(ReadOnlySpan<byte> frame)
    {
        if (frame.Length < EthernetFrame.HeaderLength + Ipv4Header.MinimumLength) return -1;
        int ihl = (frame[EthernetFrame.HeaderLength] & 0x0F) * 4;
        int tcp = EthernetFrame.HeaderLength + ihl;
        if (ihl < Ipv4Header.MinimumLength || frame[EthernetFrame.HeaderLength + 9] != IpProtocol.Tcp || frame.Length < tcp + TcpSegment.MinimumHeaderLength) return -1;
        int thl = (frame[tcp + 12] >> 4) * 4;
        return thl < TcpSegment.MinimumHeaderLength || tcp + thl > frame.Length ? -1 : tcp + thl;
    }

    /// <summary>How many pieces the super-segment <paramref name="frame"/> becomes (0 when it is not one).</summary>
    public static int Count(ReadOnlySpan<byte> frame, in FrameOffload offload)
    {
        int headers = HeaderLength(frame);
        if (headers < 0 || offload.SegmentSize == 0) return 0;
        int data = frame.Length - headers;
        return Math.Max(1, (data + offload.SegmentSize - 1) / offload.SegmentSize);
    }

    /// <summary>
    /// Writes piece <paramref name="index"/> of the super-segment <paramref name="frame"/> into
    /// <paramref name="destination"/> as a plain frame, checksums complete; returns its length.
    /// </summary>
    public static int WritePiece(ReadOnlySpan<byte> frame, in FrameOffload offload, int index, Span<byte> destination)
    {
        int headers = HeaderLength(frame);
        int size = offload.SegmentSize;
        int count = Count(frame, offload);
        if (count == 0 || (uint)index >= (uint)count) throw new ArgumentOutOfRangeException(nameof(index));
        int offset = index * size;
        int length = Math.Min(size, frame.Length - headers - offset);
        frame[..headers].CopyTo(destination);
        frame.Slice(headers + offset, length).CopyTo(destination[headers..]);
        var piece = destination[..(headers + length)];

        var ip = new Ipv4Header(piece[EthernetFrame.HeaderLength..]);
        int ihl = ip.HeaderLength;
        ip.TotalLength = (ushort)(piece.Length - EthernetFrame.HeaderLength);
        ip.Identification = (ushort)(ip.Identification + index);
        ip.UpdateChecksum();

        var tcp = new TcpSegment(piece[(EthernetFrame.HeaderLength + ihl)..]);
        tcp.SequenceNumber += (uint)offset;
        var flags = tcp.Flags;
        if (index != count - 1) flags &= ~(TcpFlags.Fin | TcpFlags.Psh);
        if (index != 0) flags &= ~TcpFlags.Cwr;
        tcp.Flags = flags;
        tcp.UpdateChecksum(ip.Source, ip.Destination);
        return piece.Length;
    }
}
