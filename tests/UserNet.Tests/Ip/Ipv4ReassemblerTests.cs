using CsCheck;
using UserNet.Core;
using UserNet.Ip;
using UserNet.Wire;
using Xunit;

namespace UserNet.Tests.Ip;

/// <summary>RFC 791 section 3.2 and RFC 815: fragments in, whole datagrams out, bounded memory.</summary>
public sealed class Ipv4ReassemblerTests
{
    private static readonly Ipv4Address Src = Ipv4Address.Parse("10.0.0.1"), Dst = Ipv4Address.Parse("10.0.0.2");

    /// <summary>Splits a payload into fragments of <paramref name="size"/> bytes (a multiple of 8), as whole IP packets.</summary>
    internal static List<byte[]> Fragment(byte[] payload, int size, ushort id = 7, byte protocol = IpProtocol.Udp)
    {
        var list = new List<byte[]>();
        for (int off = 0; off < payload.Length; off += size)
            list.Add(Packet(payload.AsSpan(off, Math.Min(size, payload.Length - off)), off, off + size < payload.Length, id, protocol));
        return list;
    }

    internal static byte[] Packet(ReadOnlySpan<byte> data, int offset, bool more, ushort id = 7, byte protocol = IpProtocol.Udp)
    {
        var p = new byte[20 + data.Length];
        data.CopyTo(p.AsSpan(20));
        var h = Ipv4Header.Write(p, Src, Dst, protocol, data.Length, id);
        h.FlagsAndFragmentOffset = (ushort)((more ? Ipv4Header.MoreFragmentsFlag : 0) | (offset >> 3));
        h.UpdateChecksum();
        return p;
    }

    private static byte[] Payload(int n, int seed = 1)
    {
        var b = new byte[n];
        new Random(seed).NextBytes(b);
        return b;
    }

    /// <summary>Feeds fragments; returns the reassembled datagram (a copy) or null, and the drop reasons seen.</summary>
    private static (byte[]? Datagram, List<DropReason> Drops) Feed(Ipv4Reassembler r, IEnumerable<byte[]> fragments, TimeSpan? now = null)
    {
        byte[]? whole = null;
        var drops = new List<DropReason>();
        foreach (var f in fragments)
        {
            Assert.Equal(Ipv4ParseError.None, Ipv4Header.TryParse(f, out var h));
            switch (r.Add(h, now ?? TimeSpan.Zero, out var d, out var reason))
            {
                case Ipv4Reassembler.Result.Complete: whole = d.ToArray(); break;
                case Ipv4Reassembler.Result.Dropped: drops.Add(reason); break;
            }
        }
        return (whole, drops);
    }

    private static void AssertWhole(byte[]? datagram, byte[] payload)
    {
        Assert.NotNull(datagram);
        Assert.Equal(Ipv4ParseError.None, Ipv4Header.TryParse(datagram, out var h)); // checksum rebuilt too
        Assert.False(h.IsFragment);
        Assert.Equal(20 + payload.Length, h.TotalLength);
        Assert.Equal(payload, h.Payload.ToArray());
    }

    [Fact]
    public void In_order_fragments_reassemble_to_the_original()
    {
        var payload = Payload(4000);
        var (d, drops) = Feed(new Ipv4Reassembler(new()), Fragment(payload, 1480));
        Assert.Empty(drops);
        AssertWhole(d, payload);
    }

    [Fact]
    public void Every_order_of_four_fragments_reassembles()
    {
        var payload = Payload(3000);
        var frags = Fragment(payload, 800);
        Assert.Equal(4, frags.Count);
        foreach (var order in Permutations([0, 1, 2, 3]))
        {
            var (d, drops) = Feed(new Ipv4Reassembler(new()), order.Select(i => frags[i]));
            Assert.Empty(drops);
            AssertWhole(d, payload);
        }
    }

    [Fact]
    public void Duplicates_are_accepted()
    {
        var payload = Payload(2000);
        var f = Fragment(payload, 504);
        var (d, drops) = Feed(new Ipv4Reassembler(new()), [f[1], f[1], f[0], f[3], f[0], f[2]]);
        Assert.Empty(drops);
        AssertWhole(d, payload);
    }

    [Fact]
    public void Consistent_overlaps_are_accepted()
    {
        var payload = Payload(100);
        var r = new Ipv4Reassembler(new());
        var (d, drops) = Feed(r, [Packet(payload.AsSpan(0, 48), 0, true), Packet(payload.AsSpan(16, 56), 16, true), Packet(payload.AsSpan(64), 64, false)]);
        Assert.Empty(drops);
        AssertWhole(d, payload);
    }

    [Fact]
    public void An_inconsistent_overlap_discards_the_whole_datagram()
    {
        var payload = Payload(100);
        var evil = payload.AsSpan(16, 56).ToArray();
        evil[10] ^= 1;
        var r = new Ipv4Reassembler(new());
        var (d, drops) = Feed(r, [Packet(payload.AsSpan(0, 48), 0, true), Packet(evil, 16, true), Packet(payload.AsSpan(64), 64, false)]);
        Assert.Null(d); // never mixed data: the last fragment starts a new datagram that stays incomplete
        Assert.Equal([DropReason.Ipv4ReassemblyOverlap], drops);
    }

    [Fact]
    public void A_second_last_fragment_that_moves_the_end_discards_the_datagram()
    {
        var payload = Payload(64);
        var (_, drops) = Feed(new Ipv4Reassembler(new()), [Packet(payload.AsSpan(32), 32, false), Packet(payload.AsSpan(40, 16), 40, false)]);
        Assert.Equal([DropReason.Ipv4ReassemblyOverlap], drops);
    }

