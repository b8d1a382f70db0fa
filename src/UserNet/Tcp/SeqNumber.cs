namespace UserNet.Tcp;

/// <summary>
/// A TCP sequence number: 32 bits that wrap. Comparison is modulo 2^32 (RFC 9293 section 3.4): a is before b when
/// (b - a) taken as a signed 32-bit number is positive, which holds while the two are less than 2^31 apart.
/// </summary>
internal readonly record struct SeqNumber(uint Value) : IComparable<SeqNumber>
{
    public static SeqNumber operator +(SeqNumber a, int n) => new(unchecked(a.Value + (uint)n));
    public static SeqNumber operator +(SeqNumber a, uint n) => new(unchecked(a.Value + n));
    public static SeqNumber operator -(SeqNumber a, int n) => new(unchecked(a.Value - (uint)n));
    /// <summary>The distance from b to a, as a signed number (a - b).</summary>
    public static int operator -(SeqNumber a, SeqNumber b) => unchecked((int)(a.Value - b.Value));
    public static bool operator <(SeqNumber a, SeqNumber b) => a - b < 0;
    public static bool operator >(SeqNumber a, SeqNumber b) => a - b > 0;
    public static bool operator <=(SeqNumber a, SeqNumber b) => a - b <= 0;
    public static bool operator >=(SeqNumber a, SeqNumber b) => a - b >= 0;
    public int CompareTo(SeqNumber other) => Math.Sign(this - other);

    /// <summary>True when <paramref name="low"/> &lt;= this &lt; <paramref name="high"/>, modulo 2^32.</summary>
    public bool InRange(SeqNumber low, SeqNumber high) => this - low >= 0 && high - this > 0;

    public static SeqNumber Max(SeqNumber a, SeqNumber b) => a > b ? a : b;
    public static SeqNumber Min(SeqNumber a, SeqNumber b) => a < b ? a : b;

    public override string ToString() => Value.ToString();
}
