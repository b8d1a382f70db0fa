using System.CommandLine;
using System.Diagnostics;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using UserNet.Core;
using UserNet.Stack;
using UserNet.Devices;
using UserNet.Hosting;
using UserNet.Services;
using UserNet.Tcp;
using UserNet.Sockets;
using UserNet.Tracing;
using UserNet.Wire;

namespace UserNet.Cli;

/// <summary>
/// <c>usernet demo</c>: as root, a namespace of its own with a TAP, the stack on it with tracing, the kernel pinging
/// the stack and the stack pinging the kernel; the namespace is removed afterwards, also on Ctrl-C or failure.
/// Without root or /dev/net/tun, the same exchange between two stacks on an in-memory link.
/// </summary>
internal static class DemoCommand
{
    private const string TapName = "utap0";
    private static readonly Ipv4Subnet KernelAddress = Ipv4Subnet.Parse("10.77.0.1/24");
    private static readonly Ipv4Subnet StackAddress = Ipv4Subnet.Parse("10.77.0.2/24");

    public static Command Create()
    {
        var inside = new Option<string?>("--inside-namespace") { Hidden = true };
        var memory = new Option<bool>("--memory") { Description = "run on the in-memory link even when a TAP could be had" };
        var cmd = new Command("demo", "show the stack end to end: kernel pings the stack, the stack pings the kernel");
        cmd.Add(inside);
        cmd.Add(memory);
        cmd.SetAction(async (p, ct) =>
        {
            if (p.GetValue(inside) is { } ns) return await InsideNamespaceAsync(ns);
            if (p.GetValue(memory)) return await InMemoryAsync("asked for with --memory");
            var why = WhyNoTap();
            if (why is not null) return await InMemoryAsync(why);
            return await WithNamespaceAsync();
        });
        return cmd;
    }

