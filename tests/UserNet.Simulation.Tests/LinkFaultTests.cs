using UserNet.Core;

namespace UserNet.Simulation.Tests;

/// <summary>Each fault of a <see cref="LinkProfile"/>, measured over many frames against what the profile says.</summary>
public sealed class LinkFaultTests
{
    private static async Task WithPairAsync(int seed, Func<SimulatedNetwork, SimulatedHost, SimulatedHost, Task> body, TimeSpan? limit = null)
    {
        await using var net = new SimulatedNetwork(seed, SimulationMode.Deterministic);
        var a = net.AddHost("a", "10.0.0.1/24");
        var b = net.AddHost("b", "10.0.0.2/24");
        await net.RunAsync(async () =>
        {
            await Udp.WarmUpAsync(a, b);
            await body(net, a, b);
        }, limit ?? TimeSpan.FromMinutes(10));
        Assert.Equal(0, net.CrossThreadCalls);
    }

    private static void WithinSigmas(double expectedP, long n, long observed, double sigmas = 4)
    {
        double mean = expectedP * n, sd = Math.Sqrt(n * expectedP * (1 - expectedP));
        Assert.InRange(observed, mean - sigmas * sd, mean + sigmas * sd);
    }

    [Fact]
    public Task Independent_loss_of_5_percent_over_20000_frames_is_within_four_sigma() => WithPairAsync(11, async (net, a, b) =>
    {
        net.SetProfile(a, b, new LinkProfile { Loss = 0.05, Latency = TimeSpan.FromMilliseconds(1) });
        var before = net.GetLinkStatistics(a, b);
        var got = await Udp.ProbeAsync(net, a, b, 20_000, interval: TimeSpan.FromMilliseconds(1), perBurst: 10);
        var s = net.GetLinkStatistics(a, b);
        long sent = s.Sent - before.Sent, lost = s.Lost - before.Lost;
        Assert.Equal(20_000, sent);
        WithinSigmas(0.05, 20_000, lost);
        Assert.Equal(20_000 - lost, got.Count); // every frame not lost arrived, once
        Assert.Equal(got.Count, got.Select(x => x.Sequence).Distinct().Count());
    });

    [Fact]
    public Task Gilbert_Elliott_bursts_last_one_over_BadToGood_frames_and_the_loss_is_the_stationary_value() => WithPairAsync(12, async (net, a, b) =>
    {
        var ge = new GilbertElliott(GoodToBad: 0.01, BadToGood: 0.25);
        net.SetProfile(a, b, new LinkProfile { BurstLoss = ge, Latency = TimeSpan.FromMilliseconds(1) });
        const int n = 40_000;
        var got = await Udp.ProbeAsync(net, a, b, n, interval: TimeSpan.FromMilliseconds(1), perBurst: 10);
        var seen = new bool[n];
        foreach (var x in got) seen[x.Sequence] = true;
        var bursts = new List<int>();
        for (int i = 0, run = 0; i <= n; i++)
        {
            if (i < n && !seen[i]) run++;
            else if (run > 0) { bursts.Add(run); run = 0; }
        }
        double loss = 1 - got.Count / (double)n;
        Assert.InRange(loss, ge.StationaryLoss * 0.8, ge.StationaryLoss * 1.2); // 0.0385: about 1540 of 40000, bursty
        Assert.InRange(bursts.Average(), 1 / ge.BadToGood * 0.85, 1 / ge.BadToGood * 1.15); // mean 4, ~380 bursts
        Assert.Equal(n - got.Count, net.GetLinkStatistics(a, b).BurstLost);
    });

    [Fact]
    public Task Latency_without_jitter_delays_every_frame_by_exactly_the_latency() => WithPairAsync(13, async (net, a, b) =>
    {
        net.SetProfile(a, b, new LinkProfile { Latency = TimeSpan.FromMilliseconds(25) });
        var got = await Udp.ProbeAsync(net, a, b, 200, interval: TimeSpan.FromMilliseconds(3));
        Assert.Equal(200, got.Count);
        Assert.All(got, x => Assert.Equal(TimeSpan.FromMilliseconds(25), x.Delay));
    });