    [Fact]
    public void Fragments_reaching_past_65535_bytes_are_discarded()
    {
        var r = new Ipv4Reassembler(new());
        var (_, drops) = Feed(r, [Packet(new byte[1480], 0, true), Packet(new byte[100], 65528, false)]);
        Assert.Equal([DropReason.Ipv4ReassemblyTooBig], drops);
        Assert.Equal(0, r.DatagramsInProgress); // the part already held went too
    }

    [Fact]
    public void Misaligned_or_empty_fragments_are_dropped()
    {
        var (_, drops) = Feed(new Ipv4Reassembler(new()), [Packet(new byte[100], 0, true), Packet([], 8, true)]);
        Assert.Equal([DropReason.Ipv4FragmentMalformed, DropReason.Ipv4FragmentMalformed], drops);
    }

    [Fact]
    public void The_largest_datagram_reassembles_from_8_byte_fragments_backwards()
    {
        var payload = Payload(65535 - 20);
        var frags = Fragment(payload, 8);
        frags.Reverse();
        var (d, drops) = Feed(new Ipv4Reassembler(new()), frags);
        Assert.Empty(drops);
        AssertWhole(d, payload);
    }

    [Fact]
    public void Timeout_discards_and_quotes_the_first_fragment_for_time_exceeded()
    {
        var r = new Ipv4Reassembler(new ReassemblyOptions { Timeout = TimeSpan.FromSeconds(30) });
        var f = Fragment(Payload(3000), 1480);
        Feed(r, [f[0]], TimeSpan.FromSeconds(1));
        Feed(r, [f[1]], TimeSpan.FromSeconds(20)); // the timer runs from the first fragment, not the last (RFC 1122 3.3.2)
        Assert.Equal(TimeSpan.FromSeconds(31), r.NextDeadline);
        var quotes = new List<byte[]>();
        Assert.Equal(0, r.Expire(TimeSpan.FromSeconds(30.9), q => quotes.Add(q.ToArray())));
        Assert.Equal(1, r.Expire(TimeSpan.FromSeconds(31), q => quotes.Add(q.ToArray())));
        var quote = Assert.Single(quotes);
        Assert.Equal(f[0].AsSpan(0, 28).ToArray(), quote); // header + 64 bits of data (RFC 792)
        Assert.Equal(0, r.DatagramsInProgress);
        Assert.Equal(0, r.BytesHeld);
    }

    [Fact]
    public void Timeout_without_the_first_fragment_sends_nothing()
    {
        var r = new Ipv4Reassembler(new());
        Feed(r, [Fragment(Payload(3000), 1480)[1]]);
        int quoted = 0;
        Assert.Equal(1, r.Expire(TimeSpan.FromSeconds(60), _ => quoted++));
        Assert.Equal(0, quoted);
    }

    [Fact]
    public void Datagrams_in_progress_are_capped_and_the_oldest_is_evicted()
    {
        var r = new Ipv4Reassembler(new ReassemblyOptions { MaxDatagrams = 4 });
        for (ushort id = 0; id < 10; id++) Feed(r, [Packet(new byte[800], 0, true, id)]);
        Assert.Equal(4, r.DatagramsInProgress);
        Assert.Equal(6, r.Evicted);
        // The newest four survive: completing id 9 works, id 0 was evicted.
        var (d, _) = Feed(r, [Packet(new byte[100], 800, false, 9)]);
        Assert.NotNull(d);
        var (d0, _) = Feed(r, [Packet(new byte[100], 800, false, 0)]);
        Assert.Null(d0);
    }

    [Fact]
    public void Bytes_held_are_capped_whatever_arrives()
    {
        var o = new ReassemblyOptions { MaxBytes = 256 * 1024, MaxDatagrams = 1000 };
        var r = new Ipv4Reassembler(o);
        for (int i = 0; i < 5000; i++)
        {
            Feed(r, [Packet(new byte[1400], (i % 40) * 1400 / 8 * 8, true, (ushort)i)]);
            Assert.True(r.BytesHeld <= o.MaxBytes, $"{r.BytesHeld} bytes held after {i}");
        }
        Assert.True(r.Evicted > 4000);
    }

    [Fact]
    public void Any_permutation_with_duplicates_reassembles_to_the_original()
    {
        // Property (CsCheck): for any payload, fragment size, and shuffled sequence of fragments with duplicates,
        // reassembly yields exactly the payload.
        var gen = from length in Gen.Int[1, 9000]
                  from eighths in Gen.Int[1, 185]
                  from seed in Gen.Int
                  from dupes in Gen.Int[0, 5]
                  select (length, eighths * 8, seed, dupes);
        gen.Sample(t =>
        {
            var (length, size, seed, dupes) = t;
            var payload = Payload(length, seed);
            var frags = Fragment(payload, size);
            var rng = new Random(seed);
            for (int i = 0; i < dupes; i++) frags.Add(frags[rng.Next(frags.Count)]);
            var shuffled = frags.OrderBy(_ => rng.Next()).ToList();
            var r = new Ipv4Reassembler(new());
            byte[]? whole = null;
            foreach (var f in shuffled)
            {
                Ipv4Header.TryParse(f, out var h);
                if (r.Add(h, TimeSpan.Zero, out var d, out _) == Ipv4Reassembler.Result.Complete && whole is null) whole = d.ToArray();
            }
            return whole is not null && new Ipv4Header(whole).Payload.SequenceEqual(payload);
        }, iter: 300);
    }

    private static IEnumerable<int[]> Permutations(int[] items)
    {
        if (items.Length <= 1) { yield return items; yield break; }
        for (int i = 0; i < items.Length; i++)
            foreach (var rest in Permutations(items.Where((_, j) => j != i).ToArray()))
                yield return [items[i], .. rest];
    }
}
