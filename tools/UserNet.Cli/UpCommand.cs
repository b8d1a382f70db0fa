using System.CommandLine;
using UserNet.Hosting;
using UserNet.Tracing;

namespace UserNet.Cli;

/// <summary><c>usernet up</c>: serve on a TAP until SIGINT/SIGTERM, then print the counters.</summary>
internal static class UpCommand
{
    public static Command Create()
    {
        var args = new StackArguments();
        var trace = new Option<bool>("--trace") { Description = "print one line per frame in and out, with the layer and its decision" };
        var cmd = new Command("up", "attach the stack to a TAP and serve until interrupted");
        args.AddTo(cmd);
        cmd.Add(trace);
        cmd.SetAction(async (p, ct) =>
        {
            using var device = args.OpenTap(p);
            var options = args.BuildOptions(p, device.Mtu, device.Name);
            var (stop, regs) = Signals.OnTermination();
            using var _ = regs;
            var host = new StackHost(device, options);
            if (p.GetValue(trace)) host.Stack.Observer = new TextTracer(Console.Out, DateTime.Now - host.Now);
            await host.StartAsync();
            Console.WriteLine($"usernet: up on {device.Name} ip {options.Address} mac {options.Mac} mtu {device.Mtu}");
            try { await Task.Delay(Timeout.Infinite, stop.Token); }
            catch (OperationCanceledException) { }
            await host.DisposeAsync();
            Console.WriteLine("usernet: down; counters:");
            Console.Write(host.Counters.Format());
            return ExitCodes.Ok;
        });
        return cmd;
    }
}
