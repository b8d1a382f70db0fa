using System.Buffers;
using System.Net;
using System.Net.Sockets;
using UserNet.Ip;
using UserNet.Stack;
using UserNet.Udp;
using UserNet.Wire;

namespace UserNet.Sockets;

/// <summary>The result of a receive: how many bytes landed in the buffer and who sent them.</summary>
public readonly record struct UdpReceiveFromResult(int ReceivedBytes, IPEndPoint RemoteEndPoint);

/// <summary>
/// A UDP socket, shaped like <see cref="Socket"/>: bind, send to, receive from, and a connected mode where only the
/// peer's datagrams arrive and ICMP errors about what we sent it surface as <see cref="SocketException"/> (for example
/// <see cref="SocketError.ConnectionRefused"/>). Thread-safe.
/// </summary>
public sealed class UdpSocket : IDisposable
{
    private readonly IStackHost _host;
    private readonly Endpoint _endpoint;
    private volatile bool _disposed;

    private UdpSocket(IStackHost host)
    {
        _host = host;
        var options = host.Core.Options;
        _endpoint = new Endpoint(options.UdpReceiveQueueLength, options.UdpReceiveBufferSize, host.ApplicationScheduler, host.Core);
    }

    /// <summary>Binds a socket to <paramref name="port"/> (0: a free ephemeral port, 49152-65535) on the stack's address.</summary>
    /// <param name="host">The stack: a <c>StackHost</c>, or a <see cref="NetStack"/> driven by hand.</param>
    /// <param name="port">0 to 65535.</param>
    /// <exception cref="SocketException">AddressAlreadyInUse.</exception>
    public static async Task<UdpSocket> BindAsync(IStackHost host, int port = 0)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentOutOfRangeException.ThrowIfNegative(port);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, 65535);
        var s = new UdpSocket(host);
        var bound = await host.InvokeAsync(stack => stack.Udp.Bind(s._endpoint, port)).ConfigureAwait(false);
        s.LocalEndPoint = new IPEndPoint(host.Core.Address.Address.ToIPAddress(), bound);
        return s;
    }

    public IPEndPoint LocalEndPoint { get; private set; } = null!;
    /// <summary>The peer in connected mode; null when not connected.</summary>
    public IPEndPoint? RemoteEndPoint { get; private set; }
    /// <summary>
    /// Datagrams that arrived while the receive queue was full (its length or its bytes, or the stack's limit on bytes
    /// queued in all sockets), and were dropped.
    /// </summary>
    public long DroppedDatagrams => Interlocked.Read(ref _endpoint.Dropped);
    /// <summary>The last ICMP error reported for a datagram this socket sent (connected or not), or <see cref="SocketError.Success"/>.</summary>
    public SocketError LastError => _endpoint.LastError;

    /// <summary>
    /// Sets don't-fragment on what this socket sends (like <see cref="Socket.DontFragment"/>): a datagram larger than the
    /// MTU then fails with <see cref="SocketError.MessageSize"/> instead of going out in fragments.
    /// </summary>
    public bool DontFragment { get; set; }

    /// <summary>Connected mode (like connect(2) on a UDP socket): a default destination, a peer filter, errors reported.</summary>
    public Task ConnectAsync(IPEndPoint remote)
    {
        ArgumentNullException.ThrowIfNull(remote);
        var addr = Ipv4Address.FromIPAddress(remote.Address);
        return _host.InvokeAsync(_ =>
        {
            _endpoint.Peer = (addr, (ushort)remote.Port);
            RemoteEndPoint = remote;
            return true;
        });
    }

    /// <summary>Sends one datagram to <paramref name="remote"/>. Returns the bytes sent.</summary>
    /// <exception cref="SocketException">NetworkUnreachable (no route), MessageSize (too large, or larger than the MTU with <see cref="DontFragment"/>).</exception>
    public async ValueTask<int> SendToAsync(ReadOnlyMemory<byte> data, IPEndPoint remote, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        cancellationToken.ThrowIfCancellationRequested();
        var dst = Ipv4Address.FromIPAddress(remote.Address);
        var port = (ushort)remote.Port;
        var src = (ushort)LocalEndPoint.Port;
        bool df = DontFragment;
        var result = await _host.InvokeAsync(stack => stack.Udp.Send(src, dst, port, data.Span, df)).ConfigureAwait(false);
        return result switch
        {
            SendResult.Sent or SendResult.Queued or SendResult.QueueFull => data.Length, // UDP promises no delivery
            SendResult.NoRoute => throw new SocketException((int)SocketError.NetworkUnreachable),
            _ => throw new SocketException((int)SocketError.MessageSize),
        };
    }

    /// <summary>Sends to the connected peer.</summary>
    public ValueTask<int> SendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        var remote = RemoteEndPoint ?? throw new InvalidOperationException("the socket is not connected; use SendToAsync");
        return SendToAsync(data, remote, cancellationToken);
    }

    /// <summary>
    /// Receives one datagram into <paramref name="buffer"/> (a longer datagram is truncated, as recvfrom(2) does).
    /// In connected mode an ICMP error about what we sent throws <see cref="SocketException"/>.
    /// </summary>
    public async ValueTask<UdpReceiveFromResult> ReceiveFromAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Endpoint.Item item;
        try { item = await _endpoint.Queue.TakeAsync(cancellationToken).ConfigureAwait(false); }
        catch (ObjectDisposedException) { throw new ObjectDisposedException(nameof(UdpSocket)); }
        if (item.Data is null) throw new SocketException((int)item.Error);
        int n = Math.Min(item.Length, buffer.Length);
        item.Data.AsSpan(0, n).CopyTo(buffer.Span);
        _endpoint.Release(item.Data);
        return new UdpReceiveFromResult(n, new IPEndPoint(item.From.ToIPAddress(), item.Port));
    }

    /// <summary>Receives from the connected peer; returns the bytes received.</summary>
    public async ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        (await ReceiveFromAsync(buffer, cancellationToken).ConfigureAwait(false)).ReceivedBytes;

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        var port = (ushort)(LocalEndPoint?.Port ?? 0);
        _host.Post(stack => stack.Udp.Unbind(port, _endpoint));
        _endpoint.Close();
    }

    /// <summary>The socket's face towards the UDP layer; its methods run on the stack's loop.</summary>
    /// <remarks>
    /// Each datagram is copied into a pooled array, and charged that array's length against the socket's
    /// <c>UdpReceiveBufferSize</c> and the stack's <c>UdpQueuedBytes</c> until the reader takes it.
    /// </remarks>
    private sealed class Endpoint(int queueLength, int bufferSize, System.IO.Pipelines.PipeScheduler scheduler, NetStack loop) : UdpEndpoint
    {
        public readonly record struct Item(byte[]? Data, int Length, Ipv4Address From, ushort Port, SocketError Error);

        public readonly HandoffQueue<Item> Queue = new(scheduler, loop);
        public (Ipv4Address Address, ushort Port)? Peer;
        public long Dropped;
        private long _queuedBytes;
        private readonly Core.SharedByteBudget _stackBudget = loop.Context.UdpQueued;
        private volatile SocketError _lastError;

        /// <summary>The reader took a datagram: its array goes back to the pool and its charge comes off.</summary>
        public void Release(byte[] data)
        {
            Interlocked.Add(ref _queuedBytes, -data.Length);
            _stackBudget.Return(data.Length);
            ArrayPool<byte>.Shared.Return(data);
        }

        public SocketError LastError => _lastError;

        public override bool Accepts(Ipv4Address source, ushort sourcePort) =>
            Peer is not { } p || (p.Address == source && p.Port == sourcePort);

        public override DeliverResult Deliver(Ipv4Address source, ushort sourcePort, ReadOnlySpan<byte> data)
        {
            var copy = ArrayPool<byte>.Shared.Rent(Math.Max(1, data.Length));
            // The socket's own buffer first (its reader is slow), then the stack's (many sockets' readers are).
            if (Interlocked.Read(ref _queuedBytes) + copy.Length > bufferSize) return Refuse(copy, DeliverResult.QueueFull);
            if (!_stackBudget.TryTake(copy.Length)) return Refuse(copy, DeliverResult.StackLimit);
            Interlocked.Add(ref _queuedBytes, copy.Length);
            data.CopyTo(copy);
            if (Queue.TryAdd(new Item(copy, data.Length, source, sourcePort, SocketError.Success), queueLength)) return DeliverResult.Delivered;
            Interlocked.Add(ref _queuedBytes, -copy.Length);
            _stackBudget.Return(copy.Length);
            return Refuse(copy, DeliverResult.QueueFull);
        }

        private DeliverResult Refuse(byte[] copy, DeliverResult why)
        {
            ArrayPool<byte>.Shared.Return(copy);
            Interlocked.Increment(ref Dropped);
            return why;
        }

        public override void DeliverError(Ipv4Address destination, ushort destinationPort, SocketError error)
        {
            _lastError = error;
            // Only a connected socket hears about errors (as on Linux without IP_RECVERR): it knows who it talks to.
            // The error is reported once, by the next receive.
            if (Peer is { } p && p.Address == destination && p.Port == destinationPort)
                Queue.TryAdd(new Item(null, 0, destination, destinationPort, error), queueLength);
        }

        public override void Close()
        {
            foreach (var item in Queue.Complete()) if (item.Data is not null) Release(item.Data);
        }
    }
}
