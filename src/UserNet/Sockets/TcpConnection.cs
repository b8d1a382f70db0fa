using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using UserNet.Stack;
using UserNet.Tcp;
using UserNet.Wire;

namespace UserNet.Sockets;

/// <summary>
/// A TCP connection, shaped like a Kestrel transport connection: an <see cref="IDuplexPipe"/> whose
/// <see cref="Output"/> keeps unacknowledged bytes until the peer ACKs them and whose <see cref="Input"/> is the
/// receive window; a <see cref="Stream"/> view; endpoints; half-close, close and abort. Thread-safe.
/// </summary>
public sealed class TcpConnection : IDuplexPipe, IAsyncDisposable, ITcpUser
{
    private readonly IStackHost _host;
    private readonly PipeScheduler _scheduler;
    private readonly TcpSendPipe _send;
    private readonly TcpReceivePipe _receive;
    /// <summary>What the loop runs when the application wrote or read; made once, so posting it allocates nothing.</summary>
    private readonly Action<NetStack> _nudge;
    private int _nudgePending;
    private TcpControlBlock? _tcb;
    // Completed through the application scheduler; the outcome is decided on the loop, once.
    private readonly TaskCompletionSource _established = new();
    private readonly TaskCompletionSource _closed = new();
    private bool _outcomeDecided;
    private volatile TcpState _state;

    internal TcpConnection(IStackHost host, TcpSettings settings)
    {
        _host = host;
        _scheduler = host.ApplicationScheduler;
        _send = new TcpSendPipe(settings.SendBufferSize, _scheduler, OnApplicationActivity);
        _receive = new TcpReceivePipe(settings.ReceiveBufferSize, _scheduler, OnApplicationActivity, host.Core);
        _nudge = _ =>
        {
            Volatile.Write(ref _nudgePending, 0);
            _tcb?.OnAppNudge();
        };
    }

    /// <summary>Opens a connection (RFC 9293 active open) and completes once it is established.</summary>
    /// <param name="host">The stack to connect from: a <c>StackHost</c>, or a <see cref="NetStack"/> driven by hand.</param>
    /// <param name="remote">The peer's address and port.</param>
    /// <param name="settings">Buffer sizes and timers for this connection; null takes the stack's (<c>StackOptions.Tcp</c>).</param>
    /// <param name="cancellationToken">Aborts the attempt (the connection is reset) and throws <see cref="OperationCanceledException"/>.</param>
    /// <exception cref="SocketException">ConnectionRefused (a RST answered our SYN), TimedOut (no answer after the SYN retries), HostUnreachable or NetworkUnreachable (ICMP, ARP, or no route).</exception>
    public static Task<TcpConnection> ConnectAsync(IStackHost host, IPEndPoint remote, TcpSettings? settings = null, CancellationToken cancellationToken = default) =>
        ConnectAsync(host, remote, localPort: 0, settings, cancellationToken);

