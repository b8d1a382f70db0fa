using System.Buffers;
using Microsoft.Extensions.Logging;
using UserNet.Sockets;
using UserNet.Stack;

namespace UserNet.Services;

/// <summary>
/// The built-in services: echo (RFC 862) and discard (RFC 863) on UDP and TCP, chargen (RFC 864) on TCP, and an
/// iperf3 server (TCP 5201, iperf 3.12's protocol, TCP tests only) for the kernel's <c>iperf3 -c</c>. They are
/// ordinary clients of the sockets, written so that they run wherever the host runs application code (the thread
/// pool of a <c>StackHost</c>, or the driving thread of a bare core, as a replay drives it).
/// </summary>
public static partial class StackServices
{
    public const int EchoPort = 7, DiscardPort = 9, ChargenPort = 19;
    /// <summary>iperf3's port; the server takes one test at a time, as iperf3 does.</summary>
    public const int Iperf3Port = 5201;

    /// <summary>The names <see cref="StartAsync"/> takes.</summary>
    public static readonly IReadOnlyList<string> Known = ["echo", "discard", "chargen", "iperf3"];

    /// <summary>Binds and starts the services; dispose the result to stop them.</summary>
    /// <param name="host">The stack to serve on.</param>
    /// <param name="names">Which services (see <see cref="Known"/>).</param>
    /// <param name="logger">Told what each service does with each datagram, read and connection, at Debug level, and each
    /// iperf3 test's start and outcome at Information level; null for nothing.</param>
    /// <exception cref="ArgumentException">An unknown name.</exception>
    public static async Task<IAsyncDisposable> StartAsync(IStackHost host, IEnumerable<string> names, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        var running = new Running();
        var log = logger is { } l && l.IsEnabled(LogLevel.Debug) ? l : null;
        try
        {
            foreach (var name in names)
            {
                switch (name)
                {
                    case "echo":
                        var ue = await UdpSocket.BindAsync(host, EchoPort).ConfigureAwait(false);
                        running.Add(ue, UdpServiceAsync(ue, echo: true, log, running.Stop));
                        var te = await TcpConnectionListener.StartAsync(host, EchoPort).ConfigureAwait(false);
                        running.Add(te, AcceptAsync(te, "echo", TcpEchoAsync, log, running.Stop));
                        break;
                    case "discard":
                        var ud = await UdpSocket.BindAsync(host, DiscardPort).ConfigureAwait(false);
                        running.Add(ud, UdpServiceAsync(ud, echo: false, log, running.Stop));
                        var td = await TcpConnectionListener.StartAsync(host, DiscardPort).ConfigureAwait(false);
                        running.Add(td, AcceptAsync(td, "discard", TcpDiscardAsync, log, running.Stop));
                        break;
                    case "chargen":
                        var tc = await TcpConnectionListener.StartAsync(host, ChargenPort).ConfigureAwait(false);
                        running.Add(tc, AcceptAsync(tc, "chargen", TcpChargenAsync, log, running.Stop));
                        break;
                    case "iperf3":
                        var ti = await TcpConnectionListener.StartAsync(host, Iperf3Port, settings: Iperf3Server.Settings(host)).ConfigureAwait(false);
                        running.Add(ti, new Iperf3Server(host, logger).RunAsync(ti, running.Stop));
                        break;
                    default:
                        throw new ArgumentException($"unknown service '{name}' (known: {string.Join(", ", Known)})");
                }
            }
        }
        catch
        {
            await running.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return running;
    }

    private static string Bytes(long n) => n == 1 ? "1 byte" : $"{n} bytes";

    /// <summary>
    /// RFC 862 over UDP (<paramref name="echo"/>): every datagram goes back to its sender unchanged; RFC 863: datagrams
    /// are received and thrown away.
    /// </summary>
    private static async Task UdpServiceAsync(UdpSocket socket, bool echo, ILogger? log, CancellationToken stop)
    {
        var buffer = new byte[65535];
        while (!stop.IsCancellationRequested)
        {
            try
            {
                UdpReceiveFromResult r;
                try { r = await socket.ReceiveFromAsync(buffer, stop).ConfigureAwait(false); }
                catch (System.Net.Sockets.SocketException) { continue; } // an ICMP error about an earlier echo: nothing to do
                if (!echo)
                {
                    if (log is not null) UdpDiscarded(log, Bytes(r.ReceivedBytes), r.RemoteEndPoint);
                    continue;
                }
                if (log is not null) UdpEchoed(log, Bytes(r.ReceivedBytes), r.RemoteEndPoint);
                await socket.SendToAsync(buffer.AsMemory(0, r.ReceivedBytes), r.RemoteEndPoint, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException) { return; }
            catch (ObjectDisposedException) { return; }
        }
    }

    /// <summary>Accepts connections until <paramref name="stop"/> and serves each with <paramref name="serve"/>.</summary>
    private static async Task AcceptAsync(TcpConnectionListener listener, string name,
        Func<TcpConnection, string, ILogger?, CancellationToken, Task> serve, ILogger? log, CancellationToken stop)
    {
        var sessions = new List<Task>();
        while (!stop.IsCancellationRequested)
        {
            TcpConnection c;
            try { c = await listener.AcceptAsync(stop).ConfigureAwait(false); }
            catch (OperationCanceledException) { break; }
            catch (ObjectDisposedException) { break; }
            if (log is not null) TcpAccepted(log, name, c.RemoteEndPoint);
            sessions.RemoveAll(t => t.IsCompleted);
            sessions.Add(SessionAsync(c, name, serve, log, stop)); // runs until its first wait, then where the host says
        }
        try { await Task.WhenAll(sessions).ConfigureAwait(false); } catch (Exception) { }
    }

    private static async Task SessionAsync(TcpConnection c, string name, Func<TcpConnection, string, ILogger?, CancellationToken, Task> serve,
        ILogger? log, CancellationToken stop)
    {
        try { await serve(c, name, log, stop).ConfigureAwait(false); }
        catch (System.Net.Sockets.SocketException e)
        {
            if (log is not null) TcpGone(log, name, c.RemoteEndPoint, e.SocketErrorCode);
        }
        catch (Exception) when (c.State is Tcp.TcpState.Closed || stop.IsCancellationRequested) { } // reset or stopping
        finally { await c.CloseAsync().ConfigureAwait(false); }
    }

    /// <summary>RFC 862 over TCP: send back everything received; close when the client does.</summary>
    private static async Task TcpEchoAsync(TcpConnection c, string name, ILogger? log, CancellationToken stop)
    {
        while (true)
        {
            var r = await c.Input.ReadAsync(stop).ConfigureAwait(false);
            var buffer = r.Buffer;
            if (!buffer.IsEmpty)
            {
                if (log is not null) TcpEchoed(log, Bytes(buffer.Length), c.RemoteEndPoint);
                foreach (var segment in buffer) c.Output.Write(segment.Span);
                c.Input.AdvanceTo(buffer.End);
                var f = await c.Output.FlushAsync(stop).ConfigureAwait(false);
                if (f.IsCompleted) return;
                continue; // the end of input, if it came too, is taken by the next read
            }
            c.Input.AdvanceTo(buffer.End);
            if (r.IsCompleted) break;
        }
        if (log is not null) TcpEnded(log, name, c.RemoteEndPoint);
        await c.Output.CompleteAsync().ConfigureAwait(false);
    }

    /// <summary>RFC 863 over TCP: read and throw away; close when the client does.</summary>
    private static async Task TcpDiscardAsync(TcpConnection c, string name, ILogger? log, CancellationToken stop)
    {
        while (true)
        {
            var r = await c.Input.ReadAsync(stop).ConfigureAwait(false);
            var buffer = r.Buffer;
            if (!buffer.IsEmpty)
            {
                if (log is not null) TcpDiscarded(log, name, Bytes(buffer.Length), c.RemoteEndPoint);
                c.Input.AdvanceTo(buffer.End);
                continue;
            }
            c.Input.AdvanceTo(buffer.End);
            if (r.IsCompleted) break;
        }
        if (log is not null) TcpEnded(log, name, c.RemoteEndPoint);
        await c.Output.CompleteAsync().ConfigureAwait(false);
    }

    /// <summary>RFC 864: lines of 72 printable characters, each starting one further along, until the client goes.</summary>
    private static async Task TcpChargenAsync(TcpConnection c, string name, ILogger? log, CancellationToken stop)
    {
        const int Printable = 95, LineLength = 72;
        var drain = TcpDiscardAsync(c, name, log, stop); // input is ignored; its end (or a reset) ends the service
        int start = 0;
        while (!drain.IsCompleted && !stop.IsCancellationRequested)
        {
            var span = c.Output.GetSpan(LineLength + 2);
            for (int i = 0; i < LineLength; i++) span[i] = (byte)(' ' + (start + i) % Printable);
            span[LineLength] = (byte)'\r';
            span[LineLength + 1] = (byte)'\n';
            c.Output.Advance(LineLength + 2);
            start = (start + 1) % Printable;
            if (start % 16 == 0)
            {
                var f = await c.Output.FlushAsync(stop).ConfigureAwait(false);
                if (f.IsCompleted) break;
            }
        }
        await drain.ConfigureAwait(false);
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "the udp echo service sends the {Bytes} back to {Remote}")]
    private static partial void UdpEchoed(ILogger logger, string bytes, System.Net.IPEndPoint remote);

    [LoggerMessage(Level = LogLevel.Debug, Message = "the udp discard service throws away the {Bytes} from {Remote}")]
    private static partial void UdpDiscarded(ILogger logger, string bytes, System.Net.IPEndPoint remote);

    [LoggerMessage(Level = LogLevel.Debug, Message = "the tcp {Service} service accepts the connection from {Remote}")]
    private static partial void TcpAccepted(ILogger logger, string service, System.Net.IPEndPoint remote);

    [LoggerMessage(Level = LogLevel.Debug, Message = "the tcp echo service reads {Bytes} from {Remote} and writes them back")]
    private static partial void TcpEchoed(ILogger logger, string bytes, System.Net.IPEndPoint remote);

    [LoggerMessage(Level = LogLevel.Debug, Message = "the tcp {Service} service reads {Bytes} from {Remote} and throws them away")]
    private static partial void TcpDiscarded(ILogger logger, string service, string bytes, System.Net.IPEndPoint remote);

    [LoggerMessage(Level = LogLevel.Debug, Message = "the tcp {Service} service reads the end of input from {Remote} and closes the connection")]
    private static partial void TcpEnded(ILogger logger, string service, System.Net.IPEndPoint remote);

    [LoggerMessage(Level = LogLevel.Debug, Message = "the tcp {Service} service's connection from {Remote} is gone ({Error})")]
    private static partial void TcpGone(ILogger logger, string service, System.Net.IPEndPoint remote, System.Net.Sockets.SocketError error);

    private sealed class Running : IAsyncDisposable
    {
        private readonly CancellationTokenSource _cts = new();
        private readonly List<(object Endpoint, Task Task)> _items = new();
        public CancellationToken Stop => _cts.Token;
        public void Add(object endpoint, Task t) => _items.Add((endpoint, t));

        public async ValueTask DisposeAsync()
        {
            _cts.Cancel();
            foreach (var (e, _) in _items)
            {
                if (e is UdpSocket u) u.Dispose();
                else if (e is TcpConnectionListener l) await l.DisposeAsync().ConfigureAwait(false);
            }
            try { await Task.WhenAll(_items.Select(i => i.Task)).ConfigureAwait(false); }
            catch (Exception) when (_cts.IsCancellationRequested) { }
            _cts.Dispose();
        }
    }
}
