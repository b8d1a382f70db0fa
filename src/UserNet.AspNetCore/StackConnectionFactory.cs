using System.Net;
using Microsoft.AspNetCore.Connections;
using UserNet.Sockets;
using UserNet.Stack;

namespace UserNet.AspNetCore;

/// <summary>
/// The client side: connects a <see cref="ConnectionContext"/> (the connection's pipes, with the same ends as the
/// server's, see <see cref="StackTransportFactory"/>) to an IPv4 endpoint through a UserNet host. For connection
/// middleware clients (SignalR's, Bedrock-style protocols).
/// </summary>
public sealed class StackConnectionFactory : IConnectionFactory
{
    private readonly IStackHost _host;

    /// <param name="host">The stack to connect from.</param>
    public StackConnectionFactory(IStackHost host)
    {
        ArgumentNullException.ThrowIfNull(host);
        _host = host;
    }

    /// <summary>Opens a TCP connection to <paramref name="endpoint"/>; cancelling aborts the handshake.</summary>
    /// <exception cref="NotSupportedException">Not an <see cref="IPEndPoint"/>.</exception>
    /// <exception cref="System.Net.Sockets.SocketException">ConnectionRefused, TimedOut, HostUnreachable, NetworkUnreachable (see <see cref="TcpConnection.ConnectAsync(UserNet.Stack.IStackHost, System.Net.IPEndPoint, UserNet.Tcp.TcpSettings?, System.Threading.CancellationToken)"/>).</exception>
    public async ValueTask<ConnectionContext> ConnectAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        if (endpoint is not IPEndPoint ip) throw new NotSupportedException($"{endpoint} is not an IP endpoint: connect to an IPv4 address and a port.");
        var connection = await TcpConnection.ConnectAsync(_host, ip, cancellationToken: cancellationToken).ConfigureAwait(false);
        return new StackConnectionContext(connection);
    }
}
