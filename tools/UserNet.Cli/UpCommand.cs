using System.CommandLine;
using System.CommandLine.Parsing;
using System.Diagnostics;
using System.Globalization;
using UserNet.Capture;
using UserNet.Core;
using UserNet.Hosting;
using UserNet.Services;
using UserNet.Tracing;
using UserNet.Wire;

namespace UserNet.Cli;

/// <summary><c>usernet up</c>: serve on a TAP until SIGINT/SIGTERM, then print the counters.</summary>
internal static class UpCommand
{
    public static Command Create()
    {
        var args = new StackArguments();
        var trace = new Option<bool>("--trace") { Description = "print one line per frame in and out, with the layer and its decision" };
        var serve = new Option<string>("--serve")
        {
            Description = "built-in services, comma-separated: echo (UDP and TCP 7), discard (UDP and TCP 9), chargen (TCP 19), iperf3 (TCP 5201), http (ASP.NET Core on TCP 80; http:PORT for another port), or none",
            DefaultValueFactory = _ => "echo,discard",
        };
        var pcap = PcapOption.Create();
        var stats = new Option<double?>("--stats")
        {
            Description = "every SECONDS, print the process's resident memory, managed heap, GC counts and threads on one line",
            HelpName = "SECONDS",
            CustomParser = ParseStatsInterval,
        };
        var cmd = new Command("up", "attach the stack to a TAP and serve until interrupted");
        args.AddTo(cmd);
        cmd.Add(trace);
        cmd.Add(serve);
        cmd.Add(pcap);
        cmd.Add(stats);
        cmd.SetAction(async (p, ct) =>
        {
            var services = ParseServices(p.GetValue(serve)!);
            var httpPort = HttpPortOf(services);
            var stackServices = services.Where(n => !IsHttp(n)).ToArray();
            using var device = args.OpenTap(p);
            var (stop, regs) = Signals.OnTermination();
            using var _ = regs;
            // The stack's clock starts with the host, made right after: the tracer and the recorder take that moment as zero.
            var observers = new List<IFrameObserver>();
            if (p.GetValue(trace)) observers.Add(new TextTracer(Console.Out, DateTime.Now));
            var recorder = PcapOption.OpenRecorder(p.GetValue(pcap), p.GetValue(args.Ip));
            if (recorder is not null) observers.Add(recorder);
            var options = args.BuildOptions(p, device.Mtu, device.Name, FrameObservers.Of(observers));
            var host = new StackHost(device, options);
            await host.StartAsync();
            var running = await StackServices.StartAsync(host, stackServices, new LineLogger("usernet: "));
            Microsoft.AspNetCore.Builder.WebApplication? http = null;
            try { if (httpPort is { } hp) http = await HttpService.StartAsync(host, hp); }
            catch (IOException e)
            {
                await running.DisposeAsync();
                await host.DisposeAsync();
                throw new CliException($"--serve http: {e.Message}"); // the port is another service's (Kestrel's words)
            }
            var serving = services.Length == 0 ? "" : " serving " + string.Join(",", services);
            Console.WriteLine($"usernet: up on {device.Name} ip {options.Address} mac {host.Mac} mtu {device.Mtu} offloads {(device.Offloads ? "tso4,csum" : "off")}{serving}");
            var reporting = p.GetValue(stats) is { } every ? ProcessStats.ReportAsync(TimeSpan.FromSeconds(every), Console.Out, stop.Token) : Task.CompletedTask;
            try { await Task.Delay(Timeout.Infinite, stop.Token); }
            catch (OperationCanceledException) { }
            await reporting;
            if (http is not null) await http.DisposeAsync();
            await running.DisposeAsync();
            await host.DisposeAsync();
            recorder?.Dispose();
            Console.WriteLine("usernet: down; counters:");
            Console.Write(host.Counters.Format());
            return ExitCodes.Ok;
        });
        return cmd;
    }

    /// <summary>--stats SECONDS: a positive, finite number of seconds (at most a day).</summary>
    internal static double? ParseStatsInterval(ArgumentResult r)
    {
        var s = r.Tokens.Count > 0 ? r.Tokens[0].Value : "";
        if (double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v is > 0 and <= 86400) return v;
        r.AddError($"--stats takes a number of seconds above 0 and at most 86400 (got '{s}')");
        return null;
    }

