using UserNet.TestSupport;
using System.Security.Cryptography;
using Xunit;

namespace UserNet.IntegrationTests;

/// <summary>TCP against the Linux kernel's TCP on a real TAP, inside a namespace each test makes.</summary>
[Collection("tcp")]
public sealed class TcpKernelTests
{
    private const string Tap = "ut0";
    private const string KernelIp = "10.83.0.1";
    private const string StackIp = "10.83.0.2";
    private static readonly TimeSpan UpTimeout = TimeSpan.FromSeconds(30);
    private static readonly Lazy<string> Source100M = new(() => MakeSource(100 << 20));

    private static string MakeSource(int size)
    {
        var path = Path.Combine(Path.GetTempPath(), $"usernet-src-{size}-{Environment.ProcessId}");
        if (!File.Exists(path) || new FileInfo(path).Length != size)
        {
            var data = new byte[size];
            new Random(100).NextBytes(data);
            File.WriteAllBytes(path, data);
        }
        return path;
    }

    private static string Sha256(string path)
    {
        using var f = File.OpenRead(path);
        return Convert.ToHexString(SHA256.HashData(f));
    }

    private static TestNamespace Namespace(string purpose, bool lossy = false)
    {
        var ns = TestNamespace.Create(purpose);
        try
        {
            ns.AddTap(Tap, KernelIp + "/24");
            if (lossy)
            {
                // 2% random loss each way on the kernel's side of the TAP (no netem here; nftables can do it).
                var rules = $$"""
table inet lossy {
  chain in { type filter hook input priority 0; iifname "{{Tap}}" numgen random mod 100 < 2 drop; }
  chain out { type filter hook output priority 0; oifname "{{Tap}}" numgen random mod 100 < 2 drop; }
}
""";
                var file = Path.GetTempFileName();
                File.WriteAllText(file, rules);
                try { ns.Check("nft", "-f", file); } finally { File.Delete(file); }
            }
            return ns;
        }
        catch { ns.Dispose(); throw; }
    }

    private static string Usernet => string.Join(' ', UsernetCli.Command);

    /// <summary>
    /// With offloads (the default) the TAP carries the virtio-net header and the stack sends super-segments the kernel
    /// cuts, and takes the kernel's; without (<c>--no-offload</c>) every frame is at most the MTU. Both must deliver.
    /// </summary>
    [Theory]
    [InlineData(false, true)]
    [InlineData(false, false)]
    [InlineData(true, true)]
    [InlineData(true, false)]
    public void Hundred_megabytes_from_the_stack_to_the_kernel_arrive_identical(bool lossy, bool offload)
    {
        using var ns = Namespace("tcp2kernel", lossy);
        var received = Path.GetTempFileName();
        try
        {
            var kernel = UsernetProcess.Start(["ip", "netns", "exec", ns.Name, "sh", "-c", $"nc -l -N {KernelIp} 5000 > {received}"]);
            WaitForListen(ns, 5000);
            var r = ns.Exec(TimeSpan.FromSeconds(240), "sh", "-c",
                $"{Usernet} nc --tap {Tap} --ip {StackIp}/24 {(offload ? "" : "--no-offload ")}-v {KernelIp} 5000 < {Source100M.Value}");
            Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
            Assert.True(kernel.Process.WaitForExit(60_000));
            Assert.Equal(100L << 20, new FileInfo(received).Length);
            Assert.Equal(Sha256(Source100M.Value), Sha256(received));
            // The counters at the end say whether the kernel cut our super-segments.
            Assert.Equal(offload, r.Stderr.Contains("tcp super_segments_sent:"));
        }
        finally { File.Delete(received); }
    }

    [Theory]
    [InlineData(false, true)]
    [InlineData(false, false)]
    [InlineData(true, true)]
    [InlineData(true, false)]
    public void Hundred_megabytes_from_the_kernel_to_the_stack_arrive_identical(bool lossy, bool offload)
    {
        using var ns = Namespace("kernel2tcp", lossy);
        var received = Path.GetTempFileName();
        try
        {
            var stack = UsernetProcess.Start(["ip", "netns", "exec", ns.Name, "sh", "-c",
                $"{Usernet} nc --tap {Tap} --ip {StackIp}/24 {(offload ? "" : "--no-offload ")}-l 5001 -v > {received}"]);
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (!stack.Errors.Contains("listening on") && DateTime.UtcNow < deadline) Thread.Sleep(20);
            Assert.Contains("listening on tcp", stack.Errors);
            var r = ns.Exec(TimeSpan.FromSeconds(240), "sh", "-c", $"nc -N {StackIp} 5001 < {Source100M.Value}");
            Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
            Assert.True(stack.Process.WaitForExit(60_000), stack.Errors);
            Assert.Equal(0, stack.Process.ExitCode);
            Assert.Equal(Sha256(Source100M.Value), Sha256(received));
            // With offloads the kernel's TCP sees a TAP that takes TSO, and sends us super-segments.
            Assert.Equal(offload, stack.Errors.Contains("tcp super_segments_received:"));
        }
        finally { File.Delete(received); }
    }

