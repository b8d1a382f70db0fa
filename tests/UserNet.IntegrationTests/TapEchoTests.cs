using UserNet.TestSupport;
using System.Text.RegularExpressions;
using UserNet.Wire;
using Xunit;

namespace UserNet.IntegrationTests;

/// <summary>The full-path echo against the Linux kernel on a real TAP, inside a namespace each test makes.</summary>
public sealed class TapEchoTests
{
    private const string Tap = "ut0";
    private const string KernelCidr = "10.80.0.1/24";
    private const string KernelIp = "10.80.0.1";
    private const string StackCidr = "10.80.0.2/24";
    private const string StackIp = "10.80.0.2";
    private const string StackMac = "02:00:5e:00:00:02";
    private static readonly TimeSpan UpTimeout = TimeSpan.FromSeconds(30);

    [Fact]
    public void Kernel_ping_200_at_10ms_to_the_stack_loses_nothing()
    {
        using var ns = TestNamespace.Create("ping200");
        ns.AddTap(Tap, KernelCidr);
        var up = ns.StartUsernet("up", "--tap", Tap, "--ip", StackCidr, "--mac", StackMac);
        up.WaitForLine("usernet: up", UpTimeout);

        var ping = ns.Exec(TimeSpan.FromSeconds(60), "ping", "-c", "200", "-i", "0.01", "-W", "2", StackIp);

        Assert.True(ping.ExitCode == 0, ping.Stdout + ping.Stderr);
        Assert.Contains("200 packets transmitted, 200 received, 0% packet loss", ping.Stdout);
        Assert.Equal(200, Regex.Matches(ping.Stdout, @"^64 bytes from 10\.80\.0\.2: icmp_seq=\d+ ttl=64 time=", RegexOptions.Multiline).Count);
        Assert.DoesNotContain("DUP!", ping.Stdout);
        Assert.Equal(0, up.Terminate(UpTimeout));
        var counters = Counters.Parse(up.Output);
        Assert.True(counters.Received["icmp"] >= 200, up.Output);
        Assert.True(counters.Sent["icmp"] >= 200, up.Output);
    }

    [Fact]
    public void Usernet_ping_to_the_kernel_gets_every_reply_and_prints_what_iputils_prints()
    {
        using var ns = TestNamespace.Create("uping");
        ns.AddTap(Tap, KernelCidr);

        var r = ns.Exec(TimeSpan.FromSeconds(60), [.. UsernetCli.Command, "ping", "--tap", Tap, "--ip", StackCidr, "-c", "5", "-i", "0.2", KernelIp]);

        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        var lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal($"PING {KernelIp} ({KernelIp}) 56(84) bytes of data.", lines[0]);
        for (int seq = 1; seq <= 5; seq++)
            Assert.Matches($@"^64 bytes from 10\.80\.0\.1: icmp_seq={seq} ttl=64 time=\d+(\.\d+)? ms$", lines.Single(l => l.Contains($"icmp_seq={seq} ")));
        Assert.Contains($"--- {KernelIp} ping statistics ---", lines);
        Assert.Matches(@"^5 packets transmitted, 5 received, 0% packet loss, time \d+ms$", lines.Single(l => l.Contains("packets transmitted")));
        Assert.Matches(@"^rtt min/avg/max/mdev = \d+\.\d{3}/\d+\.\d{3}/\d+\.\d{3}/\d+\.\d{3} ms$", lines[^1]);
    }

    [Fact]
    public void Usernet_ping_to_a_silent_address_exits_1_after_reporting_the_loss()
    {
        using var ns = TestNamespace.Create("usilent");
        ns.AddTap(Tap, KernelCidr);

        // 10.80.0.99 is on the link but nobody owns it: ARP gets no answer.
        var r = ns.Exec(TimeSpan.FromSeconds(60), [.. UsernetCli.Command, "ping", "--tap", Tap, "--ip", StackCidr, "-c", "2", "-i", "0.2", "-W", "1", "10.80.0.99"]);

        Assert.Equal(1, r.ExitCode);
        Assert.Contains("2 packets transmitted, 0 received, 100% packet loss", r.Stdout);
        Assert.DoesNotContain("rtt min/avg/max/mdev", r.Stdout);
    }

