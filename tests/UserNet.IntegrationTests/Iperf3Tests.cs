using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using UserNet.TestSupport;
using Xunit;

namespace UserNet.IntegrationTests;

/// <summary>
/// iperf3 both ways against the kernel's iperf 3.12, inside a namespace each test makes: the kernel's <c>iperf3 -c</c>
/// against <c>usernet up --serve iperf3</c>, and <c>usernet iperf3 -c</c> against the kernel's <c>iperf3 -s</c>.
/// Each transfers for at most two seconds.
/// </summary>
[Collection("tcp")]
public sealed partial class Iperf3Tests
{
    private const string Tap = "ut0";
    private const string KernelIp = "10.87.0.1";
    private const string StackIp = "10.87.0.2";
    private static readonly TimeSpan UpTimeout = TimeSpan.FromSeconds(30);

    private static TestNamespace Namespace(string purpose)
    {
        var ns = TestNamespace.Create(purpose);
        try { ns.AddTap(Tap, KernelIp + "/24"); }
        catch { ns.Dispose(); throw; }
        return ns;
    }

    private static UsernetProcess Serve(TestNamespace ns)
    {
        var up = ns.StartUsernet("up", "--tap", Tap, "--ip", StackIp + "/24", "--serve", "echo,iperf3");
        up.WaitForLine("usernet: up", UpTimeout);
        return up;
    }

    /// <summary>What usernet up printed about the test: the bytes the stack received or sent.</summary>
    private static long Counted(UsernetProcess up, string direction)
    {
        var m = DoneLine().Match(up.Output);
        Assert.True(m.Success, up.Output);
        Assert.Equal(direction, m.Groups[1].Value);
        return long.Parse(m.Groups[2].Value);
    }

    [GeneratedRegex(@"iperf3: the test from \S+ is done: (received|sent) (\d+) bytes")]
    private static partial Regex DoneLine();

    private static JsonElement End(Shell.Result r)
    {
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        using var doc = JsonDocument.Parse(r.Stdout);
        Assert.False(doc.RootElement.TryGetProperty("error", out var e), e.ToString());
        return doc.RootElement.GetProperty("end").Clone();
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    public void Kernel_iperf3_measures_the_stack_receiving(int parallel)
    {
        using var ns = Namespace("iperf3rx");
        var up = Serve(ns);
        var end = End(ns.Exec(TimeSpan.FromSeconds(60), "iperf3", "-c", StackIp, "-t", "2", "-P", parallel.ToString(), "-J"));
        long received = end.GetProperty("sum_received").GetProperty("bytes").GetInt64();
        Assert.True(received > 0);
        Assert.Equal(parallel, end.GetProperty("streams").GetArrayLength());
        Assert.True(end.GetProperty("sum_sent").GetProperty("bytes").GetInt64() >= received);
        up.WaitFor("is done");
        Assert.Equal(received, Counted(up, "received")); // what the kernel reports is what we counted
        Assert.Equal(0, up.Terminate());
    }

    [Fact]
    public void Kernel_iperf3_reverse_measures_the_stack_sending()
    {
        using var ns = Namespace("iperf3tx");
        var up = Serve(ns);
        var end = End(ns.Exec(TimeSpan.FromSeconds(60), "iperf3", "-c", StackIp, "-t", "2", "-R", "-J"));
        long sent = end.GetProperty("sum_sent").GetProperty("bytes").GetInt64();
        long received = end.GetProperty("sum_received").GetProperty("bytes").GetInt64();
        Assert.True(received > 0);
        Assert.True(sent >= received, $"sent {sent}, received {received}");
        up.WaitFor("is done");
        Assert.Equal(sent, Counted(up, "sent"));
        Assert.Equal(0, up.Terminate());
    }

    [Theory]
    [InlineData("-u", "not implemented")]
    [InlineData("--bidir", "not implemented")]
    public void Kernel_iperf3_asking_for_what_we_lack_gets_an_error_at_once(string option, string expected)
    {
        using var ns = Namespace("iperf3err");
        var up = Serve(ns);
        var clock = Stopwatch.StartNew();
        var r = ns.Exec(TimeSpan.FromSeconds(20), "iperf3", "-c", StackIp, "-t", "2", option);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("iperf3: error - ", r.Stderr);
        Assert.Contains(expected, r.Stderr);
        // The server is free for the next client.
        Assert.Equal(0, ns.Exec(TimeSpan.FromSeconds(30), "iperf3", "-c", StackIp, "-t", "1").ExitCode);
        Assert.Equal(0, up.Terminate());
    }

    [Fact]
    public void A_second_client_is_turned_away_and_a_vanished_one_does_not_wedge_the_server()
    {
        using var ns = Namespace("iperf3busy");
        var up = Serve(ns);
        var first = ns.Start("iperf3", "-c", StackIp, "-t", "30", "--forceflush");
        first.WaitFor("connected to", timeout: TimeSpan.FromSeconds(20));
        var second = ns.Exec(TimeSpan.FromSeconds(20), "iperf3", "-c", StackIp, "-t", "1");
        Assert.NotEqual(0, second.ExitCode);
        Assert.Contains("the server is busy running a test", second.Stderr);
        // The first client dies mid-test without a word (its kernel closes its sockets).
        first.Process.Kill();
        first.Process.WaitForExit();
        up.WaitFor("ended early", timeout: TimeSpan.FromSeconds(30)); // it notices, and ends the test
        var next = ns.Exec(TimeSpan.FromSeconds(30), "iperf3", "-c", StackIp, "-t", "1");
        Assert.True(next.ExitCode == 0, next.Stdout + next.Stderr + up.Output);
        Assert.Contains("iperf Done.", next.Stdout);
        Assert.Equal(0, up.Terminate());
    }

    [Theory]
    [InlineData("-t", "0", "-t SECONDS must be 1 to 86400")]
    [InlineData("-P", "129", "-P N must be 1 to 128")]
    [InlineData("-c", "example", "'example' is not an IPv4 address")]
    public void Usernet_iperf3_with_a_bad_argument_says_so_in_one_line_and_exits_2(string option, string value, string expected)
    {
        string[] args = option == "-c" ? ["-c", value] : ["-c", KernelIp, option, value];
        var r = Shell.Run(UsernetCli.Command[0], [.. UsernetCli.Command[1..], "iperf3", .. args, "--tap", Tap, "--ip", StackIp + "/24"], TimeSpan.FromSeconds(60));
        Assert.Equal(2, r.ExitCode);
        var lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, r.Stderr);
        Assert.Contains(expected, lines[0]);
    }

