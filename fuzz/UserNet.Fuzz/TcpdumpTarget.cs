using UserNet.Capture;
using UserNet.Tracing;

namespace UserNet.Fuzz;

/// <summary>
/// <c>tcpdump</c>: the tcpdump formatter over a sequence of arbitrary frames, one formatter for them all (it keeps
/// state between frames: the first sequence numbers of each TCP conversation, the previous timestamp). The text of
/// each frame must be printable (a capture from a stranger must not write control characters to a terminal) and must
/// not be the formatter's own admission of a bug ("[undecodable frame ...]": its catch, as the stack's stack_fault,
/// would hide one from the fuzzer).
/// </summary>
/// <remarks>
/// The input: <c>options (1)</c>, then records <c>link type (1), time step (4, signed microseconds), length on the
/// wire less the bytes given (1, signed), length (2), bytes</c>. Options: bit 0 -v, bit 1 -e, bits 2-3 -x (1) or -X
/// (2, 3), bit 4 -xx/-XX, bits 5-7 the timestamp style (0 to 5, as <see cref="TimestampStyle"/>; 6 and 7 the default).
/// Link type 0 is Ethernet, 1 raw IP, 2 Linux cooked, 3 Linux cooked v2; any other value is taken as the link type itself.
/// </remarks>
public static class TcpdumpTarget
{
    /// <summary>The options the capture target prints with: tcpdump's default, and most of its flags at once.</summary>
    public static readonly TcpdumpOptions[] TraceOptions =
    [
        new() { TimeZone = TimeZoneInfo.Utc },
        new() { Verbose = 1, LinkHeader = true, Timestamps = TimestampStyle.DateAndTime, HexDump = HexDumpStyle.HexAndAscii, HexDumpIncludesLinkHeader = true, TimeZone = TimeZoneInfo.Utc },
    ];

    public static void Run(ReadOnlySpan<byte> input)
    {
        var r = new InputReader(input);
        byte o = r.U8();
        int style = o >> 5;
        var formatter = new TcpdumpFormatter(new TcpdumpOptions
        {
            Verbose = o & 1,
            LinkHeader = (o & 2) != 0,
            HexDump = ((o >> 2) & 3) switch { 0 => HexDumpStyle.None, 1 => HexDumpStyle.Hex, _ => HexDumpStyle.HexAndAscii },
            HexDumpIncludesLinkHeader = (o & 16) != 0,
            Timestamps = style <= 5 ? (TimestampStyle)style : TimestampStyle.TimeOfDay,
            TimeZone = TimeZoneInfo.Utc,
        });
        long timestamp = 1_700_000_000_000_000_000;
        while (!r.AtEnd)
        {
            byte link = r.U8();
            timestamp += (int)r.U32() * 1000L;
            int extra = (sbyte)r.U8();
            var data = r.Bytes(r.U16());
            int linkType = link switch { 0 => LinkTypes.Ethernet, 1 => LinkTypes.Raw, 2 => LinkTypes.LinuxSll, 3 => LinkTypes.LinuxSll2, _ => link };
            CheckText(formatter.Format(timestamp, data, Math.Max(0, data.Length + extra), linkType), data);
        }
    }

    /// <summary>The text of one frame: printable ASCII, tabs and line breaks only, and no admission of a decoding bug.</summary>
    public static void CheckText(string text, ReadOnlySpan<byte> frame)
    {
        foreach (char c in text)
            if (c is not ('\n' or '\t' or (>= ' ' and <= '~')))
                throw new FuzzFailure($"the formatter wrote U+{(int)c:X4} for frame {Convert.ToHexString(frame)}: {text}");
        if (text.Contains("[undecodable frame", StringComparison.Ordinal))
            throw new FuzzFailure($"the formatter's decoding failed (it caught an exception of its own) on frame {Convert.ToHexString(frame)}");
    }
}
