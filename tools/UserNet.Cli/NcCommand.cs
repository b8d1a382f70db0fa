using System.CommandLine;
using System.Net;
using System.Text;
using UserNet.Hosting;
using UserNet.Tcp;
using UserNet.Sockets;
using UserNet.Wire;

namespace UserNet.Cli;

/// <summary>
/// <c>usernet nc</c>: netcat over the stack, as OpenBSD nc with -N. TCP: stdin goes to the connection (half-closed
/// at end of input), what arrives goes to stdout, and it exits when the peer closes; <c>-l PORT</c> accepts one
/// connection. UDP (<c>-u</c>): each stdin line is a datagram, each datagram back is written to stdout.
/// </summary>
internal static class NcCommand
{
    public static Command Create()
    {
        var args = new StackArguments();
        var udp = new Option<bool>("-u") { Description = "UDP instead of TCP" };
        var listen = new Option<int?>("-l") { Description = "listen on PORT instead of connecting" };
        var verbose = new Option<bool>("-v") { Description = "say what is happening, on stderr, and the stack's counters at the end" };
        var wait = new Option<double>("-w") { Description = "after stdin ends, seconds to wait for replies", DefaultValueFactory = _ => 1.0 };
        var host = new Argument<string?>("HOST") { Arity = ArgumentArity.ZeroOrOne };
        var port = new Argument<int?>("PORT") { Arity = ArgumentArity.ZeroOrOne };
        var pcap = PcapOption.Create();
        var cmd = new Command("nc", "netcat over the stack: copy stdin to a peer and what it sends to stdout");
        args.AddTo(cmd);
        cmd.Add(udp); cmd.Add(listen); cmd.Add(verbose); cmd.Add(wait); cmd.Add(pcap); cmd.Add(host); cmd.Add(port);
        cmd.SetAction(async (p, ct) =>
        {
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
            using var recorder = PcapOption.OpenRecorder(p.GetValue(pcap), p.GetValue(args.Ip)); // disposed after the host: every frame is in the file
            var options = args.BuildOptions(p, device.Mtu, device.Name, recorder);
            var (stop, regs) = Signals.OnTermination();
            using var _ = regs;
            await using var stackHost = new StackHost(device, options);
            await stackHost.StartAsync();
            if (!p.GetValue(udp))
            {
                int rc = await RunTcpAsync(stackHost, listenPort, remote, p.GetValue(verbose), stop.Token);
                if (p.GetValue(verbose)) Console.Error.Write(stackHost.Counters.Format()); // what the stack did, retransmissions by cause included
                return rc;
            }
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

    private static async Task<int> RunTcpAsync(StackHost host, int? listenPort, IPEndPoint? remote, bool verbose, CancellationToken stop)
    {
        TcpConnection conn;
        try
        {
            if (listenPort is { } lp)
            {
                await using var listener = await TcpConnectionListener.StartAsync(host, lp, backlog: 1);
                if (verbose) Console.Error.WriteLine($"usernet nc: listening on tcp {listener.LocalEndPoint}");
                conn = await listener.AcceptAsync(stop);
            }
            else conn = await TcpConnection.ConnectAsync(host, remote!, cancellationToken: stop);
        }
        catch (System.Net.Sockets.SocketException e)
        {
            Console.Error.WriteLine($"usernet nc: connect to {remote}: {e.Message}");
            return ExitCodes.NoReply;
        }
        catch (OperationCanceledException) { return ExitCodes.Error; }
        if (verbose) Console.Error.WriteLine($"usernet nc: connected {conn.LocalEndPoint} <-> {conn.RemoteEndPoint}");

        int exit = ExitCodes.Ok;
        var stdout = Console.OpenStandardOutput();
        using var inputDone = CancellationTokenSource.CreateLinkedTokenSource(stop);
        // What arrives goes to stdout until the peer's FIN (or a reset).
        var receiving = Task.Run(async () =>
        {
            try { await DrainAsync(conn.Input, stdout, stop); }
            catch (System.Net.Sockets.SocketException e)
            {
                Console.Error.WriteLine($"usernet nc: {e.Message}");
                exit = ExitCodes.NoReply;
                inputDone.Cancel(); // the connection is gone: stop reading stdin too
            }
            catch (OperationCanceledException) { }
            await stdout.FlushAsync(CancellationToken.None);
        });
        // stdin goes out; at its end we half-close (nc -N), and keep receiving.
        var sending = Task.Run(async () =>
        {
            try
            {
                await PumpAsync(Console.OpenStandardInput(), conn.Output, inputDone.Token);
                await conn.Output.CompleteAsync();
            }
            catch (OperationCanceledException) { }
            catch (InvalidOperationException) { } // the connection went away under us
        });
        // Like OpenBSD nc: done when both inputs are done (stdin at its end, the peer's FIN), or the connection failed.
        await Task.WhenAny(Task.WhenAll(receiving, sending), Task.Delay(Timeout.Infinite, stop).ContinueWith(_ => { }));
        if (exit != ExitCodes.Ok || stop.IsCancellationRequested) conn.Abort();
        await conn.CloseAsync();
        // A kernel socket goes on sending after its process exits; the stack dies with ours. So stay until the peer
        // has acknowledged everything, our FIN included (FIN-WAIT-2, TIME-WAIT or CLOSED), or the connection failed
        // (TCP's own retry limits end it), or we are told to stop: exiting earlier loses the unacknowledged tail.
        while (conn.State is not (TcpState.Closed or TcpState.TimeWait or TcpState.FinWait2) && !conn.Closed.IsCompleted && !stop.IsCancellationRequested)
            await Task.WhenAny(conn.Closed, Task.Delay(20, CancellationToken.None));
        return exit;
    }

    // The console streams have no asynchronous I/O of their own: Stream.ReadAsync/WriteAsync run each call as a
    // thread-pool work item (BeginRead/BeginWrite), which made a 50 MB receive cost about 6,000 pool items, 15 per
    // wake of the reader, and a futex hand-off each. nc does blocking reads and writes; so do these, on the task's thread.

    /// <summary>What arrives goes to <paramref name="output"/>, a blocking write per buffer segment, until the peer's FIN.</summary>
    private static async Task DrainAsync(System.IO.Pipelines.PipeReader input, Stream output, CancellationToken stop)
    {
        while (true)
        {
            var r = await input.ReadAsync(stop);
            foreach (var segment in r.Buffer) output.Write(segment.Span);
            input.AdvanceTo(r.Buffer.End);
            if (r.IsCompleted) return;
        }
    }

    /// <summary>
    /// <paramref name="input"/> goes into the connection, blocking reads straight into the send pipe's memory, flushed
    /// every 64 KiB (or when a read brings less than it could, as a pipe does when the writer pauses) and at the end.
    /// </summary>
    private static async Task PumpAsync(Stream input, System.IO.Pipelines.PipeWriter output, CancellationToken stop)
    {
        const int Chunk = 16 * 1024, FlushEvery = 64 * 1024;
        int unflushed = 0;
        while (!stop.IsCancellationRequested)
        {
            var memory = output.GetMemory(Chunk);
            int n = input.Read(memory.Span);
            output.Advance(n);
            unflushed += n;
            if (n == 0 || n < memory.Length || unflushed >= FlushEvery)
            {
                if (unflushed > 0 && (await output.FlushAsync(stop)).IsCompleted) return;
                unflushed = 0;
                if (n == 0) return;
            }
        }
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
