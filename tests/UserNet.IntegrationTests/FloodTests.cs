using System.Text.RegularExpressions;
using UserNet.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace UserNet.IntegrationTests;

/// <summary>
/// Floods against <c>usernet up</c> on a real TAP, inside a namespace each test makes, every frame from the kernel's
/// side: each meets its stack-wide cap (whose counter the test reads), the stack's memory stays bounded, and all the
/// while a real client at another address gets a ping, a UDP echo and a TCP echo answered within a second.
/// The attacker is either the kernel's own sockets bound to a second address (10.85.0.3), or raw frames from an
/// address nobody owns (10.85.0.4), which the stack learns from an ARP request the attacker sends first.
/// </summary>
[Collection("tcp")]
public sealed class FloodTests(ITestOutputHelper log)
{
    private const string Tap = "uf0";
    private const string KernelIp = "10.85.0.1";
    private const string AttackerIp = "10.85.0.3";
    private const string SpoofedIp = "10.85.0.4";
    private const string StackIp = "10.85.0.2";
    private const string StackMac = "02:00:5e:00:85:02";
    private static readonly TimeSpan UpTimeout = TimeSpan.FromSeconds(30);

    // =================================================================== the floods

    [Fact]
    public void An_ACK_flood_to_random_ports_gets_RSTs_at_the_rate_limit_and_a_RST_flood_gets_nothing()
    {
        using var flood = Flood.Start(log, "ackflood");
        var attack = flood.Ns.Start("/usr/bin/python3", "-c", RawTcp, Tap, flood.KernelMac, StackMac, SpoofedIp, StackIp, "ackflood", "30000");
        attack.WaitForLine("flooding", TimeSpan.FromSeconds(30));
        flood.ProbeWhile(attack);
        var m = Regex.Match(attack.Output, @"sent (\d+) rst (\d+) seconds ([\d.]+)");
        Assert.True(m.Success, attack.Output + attack.Errors);
        long rsts = long.Parse(m.Groups[2].Value);
        double seconds = double.Parse(m.Groups[3].Value, System.Globalization.CultureInfo.InvariantCulture);
        // 1000 a second and a burst of 50 (StackLimits' defaults), over the flood and the second the counting goes on.
        Assert.True(rsts <= 50 + 1000 * (seconds + 1.5), $"{rsts} RSTs in {seconds:F1} s");
        Assert.True(rsts >= 100, $"only {rsts} RSTs: the stack should still answer at its rate");

        var c = flood.Stop();
        Assert.True(c.Tcp("resets_rate_limited") >= 15_000, flood.Up.Output);
        Assert.True(c.Drop("tcp/no_connection") >= 50_000, flood.Up.Output); // the ACKs and the RSTs, all counted
    }

    [Fact]
    public void A_SYN_flood_fills_the_half_open_limit_and_is_answered_with_SYN_cookies_RFC4987()
    {
        using var flood = Flood.Start(log, "synflood", "--limit", "tcp-half-open=64");
        var attack = flood.Ns.Start("/usr/bin/python3", "-c", RawTcp, Tap, flood.KernelMac, StackMac, SpoofedIp, StackIp, "synflood", "30000");
        attack.WaitForLine("flooding", TimeSpan.FromSeconds(30));
        flood.ProbeWhile(attack);
        var m = Regex.Match(attack.Output, @"sent (\d+) synacks (\d+)");
        Assert.True(m.Success, attack.Output);
        Assert.True(long.Parse(m.Groups[2].Value) >= 20_000, attack.Output); // every SYN answered, from state or a cookie

        Assert.True(flood.RssGrowthKiB < 64 * 1024, $"RSS grew {flood.RssGrowthKiB} KiB");
        var c = flood.Stop();
        Assert.True(c.Tcp("half_open_limit_reached") >= 20_000, flood.Up.Output);
        Assert.True(c.Tcp("syn_cookies_sent") >= 20_000, flood.Up.Output);
    }

