using UserNet.TestSupport;
using System.Text.RegularExpressions;
using UserNet.Wire;
using Xunit;

namespace UserNet.IntegrationTests;

/// <summary>UDP, fragmentation and ICMP errors against the Linux kernel on a real TAP.</summary>
public sealed class UdpAndFragmentTests
{
    private const string Tap = "ut0";
    private const string KernelIp = "10.82.0.1";
    private const string StackIp = "10.82.0.2";
    private const string StackMac = "02:00:5e:00:00:02";
    private static readonly TimeSpan UpTimeout = TimeSpan.FromSeconds(30);

    private static (TestNamespace Ns, UsernetProcess Up) StartStack(string purpose, params string[] extra)
    {
        var ns = TestNamespace.Create(purpose);
        try
        {
            ns.AddTap(Tap, KernelIp + "/24");
            var up = ns.StartUsernet(["up", "--tap", Tap, "--ip", StackIp + "/24", "--mac", StackMac, .. extra]);
            up.WaitForLine("usernet: up", UpTimeout);
            return (ns, up);
        }
        catch { ns.Dispose(); throw; }
    }

    private static Shell.Result Python(TestNamespace ns, string script, params string[] args) =>
        ns.Exec(TimeSpan.FromSeconds(90), ["/usr/bin/python3", "-c", script, .. args]);