    [Fact]
    public Task Jitter_spreads_delays_uniformly_over_latency_plus_or_minus_jitter() => WithPairAsync(14, async (net, a, b) =>
    {
        net.SetProfile(a, b, new LinkProfile { Latency = TimeSpan.FromMilliseconds(20), Jitter = TimeSpan.FromMilliseconds(5) });
        // Frames 20 ms apart: more than twice the jitter, so the link's FIFO order never holds one back.
        var got = await Udp.ProbeAsync(net, a, b, 3000, interval: TimeSpan.FromMilliseconds(20));
        Assert.Equal(3000, got.Count);
        var ms = got.Select(x => x.Delay.TotalMilliseconds).ToArray();
        Assert.True(ms.Min() >= 15 && ms.Max() <= 25, $"delays {ms.Min()}..{ms.Max()} ms");
        Assert.InRange(ms.Average(), 19.8, 20.2);
        double sd = Math.Sqrt(ms.Select(d => (d - ms.Average()) * (d - ms.Average())).Average());
        Assert.InRange(sd, 10 / Math.Sqrt(12) * 0.93, 10 / Math.Sqrt(12) * 1.07); // uniform over 10 ms: 2.89 ms
        // Uniform: each fifth of the range holds about a fifth of the frames.
        for (int k = 0; k < 5; k++)
        {
            int inBin = ms.Count(d => d >= 15 + 2 * k && d < 17 + 2 * k);
            WithinSigmas(0.2, 3000, inBin);
        }
    });

    [Fact]
    public Task Rate_limiter_delivers_within_5_percent_of_the_rate_and_queue_delay_grows_with_the_queue() => WithPairAsync(15, async (net, a, b) =>
    {
        const long rate = 10_000_000;
        net.SetProfile(a, b, new LinkProfile { RateBitsPerSecond = rate, QueueLimitBytes = 4 << 20 });
        // A burst of 300 datagrams, all at once: the queue holds them and the limiter drains them at the rate.
        var got = await Udp.ProbeAsync(net, a, b, 300, size: 1000, interval: TimeSpan.FromSeconds(1), perBurst: 300);
        Assert.Equal(300, got.Count);
        int frame = 1000 + 8 + 20 + 14;
        var span = got[^1].ReceivedAt - got[0].ReceivedAt;
        double bitsPerSecond = 299.0 * frame * 8 / span.TotalSeconds;
        Assert.InRange(bitsPerSecond, rate * 0.95, rate * 1.05);
        // Bufferbloat: the k-th frame waits for the k-1 before it, so its delay grows linearly with the queue.
        Assert.True(got[299].Delay > got[150].Delay && got[150].Delay > got[10].Delay);
        Assert.InRange(got[299].Delay.TotalMilliseconds, 300.0 * frame * 8 / rate * 1000 * 0.95, 300.0 * frame * 8 / rate * 1000 * 1.05);
        Assert.True(net.GetLinkStatistics(a, b).QueueHighWaterBytes >= 299 * frame);
    });

    [Fact]
    public Task A_burst_beyond_the_queue_limit_is_dropped_as_queue_full() => WithPairAsync(16, async (net, a, b) =>
    {
        const int limit = 64 * 1024;
        net.SetProfile(a, b, new LinkProfile { RateBitsPerSecond = 1_000_000, QueueLimitBytes = limit });
        var got = await Udp.ProbeAsync(net, a, b, 200, size: 1000, interval: TimeSpan.FromSeconds(5), perBurst: 200);
        var s = net.GetLinkStatistics(a, b);
        int frame = 1042;
        Assert.Equal(limit / frame, got.Count); // what fits waits; the rest of the burst is dropped
        Assert.Equal(200 - limit / frame, s.QueueDropped);
        Assert.True(s.QueueHighWaterBytes <= limit);
    });

