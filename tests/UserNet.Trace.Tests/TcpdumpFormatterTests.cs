using UserNet.TestSupport;
using UserNet.Capture;
using UserNet.Tracing;
using Xunit;

namespace UserNet.Trace.Tests;

/// <summary>
/// The formatter against tcpdump 4.99's own text. Fixtures/crafted.pcap holds hand-built frames of every odd kind
/// (make-crafted.py); Fixtures/live.pcap is the kernel talking to itself over veth (make-live.sh): ARP, ping,
/// fragments, UDP, port unreachable, a TCP connection. Fixtures/crafted6.pcap holds hand-built IPv6, ICMPv6, ND, MLD,
/// DNS and HTTP frames, broken ones among them, and cooked-sll/cooked-sll2/raw/raw4/raw6.pcap some of the same
/// packets under the Linux cooked and raw-IP link types, and snap6.pcap all of crafted6's frames cut to 80 bytes as
/// tcpdump -s 80 would (make-crafted6.py); Fixtures/live6*.pcap is the kernel
/// talking IPv6 over veth, captured on the veth and with -i any (make-live6.sh). Fixtures/*.tcpdump*.txt is what
/// tcpdump printed for them (make-expected.sh), and one test checks the captures against the installed tcpdump.
/// </summary>
public sealed class TcpdumpFormatterTests
{
    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var capture in new[] { "crafted", "live" })
            foreach (var opts in new[] { "", "-v", "-e", "-e -v", "-x", "-X", "-XX -v", "-tt", "-ttt", "-tttt", "-ttttt", "-t" })
                data.Add(capture, opts);
        foreach (var capture in new[] { "crafted6", "snap6", "live6", "live6-sll", "cooked-sll", "cooked-sll2", "raw", "raw4", "raw6" })
            foreach (var opts in new[] { "", "-v", "-e", "-e -v", "-x", "-X", "-XX -v", "-xx" })
                data.Add(capture, opts);
        return data;
    }

    internal static TcpdumpOptions Parse(string opts)
    {
        var o = new TcpdumpOptions { TimeZone = TimeZoneInfo.Utc };
        foreach (var flag in opts.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            o = flag switch
            {
                "-v" => o with { Verbose = 1 },
                "-e" => o with { LinkHeader = true },
                "-x" => o with { HexDump = HexDumpStyle.Hex },
                "-X" => o with { HexDump = HexDumpStyle.HexAndAscii },
                "-xx" => o with { HexDump = HexDumpStyle.Hex, HexDumpIncludesLinkHeader = true },
                "-XX" => o with { HexDump = HexDumpStyle.HexAndAscii, HexDumpIncludesLinkHeader = true },
                "-t" => o with { Timestamps = TimestampStyle.None },
                "-tt" => o with { Timestamps = TimestampStyle.Epoch },
                "-ttt" => o with { Timestamps = TimestampStyle.SincePrevious },
                "-tttt" => o with { Timestamps = TimestampStyle.DateAndTime },
                "-ttttt" => o with { Timestamps = TimestampStyle.SinceFirst },
                _ => throw new ArgumentException(flag),
            };
        return o;
    }

    private static string[] Ours(string capture, string opts)
    {
        // The formatter is handed each record's own link type, as usernet trace does.
        var f = new TcpdumpFormatter(Parse(opts));
        return Repo.ReadAll(Repo.Fixture(capture + ".pcap")).SelectMany(r => Repo.Lines(f.Format(r))).ToArray();
    }

    private static void AssertSameLines(string[] expected, string[] actual)
    {
        for (int i = 0; i < Math.Min(expected.Length, actual.Length); i++)
            Assert.True(expected[i] == actual[i], $"line {i + 1} differs:\ntcpdump: {expected[i]}\nours:    {actual[i]}");
        Assert.Equal(expected.Length, actual.Length);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Prints_what_tcpdump_printed_line_for_line(string capture, string opts)
    {
        var expected = Repo.Lines(File.ReadAllText(Repo.Fixture($"{capture}.tcpdump{opts.Replace(" ", "")}.txt")));
        AssertSameLines(expected, Ours(capture, opts));
    }

    [Theory]
    [InlineData("crafted", "")]
    [InlineData("crafted", "-v")]
    [InlineData("crafted", "-e -x")]
    [InlineData("live", "")]
    [InlineData("live", "-v")]
    [InlineData("crafted6", "")]
    [InlineData("crafted6", "-v")]
    [InlineData("crafted6", "-e -X")]
    [InlineData("snap6", "-v")]
    [InlineData("snap6", "-x")]
    [InlineData("live6", "")]
    [InlineData("live6", "-v")]
    [InlineData("live6-sll", "-e")]
    [InlineData("live6-sll2", "")]
    [InlineData("live6-sll2", "-e -v")]
    [InlineData("cooked-sll2", "-e -x")]
    [InlineData("raw", "-e")]
    [InlineData("raw6", "-v")]
    public void Prints_what_the_installed_tcpdump_prints(string capture, string opts)
    {
        // live6-sll2.pcap's interface names come from this machine's interface indexes, in tcpdump as in ours.
        var r = Shell.Tool("tcpdump", ["-n", .. opts.Split(' ', StringSplitOptions.RemoveEmptyEntries), "-r", Repo.Fixture(capture + ".pcap")]);
        Assert.Equal(0, r.ExitCode);
        AssertSameLines(Repo.Lines(r.Stdout), Ours(capture, opts));
    }

    [Fact]
    public void Relative_tcp_sequence_numbers_start_after_the_handshake()
    {
        var lines = Ours("live", "-t");
        Assert.Contains(lines, l => l.Contains("Flags [S.], seq ") && !l.Contains(", ack 1,"));
        Assert.Contains(lines, l => l.Contains("Flags [.], ack 1, win"));
        Assert.Contains(lines, l => l.Contains("Flags [P.], seq 1:11, ack 1,"));
        Assert.Contains(lines, l => l.Contains("Flags [P.], seq 1:17, ack 11,"));
    }

    [Fact]
    public void Frames_outside_the_decoded_protocols_get_one_line_each()
    {
        var f = new TcpdumpFormatter(new TcpdumpOptions { TimeZone = TimeZoneInfo.Utc });
        var lines = Repo.ReadAll(Repo.Fixture("others.pcap")).Select(f.Format).ToList();
        Assert.Equal(4, lines.Count);
        Assert.All(lines, l => Assert.DoesNotContain('\n', l));
        Assert.Contains(lines, l => l.Contains("IP6 :: > ::1: ICMP6"));
        Assert.Contains(lines, l => l.Contains("802.3"));
    }

    [Fact]
    public void Never_throws_on_any_prefix_or_random_bytes()
    {
        var rng = new Random(7);
        var frames = new[] { "crafted", "live", "crafted6", "snap6", "live6", "live6-sll", "live6-sll2", "cooked-sll", "cooked-sll2", "raw" }
            .SelectMany(c => Repo.ReadAll(Repo.Fixture(c + ".pcap"))).ToList();
        foreach (var opts in new[] { "", "-v -e -X" })
        {
            var f = new TcpdumpFormatter(Parse(opts));
            foreach (var (frame, linkType) in frames.Select(r => (r.Data, r.LinkType)))
            {
                for (int n = 0; n <= frame.Length; n++)
                {
                    var text = f.Format(0, frame.AsSpan(0, n), frame.Length, linkType);
                    Assert.NotEmpty(text);
                    Assert.DoesNotContain("[undecodable frame", text);
                }
                for (int k = 0; k < 20; k++)
                {
                    var copy = (byte[])frame.Clone();
                    if (copy.Length == 0) continue;
                    copy[copy.Length > 14 ? 14 + rng.Next(copy.Length - 14) : rng.Next(copy.Length)] = (byte)rng.Next(256);
                    var text = f.Format(0, copy, copy.Length, linkType);
                    Assert.NotEmpty(text);
                    Assert.DoesNotContain("[undecodable frame", text);
                }
            }
            for (int k = 0; k < 2000; k++)
            {
                var junk = new byte[rng.Next(0, 120)];
                rng.NextBytes(junk);
                if (junk.Length > 13 && k % 2 == 0) { junk[12] = 0x08; junk[13] = 0x00; }
                Assert.NotEmpty(f.Format(0, junk, junk.Length));
            }
        }
    }

    [Fact]
    public void The_kernels_mld_report_reads_as_tcpdump_prints_it_not_as_a_bare_hop_by_hop_header()
    {
        // RFC 3810 5.2: the report the kernel sends on every link that comes up, behind a router alert (RFC 2711).
        var first = Ours("crafted6", "-t")[0];
        Assert.Equal("IP6 :: > ff02::16: HBH ICMP6, multicast listener report v2, 1 group record(s), length 28", first);
        var live = Ours("live6", "-t -v");
        Assert.Contains(live, l => l.StartsWith("IP6 (hlim 1, next-header Options (0) payload length: 56) :: > ff02::16: HBH (rtalert: 0x0000) (padn) [icmp6 sum ok] ICMP6, multicast listener report v2, 2 group record(s) [gaddr ", StringComparison.Ordinal));
        Assert.Contains(live, l => l.Contains("ICMP6, neighbor solicitation, length 32, who has fe80::ff:fe00:8802"));
        Assert.Contains(live, l => l.Contains("ICMP6, router solicitation, length 16"));
    }

    [Fact]
    public void A_dns_name_whose_pointer_points_at_itself_or_forward_ends_at_bad_ptr_without_looping()
    {
        // RFC 1035 4.1.4: pointers are followed only backwards, so a loop cannot run forever.
        var lines = Ours("crafted6", "-t");
        Assert.Contains("IP 10.9.0.1.40061 > 10.9.0.2.53: 9+ A? <BAD PTR> [|domain]", lines);
        Assert.Contains("IP 10.9.0.1.40062 > 10.9.0.2.53: 10+ A? a.<BAD PTR> [|domain]", lines);
        // 600 questions, each name a pointer to the previous question's name: chains of up to 600 hops, each only
        // backwards, so each ends; every question is printed.
        var msg = new List<byte> { 0, 1, 1, 0, 600 >> 8, 600 & 0xff, 0, 0, 0, 0, 0, 0, 1, (byte)'a', 0, 0, 1, 0, 1 };
        for (int k = 1, previous = 12; k < 600; k++)
        {
            int at = msg.Count;
            msg.AddRange([(byte)(0xc0 | previous >> 8), (byte)previous, 0, 1, 0, 1]);
            previous = at;
        }
        var udp = new byte[8 + msg.Count];
        udp[0] = 0x9c; udp[1] = 0x40; udp[3] = 53; udp[4] = (byte)(udp.Length >> 8); udp[5] = (byte)udp.Length;
        msg.CopyTo(udp.AsSpan(8));
        var ip = new byte[20 + udp.Length];
        ip[0] = 0x45; ip[2] = (byte)(ip.Length >> 8); ip[3] = (byte)ip.Length; ip[8] = 64; ip[9] = 17;
        ip[12] = 10; ip[15] = 1; ip[16] = 10; ip[19] = 2;
        udp.CopyTo(ip, 20);
        var text = new TcpdumpFormatter(Parse("-t")).Format(0, ip, ip.Length, LinkTypes.Raw);
        Assert.StartsWith("IP 10.0.0.1.40000 > 10.0.0.2.53: 1+ [600q] A? a. A? a.", text);
        Assert.Equal(600, text.Split("A? a.").Length - 1);
        Assert.EndsWith($" ({msg.Count})", text);
    }

    [Fact]
    public void Dns_http_and_cooked_headers_read_as_tcpdump_prints_them()
    {
        var lines = Ours("crafted6", "-t");
        Assert.Contains("IP 10.9.0.1.40053 > 10.9.0.2.53: 12345+ A? example.com. (29)", lines);
        Assert.Contains("IP 10.9.0.2.53 > 10.9.0.1.40053: 12345 1/0/0 A 93.184.216.34 (45)", lines);
        Assert.Contains("IP 10.9.0.2.53 > 10.9.0.1.40058: 6 NXDomain 0/1/0 (118)", lines);
        Assert.Contains(lines, l => l.EndsWith("length 83: HTTP: GET /index.html HTTP/1.1", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.EndsWith("length 106: HTTP: HTTP/1.0 200 OK", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.EndsWith("length 36", StringComparison.Ordinal) && l.Contains(".3128: ")); // not a port tcpdump marks
        var sll = Ours("cooked-sll", "-t -e");
        Assert.Equal(" In 02:00:00:00:00:01 ethertype IPv6 (0x86dd), length 92: :: > ff02::16: HBH ICMP6, multicast listener report v2, 1 group record(s), length 28", sll[0]);
        var sll2 = Ours("cooked-sll2", "-t");
        Assert.Equal("?     In  IP6 :: > ff02::16: HBH ICMP6, multicast listener report v2, 1 group record(s), length 28", sll2[0]);
    }
}