    /// <summary>Opens a connection from a chosen local port (a socket bound before connect), and completes once it is established.</summary>
    /// <param name="host">The stack to connect from: a <c>StackHost</c>, or a <see cref="NetStack"/> driven by hand.</param>
    /// <param name="remote">The peer's address and port.</param>
    /// <param name="localPort">Our port, 1 to 65535; 0 picks an ephemeral one (RFC 6056).</param>
    /// <param name="settings">Buffer sizes and timers for this connection; null takes the stack's (<c>StackOptions.Tcp</c>).</param>
    /// <param name="cancellationToken">Aborts the attempt (the connection is reset) and throws <see cref="OperationCanceledException"/>.</param>
    /// <exception cref="SocketException">AddressAlreadyInUse (that port already has a connection to the peer), or as the other overload.</exception>
    public static async Task<TcpConnection> ConnectAsync(IStackHost host, IPEndPoint remote, int localPort, TcpSettings? settings = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(remote);
        ArgumentOutOfRangeException.ThrowIfNegative(localPort);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(localPort, 65535);
        var addr = Ipv4Address.FromIPAddress(remote.Address);
        var s = settings ?? host.Core.Options.Tcp;
        var conn = new TcpConnection(host, s);
        await host.InvokeAsync(stack =>
        {
            var tcb = stack.Tcp.Connect(addr, (ushort)remote.Port, s, conn, localPort);
            tcb.Connect();
            return true;
        }).ConfigureAwait(false);
        using (cancellationToken.Register(static c => ((TcpConnection)c!).Abort(), conn))
        {
            try { await conn._established.Task.ConfigureAwait(false); }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionAborted && cancellationToken.IsCancellationRequested)
            {
                throw new OperationCanceledException(cancellationToken);
            }
        }
        return conn;
    }

    /// <summary>Bytes the peer sent, in order. Reading reopens the receive window. Completes at the peer's FIN; throws <see cref="SocketException"/> (ConnectionReset) on a reset.</summary>
    public PipeReader Input => _receive.Reader;
    /// <summary>Bytes to send. FlushAsync waits while the send buffer (unsent plus unacknowledged) is full; Complete sends FIN after the data.</summary>
    public PipeWriter Output => _send.Writer;
    public IPEndPoint LocalEndPoint { get; private set; } = null!;
    public IPEndPoint RemoteEndPoint { get; private set; } = null!;
    /// <summary>The RFC 9293 state, as of the last segment or timer.</summary>
    public TcpState State => _state;
    /// <summary>Completes when the connection reaches CLOSED (after TIME-WAIT, a reset, or an abort).</summary>
    public Task Closed => _closed.Task;

    /// <summary>A <see cref="Stream"/> over the connection; disposing it closes the connection.</summary>
    public Stream GetStream() => new TcpStream(this);

    /// <summary>Half-close: no more sending; FIN follows the data already written. Receiving goes on.</summary>
    public ValueTask ShutdownSendAsync() => Output.CompleteAsync();

    /// <summary>Graceful close (RFC 9293 CLOSE): FIN after the written data; unread input is thrown away.</summary>
    public async ValueTask CloseAsync()
    {
        await Output.CompleteAsync().ConfigureAwait(false);
        await Input.CompleteAsync().ConfigureAwait(false);
    }

    /// <summary>Abort (RFC 9293 ABORT): RST to the peer, unsent and unread data discarded.</summary>
    public void Abort() => _host.Post(_ => _tcb?.Abort());

    public ValueTask DisposeAsync() => CloseAsync();

    public override string ToString() => $"{LocalEndPoint} <-> {RemoteEndPoint} {State}";

    /// <summary>The loop's control block (tests and the listener use it on the loop).</summary>
    internal TcpControlBlock? ControlBlock => _tcb;

    /// <summary>The application wrote, finished writing, read or stopped reading: one visit to the loop, however many happen meanwhile.</summary>
    private void OnApplicationActivity()
    {
        if (Interlocked.Exchange(ref _nudgePending, 1) == 1) return;
        _host.Post(_nudge);
    }

    // ---- ITcpUser: called on the loop

    ITcpSendBuffer ITcpUser.Send => _send;
    ITcpReceiveBuffer ITcpUser.Receive => _receive;

    void ITcpUser.OnAttached(TcpControlBlock connection)
    {
        _tcb = connection;
        _state = connection.State;
        LocalEndPoint = new IPEndPoint(connection.LocalAddress.ToIPAddress(), connection.LocalPort);
        RemoteEndPoint = new IPEndPoint(connection.RemoteAddress.ToIPAddress(), connection.RemotePort);
    }

    void ITcpUser.OnEstablished() => Decide(null);

    void ITcpUser.OnFailed(SocketError error) => Decide(new SocketException((int)error));

    void ITcpUser.OnStateChanged(TcpState state)
    {
        _state = state;
        if (state != TcpState.Closed) return;
        Decide(new SocketException((int)SocketError.ConnectionAborted));
        _scheduler.Schedule(static s => ((TcpConnection)s!)._closed.TrySetResult(), this);
    }

    /// <summary>The first outcome of the handshake wins: established, or the error that ended it.</summary>
    private void Decide(SocketException? error)
    {
        if (_outcomeDecided) return;
        _outcomeDecided = true;
        if (error is null) _scheduler.Schedule(static s => ((TcpConnection)s!)._established.TrySetResult(), this);
        else _scheduler.Schedule(static s => { var (c, e) = ((TcpConnection, SocketException))s!; c._established.TrySetException(e); }, (this, error));
    }
}

