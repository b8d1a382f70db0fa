using CsCheck;
using UserNet.Tcp;
using UserNet.Wire;

namespace UserNet.Tests.Tcp;

/// <summary>
/// SYN cookies on their own (RFC 4987 section 3.6, made as Linux's net/ipv4/syncookies.c makes them): the cookie
/// says the MSS class, is good this minute and the next, and anything else (a flipped bit, other addresses or ports,
/// another ISN, an old one) fails. Our TSval carries the peer's window scale and SACK-permitted in its low six bits.
/// </summary>
public sealed class SynCookieTests
{
    private static readonly Ipv4Address Client = Ipv4Address.Parse("10.0.0.1");
    private static readonly Ipv4Address Server = Ipv4Address.Parse("10.0.0.2");
    private const ushort ClientPort = 40000, ServerPort = 80;
    private const uint PeerIsn = 1_000_000;
    /// <summary>Half a second into a minute of the stack's clock.</summary>
    private static readonly TimeSpan T0 = TimeSpan.FromMinutes(1234) + TimeSpan.FromMilliseconds(500);

    private static SynCookies Cookies(int seed = 7) => new(new Random(seed));

    [Theory]
    [InlineData(0, 536)]
    [InlineData(1, 1300)]
    [InlineData(2, 1440)]
    [InlineData(3, 1460)]
    public void A_cookie_gives_back_its_MSS_class(int index, int mss)
    {
        var c = Cookies();
        uint cookie = c.Make(Client, ClientPort, Server, ServerPort, PeerIsn, index, T0);
        Assert.True(c.TryCheck(Client, ClientPort, Server, ServerPort, cookie, PeerIsn, T0, out int got));
        Assert.Equal(mss, got);
    }

    [Theory]
    [InlineData(1460, 1460, 3)]
    [InlineData(9000, 1460, 3)]  // never above our own MSS
    [InlineData(1460, 1400, 1)]  // our MTU of 1440 makes 1400: the class below it is 1300
    [InlineData(1450, 1460, 2)]  // the largest class not above the peer's MSS
    [InlineData(1300, 1460, 1)]
    [InlineData(1299, 1460, 0)]
    [InlineData(536, 1460, 0)]
    [InlineData(100, 1460, 0)]   // below the table: its first entry, as Linux (every host takes 536)
    public void The_MSS_class_is_the_largest_entry_not_above_either_MSS(int peerMss, int ourMss, int expected) =>
        Assert.Equal(expected, SynCookies.MssIndex(peerMss, ourMss));

    [Fact]
    public void A_cookie_with_a_bit_flipped_above_the_MSS_bits_is_rejected()
    {
        var c = Cookies();
        uint cookie = c.Make(Client, ClientPort, Server, ServerPort, PeerIsn, 3, T0);
        for (int bit = 2; bit < 32; bit++)
            Assert.False(c.TryCheck(Client, ClientPort, Server, ServerPort, cookie ^ (1u << bit), PeerIsn, T0, out _), $"bit {bit}");
        // The two lowest bits are the MSS index added to the hash: flipping one may land on another class (as with
        // Linux's cookies). That forges nothing: the cookie is still bound to this peer, its ports and its ISN.
        for (int bit = 0; bit < 2; bit++)
            if (c.TryCheck(Client, ClientPort, Server, ServerPort, cookie ^ (1u << bit), PeerIsn, T0, out int mss))
                Assert.NotEqual(1460, mss);
    }

    [Fact]
    public void A_cookie_is_bound_to_the_addresses_ports_and_the_peer_ISN()
    {
        var c = Cookies();
        uint cookie = c.Make(Client, ClientPort, Server, ServerPort, PeerIsn, 3, T0);
        Assert.False(c.TryCheck(Ipv4Address.Parse("10.0.0.3"), ClientPort, Server, ServerPort, cookie, PeerIsn, T0, out _));
        Assert.False(c.TryCheck(Client, ClientPort + 1, Server, ServerPort, cookie, PeerIsn, T0, out _));
        Assert.False(c.TryCheck(Client, ClientPort, Server, ServerPort + 1, cookie, PeerIsn, T0, out _));
        Assert.False(c.TryCheck(Client, ClientPort, Server, ServerPort, cookie, PeerIsn + 1000, T0, out _));
        // Another stack's secret: the same cookie means nothing there.
        Assert.False(Cookies(seed: 8).TryCheck(Client, ClientPort, Server, ServerPort, cookie, PeerIsn, T0, out _));
    }

