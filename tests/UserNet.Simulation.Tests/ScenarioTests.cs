using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using UserNet.Capture;
using UserNet.Sockets;
using UserNet.Tcp;
using UserNet.Tracing;

namespace UserNet.Simulation.Tests;

public sealed class ScenarioTests
{
    private static readonly LinkProfile Wan = new()
    {
        Latency = TimeSpan.FromMilliseconds(100),
        RateBitsPerSecond = 10_000_000,
    };

    [Fact]
    public async Task A_partition_stops_ping_and_tcp_and_after_heal_both_work()
    {
        await using var net = new SimulatedNetwork(21, SimulationMode.Deterministic);
        var a = net.AddHost("a", "10.0.0.1/24");
        var b = net.AddHost("b", "10.0.0.2/24");
        var c = net.AddHost("c", "10.0.0.3/24");
        await net.RunAsync(async () =>
        {
            await Udp.WarmUpAsync(a, b);
            net.Partition(a);
            Assert.Null(await a.Pinger.PingAsync(b.Address.Address, 2, 1, timeout: TimeSpan.FromSeconds(2)));
            await Udp.WarmUpAsync(b, c); // the rest of the network still talks
            var listener = await TcpConnectionListener.StartAsync(b, 80);
            var e = await Assert.ThrowsAsync<SocketException>(() => TcpConnection.ConnectAsync(a, new IPEndPoint(b.Address.Address.ToIPAddress(), 80),
                new TcpSettings { SynRetries = 2 }));
            Assert.Equal(SocketError.TimedOut, e.SocketErrorCode);
            Assert.True(net.GetLinkStatistics(a, b).PartitionDropped >= 4);
            net.Heal();
            Assert.NotNull(await a.Pinger.PingAsync(b.Address.Address, 2, 2, timeout: TimeSpan.FromSeconds(2)));
            var accept = listener.AcceptAsync().AsTask();
            await using var conn = await TcpConnection.ConnectAsync(a, new IPEndPoint(b.Address.Address.ToIPAddress(), 80));
            await using var server = await accept;
        }, TimeSpan.FromMinutes(5));
    }

    [Fact]
    public async Task After_a_crash_the_peer_times_out_and_the_host_drops_frames_as_host_down()
    {
        await using var net = new SimulatedNetwork(22, SimulationMode.Deterministic);
        var client = net.AddHost("client", "10.0.0.1/24");
        var server = net.AddHost("server", "10.0.0.2/24");
        await net.RunAsync(async () =>
        {
            var listener = await TcpConnectionListener.StartAsync(server, 80);
            var accept = listener.AcceptAsync().AsTask();
            var conn = await TcpConnection.ConnectAsync(client, new IPEndPoint(server.Address.Address.ToIPAddress(), 80), new TcpSettings { DataRetries = 3 });
            await accept;
            server.Crash();
            Assert.False(server.IsUp);
            await conn.Output.WriteAsync(Encoding.ASCII.GetBytes("anyone there?"));
            var e = await Assert.ThrowsAsync<SocketException>(async () => await conn.Input.ReadAsync());
            Assert.Equal(SocketError.TimedOut, e.SocketErrorCode);
            Assert.True(net.GetLinkStatistics(client, server).HostDown >= 4); // the segment and its retransmissions
        }, TimeSpan.FromMinutes(10));
    }

    [Fact]
    public async Task After_a_restart_the_old_connection_gets_a_reset_and_new_connections_work()
    {
        await using var net = new SimulatedNetwork(23, SimulationMode.Deterministic);
        var client = net.AddHost("client", "10.0.0.1/24");
        var server = net.AddHost("server", "10.0.0.2/24");
        await net.RunAsync(async () =>
        {
            var listener = await TcpConnectionListener.StartAsync(server, 80);
            var accept = listener.AcceptAsync().AsTask();
            var conn = await TcpConnection.ConnectAsync(client, new IPEndPoint(server.Address.Address.ToIPAddress(), 80));
            await accept;
            var mac = server.Mac;
            server.Crash();
            await server.RestartAsync();
            Assert.True(server.IsUp);
            Assert.Equal(mac, server.Mac);
            // The fresh stack knows nothing of the connection: the next segment draws a RST (RFC 9293 3.10.7.1).
            await conn.Output.WriteAsync(Encoding.ASCII.GetBytes("still there?"));
            var e = await Assert.ThrowsAsync<SocketException>(async () => await conn.Input.ReadAsync());
            Assert.Equal(SocketError.ConnectionReset, e.SocketErrorCode);
            // The old listener is gone with the old stack; a new one on the new stack accepts.
            var fresh = await TcpConnectionListener.StartAsync(server, 80);
            var accepted = fresh.AcceptAsync().AsTask();
            await using var again = await TcpConnection.ConnectAsync(client, new IPEndPoint(server.Address.Address.ToIPAddress(), 80));
            await using var s = await accepted;
            await again.Output.WriteAsync(Encoding.ASCII.GetBytes("hi"));
            var r = await s.Input.ReadAtLeastAsync(2);
            Assert.Equal("hi", Encoding.ASCII.GetString(r.Buffer.FirstSpan[..2]));
        }, TimeSpan.FromMinutes(5));
    }