/// <summary>
/// A <see cref="Stream"/> over a <see cref="TcpConnection"/>'s pipes that fails as <see cref="NetworkStream"/> does, since
/// SocketsHttpHandler and code written for sockets look for that shape: a connection that failed (reset by the peer,
/// timed out, aborted) gives an <see cref="IOException"/> whose InnerException is the <see cref="SocketException"/>
/// with its <see cref="SocketError"/>; any use after Dispose gives <see cref="ObjectDisposedException"/>.
/// </summary>
internal sealed class TcpStream(TcpConnection connection) : Stream
{
    private readonly Stream _in = connection.Input.AsStream(leaveOpen: true);
    private readonly Stream _out = connection.Output.AsStream(leaveOpen: true);
    private volatile bool _disposed;

    public override bool CanRead => !_disposed;
    public override bool CanWrite => !_disposed;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        ThrowIfDisposed();
        try { return _in.Read(buffer); }
        catch (Exception e) when (Translate(e, reading: true) is { } t) { throw t; }
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        ValueTask<int> read;
        try { read = _in.ReadAsync(buffer, cancellationToken); }
        catch (Exception e) when (Translate(e, reading: true) is { } t) { return ValueTask.FromException<int>(t); }
        return read.IsCompletedSuccessfully ? read : AwaitRead(read);
    }

    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<int> AwaitRead(ValueTask<int> read)
    {
        try { return await read.ConfigureAwait(false); }
        catch (Exception e) when (Translate(e, reading: true) is { } t) { throw t; }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        ThrowIfDisposed();
        try { _out.Write(buffer); }
        catch (Exception e) when (Translate(e, reading: false) is { } t) { throw t; }
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        ValueTask write;
        try { write = _out.WriteAsync(buffer, cancellationToken); }
        catch (Exception e) when (Translate(e, reading: false) is { } t) { return ValueTask.FromException(t); }
        return write.IsCompletedSuccessfully ? write : AwaitWrite(write);
    }

    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask AwaitWrite(ValueTask write)
    {
        try { await write.ConfigureAwait(false); }
        catch (Exception e) when (Translate(e, reading: false) is { } t) { throw t; }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush()
    {
        ThrowIfDisposed();
        try { _out.Flush(); }
        catch (Exception e) when (Translate(e, reading: false) is { } t) { throw t; }
    }

    public override async Task FlushAsync(CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        try { await _out.FlushAsync(cancellationToken).ConfigureAwait(false); }
        catch (Exception e) when (Translate(e, reading: false) is { } t) { throw t; }
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    /// <summary>
    /// What NetworkStream would have thrown instead of <paramref name="e"/>; null to let it through (cancellation,
    /// argument errors). The pipes report a failed connection with the SocketException its end carried.
    /// </summary>
    private Exception? Translate(Exception e, bool reading)
    {
        if (e is SocketException se)
            return new IOException($"Unable to {(reading ? "read data from" : "write data to")} the transport connection: {se.Message}.", se);
        if (_disposed && e is InvalidOperationException) return new ObjectDisposedException(GetType().FullName);
        return null;
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            connection.CloseAsync().AsTask().GetAwaiter().GetResult();
        }
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        if (!_disposed)
        {
            _disposed = true;
            await connection.CloseAsync().ConfigureAwait(false);
        }
        await base.DisposeAsync().ConfigureAwait(false);
    }
}
