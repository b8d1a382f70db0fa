using UserNet.Hosting;
using UserNet.Tcp;
using UserNet.Udp;

namespace UserNet.Services;

/// <summary>Starts the named built-in services on a stack: echo and discard on UDP and TCP, chargen on TCP.</summary>
public static class StackServices
{
    public static readonly IReadOnlyList<string> Known = ["echo", "discard", "chargen"];

    /// <summary>Binds and starts the services; dispose the result to stop them.</summary>
    public static async Task<IAsyncDisposable> StartAsync(StackHost host, IEnumerable<string> names)
    {
        var running = new Running();
        try
        {
            foreach (var name in names)
            {
                switch (name)
                {
                    case "echo":
                        var ue = await UdpSocket.BindAsync(host, UdpServices.EchoPort).ConfigureAwait(false);
                        running.Add(ue, UdpServices.RunEchoAsync(ue, running.Stop));
                        var te = await TcpListener.StartAsync(host, TcpServices.EchoPort).ConfigureAwait(false);
                        running.Add(te, TcpServices.RunAsync(te, TcpServices.EchoAsync, running.Stop));
                        break;
                    case "discard":
                        var ud = await UdpSocket.BindAsync(host, UdpServices.DiscardPort).ConfigureAwait(false);
                        running.Add(ud, UdpServices.RunDiscardAsync(ud, running.Stop));
                        var td = await TcpListener.StartAsync(host, TcpServices.DiscardPort).ConfigureAwait(false);
                        running.Add(td, TcpServices.RunAsync(td, TcpServices.DiscardAsync, running.Stop));
                        break;
                    case "chargen":
                        var tc = await TcpListener.StartAsync(host, TcpServices.ChargenPort).ConfigureAwait(false);
                        running.Add(tc, TcpServices.RunAsync(tc, TcpServices.ChargenAsync, running.Stop));
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
                else if (e is TcpListener l) await l.DisposeAsync().ConfigureAwait(false);
            }
            try { await Task.WhenAll(_items.Select(i => i.Task)).ConfigureAwait(false); }
            catch (Exception) when (_cts.IsCancellationRequested) { }
            _cts.Dispose();
        }
    }
}
