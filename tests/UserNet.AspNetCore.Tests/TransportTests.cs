using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using UserNet.Sockets;

namespace UserNet.AspNetCore.Tests;

/// <summary>The transport's connection ends, checked on the ConnectionContext Kestrel would get.</summary>
public class TransportTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    private static async Task<(IConnectionListener Listener, ConnectionContext Server, TcpConnection Client)> Connect(TwoStacks net)
    {
        var listener = await new StackTransportFactory(net.Server).BindAsync(new IPEndPoint(IPAddress.Any, 0));
        var port = ((IPEndPoint)listener.EndPoint).Port;
        var client = await TcpConnection.ConnectAsync(net.Client, new IPEndPoint(TwoStacks.ServerAddress, port));
        var server = (await listener.AcceptAsync().AsTask().WaitAsync(Wait))!;
        return (listener, server, client);
    }

    private static async Task<string> ReadToEnd(PipeReader reader)
    {
        var text = new StringBuilder();
        while (true)
        {
            var r = await reader.ReadAsync().AsTask().WaitAsync(Wait);
            text.Append(Encoding.ASCII.GetString(r.Buffer.ToArray()));
            reader.AdvanceTo(r.Buffer.End);
            if (r.IsCompleted) return text.ToString();
        }
    }

    [Fact]
    public async Task Features_EndPointsAndIds()
    {
        await using var net = await TwoStacks.StartAsync();
        var (listener, server, client) = await Connect(net);
        Assert.Equal(new IPEndPoint(TwoStacks.ServerAddress, ((IPEndPoint)listener.EndPoint).Port), server.LocalEndPoint);
        Assert.Equal(client.LocalEndPoint, server.RemoteEndPoint);
        Assert.Same(server.Transport, server.Features.Get<IConnectionTransportFeature>()!.Transport);
        Assert.Equal(server.ConnectionId, server.Features.Get<IConnectionIdFeature>()!.ConnectionId);
        Assert.Equal(server.RemoteEndPoint, server.Features.Get<IConnectionEndPointFeature>()!.RemoteEndPoint);
        Assert.NotNull(server.Features.Get<IConnectionItemsFeature>());
        Assert.False(server.Features.Get<IConnectionLifetimeFeature>()!.ConnectionClosed.IsCancellationRequested);
        await listener.UnbindAsync();
        Assert.Null(await listener.AcceptAsync().AsTask().WaitAsync(Wait));
    }

    [Fact]
    public async Task PeerFin_CompletesInputNormally_OutputStillSends_ThenClosedFires()
    {
        await using var net = await TwoStacks.StartAsync();
        var (listener, server, client) = await Connect(net);
        await client.Output.WriteAsync(Encoding.ASCII.GetBytes("request"));
        await client.ShutdownSendAsync(); // RFC 9293 3.6: a half-close; the other direction stays open
        Assert.Equal("request", await ReadToEnd(server.Transport.Input));
        Assert.False(server.ConnectionClosed.IsCancellationRequested);
        await server.Transport.Output.WriteAsync(Encoding.ASCII.GetBytes("response"));
        await server.Transport.Output.CompleteAsync(); // FIN
        Assert.Equal("response", await ReadToEnd(client.Input));
        await WaitFor(server.ConnectionClosed);
        await server.DisposeAsync();
        await listener.DisposeAsync();
    }

    [Fact]
    public async Task PeerReset_ReadsThrowConnectionReset_ClosedFires()
    {
        await using var net = await TwoStacks.StartAsync();
        var (listener, server, client) = await Connect(net);
        var read = server.Transport.Input.ReadAsync().AsTask();
        client.Abort(); // RST
        var e = await Assert.ThrowsAsync<ConnectionResetException>(() => read.WaitAsync(Wait));
        Assert.Equal(SocketError.ConnectionReset, Assert.IsType<SocketException>(e.InnerException).SocketErrorCode);
        await WaitFor(server.ConnectionClosed);
        // Writes after the reset are not errors to the application: the flush reports the end, as a closed socket does.
        var flush = await server.Transport.Output.WriteAsync(new byte[10]);
        Assert.True(flush.IsCompleted);
        await server.DisposeAsync();
        await listener.DisposeAsync();
    }

    [Fact]
    public async Task Abort_ResetsThePeer_LocalReadsEndWithTheReason()
    {
        await using var net = await TwoStacks.StartAsync();
        var (listener, server, client) = await Connect(net);
        var reason = new ConnectionAbortedException("enough");
        server.Abort(reason);
        var peer = await Assert.ThrowsAsync<SocketException>(() => client.Input.ReadAsync().AsTask().WaitAsync(Wait));
        Assert.Equal(SocketError.ConnectionReset, peer.SocketErrorCode);
        var local = await Assert.ThrowsAsync<ConnectionAbortedException>(() => server.Transport.Input.ReadAsync().AsTask().WaitAsync(Wait));
        Assert.Same(reason, local);
        await WaitFor(server.ConnectionClosed);
        await server.DisposeAsync();
        await listener.DisposeAsync();
    }

    [Fact]
    public async Task BindTheSamePortTwice_IsAddressInUse()
    {
        await using var net = await TwoStacks.StartAsync();
        var factory = new StackTransportFactory(net.Server);
        await using var first = await factory.BindAsync(new IPEndPoint(IPAddress.Any, 8080));
        await Assert.ThrowsAsync<AddressInUseException>(() => factory.BindAsync(new IPEndPoint(IPAddress.Any, 8080)).AsTask());
        Assert.False(factory.CanBind(new UnixDomainSocketEndPoint("/tmp/x")));
        Assert.True(factory.CanBind(new IPEndPoint(IPAddress.IPv6Any, 80)));
    }

    [Fact]
    public async Task ConnectionFactory_RoundTripThroughKestrel()
    {
        await using var net = await TwoStacks.StartAsync();
        await using var app = await TestApp.StartAsync(net.Server);
        await using var connection = await new StackConnectionFactory(net.Client).ConnectAsync(new IPEndPoint(TwoStacks.ServerAddress, 80));
        await connection.Transport.Output.WriteAsync(Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: 10.0.0.1\r\nConnection: close\r\n\r\n"));
        var response = await ReadToEnd(connection.Transport.Input); // Kestrel closes after the response: our input ends
        Assert.StartsWith("HTTP/1.1 200 OK\r\n", response);
        Assert.Contains("\r\n\r\n", response);
        Assert.Contains("hello from UserNet", response[response.IndexOf("\r\n\r\n", StringComparison.Ordinal)..]);
        Assert.Equal(new IPEndPoint(TwoStacks.ServerAddress, 80), connection.RemoteEndPoint);
    }

    [Fact]
    public async Task ConnectionFactory_Refused_IsASocketException()
    {
        await using var net = await TwoStacks.StartAsync();
        var e = await Assert.ThrowsAsync<SocketException>(() => new StackConnectionFactory(net.Client).ConnectAsync(new IPEndPoint(TwoStacks.ServerAddress, 9)).AsTask());
        Assert.Equal(SocketError.ConnectionRefused, e.SocketErrorCode);
    }

    private static Task WaitFor(CancellationToken token)
    {
        var tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        token.Register(() => tcs.TrySetResult());
        return tcs.Task.WaitAsync(Wait);
    }
}