    private static Shell.Result UsernetClient(TestNamespace ns, params string[] args)
    {
        ns.Start("iperf3", "-s", "-1", "-B", KernelIp);
        ns.WaitForListen(5201);
        return ns.Exec(TimeSpan.FromSeconds(60), [.. UsernetCli.Command, "iperf3", "-c", KernelIp, "-t", "2", "--tap", Tap, "--ip", StackIp + "/24", .. args]);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Usernet_iperf3_against_the_kernels_server_prints_iperf3s_json(bool reverse)
    {
        using var ns = Namespace("iperf3cj");
        var end = End(UsernetClient(ns, reverse ? ["-J", "-R"] : ["-J"]));
        var sent = end.GetProperty("sum_sent");
        var received = end.GetProperty("sum_received");
        Assert.True(received.GetProperty("bytes").GetInt64() > 0);
        Assert.True(sent.GetProperty("bytes").GetInt64() >= received.GetProperty("bytes").GetInt64());
        Assert.True(received.GetProperty("bits_per_second").GetDouble() > 0);
        Assert.InRange(sent.GetProperty("seconds").GetDouble(), 1.9, 3);
        Assert.Equal(!reverse, sent.GetProperty("sender").GetBoolean());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Usernet_iperf3_against_the_kernels_server_prints_iperf3s_summary(bool reverse)
    {
        using var ns = Namespace("iperf3ct");
        var r = UsernetClient(ns, reverse ? ["-R"] : []);
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        var lines = r.Stdout.Split('\n');
        Assert.Equal($"Connecting to host {KernelIp}, port 5201", lines[0]);
        if (reverse) Assert.Contains($"Reverse mode, remote host {KernelIp} is sending", lines);
        Assert.Contains(lines, l => Regex.IsMatch(l, $@"^\[  5\] local {StackIp} port \d+ connected to {KernelIp} port 5201$"));
        // The first interval ends when its timer fired, as iperf3's own do: 1.00 s, or 1.01 on a busy machine.
        Assert.Contains(lines, l => Regex.IsMatch(l, @"^\[  5\]   0\.00-1\.\d\d   sec +[\d.]+ [KMG]?Bytes +[\d.]+ [KMG]?bits/sec"));
        Assert.Contains(lines, l => Regex.IsMatch(l, @"^\[  5\]   0\.00-[\d.]+ +sec +[\d.]+ [KMG]?Bytes +[\d.]+ [KMG]?bits/sec .* sender$"));
        Assert.Contains(lines, l => Regex.IsMatch(l, @"^\[  5\]   0\.00-[\d.]+ +sec +[\d.]+ [KMG]?Bytes +[\d.]+ [KMG]?bits/sec +receiver$"));
        Assert.Equal("iperf Done.", lines.Last(l => l.Length > 0));
    }
}