    [Fact]
    public void Udp_echo_returns_every_size_intact_from_a_kernel_socket()
    {
        var (ns, up) = StartStack("udpecho");
        using var _ = ns;
        // Sizes around the MTU edge (1472 fits one frame, 1473 needs two fragments) up to the largest datagram.
        var script = """
import socket, sys, os, hashlib
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
s.settimeout(5)
for n in (5, 1472, 1473, 9000, 30000, 65507):
    data = os.urandom(n)
    s.sendto(data, (sys.argv[1], 7))
    back, peer = s.recvfrom(70000)
    print(n, len(back), back == data, peer[1])
""";
        var r = Python(ns, script, StackIp);
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        Assert.Equal(["5 5 True 7", "1472 1472 True 7", "1473 1473 True 7", "9000 9000 True 7", "30000 30000 True 7", "65507 65507 True 7"],
            r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        up.Terminate(UpTimeout);
        var c = Counters.Parse(up.Output);
        Assert.Equal(6, c.Received["udp"]);
        Assert.Equal(6, c.Sent["udp"]);
    }

    [Fact]
    public void A_connected_kernel_socket_sees_connection_refused_from_a_closed_port()
    {
        var (ns, up) = StartStack("udprefused");
        using var _ = ns;
        var script = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect((sys.argv[1], 4444))
s.settimeout(3)
s.send(b"anyone there?")
try:
    s.recv(100); print("answered")
except ConnectionRefusedError:
    print("refused")
except socket.timeout:
    print("timeout")
""";
        var r = Python(ns, script, StackIp);
        Assert.Equal("refused", r.Stdout.Trim());
        up.Terminate(UpTimeout);
        Assert.Equal(1, Counters.Parse(up.Output).Drop("udp/no_socket"));
    }

    [Fact]
    public void Discard_swallows_and_serve_none_closes_the_ports()
    {
        var (ns, up) = StartStack("udpnone", "--serve", "none");
        using var _ = ns;
        var script = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect((sys.argv[1], 7))
s.settimeout(3)
s.send(b"echo?")
try:
    s.recv(100); print("answered")
except ConnectionRefusedError:
    print("refused")
""";
        Assert.Equal("refused", Python(ns, script, StackIp).Stdout.Trim());
        up.Terminate(UpTimeout);
    }

    [Fact]
    public void Kernel_ping_with_65507_bytes_of_data_is_answered_whole()
    {
        var (ns, up) = StartStack("bigping");
        using var _ = ns;
        var r = ns.Exec(TimeSpan.FromSeconds(60), "ping", "-c", "3", "-i", "0.2", "-W", "3", "-s", "65507", StackIp);
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        Assert.Contains("3 packets transmitted, 3 received, 0% packet loss", r.Stdout);
        Assert.Equal(3, Regex.Matches(r.Stdout, @"^65515 bytes from 10\.82\.0\.2: icmp_seq=\d ttl=64", RegexOptions.Multiline).Count);
        up.Terminate(UpTimeout);
    }

    [Fact]
    public void Usernet_ping_with_30000_bytes_to_the_kernel_gets_every_reply()
    {
        using var ns = TestNamespace.Create("ubigping");
        ns.AddTap(Tap, KernelIp + "/24");
        var r = ns.Exec(TimeSpan.FromSeconds(60), [.. UsernetCli.Command, "ping", "--tap", Tap, "--ip", StackIp + "/24", "-c", "3", "-i", "0.2", "-s", "30000", KernelIp]);
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        Assert.StartsWith($"PING {KernelIp} ({KernelIp}) 30000(30028) bytes of data.", r.Stdout);
        Assert.Equal(3, Regex.Matches(r.Stdout, @"^30008 bytes from 10\.82\.0\.1: icmp_seq=\d ttl=64 time=", RegexOptions.Multiline).Count);
        Assert.Contains("3 packets transmitted, 3 received, 0% packet loss", r.Stdout);
    }

    [Fact]
    public void Hostile_fragments_leave_the_stack_answering_with_flat_memory()
    {
        var (ns, up) = StartStack("hostilefrag");
        using var _ = ns;
        var kernelMac = MacAddress.Parse(ns.Check("cat", $"/sys/class/net/{Tap}/address").Stdout.Trim());
        var frags = new HostileFragments(kernelMac, MacAddress.Parse(StackMac), Ipv4Address.Parse(KernelIp), Ipv4Address.Parse(StackIp));
        Assert.Equal(0, ns.Exec(TimeSpan.FromSeconds(30), "ping", "-c", "2", "-i", "0.1", "-W", "2", StackIp).ExitCode);
        long rssBefore = RssKiB(up);

        // Teardrop: the second fragment overlaps the first with different bytes. Then a set reaching past 65535 bytes,
        // and 8-byte fragments that do complete (which must reassemble, so an echo gets its reply).
        Inject(ns, frags.Teardrop());
        Inject(ns, frags.PastMaximumSize());
        Inject(ns, frags.EightByteFragmentsOfAnEcho());
        // Thousands of datagrams that never complete: memory must stay bounded by the caps, oldest evicted.
        Inject(ns, frags.NeverCompleted(5000));
        Inject(ns, frags.NeverCompleted(5000, idBase: 20000));

        var ping = ns.Exec(TimeSpan.FromSeconds(30), "ping", "-c", "5", "-i", "0.1", "-W", "2", StackIp);
        Assert.True(ping.ExitCode == 0 && ping.Stdout.Contains(" 5 received"), ping.Stdout);
        long rssAfter = RssKiB(up);
        Assert.True(rssAfter - rssBefore < 32 * 1024, $"RSS grew from {rssBefore} KiB to {rssAfter} KiB");

        up.Terminate(UpTimeout);
        var c = Counters.Parse(up.Output);
        Assert.Equal(1, c.Drop("ipv4/reassembly_overlap"));
        Assert.True(c.Drop("ipv4/reassembly_too_big") >= 1, up.Output);
        Assert.True(c.Drop("ipv4/reassembly_evicted") >= 9000, up.Output);
        Assert.True(c.Received["icmp"] >= 2 + 1 + 5, up.Output); // the 8-byte-fragment echo was reassembled and answered
        Assert.Equal(0, c.Drop("ethernet/stack_fault"));
    }

    [Fact]
    public void Usernet_nc_u_sends_stdin_lines_and_prints_the_replies()
    {
        using var ns = TestNamespace.Create("ncu");
        ns.AddTap(Tap, KernelIp + "/24");
        // A kernel UDP server that answers each datagram upper-cased, for a few seconds.
        var server = UsernetProcess.Start(["ip", "netns", "exec", ns.Name, "/usr/bin/python3", "-c", """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((sys.argv[1], 9999)); s.settimeout(20)
print("ready", flush=True)
for _ in range(2):
    d, peer = s.recvfrom(2000); s.sendto(d.upper(), peer)
""", KernelIp]);
        server.WaitForLine("ready", TimeSpan.FromSeconds(10));
        var r = ns.Exec(TimeSpan.FromSeconds(60), "sh", "-c",
            $"printf 'hello\nworld\n' | {string.Join(' ', UsernetCli.Command)} nc --tap {Tap} --ip {StackIp}/24 -u -w 2 {KernelIp} 9999");
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        Assert.Equal("HELLO\nWORLD\n", r.Stdout);
    }

    [Fact]
    public void Usernet_nc_u_to_a_closed_kernel_port_says_connection_refused()
    {
        using var ns = TestNamespace.Create("ncrefused");
        ns.AddTap(Tap, KernelIp + "/24");
        var r = ns.Exec(TimeSpan.FromSeconds(60), "sh", "-c",
            $"printf 'hello\n' | {string.Join(' ', UsernetCli.Command)} nc --tap {Tap} --ip {StackIp}/24 -u -w 3 {KernelIp} 9998");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("Connection refused", r.Stderr);
    }

    [Fact]
    public void Usernet_nc_u_l_prints_what_arrives()
    {
        using var ns = TestNamespace.Create("ncl");
        ns.AddTap(Tap, KernelIp + "/24");
        var listener = ns.StartUsernet("nc", "--tap", Tap, "--ip", StackIp + "/24", "-u", "-l", "7777", "-v");
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!listener.Errors.Contains("listening on") && DateTime.UtcNow < deadline) Thread.Sleep(20);
        Assert.Contains($"listening on udp {StackIp}:7777", listener.Errors);
        var r = Python(ns, """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b"first datagram\n", (sys.argv[1], 7777)); s.sendto(b"second datagram\n", (sys.argv[1], 7777))
""", StackIp);
        Assert.True(r.ExitCode == 0, r.Stderr);
        deadline = DateTime.UtcNow.AddSeconds(10);
        while (!listener.Output.Contains("second datagram") && DateTime.UtcNow < deadline) Thread.Sleep(20);
        Assert.Equal("first datagram\nsecond datagram\n", listener.Output.Replace("\r", ""));
        listener.Terminate(TimeSpan.FromSeconds(10));
    }

