using System.Text.RegularExpressions;
using UserNet.TestSupport;
using UserNet.Wire;
using Xunit;

namespace UserNet.IntegrationTests;

/// <summary>
/// RFC 4987 against the Linux kernel on a real TAP, inside a namespace the test makes: 20,000 spoofed SYNs, written as
/// raw frames from the kernel's side, fill the echo service's backlog while ten kernel clients connect through SYN
/// cookies and get their bytes back.
/// </summary>
[Collection("tcp")]
public sealed class SynFloodTests
{
    private const string Tap = "ut0";
    private const string KernelIp = "10.84.0.1";
    private const string StackIp = "10.84.0.2";
    private const string StackMac = "02:00:5e:00:00:02";
    private const int Spoofed = 20_000;
    private static readonly TimeSpan UpTimeout = TimeSpan.FromSeconds(30);

    [Fact]
    public void Ten_kernel_clients_echo_through_a_flood_of_20000_spoofed_SYNs()
    {
        using var ns = TestNamespace.Create("synflood");
        ns.AddTap(Tap, KernelIp + "/24");
        var up = ns.StartUsernet("up", "--tap", Tap, "--ip", StackIp + "/24", "--mac", StackMac);
        up.WaitForLine("usernet: up", UpTimeout);
        var kernelMac = MacAddress.Parse(ns.Check("cat", $"/sys/class/net/{Tap}/address").Stdout.Trim());
        Assert.Equal(0, ns.Exec(TimeSpan.FromSeconds(30), "ping", "-c", "1", "-W", "2", StackIp).ExitCode);
        long rssBefore = RssKiB(up);

        var frames = Path.GetTempFileName();
        UsernetProcess? flood = null;
        var outputs = Path.Combine(Path.GetTempPath(), $"usernet-synflood-{Guid.NewGuid():N}");
        Directory.CreateDirectory(outputs);
        try
        {
            WriteFlood(frames, kernelMac);
            // The flood runs on its own; the clients start once it has filled the backlog (128) many times over.
            flood = UsernetProcess.Start(["ip", "netns", "exec", ns.Name, "/usr/bin/python3", "-c", """
import socket, sys, struct, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind((sys.argv[1], 0))
data = open(sys.argv[2], 'rb').read(); i = 0; n = 0
while i < len(data):
    (l,) = struct.unpack_from('<H', data, i); s.send(data[i+2:i+2+l]); i += 2 + l; n += 1
    if n == 2000: print("flooding", flush=True)
    if n % 100 == 0: time.sleep(0.01)  # about 10,000 a second: the tap queue holds 1000 frames
print("sent", n, flush=True)
""", Tap, frames]);
            flood.WaitForLine("flooding", TimeSpan.FromSeconds(30));

            var clients = ns.Exec(TimeSpan.FromSeconds(30), "sh", "-c",
                $"for i in 1 2 3 4 5 6 7 8 9 10; do (printf 'client %s says hello\\n' $i | nc -N -w 10 {StackIp} 7 > {outputs}/$i) & done; wait");
            Assert.True(clients.ExitCode == 0, clients.Stderr);
            var stillFlooding = !flood.Process.HasExited;

            Assert.True(flood.Process.WaitForExit(30_000), "the flood did not end");
            flood.Process.WaitForExit(); // and its output is all read
            Assert.Contains($"sent {Spoofed}", flood.Output);
            for (int i = 1; i <= 10; i++)
                Assert.Equal($"client {i} says hello\n", File.ReadAllText(Path.Combine(outputs, i.ToString())));
            Assert.True(stillFlooding, "the clients finished while the flood still ran");

            long rssAfter = RssKiB(up);
            Assert.True(rssAfter - rssBefore < 32 * 1024, $"RSS grew from {rssBefore} KiB to {rssAfter} KiB");
        }
        finally
        {
            try { if (flood is { Process.HasExited: false }) flood.Process.Kill(); } catch (InvalidOperationException) { }
            File.Delete(frames);
            Directory.Delete(outputs, recursive: true);
        }

        Assert.Equal(0, up.Terminate(UpTimeout));
        var sentMatch = Regex.Match(up.Output, @"tcp syn_cookies_sent: (\d+)");
        var acceptedMatch = Regex.Match(up.Output, @"tcp syn_cookies_accepted: (\d+)");
        Assert.True(sentMatch.Success && acceptedMatch.Success, up.Output);
        var c = Counters.Parse(up.Output);
        // Every SYN of the flood that reached the stack beyond the backlog (128) got a cookie, not state; the clients'
        // segments are the rest of what TCP received. The tap may drop some of the flood when the stack falls behind.
        long sent = long.Parse(sentMatch.Groups[1].Value);
        Assert.True(sent >= 2000 && sent >= c.Received["tcp"] - 128 - 100, up.Output);
        Assert.True(long.Parse(acceptedMatch.Groups[1].Value) >= 10, up.Output); // every client came in through one
        Assert.Equal(0, c.Drop("ethernet/stack_fault"));
        // Nobody answers ARP for the spoofed addresses: the stack asks a bounded number of times and drops what waits.
        Assert.True(c.Sent["arp"] < 5000, up.Output);
    }

    /// <summary>
    /// SYNs to the echo port from 200 addresses of the namespace's own subnet that nobody has (10.84.0.10 to .209),
    /// 100 source ports each, in a file of length-prefixed frames for the sender.
    /// </summary>
    private static void WriteFlood(string path, MacAddress kernelMac)
    {
        var stackMac = MacAddress.Parse(StackMac);
        var stackIp = Ipv4Address.Parse(StackIp);
        var frame = new byte[14 + 20 + 24];
        using var f = File.Create(path);
        for (int i = 0; i < Spoofed; i++)
        {
            var src = new Ipv4Address(10, 84, 0, (byte)(10 + i % 200));
            ushort port = (ushort)(20000 + i / 200);
            EthernetFrame.Write(frame, stackMac, kernelMac, EtherType.Ipv4);
            var tcp = frame.AsSpan(34);
            int hl = TcpSegment.WriteHeader(tcp, port, 7, unchecked((uint)i * 2654435761u), 0, TcpFlags.Syn, 64240, new TcpOptions { Mss = 1460 });
            new TcpSegment(tcp[..hl]).UpdateChecksum(src, stackIp);
            Ipv4Header.Write(frame.AsSpan(14), src, stackIp, IpProtocol.Tcp, hl, (ushort)i);
            f.Write(BitConverter.GetBytes((ushort)(34 + hl)));
            f.Write(frame, 0, 34 + hl);
        }
    }

    private static long RssKiB(UsernetProcess p)
    {
        var status = File.ReadAllText($"/proc/{p.Process.Id}/status");
        return long.Parse(Regex.Match(status, @"VmRSS:\s+(\d+) kB").Groups[1].Value);
    }
}
