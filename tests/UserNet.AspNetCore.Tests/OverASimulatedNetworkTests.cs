using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using UserNet.Capture;
using UserNet.Core;
using UserNet.Simulation;
using UserNet.Tracing;

namespace UserNet.AspNetCore.Tests;

/// <summary>
/// Kestrel on one host of a simulated network, an unchanged HttpClient on another (RealTime mode: both bring their own
/// threads), names resolved by the network: what the README's "Use it in your tests" promises, under the issue's
/// numbers (5% loss each way, 20 ms one way, 50 Mbit/s).
/// </summary>
public class OverASimulatedNetworkTests
{
    private static readonly LinkProfile Lossy = new()
    {
        Latency = TimeSpan.FromMilliseconds(20),
        Loss = 0.05,
        RateBitsPerSecond = 50_000_000,
    };

    internal static async Task<(SimulatedNetwork Net, SimulatedHost Server, SimulatedHost Client)> LossyNetworkAsync(int seed, string? capture = null)
    {
        var net = new SimulatedNetwork(seed);
        if (capture is not null) net.CaptureTo(capture);
        var server = net.AddHost("server", "10.0.0.1/24");
        var client = net.AddHost("client", "10.0.0.2/24");
        net.SetLink(client, server, Lossy);
        await net.StartAsync();
        return (net, server, client);
    }

    internal static async Task TransferAsync(int seed, bool post)
    {
        var (net, server, client) = await LossyNetworkAsync(seed);
        await using var _ = net;
        await net.RunAsync(async () =>
        {
            await using var app = await TestApp.StartAsync(server);
            using var http = client.CreateHttpClient();
            http.Timeout = TimeSpan.FromMinutes(4);
            if (!post)
            {
                var body = await http.GetByteArrayAsync("http://server/bytes/10000000");
                Assert.Equal(TestApp.Sha256(TestApp.PatternBytes(10_000_000)), TestApp.Sha256(body));
                return;
            }
            var sent = new byte[10_000_000];
            new Random(3).NextBytes(sent);
            using var response = await http.PostAsync("http://server/echo", new ByteArrayContent(sent));
            response.EnsureSuccessStatusCode();
            Assert.Equal(TestApp.Sha256(sent), TestApp.Sha256(await response.Content.ReadAsByteArrayAsync()));
        });
        // The faults really were there, both ways, at about the rate asked for.
        foreach (var (from, to) in new[] { (client, server), (server, client) })
        {
            var s = net.GetLinkStatistics(from, to);
            Assert.True(s.Sent > 1000, $"{from.Name} -> {to.Name} sent only {s.Sent} frames");
            Assert.InRange((double)s.Lost / s.Sent, 0.03, 0.07);
        }
        long retransmitted = new[] { TcpCounter.FastRetransmissions, TcpCounter.RackRetransmissions, TcpCounter.TimeoutRetransmissions }
            .Sum(c => server.Counters.CountOf(c) + client.Counters.CountOf(c));
        Assert.True(retransmitted > 0, "no retransmission through 5% loss");
    }

    [Fact]
    public Task A_10_MB_GET_arrives_intact_through_5_percent_loss_20_ms_and_50_Mbit_s() => TransferAsync(seed: 11, post: false);

