using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using UserNet.Core;
using UserNet.Hosting;
using UserNet.Wire;

namespace UserNet.Tcp;

/// <summary>
/// A TCP connection, shaped like a Kestrel transport connection: an <see cref="IDuplexPipe"/> whose
/// <see cref="Output"/> keeps unacknowledged bytes until the peer ACKs them and whose <see cref="Input"/> is the
/// receive window; a <see cref="Stream"/> view; endpoints; half-close, close and abort. Thread-safe.
/// </summary>
public sealed class TcpConnection : IDuplexPipe, IAsyncDisposable
{
    private readonly NetStack _stack;
    private readonly TcpControlBlock _tcb;
    private readonly TaskCompletionSource _established = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile TcpState _state;

    internal TcpConnection(NetStack stack, TcpControlBlock tcb)
    {
        _stack = stack;
        _tcb = tcb;
        _state = tcb.State;
        LocalEndPoint = new IPEndPoint(tcb.LocalAddress.ToIPAddress(), tcb.LocalPort);
        RemoteEndPoint = new IPEndPoint(tcb.RemoteAddress.ToIPAddress(), tcb.RemotePort);
    }

    /// <summary>Opens a connection (RFC 9293 active open) and completes once it is established.</summary>
    /// <exception cref="SocketException">ConnectionRefused (a RST answered our SYN), TimedOut (no answer after the SYN retries), HostUnreachable or NetworkUnreachable (ICMP, or no route).</exception>
    public static async Task<TcpConnection> ConnectAsync(StackHost host, IPEndPoint remote, CancellationToken cancellationToken = default, TcpSettings? settings = null)
    {
        var addr = Ipv4Address.FromIPAddress(remote.Address);
        var conn = await host.InvokeAsync(stack =>
        {
            var subnet = stack.Address;
            if (!subnet.Contains(addr) && stack.Options.Gateway is null) throw new SocketException((int)SocketError.NetworkUnreachable);
            var tcb = stack.Tcp.Connect(addr, (ushort)remote.Port, settings ?? stack.Options.Tcp);
            var c = new TcpConnection(stack, tcb);
            tcb.Connection = c;
            tcb.Connect();
            return c;
        }).ConfigureAwait(false);
        using (cancellationToken.Register(static s => ((TcpConnection)s!).Abort(), conn))
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
    public PipeReader Input => _tcb.AppInput;
    /// <summary>Bytes to send. FlushAsync waits while the send buffer (unsent plus unacknowledged) is full; Complete sends FIN after the data.</summary>
    public PipeWriter Output => _tcb.AppOutput;
    public IPEndPoint LocalEndPoint { get; }
    public IPEndPoint RemoteEndPoint { get; }
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
    public void Abort() => _stack.PostToLoop(_ => _tcb.Abort());

    public ValueTask DisposeAsync() => CloseAsync();

    internal void OnEstablished() => _established.TrySetResult();
    internal void OnFailed(SocketException e) => _established.TrySetException(e);
    internal void OnStateChanged(TcpState s)
    {
        _state = s;
        if (s == TcpState.Closed)
        {
            _established.TrySetException(new SocketException((int)SocketError.ConnectionAborted));
            _closed.TrySetResult();
        }
    }

    public override string ToString() => $"{LocalEndPoint} <-> {RemoteEndPoint} {State}";
}

/// <summary>A passive open on a port, like <see cref="System.Net.Sockets.TcpListener"/>: accepts connections from a bounded backlog.</summary>
public sealed class TcpListener : IAsyncDisposable
{
    private readonly StackHost _host;
    private readonly TcpListenerCore _core;

    private TcpListener(StackHost host, TcpListenerCore core, IPEndPoint local)
    {
        _host = host;
        _core = core;
        LocalEndPoint = local;
    }

    /// <summary>Listens on <paramref name="port"/>; at most <paramref name="backlog"/> connections may be half-open or waiting to be accepted.</summary>
    public static async Task<TcpListener> StartAsync(StackHost host, int port, int backlog = 128, TcpSettings? settings = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(port, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, 65535);
        ArgumentOutOfRangeException.ThrowIfLessThan(backlog, 1);
        var core = await host.InvokeAsync(stack =>
        {
            var c = new TcpListenerCore(stack, (ushort)port, backlog, settings ?? stack.Options.Tcp);
            stack.Tcp.Listen(c);
            return c;
        }).ConfigureAwait(false);
        return new TcpListener(host, core, new IPEndPoint(host.Stack.IpAddress.ToIPAddress(), port));
    }

    public IPEndPoint LocalEndPoint { get; }

    /// <summary>Waits for the next established connection.</summary>
    public async ValueTask<TcpConnection> AcceptAsync(CancellationToken cancellationToken = default)
    {
        try { return await _core.Accepted.Reader.ReadAsync(cancellationToken).ConfigureAwait(false); }
        catch (ChannelClosedException) { throw new ObjectDisposedException(nameof(TcpListener)); }
    }

    /// <summary>Stops listening; connections not yet accepted are reset.</summary>
    public async ValueTask DisposeAsync()
    {
        await _host.InvokeAsync(stack => { stack.Tcp.StopListening(_core); _core.Close(); return true; }).ConfigureAwait(false);
    }
}

/// <summary>The loop's side of a listener: counts half-open connections and queues established ones.</summary>
internal sealed class TcpListenerCore(NetStack stack, ushort port, int backlog, TcpSettings settings)
{
    private int _halfOpen;
    public ushort Port { get; } = port;
    public TcpSettings Settings { get; } = settings;
    public Channel<TcpConnection> Accepted { get; } = Channel.CreateUnbounded<TcpConnection>(new UnboundedChannelOptions { SingleWriter = true });

    /// <summary>Room for another SYN: half-open plus not-yet-accepted stay within the backlog.</summary>
    public bool HasRoom => _halfOpen + Accepted.Reader.Count < backlog;
    public void OnHalfOpen() => _halfOpen++;
    public void OnHalfOpenGone() => _halfOpen--;

    public void OnEstablished(TcpControlBlock tcb)
    {
        _halfOpen--;
        var c = new TcpConnection(stack, tcb);
        tcb.Connection = c;
        c.OnEstablished();
        if (!Accepted.Writer.TryWrite(c)) tcb.Abort();
    }

    public void Close()
    {
        Accepted.Writer.TryComplete();
        while (Accepted.Reader.TryRead(out var c)) c.Abort();
    }
}

/// <summary>A <see cref="Stream"/> over a <see cref="TcpConnection"/>'s pipes.</summary>
internal sealed class TcpStream(TcpConnection connection) : Stream
{
    private readonly Stream _in = connection.Input.AsStream(leaveOpen: true);
    private readonly Stream _out = connection.Output.AsStream(leaveOpen: true);

    public override bool CanRead => true;
    public override bool CanWrite => true;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override int Read(byte[] buffer, int offset, int count) => _in.Read(buffer, offset, count);
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => _in.ReadAsync(buffer, cancellationToken);
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => _in.ReadAsync(buffer, offset, count, cancellationToken);
    public override void Write(byte[] buffer, int offset, int count) => _out.Write(buffer, offset, count);
    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => _out.WriteAsync(buffer, cancellationToken);
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => _out.WriteAsync(buffer, offset, count, cancellationToken);
    public override void Flush() => _out.Flush();
    public override Task FlushAsync(CancellationToken cancellationToken) => _out.FlushAsync(cancellationToken);
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing) connection.CloseAsync().AsTask().GetAwaiter().GetResult();
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        await connection.CloseAsync().ConfigureAwait(false);
        await base.DisposeAsync().ConfigureAwait(false);
    }
}
