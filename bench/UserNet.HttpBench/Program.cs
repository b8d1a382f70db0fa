// HTTP over UserNet next to HTTP over the kernel's loopback, in one run: Kestrel + HttpClient on two StackHosts over a
// MemoryLink (UseUserNet, StackHttp), and the same app with Kestrel's sockets transport on 127.0.0.1. Measures small
// keep-alive GETs per second from N concurrent clients, and one large GET's MB/s.
//
// The kernel half uses real sockets, so run the whole process inside a network namespace made for it:
//   ip netns add httpbench && ip netns exec httpbench ip link set lo up
//   ip netns exec httpbench dotnet bench/UserNet.HttpBench/bin/Release/net10.0/UserNet.HttpBench.dll [--seconds 10] [--clients 8] [--mb 100]
//   ip netns del httpbench
// It refuses to use kernel sockets outside a namespace of its own (--usernet-only runs just the UserNet half anywhere).
using UserNet.Simulation;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using UserNet.AspNetCore;
using UserNet.Devices;
using UserNet.Hosting;
using UserNet.Sockets;
using UserNet.Stack;
using UserNet.Wire;

int seconds = 10, clients = 8, mb = 100;
bool usernetOnly = false;
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--seconds" when i + 1 < args.Length: seconds = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--clients" when i + 1 < args.Length: clients = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--mb" when i + 1 < args.Length: mb = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--usernet-only": usernetOnly = true; break;
        default: Console.Error.WriteLine($"httpbench: unknown argument '{args[i]}' (--seconds N --clients N --mb N --usernet-only)"); return 2;
    }
}
if (!usernetOnly && !InOwnNamespace())
{
    Console.Error.WriteLine("httpbench: the kernel half needs a network namespace of its own: run it under `ip netns exec NS` (or pass --usernet-only)");
    return 2;
}

Console.WriteLine($"httpbench: {clients} clients x {seconds} s of GET / (keep-alive), then GET of {mb} MB; {Environment.ProcessorCount} CPUs");
var results = new List<(string Name, double Rps, double MBps)>();

{
    var (a, b) = MemoryLink.CreatePair();
    await using var server = new StackHost(a, new StackOptions { Address = Ipv4Subnet.Parse("10.0.0.1/24"), Name = "server" });
    await using var client = new StackHost(b, new StackOptions { Address = Ipv4Subnet.Parse("10.0.0.2/24"), Name = "client" });
    await server.StartAsync();
    await client.StartAsync();
    await using var app = await StartApp(w => w.UseUserNet(server), k => k.Listen(IPAddress.Any, 80));
    using var http = new HttpClient(StackHttp.CreateHandler(client)) { BaseAddress = new Uri("http://10.0.0.1/") };
    results.Add(await Measure("usernet (MemoryLink)", http));
}

{
    // The embedding kit: the same two stacks as hosts of a simulated network (RealTime mode, a clean link), names
    // resolved by the network, HttpClient from CreateHttpClient.
    await using var net = new SimulatedNetwork(seed: 1);
    var server = net.AddHost("server", "10.0.0.1/24");
    var client = net.AddHost("client", "10.0.0.2/24");
    await net.StartAsync();
    await using var app = await StartApp(w => w.UseUserNet(server), k => k.Listen(IPAddress.Any, 80));
    using var http = client.CreateHttpClient();
    http.BaseAddress = new Uri("http://server/");
    results.Add(await Measure("usernet (simulation)", http));
}

if (!usernetOnly)
{
    await using var app = await StartApp(_ => { }, k => k.Listen(IPAddress.Loopback, 0));
    var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
    using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { BaseAddress = new Uri(address) };
    results.Add(await Measure("kernel (loopback)", http));
}

Console.WriteLine();
Console.WriteLine($"{"transport",-22} {"GET / req/s",12} {"GET " + mb + " MB MB/s",16}");
foreach (var r in results) Console.WriteLine($"{r.Name,-22} {r.Rps,12:F0} {r.MBps,16:F1}");
if (results.Count == 3)
    for (int i = 0; i < 2; i++)
        Console.WriteLine($"{results[i].Name.Replace("usernet ", "") + " / kernel",-22} {results[i].Rps / results[2].Rps,12:P0} {results[i].MBps / results[2].MBps,16:P0}");
return 0;

async Task<(string, double, double)> Measure(string name, HttpClient http)
{
    // Warm up: connections open, JIT done, congestion windows grown.
    await RunRequests(http, clients, TimeSpan.FromSeconds(1));
    await Download(http, 10);
    long done = await RunRequests(http, clients, TimeSpan.FromSeconds(seconds));
    double rps = done / (double)seconds;
    double best = 0;
    for (int i = 0; i < 3; i++) best = Math.Max(best, await Download(http, mb));
    Console.WriteLine($"httpbench: {name}: {rps:F0} req/s, {best:F1} MB/s (best of 3)");
    return (name, rps, best);
}

static async Task<long> RunRequests(HttpClient http, int clients, TimeSpan duration)
{
    long count = 0;
    var until = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
    await Task.WhenAll(Enumerable.Range(0, clients).Select(async _ =>
    {
        while (Stopwatch.GetTimestamp() < until)
        {
            using var r = await http.GetAsync("/");
            await r.Content.ReadAsByteArrayAsync();
            if (!r.IsSuccessStatusCode) throw new InvalidOperationException($"GET / answered {(int)r.StatusCode}");
            Interlocked.Increment(ref count);
        }
    }));
    return count;
}

static async Task<double> Download(HttpClient http, int megabytes)
{
    long want = (long)megabytes << 20;
    var clock = Stopwatch.StartNew();
    using var r = await http.GetAsync($"/bytes/{want}", HttpCompletionOption.ResponseHeadersRead);
    await using var s = await r.Content.ReadAsStreamAsync();
    var buffer = new byte[1 << 16];
    long got = 0;
    int n;
    while ((n = await s.ReadAsync(buffer)) > 0) got += n;
    if (got != want) throw new InvalidOperationException($"got {got} of {want} bytes");
    return got / 1e6 / clock.Elapsed.TotalSeconds;
}

static async Task<WebApplication> StartApp(Action<IWebHostBuilder> transport, Action<Microsoft.AspNetCore.Server.Kestrel.Core.KestrelServerOptions> listen)
{
    var builder = WebApplication.CreateSlimBuilder();
    builder.Logging.ClearProviders();
    transport(builder.WebHost);
    builder.WebHost.ConfigureKestrel(listen);
    var app = builder.Build();
    app.MapGet("/", () => "hello");
    var chunk = new byte[1 << 16];
    app.MapGet("/bytes/{n:long}", async (HttpContext c, long n) =>
    {
        c.Response.ContentLength = n;
        for (long sent = 0; sent < n;)
        {
            int len = (int)Math.Min(chunk.Length, n - sent);
            await c.Response.Body.WriteAsync(chunk.AsMemory(0, len));
            sent += len;
        }
    });
    await app.StartAsync();
    return app;
}

/// <summary>
/// True when this process runs in a named namespace (`ip netns identify` names it), so its kernel sockets stay
/// inside it; false when it cannot tell.
/// </summary>
static bool InOwnNamespace()
{
    try
    {
        var psi = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "netns", "identify", Environment.ProcessId.ToString(CultureInfo.InvariantCulture) }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var name = p.StandardOutput.ReadToEnd().Trim();
        p.WaitForExit();
        return p.ExitCode == 0 && name.Length > 0;
    }
    catch (System.ComponentModel.Win32Exception) { return false; }
}