    [Fact]
    public void Usernet_ping_to_an_address_nobody_owns_reports_host_unreachable_as_iputils_does()
    {
        using var ns = TestNamespace.Create("uunreach");
        ns.AddTap(Tap, KernelCidr);

        // ARP gives up after three requests a second apart; each echo request that waited is reported, in order.
        var r = ns.Exec(TimeSpan.FromSeconds(60), [.. UsernetCli.Command, "ping", "--tap", Tap, "--ip", StackCidr, "-c", "3", "-i", "0.5", "-W", "5", "10.80.0.99"]);

        Assert.Equal(1, r.ExitCode);
        var lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["From 10.80.0.2 icmp_seq=1 Destination Host Unreachable", "From 10.80.0.2 icmp_seq=2 Destination Host Unreachable",
            "From 10.80.0.2 icmp_seq=3 Destination Host Unreachable"], lines.Where(l => l.StartsWith("From ")).ToArray());
        Assert.Matches(@"^3 packets transmitted, 0 received, \+3 errors, 100% packet loss, time \d+ms$", lines.Single(l => l.Contains("transmitted")));
        Assert.Equal("pipe 3", lines[^1]);
    }

    [Fact]
    public void Malformed_frames_from_the_kernel_side_are_dropped_and_counted_while_ping_keeps_working()
    {
        using var ns = TestNamespace.Create("malformed");
        ns.AddTap(Tap, KernelCidr);
        var up = ns.StartUsernet("up", "--tap", Tap, "--ip", StackCidr, "--mac", StackMac);
        up.WaitForLine("usernet: up", UpTimeout);
        var kernelMac = MacAddress.Parse(ns.Check("cat", $"/sys/class/net/{Tap}/address").Stdout.Trim());
        var frames = new MalformedFrames(kernelMac, MacAddress.Parse(StackMac), Ipv4Address.Parse(KernelIp), Ipv4Address.Parse(StackIp));

        // Warm up (the kernel learns our MAC), then interleave every bad frame with pings.
        Assert.Equal(0, ns.Exec(TimeSpan.FromSeconds(30), "ping", "-c", "3", "-i", "0.05", "-W", "2", StackIp).ExitCode);
        foreach (var (name, frame) in frames.All)
        {
            Inject(ns, frame);
            var ping = ns.Exec(TimeSpan.FromSeconds(30), "ping", "-c", "3", "-i", "0.05", "-W", "2", StackIp);
            Assert.True(ping.ExitCode == 0 && ping.Stdout.Contains(" 3 received"), $"after '{name}': {ping.Stdout}{ping.Stderr}");
        }

        Assert.Equal(0, up.Terminate(UpTimeout));
        var c = Counters.Parse(up.Output);
        Assert.Equal(1, c.Drop("ipv4/bad_checksum"));
        Assert.Equal(1, c.Drop("icmp/bad_checksum"));
        Assert.Equal(1, c.Drop("ipv4/bad_header_length"));
        Assert.Equal(1, c.Drop("ipv4/bad_total_length"));
        Assert.Equal(1, c.Drop("ipv4/truncated"));
        Assert.Equal(1, c.Drop("arp/truncated"));
        Assert.Equal(1, c.Drop("ipv4/bad_source"));
        Assert.Equal(0, c.Drop("ethernet/stack_fault"));
        Assert.True(c.Sent["icmp"] >= 3 + 3 * frames.All.Count, up.Output);
    }

    [Fact]
    public void Kernel_gets_protocol_unreachable_for_a_protocol_the_stack_does_not_speak()
    {
        using var ns = TestNamespace.Create("protounr");
        ns.AddTap(Tap, KernelCidr);
        var up = ns.StartUsernet("up", "--tap", Tap, "--ip", StackCidr, "--mac", StackMac);
        up.WaitForLine("usernet: up", UpTimeout);

        // Send protocol 253 (RFC 3692 experimental) from a raw socket, read the answer on a raw ICMP socket,
        // and print type, code and the quoted datagram's protocol and first payload bytes (RFC 792: header + 64 bits).
        var script = """
import socket, sys
icmp = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
icmp.settimeout(5)
out = socket.socket(socket.AF_INET, socket.SOCK_RAW, 253)
out.sendto(b"hello, stack", (sys.argv[1], 0))
while True:
    pkt = icmp.recv(2000)
    ihl = (pkt[0] & 15) * 4
    t, c = pkt[ihl], pkt[ihl + 1]
    q = pkt[ihl + 8:]
    qihl = (q[0] & 15) * 4
    if t == 3:
        print(t, c, q[9], q[qihl:qihl + 8].decode())
        break
""";
        var r = ns.Exec(TimeSpan.FromSeconds(30), "/usr/bin/python3", "-c", script, StackIp);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Equal("3 2 253 hello, s", r.Stdout.Trim()); // destination unreachable, protocol unreachable, 8 quoted bytes
        up.Terminate(UpTimeout);
        Assert.True(Counters.Parse(up.Output).Drop("ipv4/unknown_protocol") >= 1, up.Output);
    }

    /// <summary>Writes one raw frame onto the TAP from the kernel's side (an AF_PACKET socket, inside the namespace).</summary>
    private static void Inject(TestNamespace ns, byte[] frame)
    {
        var r = ns.Exec(TimeSpan.FromSeconds(30), "/usr/bin/python3", "-c",
            "import socket,sys; s=socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind((sys.argv[1],0)); s.send(bytes.fromhex(sys.argv[2]))",
            Tap, Convert.ToHexString(frame));
        Assert.True(r.ExitCode == 0, r.Stderr);
    }
}

