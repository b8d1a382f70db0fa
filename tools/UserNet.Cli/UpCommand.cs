using System.CommandLine;
using UserNet.Capture;
using UserNet.Core;
using UserNet.Hosting;
using UserNet.Services;
using UserNet.Tracing;

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
            Description = "built-in services, comma-separated: echo (UDP and TCP 7), discard (UDP and TCP 9), chargen (TCP 19), iperf3 (TCP 5201), or none",
            DefaultValueFactory = _ => "echo,discard",
        };
        var pcap = PcapOption.Create();
        var cmd = new Command("up", "attach the stack to a TAP and serve until interrupted");
        args.AddTo(cmd);
        cmd.Add(trace);
        cmd.Add(serve);
        cmd.Add(pcap);
        cmd.SetAction(async (p, ct) =>
        {
            var services = ParseServices(p.GetValue(serve)!);
            using var device = args.OpenTap(p);
            var (stop, regs) = Signals.OnTermination();
            using var _ = regs;
            // The stack's clock starts with the host, made right after: the tracer and the recorder take that moment as zero.
            var observers = new List<IFrameObserver>();
            if (p.GetValue(trace)) observers.Add(new TextTracer(Console.Out, DateTime.Now));
            var recorder = PcapOption.OpenRecorder(p.GetValue(pcap));
            if (recorder is not null) observers.Add(recorder);
            var options = args.BuildOptions(p, device.Mtu, device.Name, FrameObservers.Of(observers));
            var host = new StackHost(device, options);
            await host.StartAsync();
            var running = await StackServices.StartAsync(host, services, new LineLogger("usernet: "));
            var serving = services.Length == 0 ? "" : " serving " + string.Join(",", services);
            Console.WriteLine($"usernet: up on {device.Name} ip {options.Address} mac {host.Mac} mtu {device.Mtu} offloads {(device.Offloads ? "tso4,csum" : "off")}{serving}");
            try { await Task.Delay(Timeout.Infinite, stop.Token); }
            catch (OperationCanceledException) { }
            await running.DisposeAsync();
            await host.DisposeAsync();
            recorder?.Dispose();
            Console.WriteLine("usernet: down; counters:");
            Console.Write(host.Counters.Format());
            return ExitCodes.Ok;
        });
        return cmd;
    }

    internal static string[] ParseServices(string value)
    {
        var names = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (names is ["none"]) return [];
        foreach (var n in names)
            if (!StackServices.Known.Contains(n)) throw new CliException($"--serve: unknown service '{n}' (known: {string.Join(", ", StackServices.Known)}, none)");
        return names.Distinct().ToArray();
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

    /// <summary>Opens the recorder (frames flushed one by one, so a killed process leaves a readable file), or null.</summary>
    public static PcapNgRecorder? OpenRecorder(string? path)
    {
        if (path is null) return null;
        try { return new PcapNgRecorder(new PcapNgWriter(File.Create(path)), (DateTime.UtcNow - DateTime.UnixEpoch).Ticks * 100, flushEachFrame: true); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new CliException($"cannot write {path}: {e.Message}"); }
    }
}
