using System.Buffers;
using System.Net;
using SocketError = System.Net.Sockets.SocketError;
using SocketException = System.Net.Sockets.SocketException;
using System.Security.Cryptography;
using UserNet.Core;
using UserNet.Sockets;
using UserNet.Stack;
using UserNet.Devices;
using UserNet.Hosting;
using UserNet.Tcp;
using UserNet.Wire;
using Xunit;

namespace UserNet.Tests.Tcp;

/// <summary>Two stacks on the in-memory link holding real conversations.</summary>
public sealed class TcpLinkTests : IAsyncLifetime
{
    private StackHost _a = null!, _b = null!;
    private MemoryLinkEnd _linkA = null!, _linkB = null!;
    private static readonly IPAddress B = IPAddress.Parse("10.0.0.2");

    public async Task InitializeAsync()
    {
        (_linkA, _linkB) = MemoryLink.CreatePair();
        var tcp = new TcpSettings { TimeWait = TimeSpan.FromMilliseconds(200), MinRetransmitTimeout = TimeSpan.FromMilliseconds(50) };
        // USERNET_TEST_TRACE=FILE writes both stacks' traces there, for a failing test.
        TextWriter? w = Environment.GetEnvironmentVariable("USERNET_TEST_TRACE") is { } path
            ? TextWriter.Synchronized(new StreamWriter(path, append: true) { AutoFlush = true }) : null;
        _a = new StackHost(_linkA, new StackOptions { Address = Ipv4Subnet.Parse("10.0.0.1/24"), Name = "a", Tcp = tcp,
            Observer = w is null ? null : new UserNet.Tracing.TextTracer(w, DateTime.Now, "a ") });
        _b = new StackHost(_linkB, new StackOptions { Address = Ipv4Subnet.Parse("10.0.0.2/24"), Name = "b", Tcp = tcp,
            Observer = w is null ? null : new UserNet.Tracing.TextTracer(w, DateTime.Now, "b ") });
        await _a.StartAsync();
        await _b.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _a.DisposeAsync();
        await _b.DisposeAsync();
    }

    private static CancellationToken Soon(int seconds = 10) => new CancellationTokenSource(TimeSpan.FromSeconds(seconds)).Token;

    [Fact]
    public async Task Connect_accept_exchange_and_close_both_ways()
    {
        await using var listener = await TcpConnectionListener.StartAsync(_b, 80);
        var accept = listener.AcceptAsync(Soon()).AsTask();
        var client = await TcpConnection.ConnectAsync(_a, new IPEndPoint(B, 80), cancellationToken: Soon());
        var server = await accept;
        Assert.Equal(TcpState.Established, client.State);
        Assert.Equal(TcpState.Established, server.State);
        Assert.Equal(client.LocalEndPoint, server.RemoteEndPoint);

        await client.Output.WriteAsync("hello, server"u8.ToArray());
        var r = await server.Input.ReadAtLeastAsync(13, Soon());
        Assert.Equal("hello, server", System.Text.Encoding.ASCII.GetString(r.Buffer.ToArray()));
        server.Input.AdvanceTo(r.Buffer.End);

        await client.ShutdownSendAsync(); // half-close: FIN, the server sees end of stream and can still send
        r = await server.Input.ReadAsync(Soon());
        Assert.True(r.IsCompleted && r.Buffer.IsEmpty);
        server.Input.AdvanceTo(r.Buffer.End);
        await server.Output.WriteAsync("bye"u8.ToArray());
        r = await client.Input.ReadAtLeastAsync(3, Soon());
        Assert.Equal("bye", System.Text.Encoding.ASCII.GetString(r.Buffer.ToArray()));
        client.Input.AdvanceTo(r.Buffer.End);
        await server.CloseAsync();
        r = await client.Input.ReadAsync(Soon());
        Assert.True(r.IsCompleted);
        await client.CloseAsync();
        await server.Closed.WaitAsync(Soon());
        await client.Closed.WaitAsync(Soon()); // through TIME-WAIT (200 ms here)
    }

    [Fact]
    public async Task Connect_to_a_closed_port_is_refused()
    {
        var e = await Assert.ThrowsAsync<SocketException>(() => TcpConnection.ConnectAsync(_a, new IPEndPoint(B, 81), cancellationToken: Soon()));
        Assert.Equal(SocketError.ConnectionRefused, e.SocketErrorCode);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Both_directions_at_once_survive_a_seeded_link_that_loses_reorders_and_duplicates(int seed)
    {
        await using var listener = await TcpConnectionListener.StartAsync(_b, 91);
        var accept = listener.AcceptAsync(Soon()).AsTask();
        var client = await TcpConnection.ConnectAsync(_a, new IPEndPoint(B, 91), cancellationToken: Soon());
        var server = await accept;
        foreach (var (end, s) in new[] { (_linkA, seed * 10), (_linkB, seed * 10 + 1) })
        {
            end.FaultRandom = new Random(s);
            end.LossRate = 0.03;
            end.ReorderRate = 0.05;
            end.DuplicateRate = 0.03;
        }
        var up = new byte[768 * 1024];
        var down = new byte[512 * 1024];
        new Random(seed).NextBytes(up);
        new Random(-seed).NextBytes(down);

        static async Task<byte[]> Pump(TcpConnection from, TcpConnection to, byte[] data)
        {
            var send = Task.Run(async () =>
            {
                for (int off = 0; off < data.Length; off += 7001) // odd sizes: segment edges move around
                    await from.Output.WriteAsync(data.AsMemory(off, Math.Min(7001, data.Length - off)));
                await from.Output.CompleteAsync();
            });
            using var got = new MemoryStream();
            await to.Input.CopyToAsync(got, Soon(60));
            await send;
            return got.ToArray();
        }

        var results = await Task.WhenAll(Pump(client, server, up), Pump(server, client, down));
        Assert.Equal(SHA256.HashData(up), SHA256.HashData(results[0]));
        Assert.Equal(SHA256.HashData(down), SHA256.HashData(results[1]));
        Assert.True(_linkA.Lost > 0 && _linkB.Lost > 0);
    }

    [Theory]
    [InlineData(0.0, 4 << 20)]
    [InlineData(0.05, 1 << 20)]
    public async Task A_byte_stream_arrives_identical_even_over_a_lossy_link(double loss, int size)
    {
        await using var listener = await TcpConnectionListener.StartAsync(_b, 90);
        var accept = listener.AcceptAsync(Soon()).AsTask();
        var client = await TcpConnection.ConnectAsync(_a, new IPEndPoint(B, 90), cancellationToken: Soon());
        var server = await accept;
        _linkA.LossRate = loss; _linkA.FaultRandom = new Random(7);
        _linkB.LossRate = loss; _linkB.FaultRandom = new Random(8);
        var data = new byte[size];
        new Random(1).NextBytes(data);
        var send = Task.Run(async () =>
        {
            for (int off = 0; off < data.Length; off += 10000)
                await client.Output.WriteAsync(data.AsMemory(off, Math.Min(10000, data.Length - off)));
            await client.Output.CompleteAsync();
        });
        using var received = new MemoryStream();
        await server.Input.CopyToAsync(received, Soon(60));
        await send;
        Assert.Equal(SHA256.HashData(data), SHA256.HashData(received.ToArray()));
    }
}
