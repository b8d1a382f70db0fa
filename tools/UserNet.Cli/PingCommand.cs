using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using UserNet.Hosting;
using UserNet.Sockets;
using UserNet.Wire;

namespace UserNet.Cli;

/// <summary><c>usernet ping</c>: a stack on the TAP just for the ping, printing what iputils ping prints.</summary>
internal static class PingCommand
{
    public static Command Create()
    {
        var args = new StackArguments();
        var count = new Option<int>("-c") { Description = "stop after sending COUNT requests", DefaultValueFactory = _ => 0 };
        var interval = new Option<double>("-i") { Description = "seconds between requests", DefaultValueFactory = _ => 1.0 };
        var size = new Option<int>("-s") { Description = "bytes of data per request", DefaultValueFactory = _ => 56 };
        var wait = new Option<double>("-W") { Description = "seconds to wait for a reply", DefaultValueFactory = _ => 10.0 };
        var quiet = new Option<bool>("-q") { Description = "print only the summary" };
        var pcap = PcapOption.Create();
        var target = new Argument<Ipv4Address>("TARGET") { CustomParser = r => StackArguments.ParseAddress(r) ?? default };
        var cmd = new Command("ping", "send ICMP echo requests from the stack, printing what iputils ping prints");
        args.AddTo(cmd);
        cmd.Add(count); cmd.Add(interval); cmd.Add(size); cmd.Add(wait); cmd.Add(quiet); cmd.Add(pcap); cmd.Add(target);
        cmd.SetAction(async (p, ct) =>
        {
            if (p.GetValue(count) < 0) throw new CliException("-c must be 0 (forever) or more");
            if (p.GetValue(interval) is < 0.001 or > 3600 or double.NaN) throw new CliException("-i must be between 0.001 and 3600 seconds");
            if (p.GetValue(size) is < 0 or > 65507) throw new CliException("-s must be between 0 and 65507");
            if (p.GetValue(wait) is <= 0 or > 3600 or double.NaN) throw new CliException("-W must be more than 0 and at most 3600 seconds");
            using var device = args.OpenTap(p);
            var recorder = PcapOption.OpenRecorder(p.GetValue(pcap), p.GetValue(args.Ip));
            var options = args.BuildOptions(p, device.Mtu, device.Name, recorder);
            var dst = p.GetValue(target);
            int dataSize = p.GetValue(size);
            var (stop, regs) = Signals.OnTermination();
            using var _ = regs;
            var host = new StackHost(device, options);
            try
            {
                await host.StartAsync();
                return await RunAsync(host, dst, p.GetValue(count), TimeSpan.FromSeconds(p.GetValue(interval)), dataSize,
                    TimeSpan.FromSeconds(p.GetValue(wait)), p.GetValue(quiet), Console.Out, stop.Token);
            }
            finally
            {
                await host.DisposeAsync();
                recorder?.Dispose(); // after the loop has stopped, so every frame is in the file
            }
        });
        return cmd;
    }

    /// <summary>The ping loop: requests at a fixed interval, replies printed as they come, statistics at the end.</summary>
    public static async Task<int> RunAsync(StackHost host, Ipv4Address dst, int count, TimeSpan interval, int dataSize,
        TimeSpan wait, bool quiet, TextWriter output, CancellationToken stop)
    {
        output.WriteLine($"PING {dst} ({dst}) {dataSize}({dataSize + 28}) bytes of data.");
        var id = host.Pinger.NewIdentifier();
        var rtts = new List<double>();
        var outstanding = new List<Task>();
        int transmitted = 0, errors = 0, pipe = 1;
        var finished = new Dictionary<long, PingResult>();
        long printed = 0;
        void Print(PingResult r)
        {
            if (r.IsError)
            {
                errors++;
                if (!quiet) output.WriteLine($"From {r.From} icmp_seq={r.Sequence} {r.ErrorText}");
                return;
            }
            rtts.Add(r.RoundTripTime.TotalMilliseconds);
            if (!quiet)
                output.WriteLine($"{r.DataLength + 8} bytes from {r.From}: icmp_seq={r.Sequence} ttl={r.Ttl} time={FormatRtt(r.RoundTripTime.TotalMilliseconds)} ms{(r.DataIntact ? "" : " (wrong data)")}");
        }
        var clock = Stopwatch.StartNew();
        var gate = new object();
        try
        {
            for (ushort seq = 1; count == 0 || transmitted < count; seq++)
            {
                stop.ThrowIfCancellationRequested();
                transmitted++;
                // iputils' "pipe": the most requests outstanding at once, counted as each one goes out.
                lock (gate) pipe = Math.Max(pipe, transmitted - (int)(printed + finished.Count));
                var s = seq;
                outstanding.Add(Task.Run(async () =>
                {
                    var reply = await host.Pinger.PingAsync(dst, id, s, dataSize, wait, stop);
                    if (reply is not { } r) return;
                    lock (gate)
                    {
                        // Tasks resume on the thread pool in any order; print in the order the stack matched them.
                        finished[r.Order] = r;
                        while (finished.Remove(printed + 1, out var next))
                        {
                            printed++;
                            Print(next);
                        }
                    }
                }));
                if (count != 0 && transmitted == count) break;
                await Task.Delay(interval, stop);
            }
            await Task.WhenAll(outstanding);
        }
        catch (OperationCanceledException) { }
        catch (InvalidOperationException e)
        {
            output.WriteLine($"ping: {e.Message}");
        }

        int received;
        lock (gate)
        {
            // A stop can leave a later reply waiting for an earlier one that was never printed: print the rest in order.
            foreach (var r in finished.OrderBy(kv => kv.Key).Select(kv => kv.Value)) Print(r);
            finished.Clear();
            received = rtts.Count;
        }
        output.WriteLine();
        output.WriteLine($"--- {dst} ping statistics ---");
        double loss = transmitted == 0 ? 0 : (transmitted - received) * 100.0 / transmitted;
        var errorsText = errors > 0 ? $"+{errors} errors, " : "";
        output.WriteLine($"{transmitted} packets transmitted, {received} received, {errorsText}{loss.ToString("G6", CultureInfo.InvariantCulture)}% packet loss, time {(long)clock.Elapsed.TotalMilliseconds}ms");
        // iputils ends with the rtt figures (when there were replies) and ", pipe N" (when N > 1), on one line.
        var last = new List<string>();
        if (received > 0)
        {
            lock (gate)
            {
                double min = rtts.Min(), max = rtts.Max(), avg = rtts.Average();
                double mdev = Math.Sqrt(Math.Max(0, rtts.Select(x => x * x).Average() - avg * avg));
                last.Add(string.Create(CultureInfo.InvariantCulture, $"rtt min/avg/max/mdev = {min:F3}/{avg:F3}/{max:F3}/{mdev:F3} ms"));
            }
        }
        if (pipe > 1) last.Add($"pipe {pipe}");
        if (last.Count > 0) output.WriteLine(string.Join(", ", last));
        return received > 0 ? ExitCodes.Ok : ExitCodes.NoReply;
    }

    /// <summary>iputils ping_common.c: 3 decimals under 1 ms, 2 under 10, 1 under 100, none above.</summary>
    internal static string FormatRtt(double ms) => ms switch
    {
        >= 99.95 => ((long)Math.Round(ms)).ToString(CultureInfo.InvariantCulture),
        >= 9.995 => ms.ToString("F1", CultureInfo.InvariantCulture),
        >= 1 => ms.ToString("F2", CultureInfo.InvariantCulture),
        _ => ms.ToString("F3", CultureInfo.InvariantCulture),
    };
}