/// <summary>The counters table usernet up prints when it stops.</summary>
public sealed record Counters(Dictionary<string, long> Received, Dictionary<string, long> Sent, Dictionary<string, long> Drops,
    Dictionary<string, long> TcpEvents)
{
    public long Drop(string layerAndReason) => Drops.GetValueOrDefault(layerAndReason);
    /// <summary>A line <c>tcp NAME: N</c> of the table (retransmissions, SYN cookies, limits reached); 0 when absent.</summary>
    public long Tcp(string name) => TcpEvents.GetValueOrDefault(name);

    public static Counters Parse(string output)
    {
        var rx = new Dictionary<string, long>();
        var tx = new Dictionary<string, long>();
        var drops = new Dictionary<string, long>();
        foreach (Match m in Regex.Matches(output, @"^(ethernet|arp|ipv4|icmp|udp|tcp)\s+(\d+)\s+(\d+)\s+(\d+)\s*$", RegexOptions.Multiline))
        {
            rx[m.Groups[1].Value] = long.Parse(m.Groups[2].Value);
            tx[m.Groups[1].Value] = long.Parse(m.Groups[3].Value);
        }
        foreach (Match m in Regex.Matches(output, @"^\s+drop (\S+): (\d+)", RegexOptions.Multiline))
            drops[m.Groups[1].Value] = long.Parse(m.Groups[2].Value);
        var tcp = new Dictionary<string, long>();
        foreach (Match m in Regex.Matches(output, @"^\s+tcp (\S+): (\d+)", RegexOptions.Multiline))
            tcp[m.Groups[1].Value] = long.Parse(m.Groups[2].Value);
        if (rx.Count == 0) throw new FormatException("no counters table in:\n" + output);
        return new Counters(rx, tx, drops, tcp);
    }
}