    [Fact]
    public void A_peer_that_opens_many_connections_and_never_reads_meets_its_own_limit_and_others_still_connect()
    {
        using var flood = Flood.Start(log, "zerowin", "--limit", "tcp-connections-per-peer=300",
            "--limit", "tcp-send-buffer=64K", "--limit", "tcp-receive-buffer=64K");
        flood.Ns.Check("ip", "addr", "add", AttackerIp + "/24", "dev", Tap);
        // 300 kernel connections open their initial windows at once: some 3,000 segments in one burst, more than the
        // TAP's queue of 1000 frames, which the kernel then drops on its own side (TX dropped), the probes' among them.
        // A NIC's receive ring sized for the burst is the fair comparison; the stack reads the queue as fast as it can.
        flood.Ns.Check("ip", "link", "set", Tap, "txqueuelen", "20000");
        var attack = flood.Ns.Start("/usr/bin/python3", "-c", NeverReads, StackIp, AttackerIp, "400", "12");
        attack.WaitForLine("connected", TimeSpan.FromSeconds(60));
        Assert.True(attack.Output.Contains("connected 300"), attack.Output); // the rest wait: their SYNs are dropped
        flood.ProbeWhile(attack);
        Assert.Matches(@"sent [1-9]\d*", attack.Output);

        // 300 connections, each holding at most 64 KiB each way, is less than 40 MiB.
        Assert.True(flood.RssGrowthKiB < 96 * 1024, $"RSS grew {flood.RssGrowthKiB} KiB");
        var c = flood.Stop();
        Assert.True(c.Drop("tcp/peer_connection_limit") >= 100, flood.Up.Output);
    }

    [Fact]
    public void Out_of_order_data_into_every_connection_meets_the_stack_limit_and_in_order_data_still_flows()
    {
        // 300 connections, 60 separate ranges of 1000 bytes each, 16 KiB apart: 18,000 buffer blocks of 16 KiB (280 MiB)
        // were it all kept. The default cap (64 MiB, each range charged its bytes and two blocks) keeps about 1,900.
        using var flood = Flood.Start(log, "ooo");
        var attack = flood.Ns.Start("/usr/bin/python3", "-c", RawTcp, Tap, flood.KernelMac, StackMac, SpoofedIp, StackIp, "ooo", "300", "60");
        attack.WaitForLine("flooding", TimeSpan.FromSeconds(60));
        Assert.Contains("established 300", attack.Output);
        flood.ProbeWhile(attack);
        Assert.Contains("ooo sent 18000", attack.Output);

        Assert.True(flood.RssGrowthKiB < 128 * 1024, $"RSS grew {flood.RssGrowthKiB} KiB");
        var c = flood.Stop();
        Assert.True(c.Drop("tcp/out_of_order_limit") >= 10_000, flood.Up.Output);
    }

    [Fact]
    public void A_UDP_flood_to_a_socket_whose_reader_falls_behind_is_dropped_at_its_queue_and_other_sockets_are_served()
    {
        using var flood = Flood.Start(log, "udpflood", "--limit", "udp-receive-queue=8");
        flood.Ns.Check("ip", "addr", "add", AttackerIp + "/24", "dev", Tap);
        var attack = flood.Ns.Start("/usr/bin/python3", "-c", UdpBlast, StackIp, AttackerIp, "8");
        attack.WaitForLine("flooding", TimeSpan.FromSeconds(30));
        flood.ProbeWhile(attack);
        Assert.Matches(@"sent \d{5,}", attack.Output);

        Assert.True(flood.RssGrowthKiB < 64 * 1024, $"RSS grew {flood.RssGrowthKiB} KiB");
        var c = flood.Stop();
        Assert.True(c.Drop("udp/receive_queue_full") >= 1000, flood.Up.Output);
    }

    // =================================================================== the harness

    /// <summary>A namespace with <c>usernet up</c> on its TAP, the stack's RSS sampled throughout.</summary>
    private sealed class Flood : IDisposable
    {
        private readonly ITestOutputHelper _log;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _sampler;
        private long _rssBefore, _rssPeak;

        private Flood(ITestOutputHelper log, TestNamespace ns, UsernetProcess up, string kernelMac)
        {
            _log = log;
            Ns = ns;
            Up = up;
            KernelMac = kernelMac;
            _rssBefore = _rssPeak = RssKiB();
            _sampler = Task.Run(async () =>
            {
                while (!_stop.IsCancellationRequested)
                {
                    try { long r = RssKiB(); if (r > Interlocked.Read(ref _rssPeak)) Interlocked.Exchange(ref _rssPeak, r); }
                    catch (IOException) { return; } // the process is gone
                    await Task.Delay(100).ConfigureAwait(false);
                }
            });
        }

        public TestNamespace Ns { get; }
        public UsernetProcess Up { get; }
        public string KernelMac { get; }
        public long RssGrowthKiB => Interlocked.Read(ref _rssPeak) - _rssBefore;

