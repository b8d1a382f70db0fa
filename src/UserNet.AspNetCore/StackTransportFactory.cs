using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using UserNet.Sockets;
using UserNet.Stack;

namespace UserNet.AspNetCore;

/// <summary>
/// Kestrel's transport on a UserNet host: binds Kestrel's endpoints as <see cref="TcpConnectionListener"/>s on the
/// stack, so that nothing is bound on the kernel. An endpoint's address must be the host's own or
/// <see cref="IPAddress.Any"/> / <see cref="IPAddress.IPv6Any"/> (both meaning the host's address); port 0 takes a
/// free port, which the bound endpoint tells. Register it with
/// <see cref="UserNetWebHostBuilderExtensions.UseUserNet"/>.
/// </summary>
public sealed partial class StackTransportFactory : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    private readonly IStackHost _host;
    private readonly ILogger _logger;

    /// <param name="host">The stack to serve on (a <c>StackHost</c>, a simulated host).</param>
    /// <param name="loggerFactory">Where binding and connections are logged (category UserNet.AspNetCore); null for nowhere.</param>
    public StackTransportFactory(IStackHost host, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        _host = host;
        _logger = (ILogger?)loggerFactory?.CreateLogger("UserNet.AspNetCore") ?? NullLogger.Instance;
    }

    /// <summary>IP endpoints (IPv4, and IPv6's any-address, which means the host's IPv4 address): the ones this transport takes.</summary>
    public bool CanBind(EndPoint endpoint) => endpoint is IPEndPoint;

    /// <summary>Listens on the stack at <paramref name="endpoint"/>'s port.</summary>
    /// <exception cref="NotSupportedException">Not an <see cref="IPEndPoint"/>.</exception>
    /// <exception cref="InvalidOperationException">The address is neither the host's nor an any-address.</exception>
    /// <exception cref="AddressInUseException">Something on the stack already listens on the port.</exception>
    public async ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        if (endpoint is not IPEndPoint ip)
            throw new NotSupportedException($"{endpoint} is not an IP endpoint: a UserNet host listens on its IPv4 address and a port.");
        var subnet = _host.Address;
        var ours = subnet.Address.ToIPAddress();
        var address = ip.Address.IsIPv4MappedToIPv6 ? ip.Address.MapToIPv4() : ip.Address;
        if (!address.Equals(IPAddress.Any) && !address.Equals(IPAddress.IPv6Any) && !address.Equals(ours))
            throw new InvalidOperationException($"{ip.Address} is not an address of this UserNet host ({subnet}).");
        cancellationToken.ThrowIfCancellationRequested();
        TcpConnectionListener listener;
        try { listener = await TcpConnectionListener.StartAsync(_host, ip.Port).ConfigureAwait(false); }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            throw new AddressInUseException($"Port {ip.Port} is already in use on the UserNet host {ours}.", e);
        }
        LogBound(_logger, listener.LocalEndPoint);
        return new StackConnectionListener(listener, _logger);
    }

    [LoggerMessage(1, LogLevel.Debug, "Listening on the UserNet stack at {EndPoint}")]
    private static partial void LogBound(ILogger logger, IPEndPoint endPoint);
}

/// <summary>One bound endpoint: hands Kestrel each accepted connection as a <see cref="StackConnectionContext"/>.</summary>
internal sealed partial class StackConnectionListener(TcpConnectionListener listener, ILogger logger) : IConnectionListener
{
    private int _unbound;

    public EndPoint EndPoint => listener.LocalEndPoint;

    /// <summary>The next connection; null once unbound (Kestrel's accept loop then ends).</summary>
    public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            var connection = await listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
            var context = new StackConnectionContext(connection);
            LogAccepted(logger, context.ConnectionId, connection.RemoteEndPoint);
            return context;
        }
        catch (ObjectDisposedException) { return null; }
    }

    public async ValueTask UnbindAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _unbound, 1) == 0) await listener.DisposeAsync().ConfigureAwait(false);
    }

    public ValueTask DisposeAsync() => UnbindAsync();

    [LoggerMessage(2, LogLevel.Debug, "Connection {ConnectionId} accepted from {Remote}")]
    private static partial void LogAccepted(ILogger logger, string connectionId, IPEndPoint remote);
}
