using UserNet.TestSupport;
using System.Diagnostics;
using UserNet.Capture;
using Xunit;

namespace UserNet.Trace.Tests;

/// <summary>usernet trace and usernet replay at the command line, and a live trace on a TAP in a namespace.</summary>
public sealed class CliTests
{
    private static void AssertOneLineError(Shell.Result r, string expected)
    {
        Assert.Equal(2, r.ExitCode);
        var lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"expected one line, got:\n{r.Stderr}");
        Assert.Contains(expected, lines[0]);
        Assert.DoesNotContain("   at ", r.Stderr + r.Stdout);
    }

    [Theory]
    [InlineData("exactly one of -r FILE and -i IFACE", "trace")]
    [InlineData("exactly one of -r FILE and -i IFACE", "trace", "-r", "a.pcap", "-i", "eth0")]
    [InlineData("no such file", "trace", "-r", "/nonexistent/x.pcap")]
    [InlineData("-c must be 1 or more", "trace", "-c", "0", "-r", "x.pcap")]
    [InlineData("no such file", "replay", "x.pcap")]
    [InlineData("not an IPv4 address", "replay", "x.pcap", "--ip", "10.0.0.300/24")]
    [InlineData("no such file", "replay", "/nonexistent/x.pcap", "--ip", "10.0.0.2/24")]
    [InlineData("not a pcap or pcapng file", "trace", "-r", "/proc/self/cmdline")]
    [InlineData("no interface named nosuch0", "trace", "-i", "nosuch0")]
    public void A_bad_command_line_gets_one_clear_line_and_exit_2(string expected, params string[] args) =>
        AssertOneLineError(Shell.Usernet(args), expected);

    [Fact]
    public void Trace_prints_tcpdumps_text_for_a_file()
    {
        var r = Shell.Usernet("trace", "-n", "-r", TestFile("live.pcap"));
        Assert.Equal(0, r.ExitCode);
        Assert.Equal(File.ReadAllText(Repo.Fixture("live.tcpdump.txt")), r.Stdout);
        var e = Shell.Usernet("trace", "-e", "-c", "3", "-r", TestFile("live.pcap"));
        Assert.Equal(Repo.Lines(File.ReadAllText(Repo.Fixture("live.tcpdump-e.txt")))[..3], Repo.Lines(e.Stdout));
    }

    private static string TestFile(string name) => Repo.Fixture(name);

    [Fact]
    public void Trace_of_a_truncated_file_prints_the_good_packets_then_one_line_naming_the_offset()
    {
        var bytes = File.ReadAllBytes(Repo.Fixture("live.pcap"));
        int third = 24 + 2 * (16 + 42);
        var path = Path.Combine(Path.GetTempPath(), $"usernet-{Guid.NewGuid():N}.pcap");
        try
        {
            File.WriteAllBytes(path, bytes[..(third + 20)]);
            var r = Shell.Usernet("trace", "-r", path);
            AssertOneLineError(r, $"byte offset {third}");
            Assert.Equal(Repo.Lines(File.ReadAllText(Repo.Fixture("live.tcpdump.txt")))[..2], Repo.Lines(r.Stdout));
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void Replay_of_a_truncated_file_replays_the_good_frames_then_names_the_offset()
    {
        var source = Path.Combine(Repo.Captures, "arp-and-ping.pcapng");
        var bytes = File.ReadAllBytes(source);
        var path = Path.Combine(Path.GetTempPath(), $"usernet-{Guid.NewGuid():N}.pcapng");
        try
        {
            File.WriteAllBytes(path, bytes[..(bytes.Length - 10)]);
            var r = Shell.Usernet("replay", path, "--ip", "10.50.0.2/24");
            AssertOneLineError(r, "byte offset");
            Assert.Contains("after 6 good packets", r.Stderr);
            Assert.Contains("#6 ", r.Stdout);
            Assert.DoesNotContain("#7 ", r.Stdout);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void Trace_w_writes_a_capture_and_replay_out_writes_what_the_stack_sent_with_comments()
    {
        var dir = Directory.CreateTempSubdirectory("usernet-").FullName;
        try
        {
            var copy = Path.Combine(dir, "copy.pcapng");
            Assert.Equal(0, Shell.Usernet("trace", "-r", Repo.Fixture("live.pcap"), "-w", copy).ExitCode);
            Assert.Equal(File.ReadAllText(Repo.Fixture("live.tcpdump.txt")), Shell.Usernet("trace", "-r", copy).Stdout);

            var sent = Path.Combine(dir, "sent.pcapng");
            var r = Shell.Usernet("replay", Path.Combine(Repo.Captures, "arp-and-ping.pcapng"), "--ip", "10.50.0.2/24", "--out", sent);
            Assert.Equal(0, r.ExitCode);
            Assert.Equal(File.ReadAllText(Path.Combine(Repo.Captures, "arp-and-ping.replay.txt")), r.Stdout);
            var t = Shell.Tool("tshark", "-r", sent, "-T", "fields", "-e", "frame.comment");
            Assert.Equal(["tx: arp reply", "tx: icmp echo reply", "tx: icmp echo reply"], Repo.Lines(t.Stdout));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void Trace_w_keeps_the_link_type_of_the_records_and_refuses_to_mix_two_in_one_file()
    {
        var dir = Directory.CreateTempSubdirectory("usernet-").FullName;
        try
        {
            foreach (var (capture, name) in new[] { ("cooked-sll", "LINUX_SLL"), ("cooked-sll2", "LINUX_SLL2"), ("raw6", "IPV6") })
                foreach (var ext in new[] { ".pcap", ".pcapng" })
                {
                    var copy = Path.Combine(dir, capture + ext);
                    Assert.Equal(0, Shell.Usernet("trace", "-r", Repo.Fixture(capture + ".pcap"), "-w", copy).ExitCode);
                    var t = Shell.Tool("tcpdump", "-n", "-r", copy);
                    Assert.Contains($"link-type {name} ", t.Stderr);
                    Assert.Equal(Shell.Tool("tcpdump", "-n", "-r", Repo.Fixture(capture + ".pcap")).Stdout, t.Stdout);
                }
            // Two sections of different link types in one pcapng: one clear line, not a file that lies about half its packets.
            var mixed = Path.Combine(dir, "mixed.pcapng");
            File.WriteAllBytes(mixed, [.. File.ReadAllBytes(Path.Combine(dir, "cooked-sll.pcapng")), .. File.ReadAllBytes(Path.Combine(dir, "raw6.pcapng"))]);
            AssertOneLineError(Shell.Usernet("trace", "-r", mixed, "-w", Path.Combine(dir, "out.pcapng")), "cannot write link type 229 after link type 113 to one file");
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    /// <summary>
    /// The kernel pings the stack on a TAP in a namespace made for this test, while usernet trace -i watches the
    /// TAP's kernel side; the namespace goes away at the end, also on failure.
    /// </summary>
    [Fact]
    public void Trace_i_captures_live_from_a_tap_while_the_kernel_pings_the_stack()
    {
        using var ns = TestNamespace.Create("live", prefix: "untrace");
        ns.AddTap("tap0", "10.82.0.1/24");
        var up = ns.StartUsernet("up", "--tap", "tap0", "--ip", "10.82.0.2/24", "--mac", "02:00:00:00:82:02");
        up.WaitFor("usernet: up");
        var trace = ns.StartUsernet("trace", "-i", "tap0", "-c", "6", "-t");
        trace.WaitFor("usernet trace: listening on tap0", stderr: true);
        var ping = ns.Exec("ping", "-c", "2", "-i", "0.2", "-W", "2", "10.82.0.2");
        Assert.True(ping.ExitCode == 0, ping.Stdout + ping.Stderr);
        Assert.True(trace.Process.WaitForExit(TimeSpan.FromSeconds(20)), "trace did not stop after -c 6\n" + trace.Output);
        trace.Process.WaitForExit();
        var lines = Repo.Lines(trace.Output);
        Assert.Equal(6, lines.Length);
        Assert.Equal("ARP, Request who-has 10.82.0.2 tell 10.82.0.1, length 28", lines[0]);
        Assert.Equal("ARP, Reply 10.82.0.2 is-at 02:00:00:00:82:02, length 28", lines[1]);
        Assert.StartsWith("IP 10.82.0.1 > 10.82.0.2: ICMP echo request, id ", lines[2]);
        Assert.StartsWith("IP 10.82.0.2 > 10.82.0.1: ICMP echo reply, id ", lines[3]);
        Assert.EndsWith(", seq 2, length 64", lines[5]);
    }

    /// <summary>usernet up --pcap records what the stack received and sent, with its decisions as comments tshark shows.</summary>
    [Fact]
    public void Up_pcap_records_every_frame_with_the_stacks_decision()
    {
        var path = Path.Combine(Path.GetTempPath(), $"usernet-{Guid.NewGuid():N}.pcapng");
        try
        {
            using (var ns = TestNamespace.Create("pcap", prefix: "untrace"))
            {
                ns.AddTap("tap0", "10.83.0.1/24");
                var up = ns.StartUsernet("up", "--tap", "tap0", "--ip", "10.83.0.2/24", "--mac", "02:00:00:00:83:02", "--pcap", path);
                up.WaitFor("usernet: up");
                var ping = ns.Exec("ping", "-c", "1", "-W", "2", "10.83.0.2");
                Assert.True(ping.ExitCode == 0, ping.Stdout + ping.Stderr);
                Assert.Equal(0, up.Terminate());
            }
            var t = Shell.Tool("tshark", "-r", path, "-T", "fields", "-e", "frame.comment");
            Assert.True(t.ExitCode == 0, t.Stderr);
            Assert.Equal(["tx: arp announcement (gratuitous)", "rx: arp request for us -> reply", "tx: arp reply", "rx: icmp echo request -> reply", "tx: icmp echo reply"],
                Repo.Lines(t.Stdout));
            // And our own reader agrees, frame for frame.
            Assert.Equal(Repo.Lines(t.Stdout), Repo.ReadAll(path).Select(r => r.Comment).ToArray());
            // The section comment says which stack was recorded, prefix included, so a replay needs no --ip.
            using (var reader = (PcapNgReader)CaptureFile.Open(path))
            {
                Assert.NotNull(reader.Read());
                Assert.Equal("usernet stack 10.83.0.2/24", reader.SectionComment);
            }
            var replay = Shell.Usernet("replay", path);
            Assert.Equal(0, replay.ExitCode);
            Assert.StartsWith("replay: the stack is 10.83.0.2/24 mac 02:00:00:00:83:02 (from the recorded stack's comments: the capture says \"usernet stack 10.83.0.2/24\";", replay.Stdout);
        }
        finally { File.Delete(path); }
    }
}