    private static string? WhyNoTap()
    {
        if (!OperatingSystem.IsLinux()) return "not Linux";
        if (Environment.UserName != "root" && Tmds.Linux.LibC.geteuid() != 0) return "not running as root";
        if (!File.Exists("/dev/net/tun")) return "/dev/net/tun is missing";
        if (FindOnPath("ip") is null) return "the ip command (iproute2) is missing";
        return null;
    }

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin").Split(':')
            .Append("/usr/sbin").Append("/sbin")
            .Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);

    /// <summary>Outer half: make the namespace, run the inner half inside it as a whole process, always clean up.</summary>
    private static async Task<int> WithNamespaceAsync()
    {
        var ns = $"usernet-demo-{Environment.ProcessId}";
        Say($"creating network namespace {ns} (removed again when the demo ends)");
        Run("ip", "netns", "add", ns);
        Process? child = null;
        void Cleanup()
        {
            try { if (child is { HasExited: false }) child.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            RunQuiet("ip", "netns", "del", ns);
        }
        var (stop, regs) = Signals.OnTermination();
        using var _ = regs;
        using var __ = stop.Token.Register(Cleanup);
        try
        {
            var (exe, prefix) = SelfCommand();
            var psi = new ProcessStartInfo("ip") { UseShellExecute = false };
            foreach (var a in new[] { "netns", "exec", ns, exe }.Concat(prefix).Concat(["demo", "--inside-namespace", ns]))
                psi.ArgumentList.Add(a);
            child = Process.Start(psi)!;
            await child.WaitForExitAsync(stop.Token);
            return child.ExitCode;
        }
        catch (OperationCanceledException)
        {
            Say("interrupted");
            return ExitCodes.Error;
        }
        finally
        {
            Cleanup();
            Say($"removed network namespace {ns}");
        }
    }

    /// <summary>How to start this same program again: the apphost directly, or dotnet with our dll.</summary>
    private static (string Exe, string[] Prefix) SelfCommand()
    {
        var exe = Environment.ProcessPath!;
        return Path.GetFileNameWithoutExtension(exe) == "dotnet"
            ? (exe, [typeof(DemoCommand).Assembly.Location])
            : (exe, []);
    }

    /// <summary>Inner half, running inside the namespace: TAP, stack with trace, pings both ways.</summary>
    private static async Task<int> InsideNamespaceAsync(string ns)
    {
        Run("ip", "link", "set", "lo", "up");
        Run("ip", "tuntap", "add", "dev", TapName, "mode", "tap");
        Run("ip", "link", "set", TapName, "up");
        Run("ip", "addr", "add", KernelAddress.ToString(), "dev", TapName);
        Say($"kernel side: {TapName} {KernelAddress}; stack side: {StackAddress}");

        using var device = TapDevice.Open(TapName);
        var trace = new MutableObserver(new TextTracer(Console.Out, DateTime.Now, "  trace "));
        var options = new StackOptions { Address = StackAddress, Mtu = device.Mtu, Name = TapName, Observer = trace };
        await using var host = new StackHost(device, options);
        await host.StartAsync();
        Console.WriteLine($"usernet: up on {TapName} ip {StackAddress} mac {host.Mac} mtu {device.Mtu}");

        Say($"the kernel pings the stack ({StackAddress.Address}) three times:");
        int kernelReplies = 0;
        using (var ping = new Ping())
        {
            for (int i = 0; i < 3; i++)
            {
                var r = await ping.SendPingAsync(StackAddress.Address.ToIPAddress(), TimeSpan.FromSeconds(2), new byte[56]);
                if (r.Status == IPStatus.Success)
                {
                    kernelReplies++;
                    Say($"kernel got a reply from {r.Address}: time={r.RoundtripTime} ms");
                }
                else Say($"kernel got no reply: {r.Status}");
            }
        }

        Say($"the stack pings the kernel ({KernelAddress.Address}):");
        int code = await PingCommand.RunAsync(host, KernelAddress.Address, 3, TimeSpan.FromMilliseconds(200), 56,
            TimeSpan.FromSeconds(2), quiet: false, Console.Out, CancellationToken.None);

        Say($"a kernel UDP socket talks to the stack's echo service ({StackAddress.Address}:7), small and fragmented:");
        bool udpOk;
        bool tcpOk;
        await using (await StackServices.StartAsync(host, ["echo"]))
        {
            udpOk = await KernelUdpEchoAsync(StackAddress.Address, 5) & await KernelUdpEchoAsync(StackAddress.Address, 3000);
            Say($"a kernel TCP socket connects to the stack's echo service ({StackAddress.Address}:7):");
            tcpOk = await KernelTcpEchoAsync(StackAddress.Address);
        }
        Say($"a kernel HttpClient asks ASP.NET Core, served by the stack through UserNet.AspNetCore (http://{StackAddress.Address}/):");
        bool httpOk;
        await using (await HttpService.StartAsync(host, HttpService.DefaultPort))
        {
            using var kernelHttp = new HttpClient { Timeout = TimeSpan.FromSeconds(20) };
            httpOk = await HttpStepAsync(kernelHttp, StackAddress.Address, trace);
        }
        await host.DisposeAsync();
        Say("stack counters:");
        Console.Write(host.Counters.Format());
        bool ok = kernelReplies == 3 && code == ExitCodes.Ok && udpOk && tcpOk && httpOk;
        Say(ok ? "demo passed: both directions answered" : "demo FAILED: see above");
        return ok ? ExitCodes.Ok : ExitCodes.NoReply;
    }

    /// <summary>Sends one datagram of <paramref name="size"/> bytes from a kernel UDP socket to the echo port and checks the echo.</summary>
    private static async Task<bool> KernelUdpEchoAsync(Ipv4Address stack, int size)
    {
        using var kernel = new UdpClient(new IPEndPoint(IPAddress.Any, 0));
        var data = new byte[size];
        for (int i = 0; i < size; i++) data[i] = (byte)('a' + i % 26);
        await kernel.SendAsync(data, new IPEndPoint(stack.ToIPAddress(), StackServices.EchoPort));
        var receive = kernel.ReceiveAsync();
        if (await Task.WhenAny(receive, Task.Delay(2000)) != receive) { Say($"udp echo of {size} bytes: no answer"); return false; }
        bool same = receive.Result.Buffer.AsSpan().SequenceEqual(data);
        Say($"udp echo of {size} bytes from {receive.Result.RemoteEndPoint}: {(same ? "intact" : "CORRUPTED")}");
        return same;
    }

    /// <summary>Connects a kernel TCP socket to the echo port, sends 100 KB, half-closes, and checks what comes back.</summary>
    private static async Task<bool> KernelTcpEchoAsync(Ipv4Address stack)
    {
        using var kernel = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await kernel.ConnectAsync(new IPEndPoint(stack.ToIPAddress(), StackServices.EchoPort), cts.Token);
            var data = new byte[100_000];
            new Random(5).NextBytes(data);
            var receive = Task.Run(async () =>
            {
                var back = new MemoryStream();
                var buf = new byte[65536];
                int n;
                while ((n = await kernel.ReceiveAsync(buf, cts.Token)) > 0) back.Write(buf, 0, n);
                return back.ToArray();
            });
            await kernel.SendAsync(data, cts.Token);
            kernel.Shutdown(SocketShutdown.Send);
            var echoed = await receive;
            bool same = echoed.AsSpan().SequenceEqual(data);
            Say($"tcp echo of {data.Length} bytes: {(same ? "intact" : "CORRUPTED")}, then both sides closed");
            return same;
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
            Say($"tcp echo failed: {e.Message}");
            return false;
        }
    }

    /// <summary>Two stacks on an in-memory link, each pinging the other.</summary>
    private static async Task<int> InMemoryAsync(string why)
    {
        Say($"no TAP here ({why}): running the same exchange between two stacks on an in-memory link");
        var (a, b) = MemoryLink.CreatePair();
        var traceA = new MutableObserver(new TextTracer(Console.Out, DateTime.Now, "  a "));
        var traceB = new MutableObserver(new TextTracer(Console.Out, DateTime.Now, "  b "));
        var optA = new StackOptions { Address = KernelAddress, Name = "stack-a", Observer = traceA };
        var optB = new StackOptions { Address = StackAddress, Name = "stack-b", Observer = traceB };
        await using var hostA = new StackHost(a, optA);
        await using var hostB = new StackHost(b, optB);
        await hostA.StartAsync();
        await hostB.StartAsync();
        Say($"stack a {hostA.Address} mac {hostA.Mac}; stack b {hostB.Address} mac {hostB.Mac}");
        Say("a pings b:");
        int ab = await PingCommand.RunAsync(hostA, StackAddress.Address, 3, TimeSpan.FromMilliseconds(200), 56, TimeSpan.FromSeconds(2), false, Console.Out, CancellationToken.None);
        Say("b pings a:");
        int ba = await PingCommand.RunAsync(hostB, KernelAddress.Address, 3, TimeSpan.FromMilliseconds(200), 56, TimeSpan.FromSeconds(2), false, Console.Out, CancellationToken.None);
        Say("a sends a datagram to b's UDP echo service:");
        bool udpOk;
        await using (await StackServices.StartAsync(hostB, ["echo"]))
        {
            using var sock = await UdpSocket.BindAsync(hostA);
            var msg = System.Text.Encoding.ASCII.GetBytes("hello over the in-memory link");
            await sock.SendToAsync(msg, new IPEndPoint(StackAddress.Address.ToIPAddress(), StackServices.EchoPort));
            var buf = new byte[100];
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            try
            {
                var r = await sock.ReceiveFromAsync(buf, cts.Token);
                udpOk = buf.AsSpan(0, r.ReceivedBytes).SequenceEqual(msg);
                Say($"echo from {r.RemoteEndPoint}: \"{System.Text.Encoding.ASCII.GetString(buf, 0, r.ReceivedBytes)}\"");
            }
            catch (OperationCanceledException) { udpOk = false; Say("no udp echo"); }
        }
        Say("a opens a TCP connection to b's echo service, sends 100 KB, half-closes and reads it all back:");
        bool tcpOk;
        await using (await StackServices.StartAsync(hostB, ["echo"]))
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try
            {
                await using var conn = await TcpConnection.ConnectAsync(hostA, new IPEndPoint(StackAddress.Address.ToIPAddress(), StackServices.EchoPort), cancellationToken: cts.Token);
                var data = new byte[100_000];
                new Random(5).NextBytes(data);
                var reading = Task.Run(async () =>
                {
                    using var back = new MemoryStream();
                    await conn.Input.CopyToAsync(back, cts.Token);
                    return back.ToArray();
                });
                await conn.Output.WriteAsync(data, cts.Token);
                await conn.ShutdownSendAsync();
                tcpOk = (await reading).AsSpan().SequenceEqual(data);
                Say($"tcp echo of {data.Length} bytes over {conn.LocalEndPoint} -> {conn.RemoteEndPoint}: {(tcpOk ? "intact" : "CORRUPTED")}");
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException)
            {
                tcpOk = false;
                Say($"tcp echo failed: {e.Message}");
            }
        }
        Say($"a's HttpClient (through StackHttp) asks ASP.NET Core served by b through UserNet.AspNetCore (http://{StackAddress.Address}/):");
        bool httpOk;
        await using (await HttpService.StartAsync(hostB, HttpService.DefaultPort))
        {
            using var stackHttp = new HttpClient(StackHttp.CreateHandler(hostA)) { Timeout = TimeSpan.FromSeconds(20) };
            httpOk = await HttpStepAsync(stackHttp, StackAddress.Address, traceA, traceB);
        }
        bool ok = ab == ExitCodes.Ok && ba == ExitCodes.Ok && udpOk && tcpOk && httpOk;
        Say(ok ? "demo passed (in memory): both directions answered" : "demo FAILED: see above");
        return ok ? ExitCodes.Ok : ExitCodes.NoReply;
    }

    /// <summary>
    /// GET / (the greeting) and a POST of 1 MB to /echo, compared; the frame trace is muted meanwhile (the POST is
    /// some 1,500 frames).
    /// </summary>
    private static async Task<bool> HttpStepAsync(HttpClient http, Ipv4Address server, params MutableObserver[] traces)
    {
        try
        {
            var greeting = (await http.GetStringAsync($"http://{server}/")).Trim();
            Say($"GET / answered: \"{greeting}\"");
            var body = new byte[1 << 20];
            new Random(11).NextBytes(body);
            foreach (var t in traces) t.Muted = true;
            Say("POST /echo of 1 MB (trace muted meanwhile):");
            var clock = Stopwatch.StartNew();
            using var response = await http.PostAsync($"http://{server}/echo", new ByteArrayContent(body));
            var back = await response.Content.ReadAsByteArrayAsync();
            foreach (var t in traces) t.Muted = false;
            bool same = response.IsSuccessStatusCode && back.AsSpan().SequenceEqual(body);
            Say($"http echo of {body.Length} bytes: {(int)response.StatusCode} {(same ? "intact" : "CORRUPTED")} in {clock.Elapsed.TotalMilliseconds:F0} ms");
            return greeting.StartsWith("Hello from UserNet", StringComparison.Ordinal) && same;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            foreach (var t in traces) t.Muted = false;
            Say($"http failed: {e.Message}");
            return false;
        }
    }

    private static void Say(string s) => Console.WriteLine($"demo: {s}");

    private static void Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new CliException($"{file} {string.Join(' ', args)} failed: {err.Trim()}");
    }

    private static void RunQuiet(string file, params string[] args)
    {
        try
        {
            var psi = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
            foreach (var a in args) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            p.WaitForExit();
        }
        catch (Exception) { }
    }
}

/// <summary>A frame observer that can be muted for a while (the demo's trace, during a bulk transfer).</summary>
internal sealed class MutableObserver(IFrameObserver inner) : IFrameObserver
{
    public volatile bool Muted;

    public void OnFrame(FrameDirection direction, ReadOnlySpan<byte> frame, Layer layer, string decision, TimeSpan time)
    {
        if (!Muted) inner.OnFrame(direction, frame, layer, decision, time);
    }

    public void OnReassembled(ReadOnlySpan<byte> datagram, TimeSpan time)
    {
        if (!Muted) inner.OnReassembled(datagram, time);
    }
}