    internal static string[] ParseServices(string value)
    {
        var names = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (names is ["none"]) return [];
        foreach (var n in names)
        {
            if (IsHttp(n))
            {
                if (n != "http" && !(int.TryParse(n.AsSpan(5), NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is >= 1 and <= 65535))
                    throw new CliException($"--serve: '{n}': the http service takes a port from 1 to 65535 (http:8080), or none (port {HttpService.DefaultPort})");
                continue;
            }
            if (!StackServices.Known.Contains(n)) throw new CliException($"--serve: unknown service '{n}' (known: {string.Join(", ", StackServices.Known)}, http, http:PORT, none)");
        }
        var distinct = names.Distinct().ToArray();
        if (distinct.Count(IsHttp) > 1) throw new CliException("--serve: give the http service once");
        return distinct;
    }

    private static bool IsHttp(string name) => name == "http" || name.StartsWith("http:", StringComparison.Ordinal);

    /// <summary>The http service's port, if it is asked for.</summary>
    internal static int? HttpPortOf(IEnumerable<string> services)
    {
        foreach (var n in services)
            if (IsHttp(n)) return n == "http" ? HttpService.DefaultPort : int.Parse(n.AsSpan(5), CultureInfo.InvariantCulture);
        return null;
    }
}

/// <summary>
/// <c>--stats</c>: one line every interval with what the process holds, for soak runs that watch memory over time:
/// <c>usernet: stats t=10s rss_kib=61234 managed_kib=5120 gc0=3 gc1=1 gc2=0 threads=21</c>. RSS is VmRSS from
/// /proc/self/status (the working set where that is unreadable); managed is <see cref="GC.GetTotalMemory(bool)"/>
/// without forcing a collection; the GC counts are collections of each generation since the process started.
/// </summary>
internal static class ProcessStats
{
    public static async Task ReportAsync(TimeSpan every, TextWriter output, CancellationToken stop)
    {
        var clock = Stopwatch.StartNew();
        using var timer = new PeriodicTimer(every);
        try
        {
            while (await timer.WaitForNextTickAsync(stop).ConfigureAwait(false))
                output.WriteLine(Line(clock.Elapsed));
        }
        catch (OperationCanceledException) { }
    }

    public static string Line(TimeSpan elapsed)
    {
        var (rssKib, threads) = ReadStatus();
        return string.Create(CultureInfo.InvariantCulture,
            $"usernet: stats t={elapsed.TotalSeconds:F0}s rss_kib={rssKib} managed_kib={GC.GetTotalMemory(false) / 1024} "
            + $"gc0={GC.CollectionCount(0)} gc1={GC.CollectionCount(1)} gc2={GC.CollectionCount(2)} threads={threads}");
    }

    /// <summary>VmRSS (KiB) and Threads from /proc/self/status; the working set and the process's thread count without it.</summary>
    private static (long RssKib, int Threads) ReadStatus()
    {
        long rss = -1;
        int threads = -1;
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal)) rss = ParseField(line);
                else if (line.StartsWith("Threads:", StringComparison.Ordinal)) threads = (int)ParseField(line);
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        if (rss < 0) rss = Environment.WorkingSet / 1024;
        if (threads < 0) { using var me = Process.GetCurrentProcess(); threads = me.Threads.Count; }
        return (rss, threads);
    }

    /// <summary>The number in "Name:   1234 kB".</summary>
    private static long ParseField(string line)
    {
        var parts = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        return parts.Length >= 2 && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : -1;
    }
}

/// <summary>Prints what the services tell at Information level and above (iperf3's tests), one line each on stdout.</summary>
internal sealed class LineLogger(string prefix) : Microsoft.Extensions.Logging.ILogger
{
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
    public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => logLevel >= Microsoft.Extensions.Logging.LogLevel.Information;
    public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (IsEnabled(logLevel)) Console.WriteLine(prefix + formatter(state, exception));
    }
}

/// <summary>Hands each frame to several observers in turn (tracing and recording at once).</summary>
internal sealed class FrameObservers(IReadOnlyList<IFrameObserver> observers) : IFrameObserver
{
    /// <summary>None, the one, or all of them in turn.</summary>
    public static IFrameObserver? Of(IReadOnlyList<IFrameObserver> observers) => observers.Count switch
    {
        0 => null,
        1 => observers[0],
        _ => new FrameObservers(observers),
    };

    public void OnReassembled(ReadOnlySpan<byte> datagram, TimeSpan time)
    {
        foreach (var o in observers) o.OnReassembled(datagram, time);
    }

    public void OnFrame(FrameDirection direction, ReadOnlySpan<byte> frame, Layer layer, string decision, TimeSpan time)
    {
        foreach (var o in observers) o.OnFrame(direction, frame, layer, decision, time);
    }
}

/// <summary>--pcap FILE: record every frame a stack receives and sends, with its decisions, as pcapng.</summary>
internal static class PcapOption
{
    public static Option<string?> Create() =>
        new("--pcap") { Description = "record every frame in and out to FILE (pcapng), each with the stack's decision as its comment", HelpName = "FILE" };

    /// <summary>
    /// Opens the recorder (frames flushed one by one, so a killed process leaves a readable file), or null. The file's
    /// section comment says which stack it records (<c>usernet stack A.B.C.D/N</c>), so that a replay need not guess.
    /// </summary>
    public static PcapNgRecorder? OpenRecorder(string? path, Ipv4Subnet stack)
    {
        if (path is null) return null;
        try { return new PcapNgRecorder(new PcapNgWriter(File.Create(path), comment: $"usernet stack {stack}"), (DateTime.UtcNow - DateTime.UnixEpoch).Ticks * 100, flushEachFrame: true); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new CliException($"cannot write {path}: {e.Message}"); }
    }
}