    private static long RssKiB(UsernetProcess p)
    {
        var status = File.ReadAllText($"/proc/{p.Process.Id}/status");
        return long.Parse(Regex.Match(status, @"VmRSS:\s+(\d+) kB").Groups[1].Value);
    }

    /// <summary>Writes frames onto the TAP from the kernel's side in one process (AF_PACKET, inside the namespace).</summary>
    private static void Inject(TestNamespace ns, IEnumerable<byte[]> frames)
    {
        var file = Path.GetTempFileName();
        try
        {
            // Length-prefixed frames in a file, so thousands go in one python run.
            using (var f = File.Create(file))
                foreach (var fr in frames) { f.Write(BitConverter.GetBytes((ushort)fr.Length)); f.Write(fr); }
            var r = ns.Exec(TimeSpan.FromSeconds(120), "/usr/bin/python3", "-c", """
import socket, sys, struct, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind((sys.argv[1], 0))
data = open(sys.argv[2], 'rb').read(); i = 0; n = 0
while i < len(data):
    (l,) = struct.unpack_from('<H', data, i); s.send(data[i+2:i+2+l]); i += 2 + l; n += 1
    if n % 200 == 0: time.sleep(0.01)  # let the stack keep up: the tap queue is 1000 frames
""", Tap, file);
            Assert.True(r.ExitCode == 0, r.Stderr);
        }
        finally { File.Delete(file); }
    }
}