        public static Flood Start(ITestOutputHelper log, string purpose, params string[] upArgs)
        {
            var ns = TestNamespace.Create(purpose);
            try
            {
                ns.AddTap(Tap, KernelIp + "/24");
                var up = ns.StartUsernet(["up", "--tap", Tap, "--ip", StackIp + "/24", "--mac", StackMac, .. upArgs]);
                up.WaitForLine("usernet: up", UpTimeout);
                var mac = ns.Check("cat", $"/sys/class/net/{Tap}/address").Stdout.Trim();
                var flood = new Flood(log, ns, up, mac);
                // Warm: the first probe JITs the paths the later ones time.
                var warm = flood.Probe();
                Assert.True(warm.ExitCode == 0, warm.Stdout + warm.Stderr);
                flood._rssBefore = flood.RssKiB();
                return flood;
            }
            catch { ns.Dispose(); throw; }
        }

        /// <summary>The real client, from the kernel's own address: one ping, one UDP echo and one TCP echo, each within 1 s.</summary>
        public Shell.Result Probe() => Ns.Exec(TimeSpan.FromSeconds(30), "/usr/bin/python3", "-c", ProbeScript, StackIp);

        /// <summary>Probes every half second for as long as <paramref name="attack"/> runs (at least three times); every probe must pass.</summary>
        public void ProbeWhile(UsernetProcess attack)
        {
            int probes = 0;
            do
            {
                var r = Probe();
                _log.WriteLine($"probe {probes}: {r.Stdout.Trim()} {r.Stderr.Trim()}");
                if (r.ExitCode != 0)
                {
                    // Where the frame went: the TAP's own queue (TX dropped) is the kernel's, not the stack's.
                    var link = Ns.Exec(TimeSpan.FromSeconds(5), "ip", "-s", "link", "show", Tap).Stdout;
                    Assert.Fail($"probe {probes} during the flood failed: {r.Stdout}{r.Stderr}\n{link}");
                }
                probes++;
                Thread.Sleep(500);
            } while (!attack.Process.HasExited || probes < 3);
            Assert.True(attack.Process.WaitForExit(60_000), "the flood did not end");
            attack.Process.WaitForExit();
            _log.WriteLine($"attacker: {attack.Output.Trim()} {attack.Errors.Trim()}");
            Assert.True(attack.Process.ExitCode == 0, attack.Output + attack.Errors);
            Assert.False(Up.Process.HasExited, "usernet died during the flood:\n" + Up.Output);
        }

        /// <summary>Stops usernet and returns its counters (it printed no stack fault).</summary>
        public Counters Stop()
        {
            _log.WriteLine($"RSS {_rssBefore} KiB before, {Interlocked.Read(ref _rssPeak)} KiB at most");
            _stop.Cancel();
            Assert.Equal(0, Up.Terminate(UpTimeout));
            _log.WriteLine(Up.Output);
            var c = Counters.Parse(Up.Output);
            Assert.Equal(0, c.Drop("ethernet/stack_fault"));
            return c;
        }

        private long RssKiB()
        {
            var status = File.ReadAllText($"/proc/{Up.Process.Id}/status");
            var m = Regex.Match(status, @"VmRSS:\s+(\d+) kB");
            if (!m.Success) throw new IOException("no VmRSS: the process is exiting");
            return long.Parse(m.Groups[1].Value);
        }

        public void Dispose()
        {
            _stop.Cancel();
            try { _sampler.Wait(TimeSpan.FromSeconds(5)); } catch (AggregateException) { }
            Ns.Dispose();
        }
    }

    // =================================================================== the scripts (python3, inside the namespace)

    /// <summary>The real client: exits 1 with a reason when anything is not answered within a second.</summary>
    private const string ProbeScript = """
import socket, subprocess, sys, time
ip = sys.argv[1]
out = []
t = time.monotonic()
r = subprocess.run(["ping", "-c", "1", "-W", "1", ip], capture_output=True)
if r.returncode != 0: sys.exit("ping unanswered")
out.append("ping %.1f ms" % ((time.monotonic() - t) * 1000))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1.0)
t = time.monotonic()
s.sendto(b"probe", (ip, 7))
try:
    if s.recv(100) != b"probe": sys.exit("udp echo wrong")
except socket.timeout: sys.exit("udp echo unanswered in 1 s")
out.append("udp %.1f ms" % ((time.monotonic() - t) * 1000))
t = time.monotonic()
try:
    c = socket.create_connection((ip, 7), timeout=1.0)
    c.sendall(b"probe over tcp\n")
    got = b""
    while len(got) < 15:
        b = c.recv(100)
        if not b: break
        got += b
    c.close()
except OSError as e: sys.exit("tcp echo failed: %s" % e)
if got != b"probe over tcp\n": sys.exit("tcp echo wrong: %r" % got)
elapsed = time.monotonic() - t
if elapsed > 1.0: sys.exit("tcp echo took %.2f s" % elapsed)
out.append("tcp %.1f ms" % (elapsed * 1000))
print(", ".join(out))
""";