    /// <summary>
    /// The kernel's view of the TAP once we hold it with offloads: TSO and checksum offload on (what the README says
    /// `ethtool -k` shows); without them, off.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Ethtool_shows_the_offloads_the_stack_asked_for(bool offload)
    {
        using var ns = Namespace("ethtool");
        var up = ns.StartUsernet(offload ? ["up", "--tap", Tap, "--ip", StackIp + "/24"] : ["up", "--tap", Tap, "--ip", StackIp + "/24", "--no-offload"]);
        var line = up.WaitForLine("usernet: up", UpTimeout);
        Assert.Contains(offload ? "offloads tso4,csum" : "offloads off", line);
        var k = ns.Check("ethtool", "-k", Tap).Stdout;
        string on = offload ? "on" : "off";
        Assert.Matches($@"tcp-segmentation-offload: {on}", k);
        Assert.Matches($@"tx-checksumming: {on}", k);
        Assert.Equal(0, up.Terminate(UpTimeout));
        // Let go, the TAP is as it was: its next holder may read plain frames, which TSO would break.
        Assert.Matches("tcp-segmentation-offload: off", ns.Check("ethtool", "-k", Tap).Stdout);
    }

    /// <summary>
    /// Everything at once: a 500 MB bulk transfer to the discard service, a flood ping (`ping -f`: the next request
    /// as soon as a reply comes) and UDP echo in lock-step, all from the kernel. The loop serves them in turn; no ping
    /// and no datagram may be lost, and the transfer must complete.
    /// </summary>
    [Fact]
    public async Task A_ping_flood_UDP_echo_and_a_bulk_transfer_at_once_lose_no_ping()
    {
        using var ns = Namespace("mixed");
        var up = ns.StartUsernet("up", "--tap", Tap, "--ip", StackIp + "/24");
        up.WaitForLine("usernet: up", UpTimeout);
        var bulk = ns.Start("sh", "-c", $"cat {Source100M.Value} {Source100M.Value} {Source100M.Value} {Source100M.Value} {Source100M.Value} | nc -N {StackIp} 9");
        Thread.Sleep(100); // the transfer is under way
        var ping = Task.Run(() => ns.Exec(TimeSpan.FromSeconds(120), "ping", "-f", "-c", "3000", "-W", "2", StackIp));
        var udp = Task.Run(() => ns.Exec(TimeSpan.FromSeconds(120), "/usr/bin/python3", "-c", """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
ok = 0
for i in range(2000):
    m = b"mixed %d " % i + bytes(300)
    s.sendto(m, (sys.argv[1], 7))
    try:
        if s.recv(2048) == m: ok += 1
    except socket.timeout: pass
print(ok)
""", StackIp));
        var p = await ping;
        Assert.True(p.ExitCode == 0, p.Stdout + p.Stderr);
        Assert.Contains("3000 packets transmitted, 3000 received, 0% packet loss", p.Stdout);
        var u = await udp;
        Assert.True(u.ExitCode == 0, u.Stderr);
        Assert.Equal("2000", u.Stdout.Trim());
        Assert.True(bulk.Process.WaitForExit(120_000), "the bulk transfer did not end");
        Assert.Equal(0, bulk.Process.ExitCode);
        Assert.Equal(0, up.Terminate(UpTimeout));
        Assert.Contains("tcp super_segments_received:", up.Output); // the bulk came as the kernel's TSO
    }

    [Fact]
    public void The_echo_service_returns_4_MiB_intact_while_the_client_is_still_sending()
    {
        using var ns = Namespace("tcpecho");
        var up = ns.StartUsernet("up", "--tap", Tap, "--ip", StackIp + "/24");
        up.WaitForLine("usernet: up", UpTimeout);
        // The client reads in a second thread while it writes, so the echo flows back before the sending ends.
        var r = ns.Exec(TimeSpan.FromSeconds(120), "/usr/bin/python3", "-c", """
import socket, sys, threading, hashlib, random
data = random.Random(4).randbytes(4 << 20)
s = socket.create_connection((sys.argv[1], 7), timeout=30)
got = bytearray(); first_back_at = []
def reader():
    while True:
        b = s.recv(1 << 16)
        if not b: return
        if not first_back_at: first_back_at.append(sent[0])
        got.extend(b)
sent = [0]
t = threading.Thread(target=reader); t.start()
for i in range(0, len(data), 65536):
    s.sendall(data[i:i+65536]); sent[0] = i + 65536
s.shutdown(socket.SHUT_WR); t.join()
print(len(got), hashlib.sha256(got).hexdigest() == hashlib.sha256(data).hexdigest(), first_back_at[0] < len(data))
""", StackIp);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Equal($"{4 << 20} True True", r.Stdout.Trim());
        Assert.Equal(0, up.Terminate(UpTimeout));
    }

