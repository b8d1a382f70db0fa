using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using UserNet.Stack;

namespace UserNet.Sockets;

/// <summary>
/// <see cref="HttpClient"/> over a UserNet stack: a <see cref="SocketsHttpHandler.ConnectCallback"/> that opens each
/// HTTP connection as a <see cref="TcpConnection"/> on the stack instead of a kernel socket. Everything else (pooling
/// and keep-alive, HTTP/1.1 framing, timeouts, redirects) is SocketsHttpHandler's own.
/// </summary>
public static class StackHttp
{
    /// <summary>
    /// A connect callback that opens TCP connections on <paramref name="host"/>. Cancelling the token while the
    /// handshake runs aborts it (the half-open connection is reset).
    /// </summary>
    /// <param name="host">The stack to connect from.</param>
    /// <param name="resolve">Turns a host name into an IPv4 address; null takes literal IPv4 addresses only, and a name then
    /// fails as a failed DNS lookup does: <see cref="HttpRequestException"/> with an inner
    /// <see cref="SocketException"/> (<see cref="SocketError.HostNotFound"/>).</param>
    public static Func<SocketsHttpConnectionContext, CancellationToken, ValueTask<Stream>> ConnectCallback(
        IStackHost host, Func<string, CancellationToken, ValueTask<IPAddress>>? resolve = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        return async (context, cancellationToken) =>
        {
            var target = context.DnsEndPoint;
            IPAddress address;
            if (IPAddress.TryParse(target.Host, out var literal)) address = literal;
            else if (resolve is null) throw new SocketException((int)SocketError.HostNotFound);
            else address = await resolve(target.Host, cancellationToken).ConfigureAwait(false);
            if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
            if (address.AddressFamily != AddressFamily.InterNetwork) throw new SocketException((int)SocketError.AddressFamilyNotSupported);
            var connection = await TcpConnection.ConnectAsync(host, new IPEndPoint(address, target.Port), cancellationToken: cancellationToken).ConfigureAwait(false);
            return connection.GetStream();
        };
    }

    /// <summary>
    /// A <see cref="SocketsHttpHandler"/> whose connections go through <paramref name="host"/> (see
    /// <see cref="ConnectCallback"/>), with no proxy. Give it to an <see cref="HttpClient"/>; set its other properties
    /// (pool lifetimes, connect timeout) as for any handler.
    /// </summary>
    /// <param name="host">The stack to connect from.</param>
    /// <param name="resolve">Host name to address; null for literal IPv4 addresses only.</param>
    public static SocketsHttpHandler CreateHandler(IStackHost host, Func<string, CancellationToken, ValueTask<IPAddress>>? resolve = null) =>
        new() { ConnectCallback = ConnectCallback(host, resolve), UseProxy = false };
}
