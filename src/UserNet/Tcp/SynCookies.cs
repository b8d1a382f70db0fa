using System.Buffers.Binary;
using System.Security.Cryptography;
using UserNet.Wire;

namespace UserNet.Tcp;

/// <summary>
/// SYN cookies (RFC 4987 section 3.6), made and checked as Linux does (net/ipv4/syncookies.c): when a listener has no
/// room, its SYN-ACK's initial sequence number is the cookie and no state is kept; the ACK that completes the handshake
/// brings the cookie back (SEG.ACK - 1), and a valid one lets the connection be built from the ACK alone.
/// <code>
/// cookie = H1(addresses, ports) + peer ISN + (count &lt;&lt; 24) + ((H2(addresses, ports, count) + MSS index) mod 2^24)
/// </code>
/// where <c>count</c> is the minute of the stack's clock and H1, H2 are keyed hashes with a secret the peer cannot
/// guess. The cookie carries the MSS class (two bits); when the peer sent timestamps, our TSval carries its window
/// scale and SACK-permitted in its low six bits (<see cref="EncodeTimestamp"/>) and the peer's TSecr brings them back.
/// </summary>
internal sealed class SynCookies
{
    /// <summary>The MSS classes a cookie can say (Linux's msstab for IPv4): its index is the two bits the cookie carries.</summary>
    public static ReadOnlySpan<ushort> MssTable => [536, 1300, 1440, 1460];

    /// <summary>Bits of the cookie below the count (COOKIEBITS): the count sits in the top eight.</summary>
    private const int CountShift = 24;
    private const uint LowMask = (1u << CountShift) - 1;

    /// <summary>
    /// MAX_SYNCOOKIE_AGE: a cookie is good in the minute it was made and the next one, so for at most two minutes. That
    /// is also how long after the last overflow an ACK is checked as a cookie at all (TCP_SYNCOOKIE_VALID).
    /// </summary>
    public const int MaxAgeMinutes = 2;
    public static readonly TimeSpan Validity = TimeSpan.FromMinutes(MaxAgeMinutes);

    /// <summary>TSBITS: the low bits of our TSval that carry the peer's options.</summary>
    public const int TimestampBits = 6;
    public const uint TimestampOptionMask = (1u << TimestampBits) - 1;
    /// <summary>Bits 0-3: the peer's window scale; all ones says it offered none.</summary>
    public const uint WindowScaleMask = 0xF;
    public const uint SackBit = 1 << 4;
    /// <summary>ECN negotiated; we never offer ECN, so a TSecr with it set is not an echo of ours.</summary>
    public const uint EcnBit = 1 << 5;

    private readonly byte[] _key = new byte[32];

    /// <param name="random">The stack's (seeded) random source: the secret, drawn once.</param>
    public SynCookies(Random random) => random.NextBytes(_key);

    /// <summary>The cookie clock: minutes of the stack's clock (Linux: tcp_cookie_time).</summary>
    public static uint Count(TimeSpan now) => unchecked((uint)(now.Ticks / TimeSpan.TicksPerMinute));

    /// <summary>
    /// The MSS class for a peer that offered <paramref name="peerMss"/> (536 when it sent none): the largest table entry
    /// at most min(its MSS, ours). Below 536 the first entry is taken, as Linux does: 536 is what every host must accept.
    /// </summary>
    public static int MssIndex(int peerMss, int ourMss)
    {
        int mss = Math.Min(peerMss, ourMss);
        var table = MssTable;
        int i = table.Length - 1;
        while (i > 0 && table[i] > mss) i--;
        return i;
    }

    /// <summary>The cookie for a SYN from <paramref name="remote"/> to <paramref name="local"/> with ISN <paramref name="peerIsn"/>.</summary>
    public uint Make(Ipv4Address remote, ushort remotePort, Ipv4Address local, ushort localPort, uint peerIsn, int mssIndex, TimeSpan now)
    {
        uint count = Count(now);
        uint h1 = Hash(remote, remotePort, local, localPort, 0, 0);
        uint h2 = Hash(remote, remotePort, local, localPort, count, 1);
        return unchecked(h1 + peerIsn + (count << CountShift) + ((h2 + (uint)mssIndex) & LowMask));
    }

