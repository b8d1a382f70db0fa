using UserNet.TestSupport;
using Xunit;

namespace UserNet.IntegrationTests;

/// <summary>What a person at the command line sees when things go right and wrong.</summary>
public sealed class CliTests
{
    private static Shell.Result Usernet(params string[] args) => Shell.Run(UsernetCli.Command[0], [.. UsernetCli.Command[1..], .. args], TimeSpan.FromSeconds(60));

    private static void AssertOneLineError(Shell.Result r, string expected)
    {
        Assert.Equal(2, r.ExitCode);
        var lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"expected one line, got:\n{r.Stderr}");
        Assert.Contains(expected, lines[0]);
        Assert.DoesNotContain("   at ", r.Stderr + r.Stdout); // no stack trace
    }

    [Theory]
    [InlineData("10.0.0.300/24", "not an IPv4 address")]
    [InlineData("10.0.0.2", "needs a prefix length")]
    [InlineData("10.0.0.2/33", "prefix length must be 1 to 32")]
    [InlineData("127.0.0.1/8", "not a usable host address")]
    public void A_bad_address_gets_one_clear_line_and_exit_2(string ip, string expected) =>
        AssertOneLineError(Usernet("up", "--tap", "t0", "--ip", ip), expected);

    [Fact]
    public void A_bad_mac_gets_one_clear_line_and_exit_2() =>
        AssertOneLineError(Usernet("up", "--tap", "t0", "--ip", "10.0.0.2/24", "--mac", "01:00:5e:00:00:01"), "not a unicast MAC");

    [Theory]
    [InlineData("tcp-connection=5", "is not NAME=VALUE with NAME one of tcp-connections,")]
    [InlineData("tcp-connections", "is not NAME=VALUE")]
    [InlineData("tcp-connections=many", "'many' is not a count or size")]
    [InlineData("udp-queued-bytes=-1", "'-1' is not a count or size")]
    public void A_bad_limit_gets_one_clear_line_and_exit_2(string limit, string expected) =>
        AssertOneLineError(Usernet("up", "--tap", "t0", "--ip", "10.0.0.2/24", "--limit", limit), expected);

    [Theory]
    [InlineData("0")]
    [InlineData("-3")]
    [InlineData("soon")]
    public void A_bad_stats_interval_gets_one_clear_line_and_exit_2(string seconds) =>
        AssertOneLineError(Usernet("up", "--tap", "t0", "--ip", "10.0.0.2/24", "--stats", seconds), "--stats takes a number of seconds");

    [Fact]
    public void Limits_apply_and_stats_lines_come_at_their_interval()
    {
        using var ns = TestNamespace.Create("limits");
        ns.AddTap("ut0", "10.81.0.1/24");
        var up = ns.StartUsernet("up", "--tap", "ut0", "--ip", "10.81.0.2/24", "--stats", "0.2",
            "--limit", "tcp-connections-per-peer=1", "--limit", "tcp-resets-per-second=1");
        up.WaitForLine("usernet: up", TimeSpan.FromSeconds(30));
        var stats = up.WaitForLine("usernet: stats t=", TimeSpan.FromSeconds(10));
        Assert.Matches(@"^usernet: stats t=\d+s rss_kib=\d+ managed_kib=\d+ gc0=\d+ gc1=\d+ gc2=\d+ threads=\d+$", stats);
        // One connection from the kernel's address is all it may have: a second waits, its SYN dropped.
        var r = ns.Exec(TimeSpan.FromSeconds(30), "/usr/bin/python3", "-c", """
import socket
a = socket.create_connection(("10.81.0.2", 7), timeout=2)
try:
    socket.create_connection(("10.81.0.2", 7), timeout=1.5); print("second connected")
except OSError: print("second refused")
""");
        Assert.Equal("second refused", r.Stdout.Trim());
        Assert.Equal(0, up.Terminate(TimeSpan.FromSeconds(30)));
        Assert.True(Counters.Parse(up.Output).Drop("tcp/peer_connection_limit") >= 1, up.Output);
    }

    [Fact]
    public void A_missing_option_gets_one_clear_line_and_exit_2() =>
        AssertOneLineError(Usernet("up", "--ip", "10.0.0.2/24"), "--tap");

    [Fact]
    public void A_missing_tap_gets_one_clear_line_and_exit_2()
    {
        using var ns = TestNamespace.Create("notap");
        var r = ns.Exec(TimeSpan.FromSeconds(60), [.. UsernetCli.Command, "up", "--tap", "nosuch0", "--ip", "10.81.0.2/24"]);
        AssertOneLineError(r, "no interface named nosuch0");
    }

    [Fact]
    public void A_busy_tap_gets_one_clear_line_and_exit_2()
    {
        using var ns = TestNamespace.Create("busy");
        ns.AddTap("ut0", "10.81.0.1/24");
        var first = ns.StartUsernet("up", "--tap", "ut0", "--ip", "10.81.0.2/24");
        first.WaitForLine("usernet: up", TimeSpan.FromSeconds(30));
        var second = ns.Exec(TimeSpan.FromSeconds(60), [.. UsernetCli.Command, "up", "--tap", "ut0", "--ip", "10.81.0.3/24"]);
        AssertOneLineError(second, "ut0 is busy");
        Assert.Equal(0, first.Terminate(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public void Up_prints_its_line_serves_and_prints_counters_on_sigterm()
    {
        using var ns = TestNamespace.Create("upline");
        ns.AddTap("ut0", "10.81.0.1/24");
        var up = ns.StartUsernet("up", "--tap", "ut0", "--ip", "10.81.0.2/24", "--mac", "02:11:22:33:44:55", "--trace");
        var line = up.WaitForLine("usernet: up", TimeSpan.FromSeconds(30));
        Assert.Contains("ut0", line);
        Assert.Contains("10.81.0.2/24", line);
        Assert.Contains("02:11:22:33:44:55", line);
        Assert.Equal(0, ns.Exec(TimeSpan.FromSeconds(30), "ping", "-c", "1", "-W", "2", "10.81.0.2").ExitCode);
        Assert.Equal(0, up.Terminate(TimeSpan.FromSeconds(30)));
        // --trace: the request line comes before the reply it caused, each with the deciding layer.
        var lines = up.Output.Split('\n');
        int req = Array.FindIndex(lines, l => l.Contains(" in  IP 10.81.0.1 > 10.81.0.2: ICMP echo request") && l.Contains("[icmp: icmp echo request -> reply]"));
        int rep = Array.FindIndex(lines, l => l.Contains(" out IP 10.81.0.2 > 10.81.0.1: ICMP echo reply") && l.Contains("[icmp: icmp echo reply]"));
        Assert.True(req >= 0 && rep > req, up.Output);
        Assert.Contains(lines, l => l.Contains("ARP, Request who-has 10.81.0.2 tell 10.81.0.1") && l.Contains("[arp: arp request for us -> reply]"));
        Assert.Equal(1, Counters.Parse(up.Output).Received["icmp"]);
    }

    [Fact]
    public void Trace_shows_tcp_state_changes_and_why()
    {
        using var ns = TestNamespace.Create("tcptrace");
        ns.AddTap("ut0", "10.81.0.1/24");
        var up = ns.StartUsernet("up", "--tap", "ut0", "--ip", "10.81.0.2/24", "--trace");
        up.WaitForLine("usernet: up", TimeSpan.FromSeconds(30));
        var r = ns.Exec(TimeSpan.FromSeconds(30), "/usr/bin/python3", "-c", """
import socket
s = socket.create_connection(("10.81.0.2", 7), timeout=5); s.sendall(b"hi"); s.shutdown(socket.SHUT_WR)
print(s.recv(10).decode()); s.close()
""");
        Assert.Equal("hi", r.Stdout.Trim());
        // The kernel's ACK of our FIN ends the connection; on a busy machine that can take more than a moment.
        for (var until = DateTime.UtcNow.AddSeconds(10); !up.Output.Contains("(LAST-ACK -> CLOSED)") && DateTime.UtcNow < until;)
            Thread.Sleep(20);
        Assert.Equal(0, up.Terminate(TimeSpan.FromSeconds(30)));
        var lines = up.Output.Split('\n');
        Assert.Contains(lines, l => l.Contains(" in  ") && l.Contains("(LISTEN -> SYN-RECEIVED)"));
        Assert.Contains(lines, l => l.Contains(" in  ") && l.Contains("tcp ack of our syn-ack -> ESTABLISHED (SYN-RECEIVED -> ESTABLISHED)"));
        Assert.Contains(lines, l => l.Contains(" in  ") && l.Contains("(ESTABLISHED -> CLOSE-WAIT)"));
        Assert.Contains(lines, l => l.Contains(" in  ") && l.Contains("(LAST-ACK -> CLOSED)"));
    }

    [Fact]
    public void Demo_pings_both_ways_on_a_tap_and_removes_its_namespace()
    {
        var r = Usernet("demo");
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        Assert.Contains("demo passed: both directions answered", r.Stdout);
        Assert.Contains("kernel got a reply from 10.77.0.2", r.Stdout);
        Assert.Contains("3 packets transmitted, 3 received, 0% packet loss", r.Stdout);
        Assert.Contains("udp echo of 3000 bytes from 10.77.0.2:7: intact", r.Stdout);
        Assert.Contains("tcp echo of 100000 bytes: intact", r.Stdout);
        var ns = Shell.Check("ip", "netns", "list").Stdout;
        Assert.DoesNotContain("usernet-demo-", ns);
    }

    [Fact]
    public void Demo_on_the_in_memory_link_pings_both_ways()
    {
        var r = Usernet("demo", "--memory");
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        Assert.Contains("in-memory link", r.Stdout);
        Assert.Contains("tcp echo of 100000 bytes over", r.Stdout);
        Assert.Contains("demo passed (in memory): both directions answered", r.Stdout);
    }
}