    [Fact]
    public async Task Keep_alive_reuses_one_connection_and_many_concurrent_requests_all_answer()
    {
        var (net, server, client) = await LossyNetworkAsync(seed: 12);
        await using var _ = net;
        await net.RunAsync(async () =>
        {
            await using var app = await TestApp.StartAsync(server);
            using var http = client.CreateHttpClient();
            http.Timeout = TimeSpan.FromMinutes(2);
            var first = await http.GetStringAsync("http://server/connection");
            var second = await http.GetStringAsync("http://server/connection");
            Assert.Equal(first, second);

            var answers = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => http.GetStringAsync("http://server/")));
            Assert.All(answers, a => Assert.Equal("hello from UserNet", a));
        });
    }

    [Fact]
    public async Task The_server_aborting_a_request_reaches_the_client_as_an_IOException()
    {
        var (net, server, client) = await LossyNetworkAsync(seed: 13);
        await using var _ = net;
        await net.RunAsync(async () =>
        {
            await using var app = await TestApp.StartAsync(server);
            using var http = client.CreateHttpClient();
            http.Timeout = TimeSpan.FromMinutes(1);
            var e = await Assert.ThrowsAsync<HttpRequestException>(() => http.GetStringAsync("http://server/abort"));
            Assert.Contains(Chain(e), x => x is IOException);
        });
    }

    [Fact]
    public async Task A_partition_during_a_request_ends_in_the_clients_timeout_and_healing_lets_the_next_through()
    {
        var (net, server, client) = await LossyNetworkAsync(seed: 14);
        await using var _ = net;
        await net.RunAsync(async () =>
        {
            var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            await using var app = await TestApp.StartAsync(server, routes: a => a.MapGet("/slow", async (HttpContext c) =>
            {
                c.Response.ContentLength = 2_000_000;
                await c.Response.Body.WriteAsync(new byte[1000]);
                await c.Response.Body.FlushAsync();
                started.TrySetResult();
                for (int i = 0; i < 1999; i++) await c.Response.Body.WriteAsync(new byte[1000], c.RequestAborted);
            }));
            using var http = client.CreateHttpClient();
            http.Timeout = TimeSpan.FromSeconds(3);
            var request = http.GetByteArrayAsync("http://server/slow");
            await started.Task.WaitAsync(TimeSpan.FromSeconds(30));
            net.Partition(client);
            var e = await Assert.ThrowsAsync<TaskCanceledException>(() => request);
            Assert.IsType<TimeoutException>(e.InnerException);
            Assert.True(net.GetLinkStatistics(server, client).PartitionDropped > 0, "the partition dropped nothing");

            net.Heal();
            using var again = new HttpClient(client.CreateHttpHandler()) { Timeout = TimeSpan.FromSeconds(60) };
            Assert.Equal("hello from UserNet", await again.GetStringAsync("http://server/"));
        });
    }

    [Fact]
    public async Task The_capture_of_the_whole_network_shows_the_HTTP_request_as_tcpdump_would_and_the_links_fates()
    {
        var path = Path.Combine(Path.GetTempPath(), $"usernet-http-{Guid.NewGuid():N}.pcapng");
        try
        {
            var (net, server, client) = await LossyNetworkAsync(seed: 15, capture: path);
            await using (net)
            {
                await net.RunAsync(async () =>
                {
                    await using var app = await TestApp.StartAsync(server);
                    using var http = client.CreateHttpClient();
                    http.Timeout = TimeSpan.FromMinutes(1);
                    Assert.Equal(200_000, (await http.GetByteArrayAsync("http://server/bytes/200000")).Length);
                });
            }
            var records = new List<CaptureRecord>();
            using (var reader = CaptureFile.Open(path))
                while (reader.Read() is { } r) records.Add(r);
            var formatter = new TcpdumpFormatter(new TcpdumpOptions { TimeZone = TimeZoneInfo.Utc });
            var lines = records.Select(r => formatter.Format(r)).ToList();
            Assert.Contains(lines, l => l.Contains("IP 10.0.0.2.", StringComparison.Ordinal) && l.Contains("> 10.0.0.1.80: Flags [P.]", StringComparison.Ordinal) && l.Contains(": HTTP: GET /bytes/200000 HTTP/1.1", StringComparison.Ordinal));
            Assert.Contains(records, r => r.Comment?.Contains("link server-client: dropped (loss)", StringComparison.Ordinal) == true);
            Assert.Contains(records, r => r.Comment?.Contains("link client-server: delayed 20", StringComparison.Ordinal) == true);
        }
        finally { File.Delete(path); }
    }

    private static IEnumerable<Exception> Chain(Exception e)
    {
        for (Exception? x = e; x is not null; x = x.InnerException) yield return x;
    }
}

/// <summary>The POST on its own, so that xunit runs it beside the GET (each is a minute or more of lossy transfer).</summary>
public class OverASimulatedNetworkPostTests
{
    [Fact]
    public Task A_10_MB_POST_is_echoed_intact_through_5_percent_loss_20_ms_and_50_Mbit_s() => OverASimulatedNetworkTests.TransferAsync(seed: 16, post: true);
}
