using System.Net;
using System.Net.Sockets;
using UserNet.Devices;
using UserNet.Hosting;
using UserNet.Sockets;
using UserNet.Stack;
using UserNet.Tcp;
using UserNet.Wire;

namespace UserNet.Tests.Sockets;

/// <summary>
/// A TcpConnection's stream fails as NetworkStream does (SocketsHttpHandler and code written for sockets look for
/// it): IOException with the SocketException inside for a failed connection, ObjectDisposedException after Dispose.
/// </summary>
public class TcpStreamErrorTests : IAsyncLifetime
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private static readonly IPAddress ServerAddress = IPAddress.Parse("10.0.0.1");
    private readonly MemoryLinkEnd _endA, _endB;
    private readonly StackHost _server, _client;

    public TcpStreamErrorTests()
    {
        (_endA, _endB) = MemoryLink.CreatePair();
        // Short retransmission limits, so that a cut link times a connection out within a second or two.
        var tcp = new TcpSettings { DataRetries = 3, MinRetransmitTimeout = TimeSpan.FromMilliseconds(50), MaxRetransmitTimeout = TimeSpan.FromMilliseconds(200), InitialRetransmitTimeout = TimeSpan.FromMilliseconds(100) };
        _server = new StackHost(_endA, new StackOptions { Address = Ipv4Subnet.Parse("10.0.0.1/24"), Name = "server", Tcp = tcp, Seed = 1 });
        _client = new StackHost(_endB, new StackOptions { Address = Ipv4Subnet.Parse("10.0.0.2/24"), Name = "client", Tcp = tcp, Seed = 2 });
    }

    public async Task InitializeAsync()
    {
        await _server.StartAsync();
        await _client.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _client.DisposeAsync();
        await _server.DisposeAsync();
    }

    private async Task<(TcpConnectionListener, TcpConnection Server, TcpConnection Client)> Connect()
    {
        var listener = await TcpConnectionListener.StartAsync(_server, 0);
        var client = await TcpConnection.ConnectAsync(_client, listener.LocalEndPoint);
        var server = await listener.AcceptAsync().AsTask().WaitAsync(Wait);
        return (listener, server, client);
    }

    [Fact]
    public async Task ListenerOnPortZero_TakesAPortFromTheDynamicRange()
    {
        await using var listener = await TcpConnectionListener.StartAsync(_server, 0);
        Assert.Equal(ServerAddress, listener.LocalEndPoint.Address);
        Assert.InRange(listener.LocalEndPoint.Port, 49152, 65535); // RFC 6335 section 6
        Assert.Equal(_server.Address, ((IStackHost)_server).Address);
    }

    [Fact]
    public async Task Rfc9293_3_10_7_ResetByPeer_ReadIsIOExceptionWithConnectionReset()
    {
        var (listener, server, client) = await Connect();
        await using var _ = listener;
        var stream = client.GetStream();
        var read = stream.ReadAsync(new byte[100]).AsTask();
        server.Abort();
        var e = await Assert.ThrowsAsync<IOException>(() => read.WaitAsync(Wait));
        Assert.Equal(SocketError.ConnectionReset, Assert.IsType<SocketException>(e.InnerException).SocketErrorCode);
        // Writing after the reset fails the same way.
        var w = await Assert.ThrowsAsync<IOException>(async () => { for (int i = 0; i < 3; i++) { await stream.WriteAsync(new byte[1000]); await Task.Delay(50); } });
        Assert.Equal(SocketError.ConnectionReset, Assert.IsType<SocketException>(w.InnerException).SocketErrorCode);
    }

    [Fact]
    public async Task CutLink_ReadIsIOExceptionWithTimedOut()
    {
        var (listener, server, client) = await Connect();
        await using var _ = listener;
        var stream = client.GetStream();
        var read = stream.ReadAsync(new byte[100]).AsTask();
        _endA.LossRate = _endB.LossRate = 1;
        await stream.WriteAsync(new byte[1000]); // retransmitted until the retries run out (RFC 9293 3.8.3, R2)
        var e = await Assert.ThrowsAsync<IOException>(() => read.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(SocketError.TimedOut, Assert.IsType<SocketException>(e.InnerException).SocketErrorCode);
    }

    [Fact]
    public async Task AfterDispose_ReadAndWriteAreObjectDisposed()
    {
        var (listener, server, client) = await Connect();
        await using var _ = listener;
        var stream = client.GetStream();
        await stream.DisposeAsync();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => stream.WriteAsync(new byte[10]).AsTask());
        await Assert.ThrowsAsync<ObjectDisposedException>(() => stream.ReadAsync(new byte[10]).AsTask());
        Assert.Throws<ObjectDisposedException>(() => stream.Write(new byte[10]));
        Assert.False(stream.CanWrite);
    }

    [Fact]
    public async Task PeerFin_ReadReturnsZero()
    {
        var (listener, server, client) = await Connect();
        await using var _ = listener;
        await server.ShutdownSendAsync();
        Assert.Equal(0, await client.GetStream().ReadAsync(new byte[10]).AsTask().WaitAsync(Wait));
    }

    [Fact]
    public async Task Rfc9293_3_10_7_3_ConnectToAClosedPort_IsConnectionRefused()
    {
        var e = await Assert.ThrowsAsync<SocketException>(() => TcpConnection.ConnectAsync(_client, new IPEndPoint(ServerAddress, 9)));
        Assert.Equal(SocketError.ConnectionRefused, e.SocketErrorCode);
    }
}