    [Fact]
    public void Three_hundred_short_connections_in_a_row_all_succeed()
    {
        using var ns = Namespace("tcp300");
        var up = ns.StartUsernet("up", "--tap", Tap, "--ip", StackIp + "/24");
        up.WaitForLine("usernet: up", UpTimeout);
        var r = ns.Exec(TimeSpan.FromSeconds(120), "/usr/bin/python3", "-c", """
import socket, sys
ok = 0
for i in range(300):
    s = socket.create_connection((sys.argv[1], 7), timeout=5)
    msg = b"connection %d\n" % i
    s.sendall(msg); s.shutdown(socket.SHUT_WR)
    back = b""
    while True:
        b = s.recv(100)
        if not b: break
        back += b
    s.close()
    ok += back == msg
print(ok)
""", StackIp);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Equal("300", r.Stdout.Trim());
        Assert.Equal(0, up.Terminate(UpTimeout));
        var c = Counters.Parse(up.Output);
        Assert.Equal(0, c.Drop("ethernet/stack_fault"));
    }

    [Fact]
    public void Connecting_to_a_closed_port_is_refused_on_both_sides()
    {
        using var ns = Namespace("tcprefused");
        var up = ns.StartUsernet("up", "--tap", Tap, "--ip", StackIp + "/24", "--serve", "none");
        up.WaitForLine("usernet: up", UpTimeout);
        var kernel = ns.Exec(TimeSpan.FromSeconds(30), "/usr/bin/python3", "-c", """
import socket, sys
try:
    socket.create_connection((sys.argv[1], 7), timeout=5); print("connected")
except ConnectionRefusedError:
    print("refused")
""", StackIp);
        Assert.Equal("refused", kernel.Stdout.Trim());
        up.Terminate(UpTimeout);
        Assert.True(Counters.Parse(up.Output).Drop("tcp/no_connection") >= 1, up.Output);

        var stack = ns.Exec(TimeSpan.FromSeconds(30), "sh", "-c", $"echo hi | {Usernet} nc --tap {Tap} --ip {StackIp}/24 {KernelIp} 5999");
        Assert.Equal(1, stack.ExitCode);
        Assert.Contains("Connection refused", stack.Stderr);
    }

    [Fact]
    public void The_kernel_closing_first_and_the_stack_closing_first_both_end_cleanly()
    {
        using var ns = Namespace("tcpclose");
        // Kernel closes first: it sends, half-closes, and reads the stack's reply to the end.
        var server = UsernetProcess.Start(["ip", "netns", "exec", ns.Name, "sh", "-c", $"printf 'from the stack\\n' | {Usernet} nc --tap {Tap} --ip {StackIp}/24 -l 5002 -v"]);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!server.Errors.Contains("listening on") && DateTime.UtcNow < deadline) Thread.Sleep(20);
        var k = ns.Exec(TimeSpan.FromSeconds(30), "sh", "-c", $"printf 'from the kernel\\n' | nc -N {StackIp} 5002");
        Assert.Equal(0, k.ExitCode);
        Assert.Equal("from the stack\n", k.Stdout);
        Assert.True(server.Process.WaitForExit(30_000));
        Assert.Equal(0, server.Process.ExitCode);
        Assert.Equal("from the kernel\n", server.Output);

        // Stack closes first: it sends and half-closes at once; the kernel reads to the end, then answers and closes.
        var kernel = UsernetProcess.Start(["ip", "netns", "exec", ns.Name, "/usr/bin/python3", "-c", """
import socket, sys
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); l.bind((sys.argv[1], 5003)); l.listen(1)
print("ready", flush=True)
c, _ = l.accept(); got = b""
while True:
    b = c.recv(100)
    if not b: break
    got += b
c.sendall(b"got " + got); c.close(); print(got.decode().strip(), flush=True)
""", KernelIp]);
        kernel.WaitForLine("ready", TimeSpan.FromSeconds(10));
        var s = ns.Exec(TimeSpan.FromSeconds(30), "sh", "-c", $"printf 'stack first\\n' | {Usernet} nc --tap {Tap} --ip {StackIp}/24 {KernelIp} 5003");
        Assert.True(s.ExitCode == 0, s.Stderr);
        Assert.Equal("got stack first\n", s.Stdout);
        Assert.True(kernel.Process.WaitForExit(10_000));
        Assert.Contains("stack first", kernel.Output);
    }

    /// <summary>Waits until something listens on the kernel's TCP port (ss, from iproute2).</summary>
    private static void WaitForListen(TestNamespace ns, int port)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            if (ns.Exec(TimeSpan.FromSeconds(10), "ss", "-ltn").Stdout.Contains($":{port} ")) return;
            Thread.Sleep(20);
        }
        throw new TimeoutException($"nothing listens on {port}");
    }
}
