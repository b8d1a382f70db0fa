namespace UserNet.Capture;

/// <summary>Link-layer header types (the LINKTYPE_ registry that pcap and pcapng share).</summary>
public static class LinkTypes
{
    public const int Ethernet = 1;
    /// <summary>Raw IP (IPv4 or IPv6 by the version nibble).</summary>
    public const int Raw = 101;
    /// <summary>Linux cooked capture v1 (16-byte header).</summary>
    public const int LinuxSll = 113;
    /// <summary>Linux cooked capture v2 (20-byte header, with the interface index), what <c>tcpdump -i any</c> writes.</summary>
    public const int LinuxSll2 = 276;
    /// <summary>Raw IPv4 only.</summary>
    public const int Ipv4 = 228;
    /// <summary>Raw IPv6 only.</summary>
    public const int Ipv6 = 229;
    /// <summary>DLT_RAW as most systems number it, found in some files instead of <see cref="Raw"/>.</summary>
    public const int DltRaw = 12;
    /// <summary>DLT_RAW as OpenBSD numbers it.</summary>
    public const int DltRawOpenBsd = 14;
}

/// <summary>
/// One captured packet: when it was seen, how long it was on the wire, the bytes captured (at most that many),
/// the link type of its interface, and an optional comment (pcapng <c>opt_comment</c>).
/// </summary>
/// <param name="Timestamp">Nanoseconds since 1970-01-01 00:00:00 UTC.</param>
/// <param name="OriginalLength">The packet's length on the wire; more than <paramref name="Data"/> holds when the capture cut it short.</param>
/// <param name="Data">The bytes captured.</param>
/// <param name="LinkType">The link-layer header type of the interface (see <see cref="LinkTypes"/>).</param>
/// <param name="Comment">A pcapng <c>opt_comment</c>, for example the stack's decision; classic pcap has none.</param>
public sealed record CaptureRecord(long Timestamp, int OriginalLength, byte[] Data, int LinkType = LinkTypes.Ethernet, string? Comment = null)
{
    public static CaptureRecord Ethernet(long timestamp, ReadOnlySpan<byte> frame, string? comment = null) =>
        new(timestamp, frame.Length, frame.ToArray(), LinkTypes.Ethernet, comment);

    /// <summary>Whole seconds since the epoch.</summary>
    public long Seconds => Timestamp >= 0 ? Timestamp / 1_000_000_000 : (Timestamp - 999_999_999) / 1_000_000_000;
    /// <summary>Nanoseconds within the second.</summary>
    public int Nanoseconds => (int)(Timestamp - Seconds * 1_000_000_000);
}

/// <summary>A capture file that is truncated or not what it claims; says where, in bytes from the start of the file.</summary>
public sealed class CaptureFormatException(long offset, string message)
    : Exception($"{message} at byte offset {offset}")
{
    public long Offset { get; } = offset;
}

/// <summary>Reads packets one at a time, so every good packet before a damaged one is delivered first.</summary>
public interface ICaptureReader : IDisposable
{
    /// <summary>Returns the next packet, or null at a clean end of file; throws <see cref="CaptureFormatException"/> on damage.</summary>
    CaptureRecord? Read();
}

public interface ICaptureWriter : IDisposable
{
    void Write(CaptureRecord record);
    void Flush();
}

/// <summary>Opens capture files, telling classic pcap from pcapng by their first four bytes.</summary>
public static class CaptureFile
{
    public static ICaptureReader Open(string path) => Open(File.OpenRead(path), ownsStream: true);

    public static ICaptureReader Open(Stream stream, bool ownsStream = true)
    {
        Span<byte> magic = stackalloc byte[4];
        int n = ReadFully(stream, magic);
        if (n < 4)
        {
            if (ownsStream) stream.Dispose();
            throw new CaptureFormatException(n, n == 0 ? "empty file, not a capture" : "file too short for a capture header");
        }
        uint m = BitConverter.ToUInt32(magic);
        if (m == PcapNgReader.SectionHeaderBlockType) return new PcapNgReader(stream, magic.ToArray(), ownsStream);
        if (PcapReader.IsMagic(magic)) return new PcapReader(stream, magic.ToArray(), ownsStream);
        if (ownsStream) stream.Dispose();
        throw new CaptureFormatException(0, $"not a pcap or pcapng file (magic 0x{Convert.ToHexString(magic).ToLowerInvariant()})");
    }

    /// <summary>Creates a writer by the file's extension: <c>.pcap</c> gives classic pcap (microseconds), anything else pcapng.</summary>
    public static ICaptureWriter Create(string path, int linkType = LinkTypes.Ethernet)
    {
        var s = File.Create(path);
        return path.EndsWith(".pcap", StringComparison.OrdinalIgnoreCase)
            ? new PcapWriter(s, linkType)
            : new PcapNgWriter(s, linkType);
    }

    /// <summary>Reads until the span is full or the stream ends; returns the bytes read.</summary>
    internal static int ReadFully(Stream s, Span<byte> buffer)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int n = s.Read(buffer[total..]);
            if (n == 0) break;
            total += n;
        }
        return total;
    }
}
