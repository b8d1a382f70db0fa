using System.Diagnostics;
using System.Net;
using BenchmarkDotNet.Attributes;
using UserNet.Simulation;
using UserNet.Sockets;

namespace UserNet.Bench;

/// <summary>
/// A TCP bulk transfer between two stacks of a deterministic simulated network on a clean link: the cost of the
/// simulation's switch, links and single-thread scheduler on top of the stacks. One operation moves
/// <see cref="Bytes"/>; divide by ~1448-byte segments for the allocation per segment.
/// </summary>
[MemoryDiagnoser]
public class SimulationBenchmarks
{
    public const int Bytes = 8 << 20;

    [Benchmark]
    public Task<long> BulkTransferOnACleanLink() => Transfer.RunAsync(LinkProfile.Perfect, Bytes, null);

    /// <summary>
    /// <c>UserNet.Bench sim-speed</c>: 60 simulated seconds of TCP over 10 Mbit/s, 100 ms one way, 2% loss, in virtual
    /// time; prints simulated seconds per wall second and the goodput.
    /// </summary>
    public static async Task SpeedAsync()
    {
        var profile = new LinkProfile { Latency = TimeSpan.FromMilliseconds(100), RateBitsPerSecond = 10_000_000, Loss = 0.02 };
        var wall = Stopwatch.StartNew();
        long bytes = await Transfer.RunAsync(profile, long.MaxValue, TimeSpan.FromSeconds(60));
        wall.Stop();
        Console.WriteLine($"60 simulated s (10 Mbit/s, 100 ms, 2% loss) in {wall.Elapsed.TotalSeconds:0.00} wall s: {60 / wall.Elapsed.TotalSeconds:0.0} simulated s per wall s; goodput {bytes * 8 / 60.0 / 1e6:0.00} Mbit/s");
        await Transfer.RunAsync(LinkProfile.Perfect, Bytes, null); // warm up the JIT
        // Deterministic mode runs everything on this thread, so this thread's allocations are the whole run's.
        long allocated = GC.GetAllocatedBytesForCurrentThread();
        wall.Restart();
        long clean = await Transfer.RunAsync(LinkProfile.Perfect, Bytes * 8L, null);
        wall.Stop();
        allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;
        Console.WriteLine($"clean link: {clean / 1e6:0.0} MB in {wall.Elapsed.TotalSeconds:0.00} wall s: {clean / 1e6 / wall.Elapsed.TotalSeconds:0.0} MB/s; " +
            $"{Transfer.LastSegments} TCP segments, {allocated / (double)Transfer.LastSegments:0.0} bytes allocated per segment (whole run, both stacks, setup included)");
    }

    /// <summary><c>UserNet.Bench sim-capture FILE</c>: the capture of a 2 s TCP transfer over 2% loss.</summary>
    public static async Task CaptureAsync(string path)
    {
        var profile = new LinkProfile { Latency = TimeSpan.FromMilliseconds(20), RateBitsPerSecond = 10_000_000, Loss = 0.02 };
        long bytes = await Transfer.RunAsync(profile, 1 << 20, TimeSpan.FromSeconds(2), path);
        Console.WriteLine($"{path}: {bytes} bytes moved");
    }

    private static class Transfer
    {
        public static async Task<long> RunAsync(LinkProfile profile, long bytes, TimeSpan? duration, string? capture = null)
        {
            await using var net = new SimulatedNetwork(1, SimulationMode.Deterministic);
            if (capture is not null) net.CaptureTo(capture);
            var a = net.AddHost("client", "10.0.0.1/24");
            var b = net.AddHost("server", "10.0.0.2/24");
            net.SetLink(a, b, profile);
            long received = 0;
            await net.RunAsync(async () =>
            {
                var listener = await TcpConnectionListener.StartAsync(b, 5001);
                var accept = listener.AcceptAsync().AsTask();
                await using var c = await TcpConnection.ConnectAsync(a, new IPEndPoint(b.Address.Address.ToIPAddress(), 5001));
                await using var s = await accept;
                async Task ReadAsync()
                {
                    while (true)
                    {
                        var r = await s.Input.ReadAsync();
                        received += r.Buffer.Length;
                        s.Input.AdvanceTo(r.Buffer.End);
                        if (r.IsCompleted) return;
                    }
                }
                var reading = ReadAsync();
                var start = net.Time.GetTimestamp();
                long sent = 0;
                while (sent < bytes && (duration is not { } d || net.Time.GetElapsedTime(start) < d))
                {
                    var mem = c.Output.GetMemory(65536);
                    c.Output.Advance(mem.Length);
                    sent += mem.Length;
                    await c.Output.FlushAsync();
                }
                await c.Output.CompleteAsync();
                await reading;
            });
            LastSegments = a.Counters.SentBy(UserNet.Core.Layer.Tcp) + b.Counters.SentBy(UserNet.Core.Layer.Tcp);
            return received;
        }

        /// <summary>TCP segments both stacks sent in the last run.</summary>
        public static long LastSegments;
    }
}
