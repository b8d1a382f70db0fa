using UserNet.TestSupport;
using UserNet.Capture;
using UserNet.Tracing;
using Xunit;

namespace UserNet.Trace.Tests;

/// <summary>
/// The formatter against tcpdump 4.99's own text. Fixtures/crafted.pcap holds hand-built frames of every odd kind
/// (make-crafted.py); Fixtures/live.pcap is the kernel talking to itself over veth (make-live.sh): ARP, ping,
/// fragments, UDP, port unreachable, a TCP connection. Fixtures/*.tcpdump*.txt is what tcpdump printed for them
/// (make-expected.sh), and one test checks those files against the installed tcpdump.
/// </summary>
public sealed class TcpdumpFormatterTests
{
    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var capture in new[] { "crafted", "live" })
            foreach (var opts in new[] { "", "-v", "-e", "-e -v", "-x", "-X", "-XX -v", "-tt", "-ttt", "-tttt", "-ttttt", "-t" })
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
    public void Prints_what_the_installed_tcpdump_prints(string capture, string opts)
    {
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
        var frames = Repo.ReadAll(Repo.Fixture("crafted.pcap")).Concat(Repo.ReadAll(Repo.Fixture("live.pcap"))).Select(r => r.Data).ToList();
        foreach (var opts in new[] { "", "-v -e -X" })
        {
            var f = new TcpdumpFormatter(Parse(opts));
            foreach (var frame in frames)
            {
                for (int n = 0; n <= frame.Length; n++) Assert.NotEmpty(f.Format(0, frame.AsSpan(0, n), frame.Length));
                for (int k = 0; k < 20; k++)
                {
                    var copy = (byte[])frame.Clone();
                    if (copy.Length == 0) continue;
                    copy[copy.Length > 14 ? 14 + rng.Next(copy.Length - 14) : rng.Next(copy.Length)] = (byte)rng.Next(256);
                    Assert.NotEmpty(f.Format(0, copy, copy.Length));
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
}