    /// <summary>Kernel sockets from the attacker's address: N connections to echo that write and never read.</summary>
    private const string NeverReads = """
import socket, sys, time
ip, src, n, hold = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
socks = []
for i in range(n):
    c = socket.socket()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    c.bind((src, 0)); c.setblocking(False)
    try: c.connect((ip, 7))
    except BlockingIOError: pass
    socks.append(c)
    # Fifty at a time: the listener's backlog never fills, so no SYN cookie makes a connection that only we believe in.
    if i % 50 == 49: time.sleep(0.2)
time.sleep(3)  # the handshakes; the SYNs beyond the limit go unanswered and are retried
ok = []
for c in socks:
    try: c.getpeername(); ok.append(c)
    except OSError: pass
print("connected", len(ok), flush=True)
blob = bytes(65536); sent = 0
end = time.monotonic() + hold
while time.monotonic() < end:
    moved = False
    for c in ok:
        try: sent += c.send(blob); moved = True
        except (BlockingIOError, OSError): pass
    if not moved: time.sleep(0.05)
print("sent", sent, flush=True)
""";

    /// <summary>Kernel UDP from the attacker's address: 1000-byte datagrams to discard as fast as they go, for SECONDS.</summary>
    private const string UdpBlast = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((sys.argv[2], 0)); s.setblocking(False)
end = time.monotonic() + float(sys.argv[3]); n = 0; m = bytes(1000)
print("flooding", flush=True)
# Bursts of 200 back to back, 40,000 a second in all: the loop takes each burst in a few batches of frames, faster than
# the reader wakes to take them one by one; the TAP's queue (1000 frames) never fills, so nothing else waits behind.
while time.monotonic() < end:
    for i in range(200):
        try: s.sendto(m, (sys.argv[1], 9)); n += 1
        except BlockingIOError: pass
    time.sleep(0.005)
print("sent", n, flush=True)
""";

    /// <summary>
    /// Raw frames from an address nobody owns (args: tap, kernel MAC, stack MAC, source, stack address, mode, ...).
    /// It teaches the stack its address with an ARP request, then: <c>ackflood N</c> sends N ACKs and N RSTs to random
    /// ports and counts the RSTs that come back; <c>ooo CONNS RANGES</c> completes CONNS handshakes with the discard
    /// service and sends RANGES separate out-of-order segments of 1000 bytes into each; <c>synflood N</c> sends N SYNs to
    /// the echo service from random ports, never completing one, and counts the SYN-ACKs.
    /// </summary>
    private const string RawTcp = """
import socket, struct, sys, time, random, threading
iface, kmac, smac, srcs, dsts, mode = sys.argv[1:7]
kmac = bytes.fromhex(kmac.replace(':', '')); smac = bytes.fromhex(smac.replace(':', ''))
src, dst = socket.inet_aton(srcs), socket.inet_aton(dsts)
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003)); s.bind((iface, 0))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
def csum(b):
    if len(b) % 2: b += b'\0'
    t = sum(struct.unpack('!%dH' % (len(b) // 2), b)); t = (t >> 16) + (t & 0xffff); t += t >> 16
    return ~t & 0xffff
ipid = [0]
def ip(proto, payload):
    ipid[0] = (ipid[0] + 1) & 0xffff
    h = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(payload), ipid[0], 0, 64, proto, 0, src, dst)
    h = h[:10] + struct.pack('!H', csum(h)) + h[12:]
    return smac + kmac + b'\x08\x00' + h + payload
def tcp(sport, dport, seq, ack, flags, data=b'', win=65535, opts=b''):
    h = struct.pack('!HHIIBBHHH', sport, dport, seq & 0xffffffff, ack & 0xffffffff, (5 + len(opts) // 4) << 4, flags, win, 0, 0) + opts
    c = csum(src + dst + struct.pack('!BBH', 0, 6, len(h) + len(data)) + h + data)
    return ip(6, h[:16] + struct.pack('!H', c) + h[18:] + data)
SYN, RST, ACK = 0x02, 0x04, 0x10
# Who-has the stack, tell us: the stack learns our address from its own ARP request's target (RFC 826).
s.send(b'\xff' * 6 + kmac + b'\x08\x06' + struct.pack('!HHBBH6s4s6s4s', 1, 0x0800, 6, 4, 1, kmac, src, b'\0' * 6, dst))
synacks, rsts, stop, isn = {}, [0], [False], {}
def reader():
    s.settimeout(0.2)
    while not stop[0]:
        try: f = s.recv(2048)
        except socket.timeout: continue
        if len(f) >= 42 and f[12:14] == b'\x08\x06' and f[20:22] == b'\x00\x01' and f[38:42] == src:
            # Who-has us: we are at the kernel's MAC (a host answers ARP for its address).
            s.send(f[22:28] + kmac + b'\x08\x06' + struct.pack('!HHBBH6s4s6s4s', 1, 0x0800, 6, 4, 2, kmac, src, f[22:28], f[28:32]))
            continue
        if len(f) < 54 or f[12:14] != b'\x08\x00' or f[23] != 6 or f[30:34] != src: continue
        ihl = (f[14] & 15) * 4; t = f[14 + ihl:]
        sport, dport, seq, ack, off, flags = struct.unpack('!HHIIBB', t[:14])
        if flags & RST: rsts[0] += 1
        elif flags & SYN and flags & ACK and mode == 'synflood': rsts[0] += 1  # counted as SYN-ACKs here
        elif flags & SYN and flags & ACK and dport in isn:
            if dport not in synacks: s.send(tcp(dport, sport, isn[dport] + 1, seq + 1, ACK))  # the handshake's last ACK, at once
            synacks[dport] = seq
threading.Thread(target=reader, daemon=True).start()
time.sleep(0.3)
r = random.Random(5)
if mode == 'ackflood':
    n = int(sys.argv[7]); start = time.monotonic()
    print('flooding', flush=True)
    for i in range(n):
        s.send(tcp(r.randrange(1024, 65536), r.randrange(20000, 65536), r.getrandbits(32), r.getrandbits(32), ACK))
        s.send(tcp(r.randrange(1024, 65536), r.randrange(20000, 65536), r.getrandbits(32), 0, RST))
        if i % 100 == 99: time.sleep(0.01)
    seconds = time.monotonic() - start
    time.sleep(1.0); stop[0] = True
    print('sent', 2 * n, 'rst', rsts[0], 'seconds', '%.2f' % seconds, flush=True)
elif mode == 'synflood':
    n = int(sys.argv[7])
    print('flooding', flush=True)
    for i in range(n):
        s.send(tcp(r.randrange(1024, 65536), 7, r.getrandbits(32), 0, SYN, opts=b'\x02\x04\x05\xb4'))
        if i % 100 == 99: time.sleep(0.01)
    time.sleep(1.0); stop[0] = True
    print('sent', n, 'synacks', rsts[0], flush=True)
elif mode == 'ooo':
    conns, ranges = int(sys.argv[7]), int(sys.argv[8])
    isn.update({20000 + i: r.getrandbits(32) for i in range(conns)})
    for attempt in range(3):
        for i, (p, q) in enumerate(list(isn.items())):
            # MSS 1460 and window scale 7: the stack's window is its whole 1 MiB buffer, not 64 KiB. Twenty at a time,
            # so the listener's backlog never fills (SYN cookies would lose the window scale without timestamps).
            if p not in synacks: s.send(tcp(p, 9, q, 0, SYN, opts=b'\x02\x04\x05\xb4\x01\x03\x03\x07'))
            if i % 20 == 19: time.sleep(0.02)
        time.sleep(1.0)
        if len(synacks) == conns: break
    est = [p for p in isn if p in synacks]
    print('established', len(est), flush=True)
    print('flooding', flush=True)
    data = bytes(1000); sent = 0
    for k in range(ranges):
        for p in est:
            # The first 1000 bytes missing, then one segment every 16 KiB: each a range of its own, in a buffer block of its own.
            s.send(tcp(p, 9, isn[p] + 1 + 1000 + 16384 * k, synacks[p] + 1, ACK, data)); sent += 1
        time.sleep(0.05)
    time.sleep(2.0)  # the connections stay while the test probes
    stop[0] = True
    print('ooo sent', sent, flush=True)
""";
}
