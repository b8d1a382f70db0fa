using System.Net;
using System.Net.Sockets;
using UserNet.Stack;
using UserNet.Tcp;

namespace UserNet.Sockets;

/// <summary>
/// A passive open on a port (like <see cref="System.Net.Sockets.TcpListener"/>, under a name that does not clash
/// with it): accepts connections from a bounded backlog. Thread-safe.
/// </summary>
public sealed class TcpConnectionListener : IAsyncDisposable, ITcpListenerUser
{
    private readonly IStackHost _host;
    private readonly HandoffQueue<TcpConnection> _accepted;
    private TcpListenerCore _core = null!;

    private TcpConnectionListener(IStackHost host)
    {
        _host = host;
        _accepted = new HandoffQueue<TcpConnection>(host.ApplicationScheduler);
    }

    /// <summary>Listens on <paramref name="port"/>; at most <paramref name="backlog"/> connections may be half-open or waiting to be accepted.</summary>
    /// <param name="host">The stack to listen on: a <c>StackHost</c>, or a <see cref="NetStack"/> driven by hand.</param>
    /// <param name="port">1 to 65535, or 0 for a free port from the dynamic range (49152-65535), which <see cref="LocalEndPoint"/> then tells.</param>
    /// <param name="backlog">Half-open plus not-yet-accepted connections allowed; a SYN beyond it gets a SYN cookie (<see cref="TcpSettings.SynCookies"/>), or is dropped (the peer retries) when they are off.</param>
    /// <param name="settings">Buffer sizes and timers for accepted connections; null takes the stack's (<c>StackOptions.Tcp</c>).</param>
    /// <exception cref="SocketException">AddressAlreadyInUse: another listener has the port.</exception>
    public static async Task<TcpConnectionListener> StartAsync(IStackHost host, int port, int backlog = 128, TcpSettings? settings = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentOutOfRangeException.ThrowIfNegative(port);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, 65535);
        ArgumentOutOfRangeException.ThrowIfLessThan(backlog, 1);
        var listener = new TcpConnectionListener(host);
        await host.InvokeAsync(stack =>
        {
            var bound = port == 0 ? stack.Tcp.PickListenPort() : (ushort)port;
            listener.LocalEndPoint = new IPEndPoint(stack.Address.Address.ToIPAddress(), bound);
            listener._core = new TcpListenerCore(bound, backlog, settings ?? stack.Options.Tcp, listener);
            stack.Tcp.Listen(listener._core);
            return true;
        }).ConfigureAwait(false);
        return listener;
    }

    /// <summary>The stack's address and the port listened on.</summary>
    public IPEndPoint LocalEndPoint { get; private set; } = null!;

    /// <summary>Waits for the next established connection.</summary>
    /// <exception cref="ObjectDisposedException">The listener was stopped.</exception>
    public ValueTask<TcpConnection> AcceptAsync(CancellationToken cancellationToken = default) => _accepted.TakeAsync(cancellationToken);

    /// <summary>An established connection if one is waiting (for a core driven by hand).</summary>
    internal bool TryAccept(out TcpConnection connection) => _accepted.TryTake(out connection);

    /// <summary>Stops listening; connections not yet accepted are reset.</summary>
    public async ValueTask DisposeAsync()
    {
        await _host.InvokeAsync(stack => { stack.Tcp.StopListening(_core); return true; }).ConfigureAwait(false);
    }

    // ---- ITcpListenerUser: called on the loop

    ITcpUser ITcpListenerUser.CreateUser(TcpSettings settings) => new TcpConnection(_host, settings);

    int ITcpListenerUser.Waiting => _accepted.Count;

    bool ITcpListenerUser.Accept(TcpControlBlock connection, ITcpUser user) => _accepted.TryAdd((TcpConnection)user);

    void ITcpListenerUser.OnClosed()
    {
        foreach (var c in _accepted.Complete()) c.ControlBlock?.Abort();
    }
}