    [Fact]
    public Task Duplication_and_reordering_happen_at_their_rates_and_a_held_back_frame_arrives_after_ReorderDelay_worth_of_later_ones() => WithPairAsync(17, async (net, a, b) =>
    {
        net.SetProfile(a, b, new LinkProfile { Duplicate = 0.03, Reorder = 0.05, ReorderDelay = TimeSpan.FromMilliseconds(10), Latency = TimeSpan.FromMilliseconds(5) });
        const int n = 10_000;
        var got = await Udp.ProbeAsync(net, a, b, n, interval: TimeSpan.FromMilliseconds(1));
        var s = net.GetLinkStatistics(a, b);
        WithinSigmas(0.03, n, s.Duplicated);
        WithinSigmas(0.05, n, s.Reordered);
        Assert.Equal(n + s.Duplicated, got.Count);
        Assert.Equal(s.Duplicated, got.Count - got.Select(x => x.Sequence).Distinct().Count());
        // Reorder depth: how many later frames overtook each one. A held-back frame is passed by the ~10 sent in the
        // 10 ms it waits (fewer when those were held back too).
        var firstArrival = new Dictionary<int, int>();
        for (int i = 0; i < got.Count; i++) firstArrival.TryAdd(got[i].Sequence, i);
        var order = firstArrival.OrderBy(kv => kv.Value).Select(kv => kv.Key).ToArray();
        int maxSoFar = -1, overtaken = 0, maxDepth = 0;
        foreach (var seq in order)
        {
            if (seq < maxSoFar)
            {
                overtaken++;
                maxDepth = Math.Max(maxDepth, maxSoFar - seq);
            }
            maxSoFar = Math.Max(maxSoFar, seq);
        }
        WithinSigmas(0.05, n, overtaken, sigmas: 5);
        Assert.InRange(maxDepth, 9, 11);
    });

    [Fact]
    public Task Corrupted_frames_are_caught_by_the_checksums_and_counted_never_delivered_as_bad_bytes() => WithPairAsync(18, async (net, a, b) =>
    {
        net.SetProfile(a, b, new LinkProfile { Corrupt = 0.2 });
        var before = (Ip: b.Counters.DroppedBy(Layer.Ipv4), Udp: b.Counters.DroppedBy(Layer.Udp));
        const int n = 5000;
        var got = await Udp.ProbeAsync(net, a, b, n, size: 200, interval: TimeSpan.FromMilliseconds(1));
        var s = net.GetLinkStatistics(a, b);
        WithinSigmas(0.2, n + 0, s.Corrupted, sigmas: 5);
        Assert.All(got, x => Assert.True(x.Intact, $"datagram {x.Sequence} delivered with bad bytes"));
        long dropped = b.Counters.DroppedBy(Layer.Ipv4) - before.Ip + b.Counters.DroppedBy(Layer.Udp) - before.Udp;
        Assert.Equal(s.Corrupted, dropped); // one bit flipped in each: the checksum (or a header check) rejects every one
        long checksum = b.Counters.DroppedFor(DropReason.Ipv4BadChecksum) + b.Counters.DroppedFor(DropReason.UdpBadChecksum);
        Assert.True(checksum >= s.Corrupted * 0.9, $"{checksum} checksum drops of {s.Corrupted} corrupted frames");
        Assert.True(b.Counters.DroppedFor(DropReason.UdpBadChecksum) > 0 && b.Counters.DroppedFor(DropReason.Ipv4BadChecksum) > 0);
        Assert.Equal(n - s.Corrupted, got.Count);
    });

    [Fact]
    public Task Frames_whose_payload_exceeds_the_link_mtu_are_dropped_as_too_big() => WithPairAsync(19, async (net, a, b) =>
    {
        net.SetProfile(a, b, new LinkProfile { Mtu = 1000 });
        var small = await Udp.ProbeAsync(net, a, b, 10, size: 900, interval: TimeSpan.FromMilliseconds(1), drain: TimeSpan.FromMilliseconds(100));
        var big = await Udp.ProbeAsync(net, a, b, 10, size: 1200, interval: TimeSpan.FromMilliseconds(1), drain: TimeSpan.FromMilliseconds(100));
        Assert.Equal(10, small.Count);
        Assert.Empty(big);
        Assert.Equal(10, net.GetLinkStatistics(a, b).TooBig);
    });
}