    private static async Task<byte[]> LossyTransferCaptureAsync(int seed, TimeSpan duration)
    {
        var path = Path.Combine(Path.GetTempPath(), $"usernet-sim-{Guid.NewGuid():N}.pcapng");
        try
        {
            await using (var net = new SimulatedNetwork(seed, SimulationMode.Deterministic))
            {
                net.CaptureTo(path);
                var a = net.AddHost("client", "10.0.0.1/24");
                var b = net.AddHost("server", "10.0.0.2/24");
                net.SetLink(a, b, Wan with { Loss = 0.02, Jitter = TimeSpan.FromMilliseconds(3) });
                await net.RunAsync(() => Tcp.TransferAsync(net, a, b, duration), TimeSpan.FromMinutes(10));
            }
            return await File.ReadAllBytesAsync(path);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public async Task The_same_seed_gives_a_byte_identical_capture_and_another_seed_a_different_one()
    {
        var first = await LossyTransferCaptureAsync(31, TimeSpan.FromSeconds(3));
        var second = await LossyTransferCaptureAsync(31, TimeSpan.FromSeconds(3));
        var other = await LossyTransferCaptureAsync(32, TimeSpan.FromSeconds(3));
        Assert.True(first.Length > 100_000, $"capture of {first.Length} bytes");
        Assert.True(first.AsSpan().SequenceEqual(second), "two runs of seed 31 differ");
        Assert.False(first.AsSpan().SequenceEqual(other), "seeds 31 and 32 gave the same run");
    }

    [Fact]
    public async Task A_minute_of_tcp_over_10_Mbit_and_100_ms_runs_in_seconds_on_one_thread()
    {
        await using var net = new SimulatedNetwork(41, SimulationMode.Deterministic);
        var a = net.AddHost("client", "10.0.0.1/24");
        var b = net.AddHost("server", "10.0.0.2/24");
        net.SetLink(a, b, Wan);
        long bytes = 0;
        HashSet<int> threads = [];
        var wall = Stopwatch.StartNew();
        await net.RunAsync(async () => (bytes, threads) = await Tcp.TransferAsync(net, a, b, TimeSpan.FromSeconds(60)), TimeSpan.FromMinutes(5));
        wall.Stop();
        Assert.True(wall.Elapsed < TimeSpan.FromSeconds(20), $"60 simulated seconds took {wall.Elapsed.TotalSeconds:0.0} s of wall time");
        double mbit = bytes * 8 / 60.0 / 1e6;
        Assert.True(mbit > 5 && mbit <= 10, $"goodput {mbit:0.00} Mbit/s over a 10 Mbit/s path");
        Assert.Equal([Environment.CurrentManagedThreadId], threads);
        Assert.Equal(0, net.CrossThreadCalls);
    }

    [Fact]
    public async Task A_body_waiting_on_nothing_fails_as_a_deadlock_naming_the_seed()
    {
        await using var net = new SimulatedNetwork(42, SimulationMode.Deterministic);
        net.AddHost("a", "10.0.0.1/24");
        var never = new TaskCompletionSource();
        var e = await Assert.ThrowsAsync<SimulationFailedException>(() => net.RunAsync(() => never.Task));
        Assert.Contains("deadlock", e.Message);
        Assert.Contains("seed 42; set USERNET_SEED=42 to replay it", e.Message);
        Assert.IsType<InvalidOperationException>(e.InnerException);
        Assert.Equal(42, e.Seed);
    }

    [Fact]
    public async Task Simulated_time_past_the_limit_fails_the_run_without_waiting_for_it()
    {
        await using var net = new SimulatedNetwork(43, SimulationMode.Deterministic);
        var wall = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<SimulationFailedException>(() => net.RunAsync(() => Task.Delay(TimeSpan.FromHours(1), net.Time), TimeSpan.FromMinutes(1)));
        Assert.Contains("time limit", e.Message);
        Assert.True(wall.Elapsed < TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task A_failing_body_is_rethrown_with_the_seed_and_the_kept_capture()
    {
        var path = Path.Combine(Path.GetTempPath(), $"usernet-sim-{Guid.NewGuid():N}.pcapng");
        try
        {
            SimulationFailedException e;
            await using (var net = new SimulatedNetwork(7, SimulationMode.Deterministic))
            {
                net.CaptureTo(path, CaptureRetention.OnFailure);
                var a = net.AddHost("a", "10.0.0.1/24");
                var b = net.AddHost("b", "10.0.0.2/24");
                e = await Assert.ThrowsAsync<SimulationFailedException>(() => net.RunAsync(async () =>
                {
                    await Udp.WarmUpAsync(a, b);
                    throw new InvalidOperationException("boom");
                }));
            }
            Assert.Contains("seed 7; set USERNET_SEED=7 to replay it", e.Message);
            Assert.Contains(path, e.Message);
            Assert.Equal("boom", e.InnerException!.Message);
            Assert.True(File.Exists(path));
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public async Task A_capture_kept_only_on_failure_is_deleted_after_a_passing_run()
    {
        var path = Path.Combine(Path.GetTempPath(), $"usernet-sim-{Guid.NewGuid():N}.pcapng");
        await using (var net = new SimulatedNetwork(8, SimulationMode.Deterministic))
        {
            net.CaptureTo(path, CaptureRetention.OnFailure);
            var a = net.AddHost("a", "10.0.0.1/24");
            var b = net.AddHost("b", "10.0.0.2/24");
            await net.RunAsync(() => Udp.WarmUpAsync(a, b));
        }
        Assert.False(File.Exists(path));
    }

    [Fact]
    public void The_seed_comes_from_USERNET_SEED_when_none_is_given()
    {
        Assert.Equal(1234, new SimulatedNetwork(new SimulationOptions { Environment = n => n == "USERNET_SEED" ? "1234" : null }).Seed);
        Assert.Equal(5, new SimulatedNetwork(new SimulationOptions { Seed = 5, Environment = _ => "1234" }).Seed);
        Assert.Throws<FormatException>(() => new SimulatedNetwork(new SimulationOptions { Environment = _ => "twelve" }));
        var saved = Environment.GetEnvironmentVariable("USERNET_SEED");
        try
        {
            Environment.SetEnvironmentVariable("USERNET_SEED", "977");
            Assert.Equal(977, new SimulatedNetwork(mode: SimulationMode.Deterministic).Seed);
        }
        finally { Environment.SetEnvironmentVariable("USERNET_SEED", saved); }
    }

    [Fact]
    public async Task Bad_arguments_get_clear_exceptions_and_unknown_names_HostNotFound()
    {
        await using var net = new SimulatedNetwork(9, SimulationMode.Deterministic);
        var a = net.AddHost("a", "10.0.0.1/24");
        Assert.Contains("no prefix", Assert.Throws<ArgumentException>(() => net.AddHost("b", "10.0.0.2")).Message);
        Assert.Contains("exists already", Assert.Throws<ArgumentException>(() => net.AddHost("a", "10.0.0.3/24")).Message);
        Assert.Contains("is a's already", Assert.Throws<ArgumentException>(() => net.AddHost("c", "10.0.0.1/24")).Message);
        Assert.Throws<ArgumentException>(() => net.AddHost("d", "ten/24"));
        Assert.Throws<ArgumentOutOfRangeException>(() => net.SetProfile(a, net.AddHost("e", "10.0.0.5/24"), new LinkProfile { Loss = 1.5 }));
        var e = await Assert.ThrowsAsync<SocketException>(async () => await net.ResolveAsync("nobody"));
        Assert.Equal(SocketError.HostNotFound, e.SocketErrorCode);
        Assert.Equal(IPAddress.Parse("10.0.0.1"), await net.ResolveAsync("A"));
        Assert.Equal(IPAddress.Parse("10.9.9.9"), await net.ResolveAsync("10.9.9.9"));
    }

    [Fact]
    public async Task A_runt_frame_entering_the_switch_is_dropped_and_counted()
    {
        await using var net = new SimulatedNetwork(10, SimulationMode.Deterministic);
        var a = net.AddHost("a", "10.0.0.1/24");
        var b = net.AddHost("b", "10.0.0.2/24");
        await net.RunAsync(async () =>
        {
            a.Current.Transmit(new byte[5]);
            a.Current.Transmit(ReadOnlySpan<byte>.Empty);
            await Udp.WarmUpAsync(a, b); // and the switch goes on switching
        });
        Assert.Equal(2, net.DefaultSegment.RuntFrames);
    }

    [Fact]
    public async Task The_capture_has_an_interface_per_segment_and_reads_back_with_fates_and_tcpdump_lines()
    {
        var path = Path.Combine(Path.GetTempPath(), $"usernet-sim-{Guid.NewGuid():N}.pcapng");
        try
        {
            await using (var net = new SimulatedNetwork(51, SimulationMode.Deterministic))
            {
                net.CaptureTo(path);
                var dmz = net.AddSegment("dmz");
                var a = net.AddHost("client", "10.0.0.1/24");
                var b = net.AddHost("server", "10.0.0.2/24");
                var c = net.AddHost("web", "10.1.0.1/24", dmz);
                var d = net.AddHost("db", "10.1.0.2/24", dmz);
                net.SetLink(a, b, new LinkProfile { Latency = TimeSpan.FromMilliseconds(20) });
                await net.RunAsync(async () =>
                {
                    await Udp.WarmUpAsync(a, b);
                    await Udp.WarmUpAsync(c, d);
                    net.SetProfile(a, b, new LinkProfile { Loss = 1 });
                    Assert.Null(await a.Pinger.PingAsync(b.Address.Address, 9, 9, timeout: TimeSpan.FromMilliseconds(500)));
                });
            }
            var bytes = await File.ReadAllBytesAsync(path);
            Assert.True(bytes.AsSpan().IndexOf("lan"u8) > 0 && bytes.AsSpan().IndexOf("dmz"u8) > 0, "the interfaces are named after the segments");
            using var reader = CaptureFile.Open(path);
            var records = new List<CaptureRecord>();
            while (reader.Read() is { } r) records.Add(r);
            var formatter = new TcpdumpFormatter();
            var lines = records.Select(formatter.Format).ToArray();
            Assert.Contains(lines, l => l.Contains("ICMP echo request") && l.Contains("10.0.0.1 > 10.0.0.2"));
            Assert.Contains(records, r => r.Comment!.StartsWith("client tx: ") && r.Comment.Contains("link client-server: delayed 20.0 ms"));
            Assert.Contains(records, r => r.Comment!.Contains("link client-server: dropped (loss)"));
            Assert.Contains(records, r => r.Comment!.StartsWith("web tx: "));
            Assert.All(records, r => Assert.True(r.Timestamp >= new DateTimeOffset(2000, 1, 1, 0, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds() * 1_000_000));
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public async Task Real_time_mode_runs_ping_and_tcp_over_delayed_links_on_host_threads()
    {
        await using var net = new SimulatedNetwork(61);
        var a = net.AddHost("client", "10.0.0.1/24");
        var b = net.AddHost("server", "10.0.0.2/24");
        net.SetLink(a, b, new LinkProfile { Latency = TimeSpan.FromMilliseconds(10) });
        await net.RunAsync(async () =>
        {
            await Udp.WarmUpAsync(a, b);
            var r = await a.Pinger.PingAsync(b.Address.Address, 3, 2, timeout: TimeSpan.FromSeconds(5));
            Assert.NotNull(r);
            Assert.True(r.Value.RoundTripTime >= TimeSpan.FromMilliseconds(19), $"rtt {r.Value.RoundTripTime}");
            var listener = await TcpConnectionListener.StartAsync(b, 80);
            var accept = listener.AcceptAsync().AsTask();
            await using var c = await TcpConnection.ConnectAsync(a, new IPEndPoint(await net.ResolveAsync("server"), 80));
            await using var s = await accept;
            var data = new byte[200_000];
            Random.Shared.NextBytes(data);
            var write = c.Output.WriteAsync(data).AsTask();
            var got = new MemoryStream();
            while (got.Length < data.Length)
            {
                var rr = await s.Input.ReadAsync();
                foreach (var seg in rr.Buffer) got.Write(seg.Span);
                s.Input.AdvanceTo(rr.Buffer.End);
            }
            await write;
            Assert.Equal(data, got.ToArray());
        }, TimeSpan.FromSeconds(60));
    }
}