    [Fact]
    public void Forged_cookies_pass_no_more_often_than_four_in_two_to_the_24()
    {
        var c = Cookies();
        var r = new Random(3);
        int passed = 0;
        for (int i = 0; i < 100_000; i++)
            if (c.TryCheck(Client, ClientPort, Server, ServerPort, (uint)r.NextInt64(0, 1L << 32), PeerIsn, T0, out _)) passed++;
        Assert.Equal(0, passed); // expected 100,000 * 2 * 4 / 2^32: about 0.0002
    }

    [Fact]
    public void A_cookie_is_good_this_minute_and_the_next_and_stale_after_MAX_SYNCOOKIE_AGE()
    {
        var c = Cookies();
        uint cookie = c.Make(Client, ClientPort, Server, ServerPort, PeerIsn, 2, T0);
        bool At(TimeSpan t) => c.TryCheck(Client, ClientPort, Server, ServerPort, cookie, PeerIsn, t, out _);
        Assert.True(At(T0 + TimeSpan.FromSeconds(59)));          // the same minute
        Assert.True(At(T0 + TimeSpan.FromMinutes(1)));           // one minute later
        Assert.True(At(T0 + TimeSpan.FromSeconds(119)));         // still the next minute
        Assert.False(At(T0 + TimeSpan.FromMinutes(2)));          // two minutes old: stale
        Assert.False(At(T0 + TimeSpan.FromMinutes(3)));          // three minutes later
        Assert.False(At(T0 + TimeSpan.FromMinutes(256)));        // the count wraps at 256 minutes; still stale
        Assert.False(At(T0 - TimeSpan.FromMinutes(1)));          // from the future: not one of ours
    }

    [Fact]
    public void The_TSval_carries_the_window_scale_and_SACK_and_never_runs_ahead_of_the_clock()
    {
        Gen.Select(Gen.UInt, Gen.Int[0, 15], Gen.Bool).Sample((tsNow, ws, sack) =>
        {
            byte? scale = ws == 15 ? null : (byte)ws;
            uint ts = SynCookies.EncodeTimestamp(tsNow, scale, sack);
            uint behind = unchecked(tsNow - ts);
            Assert.True(behind < 64, $"TSval {ts} is {behind} ticks from {tsNow}"); // at or before now, within one slot
            Assert.True(SynCookies.TryDecodeTimestamp(ts, out var gotScale, out bool gotSack));
            Assert.Equal(scale, gotScale);
            Assert.Equal(sack, gotSack);
        });
    }

    [Fact]
    public void The_TSval_takes_the_slot_before_when_the_options_would_be_after_now()
    {
        // tsNow = 1000 = 15 * 64 + 40: options 7 | SACK (23) fit below 40, so they replace the low bits of this slot.
        Assert.Equal(960u + 23, SynCookies.EncodeTimestamp(1000, 7, true));
        // tsNow = 970 = 15 * 64 + 10: options 23 would be after now, so the previous slot: 896 + 23.
        Assert.Equal(896u + 23, SynCookies.EncodeTimestamp(970, 7, true));
        Assert.Equal(960u + 5, SynCookies.EncodeTimestamp(970, 5, false));
        // Window scales above 14 are taken as 14 (RFC 7323 2.3).
        Assert.Equal(960u + 14, SynCookies.EncodeTimestamp(1000, 20, false));
    }

    [Fact]
    public void A_TSecr_with_the_ECN_bit_is_not_an_echo_of_ours()
    {
        Assert.False(SynCookies.TryDecodeTimestamp(960 + SynCookies.EcnBit + 7, out _, out _));
        Assert.True(SynCookies.TryDecodeTimestamp(960 + 0xF, out var ws, out bool sack));
        Assert.Null(ws);
        Assert.False(sack);
    }
}
