using System.Diagnostics;
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
    [InlineData("--ip", "replay", "x.pcap")]
    [InlineData("not an IPv4 address", "replay", "x.pcap", "--ip", "10.0.0.300/24")]
    [InlineData("no such file", "replay", "/nonexistent/x.pcap", "--ip", "10.0.0.2/24")]
    [InlineData("not a pcap or pcapng file", "trace", "-r", "/proc/self/cmdline")]
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

    /// <summary>
    /// The kernel pings the stack on a TAP in a namespace made for this test, while usernet trace -i watches the
    /// TAP's kernel side; the namespace goes away at the end, also on failure.
    /// </summary>
    [Fact]
    public void Trace_i_captures_live_from_a_tap_while_the_kernel_pings_the_stack()
    {
        if (Environment.UserName != "root") throw new InvalidOperationException("this test needs root (network namespaces)");
        var ns = $"untrace-live-{Guid.NewGuid().ToString("N")[..8]}";
        Shell.Run("ip", ["netns", "add", ns]);
        var started = new List<Process>();
        try
        {
            Exec(ns, "ip", "link", "set", "lo", "up");
            Exec(ns, "ip", "tuntap", "add", "dev", "tap0", "mode", "tap");
            Exec(ns, "sh", "-c", "echo 1 > /proc/sys/net/ipv6/conf/tap0/disable_ipv6");
            Exec(ns, "ip", "link", "set", "tap0", "up");
            Exec(ns, "ip", "addr", "add", "10.82.0.1/24", "dev", "tap0");
            var up = Start(started, ns, "up", "--tap", "tap0", "--ip", "10.82.0.2/24", "--mac", "02:00:00:00:82:02");
            WaitFor(up, "usernet: up");
            var trace = Start(started, ns, "trace", "-i", "tap0", "-c", "6", "-t");
            WaitFor(trace, "usernet trace: listening on tap0", stderr: true);
            var ping = Shell.Run("ip", ["netns", "exec", ns, "ping", "-c", "2", "-i", "0.2", "-W", "2", "10.82.0.2"]);
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
        finally
        {
            foreach (var p in started) { try { if (!p.HasExited) p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { } }
            Shell.Run("ip", ["netns", "del", ns]);
        }
    }

    private static void Exec(string ns, params string[] args)
    {
        var r = Shell.Run("ip", ["netns", "exec", ns, .. args]);
        if (r.ExitCode != 0) throw new InvalidOperationException($"{string.Join(' ', args)}: {r.Stderr}");
    }

    private sealed class Running(Process p)
    {
        public readonly System.Text.StringBuilder Out = new(), Err = new();
        public Process Process => p;
        public string Output { get { lock (Out) return Out.ToString(); } }
        public string Errors { get { lock (Err) return Err.ToString(); } }
    }

    private static Running Start(List<Process> started, string ns, params string[] args)
    {
        var psi = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in (string[])["netns", "exec", ns, .. Cli.Command, .. args]) psi.ArgumentList.Add(a);
        var p = new Process { StartInfo = psi };
        var r = new Running(p);
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (r.Out) r.Out.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (r.Err) r.Err.AppendLine(e.Data); };
        p.Start();
        started.Add(p);
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return r;
    }

    private static void WaitFor(Running r, string prefix, bool stderr = false)
    {
        var until = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < until)
        {
            if ((stderr ? r.Errors : r.Output).Contains(prefix)) return;
            if (r.Process.HasExited) break;
            Thread.Sleep(20);
        }
        throw new TimeoutException($"no '{prefix}'; stdout:\n{r.Output}\nstderr:\n{r.Errors}");
    }
}
