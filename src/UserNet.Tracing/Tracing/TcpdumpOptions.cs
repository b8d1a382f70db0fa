namespace UserNet.Tracing;

/// <summary>How tcpdump's <c>-t</c> family prints the time at the start of each line.</summary>
public enum TimestampStyle
{
    /// <summary>Time of day, <c>14:02:11.483920</c> (the default).</summary>
    TimeOfDay,
    /// <summary><c>-t</c>: none.</summary>
    None,
    /// <summary><c>-tt</c>: seconds since the epoch, <c>1700000000.250001</c>.</summary>
    Epoch,
    /// <summary><c>-ttt</c>: time since the previous packet, <c> 00:00:00.250001</c>.</summary>
    SincePrevious,
    /// <summary><c>-tttt</c>: date and time of day.</summary>
    DateAndTime,
    /// <summary><c>-ttttt</c>: time since the first packet.</summary>
    SinceFirst,
}

/// <summary>tcpdump's <c>-x</c> (hex) and <c>-X</c> (hex and ASCII); doubled (<c>-xx</c>, <c>-XX</c>) includes the link header.</summary>
public enum HexDumpStyle { None, Hex, HexAndAscii }

/// <summary>The tcpdump options the formatter honours. Addresses are always numeric (<c>-n</c>).</summary>
public sealed record TcpdumpOptions
{
    /// <summary><c>-v</c>: 0 or 1 (more is treated as 1).</summary>
    public int Verbose { get; init; }
    /// <summary><c>-e</c>: print the link-level header.</summary>
    public bool LinkHeader { get; init; }
    public TimestampStyle Timestamps { get; init; } = TimestampStyle.TimeOfDay;
    public HexDumpStyle HexDump { get; init; }
    /// <summary><c>-xx</c>/<c>-XX</c>: the hex dump starts at the link header rather than the network layer.</summary>
    public bool HexDumpIncludesLinkHeader { get; init; }
    /// <summary>Zone for times of day; tcpdump uses the local zone.</summary>
    public TimeZoneInfo TimeZone { get; init; } = TimeZoneInfo.Local;
}