    /// <summary>
    /// Checks the <paramref name="cookie"/> an ACK brought back (SEG.ACK - 1, with <paramref name="peerIsn"/> = SEG.SEQ - 1):
    /// true, with the MSS it says, when this stack made it for these addresses and ports this minute or the one before.
    /// </summary>
    public bool TryCheck(Ipv4Address remote, ushort remotePort, Ipv4Address local, ushort localPort, uint cookie, uint peerIsn,
        TimeSpan now, out int mss)
    {
        mss = 0;
        uint count = Count(now);
        // Take away what does not depend on the time: left is (count << 24) + ((H2 + index) mod 2^24).
        uint rest = unchecked(cookie - (Hash(remote, remotePort, local, localPort, 0, 0) + peerIsn));
        uint age = unchecked(count - (rest >> CountShift)) & (uint.MaxValue >> CountShift);
        if (age >= MaxAgeMinutes) return false; // stale, or from the future: not one of ours
        uint index = unchecked(rest - Hash(remote, remotePort, local, localPort, count - age, 1)) & LowMask;
        if (index >= (uint)MssTable.Length) return false; // forged: a guess passes this with odds of 4 in 2^24
        mss = MssTable[(int)index];
        return true;
    }

    /// <summary>
    /// Linux's cookie_init_timestamp: our TSval with the peer's window scale (<paramref name="peerWindowScale"/>, null
    /// when it sent none) in bits 0-3 and SACK-permitted in bit 4. The value is <paramref name="tsNow"/> with its low
    /// six bits replaced, or the slot of 64 ticks before when that would run ahead of the clock: a TSval never lies
    /// about the future.
    /// </summary>
    public static uint EncodeTimestamp(uint tsNow, byte? peerWindowScale, bool sackPermitted)
    {
        uint options = peerWindowScale is { } ws ? Math.Min(ws, (uint)14) : WindowScaleMask;
        if (sackPermitted) options |= SackBit;
        uint ts = (tsNow & ~TimestampOptionMask) | options;
        if (options > (tsNow & TimestampOptionMask)) ts = unchecked(ts - (1u << TimestampBits));
        return ts;
    }

    /// <summary>
    /// The options a TSecr echoes (<see cref="EncodeTimestamp"/>): the peer's window scale (null: it offered none) and
    /// SACK-permitted. False when the ECN bit is set: we never offer ECN, so it is not our TSval coming back.
    /// </summary>
    public static bool TryDecodeTimestamp(uint tsEcr, out byte? peerWindowScale, out bool sackPermitted)
    {
        uint options = tsEcr & TimestampOptionMask;
        uint ws = options & WindowScaleMask;
        peerWindowScale = ws == WindowScaleMask ? null : (byte)Math.Min(ws, 14u);
        sackPermitted = (options & SackBit) != 0;
        return (options & EcnBit) == 0;
    }

    /// <summary>The keyed hash of the four-tuple (and the count for H2); <paramref name="which"/> keeps H1 and H2 apart.</summary>
    private uint Hash(Ipv4Address remote, ushort remotePort, Ipv4Address local, ushort localPort, uint count, byte which)
    {
        Span<byte> input = stackalloc byte[17];
        input[0] = which;
        remote.Write(input[1..]);
        local.Write(input[5..]);
        BinaryPrimitives.WriteUInt16BigEndian(input[9..], remotePort);
        BinaryPrimitives.WriteUInt16BigEndian(input[11..], localPort);
        BinaryPrimitives.WriteUInt32BigEndian(input[13..], count);
        Span<byte> hash = stackalloc byte[32];
        HMACSHA256.HashData(_key, input, hash);
        return BinaryPrimitives.ReadUInt32BigEndian(hash);
    }
}

/// <summary>
/// What the SYN had offered, as the ACK of a cookie brings it back: the peer's window scale (null: none), SACK-permitted,
/// and the peer's TSval when timestamps are on (null: the peer sent none, so the cookie said only the MSS).
/// </summary>
internal readonly record struct SynCookieOptions(byte? WindowScale, bool SackPermitted, uint? TsRecent);
