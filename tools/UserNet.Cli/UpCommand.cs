using System.CommandLine;
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
            Description = "built-in services, comma-separated: echo (UDP and TCP 7), discard (UDP and TCP 9), chargen (TCP 19), or none",
            DefaultValueFactory = _ => "echo,discard",
        };
        var cmd = new Command("up", "attach the stack to a TAP and serve until interrupted");
        args.AddTo(cmd);
        cmd.Add(trace);
        cmd.Add(serve);
        cmd.SetAction(async (p, ct) =>
        {
            var services = ParseServices(p.GetValue(serve)!);
            using var device = args.OpenTap(p);
            var options = args.BuildOptions(p, device.Mtu, device.Name);
            var (stop, regs) = Signals.OnTermination();
            using var _ = regs;
            var host = new StackHost(device, options);
            if (p.GetValue(trace)) host.Stack.Observer = new TextTracer(Console.Out, DateTime.Now - host.Now);
            await host.StartAsync();
            var running = await StackServices.StartAsync(host, services);
            var serving = services.Length == 0 ? "" : " serving " + string.Join(",", services);
            Console.WriteLine($"usernet: up on {device.Name} ip {options.Address} mac {options.Mac} mtu {device.Mtu}{serving}");
            try { await Task.Delay(Timeout.Infinite, stop.Token); }
            catch (OperationCanceledException) { }
            await running.DisposeAsync();
            await host.DisposeAsync();
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
