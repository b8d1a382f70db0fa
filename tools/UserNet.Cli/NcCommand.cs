using System.CommandLine;
using System.Net;
using System.Text;
using UserNet.Hosting;
using UserNet.Udp;
using UserNet.Wire;

namespace UserNet.Cli;

/// <summary>
/// <c>usernet nc</c>: netcat over the stack. UDP today (<c>-u</c>): each stdin line goes out as one datagram, each
/// datagram that comes back is written to stdout. With <c>-l PORT</c> it listens and answers the first peer.
/// </summary>
internal static class NcCommand
{
    public static Command Create()
    {
        var args = new StackArguments();
        var udp = new Option<bool>("-u") { Description = "UDP (TCP is not built yet)" };
        var listen = new Option<int?>("-l") { Description = "listen on PORT instead of connecting" };
        var verbose = new Option<bool>("-v") { Description = "say what is happening, on stderr" };
        var wait = new Option<double>("-w") { Description = "after stdin ends, seconds to wait for replies", DefaultValueFactory = _ => 1.0 };
        var host = new Argument<string?>("HOST") { Arity = ArgumentArity.ZeroOrOne };
        var port = new Argument<int?>("PORT") { Arity = ArgumentArity.ZeroOrOne };
        var cmd = new Command("nc", "netcat over the stack: copy stdin to a peer and what it sends to stdout");
        args.AddTo(cmd);
        cmd.Add(udp); cmd.Add(listen); cmd.Add(verbose); cmd.Add(wait); cmd.Add(host); cmd.Add(port);
        cmd.SetAction(async (p, ct) =>
        {
            if (!p.GetValue(udp)) throw new CliException("TCP is not built yet; use -u for UDP");
            int? listenPort = p.GetValue(listen);
            IPEndPoint? remote = null;
            if (listenPort is { } lp)
            {
                if (lp is < 1 or > 65535) throw new CliException("-l PORT must be 1 to 65535");
            }
            else
            {
                var h = p.GetValue(host);
                var port0 = p.GetValue(port);
                if (h is null || port0 is null) throw new CliException("give HOST and PORT, or -l PORT");
                if (!Ipv4Address.TryParse(h, out var addr)) throw new CliException($"'{h}' is not an IPv4 address");
                if (port0 is < 1 or > 65535) throw new CliException("PORT must be 1 to 65535");
                remote = new IPEndPoint(addr.ToIPAddress(), port0.Value);
            }
            using var device = args.OpenTap(p);
            var options = args.BuildOptions(p, device.Mtu, device.Name);
            var (stop, regs) = Signals.OnTermination();
            using var _ = regs;
            await using var stackHost = new StackHost(device, options);
            await stackHost.StartAsync();
            using var socket = await UdpSocket.BindAsync(stackHost, listenPort ?? 0);
            if (remote is not null) await socket.ConnectAsync(remote);
            if (p.GetValue(verbose))
                Console.Error.WriteLine(remote is null
                    ? $"usernet nc: listening on udp {socket.LocalEndPoint}"
                    : $"usernet nc: udp {socket.LocalEndPoint} -> {remote}");
            return await RunUdpAsync(socket, remote, TimeSpan.FromSeconds(p.GetValue(wait)), Console.In, Console.OpenStandardOutput(), stop.Token);
        });
        return cmd;
    }

    private static async Task<int> RunUdpAsync(UdpSocket socket, IPEndPoint? remote, TimeSpan linger, TextReader input, Stream output, CancellationToken stop)
    {
        var peerKnown = new TaskCompletionSource<IPEndPoint>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (remote is not null) peerKnown.SetResult(remote);
        int exit = ExitCodes.Ok;
        var receiving = Task.Run(async () =>
        {
            var buffer = new byte[65535];
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    var r = await socket.ReceiveFromAsync(buffer, stop);
                    peerKnown.TrySetResult(r.RemoteEndPoint);
                    await output.WriteAsync(buffer.AsMemory(0, r.ReceivedBytes), stop);
                    await output.FlushAsync(stop);
                }
                catch (System.Net.Sockets.SocketException e)
                {
                    Console.Error.WriteLine($"usernet nc: {e.Message}");
                    exit = ExitCodes.NoReply;
                    return;
                }
                catch (OperationCanceledException) { return; }
                catch (ObjectDisposedException) { return; }
            }
        });
        try
        {
            while (await input.ReadLineAsync(stop) is { } line)
            {
                var to = await peerKnown.Task.WaitAsync(stop); // a listener answers whoever spoke first
                await socket.SendToAsync(Encoding.UTF8.GetBytes(line + "\n"), to, stop);
            }
            // End of input: like nc -q, wait a little for replies, then stop.
            await Task.WhenAny(receiving, Task.Delay(remote is null ? Timeout.InfiniteTimeSpan : linger, stop));
        }
        catch (OperationCanceledException) { }
        catch (System.Net.Sockets.SocketException e)
        {
            Console.Error.WriteLine($"usernet nc: {e.Message}");
            return ExitCodes.NoReply;
        }
        socket.Dispose();
        await receiving;
        return exit;
    }
}
