using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using UserNet.Sockets;
using UserNet.Tcp;

namespace UserNet.AspNetCore;

/// <summary>
/// One <see cref="TcpConnection"/> as Kestrel (or any connection middleware) sees a transport connection. The ends
/// map as Kestrel's sockets transport maps a socket's: the peer's FIN completes <see cref="Transport"/>'s input
/// normally; completing its output sends FIN after the data; <see cref="Abort(ConnectionAbortedException)"/> resets
/// the connection and later reads throw the reason given; a reset by the peer makes reads throw
/// <see cref="ConnectionResetException"/> (inner: the <see cref="SocketException"/>). <see cref="ConnectionClosed"/>
/// fires once the connection is over: reset, aborted, closed, or both directions finished.
/// </summary>
internal sealed class StackConnectionContext : ConnectionContext,
    IConnectionIdFeature, IConnectionTransportFeature, IConnectionItemsFeature, IConnectionLifetimeFeature, IConnectionEndPointFeature
{
    private static long s_lastId;

    private readonly TcpConnection _connection;
    private readonly CancellationTokenSource _closedSource = new();
    private readonly FeatureCollection _features = new();
    private volatile ConnectionAbortedException? _abortReason;
    private int _inputEnded, _outputEnded, _closedFired;

    public StackConnectionContext(TcpConnection connection)
    {
        _connection = connection;
        ConnectionId = "usernet-" + Interlocked.Increment(ref s_lastId).ToString("x", System.Globalization.CultureInfo.InvariantCulture);
        LocalEndPoint = connection.LocalEndPoint;
        RemoteEndPoint = connection.RemoteEndPoint;
        ConnectionClosed = _closedSource.Token;
        Transport = new Duplex(new Reader(connection.Input, this), new Writer(connection.Output, this));
        _features.Set<IConnectionIdFeature>(this);
        _features.Set<IConnectionTransportFeature>(this);
        _features.Set<IConnectionItemsFeature>(this);
        _features.Set<IConnectionLifetimeFeature>(this);
        _features.Set<IConnectionEndPointFeature>(this);
        // CLOSED: after a reset, an abort, a timeout, or the end of the closing handshake.
        connection.Closed.ContinueWith(static (_, s) => ((StackConnectionContext)s!).FireClosed(), this,
            CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    public override string ConnectionId { get; set; }
    public override IFeatureCollection Features => _features;
    public override IDictionary<object, object?> Items { get; set; } = new ConnectionItems();
    public override IDuplexPipe Transport { get; set; }
    public override CancellationToken ConnectionClosed { get; set; }
    public override EndPoint? LocalEndPoint { get; set; }
    public override EndPoint? RemoteEndPoint { get; set; }

    /// <summary>The stack's connection under this context.</summary>
    public TcpConnection Connection => _connection;

    public override void Abort(ConnectionAbortedException abortReason)
    {
        _abortReason ??= abortReason;
        _connection.Abort();
    }

    public override void Abort() => Abort(new ConnectionAbortedException("The connection was aborted by the application."));

    public override async ValueTask DisposeAsync()
    {
        // Kestrel is done with the connection: FIN after what it wrote (if it had not sent one), unread input dropped.
        await _connection.CloseAsync().ConfigureAwait(false);
        if (_abortReason is not null || _connection.State == TcpState.Closed) FireClosed();
    }

    private void InputEnded()
    {
        if (Interlocked.Exchange(ref _inputEnded, 1) == 0 && Volatile.Read(ref _outputEnded) == 1) FireClosed();
    }

    private void OutputEnded()
    {
        if (Interlocked.Exchange(ref _outputEnded, 1) == 0 && Volatile.Read(ref _inputEnded) == 1) FireClosed();
    }

    private void FireClosed()
    {
        if (Interlocked.Exchange(ref _closedFired, 1) != 0) return;
        ThreadPool.UnsafeQueueUserWorkItem(static s => s.Cancel(), _closedSource, preferLocal: false);
    }

    /// <summary>What a read throws instead of the pipe's SocketException, as Kestrel's sockets transport does.</summary>
    private Exception Translate(SocketException e)
    {
        if (_abortReason is { } reason) return reason;
        return e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted
            ? new ConnectionResetException(e.Message, e)
            : new IOException(e.Message, e);
    }

    private sealed class Duplex(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;
        public PipeWriter Output { get; } = output;
    }

    /// <summary>The connection's input: translates its failures and notes its end.</summary>
    private sealed class Reader(PipeReader inner, StackConnectionContext owner) : PipeReader
    {
        public override void AdvanceTo(SequencePosition consumed) => inner.AdvanceTo(consumed);
        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined) => inner.AdvanceTo(consumed, examined);
        public override void CancelPendingRead() => inner.CancelPendingRead();

        public override void Complete(Exception? exception = null)
        {
            inner.Complete(exception);
            owner.InputEnded();
        }

        public override bool TryRead(out ReadResult result)
        {
            try
            {
                if (!inner.TryRead(out result)) return false;
            }
            catch (SocketException e) { owner.InputEnded(); throw owner.Translate(e); }
            if (result.IsCompleted) owner.InputEnded();
            return true;
        }

        public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
        {
            ValueTask<ReadResult> read;
            try { read = inner.ReadAsync(cancellationToken); }
            catch (SocketException e) { owner.InputEnded(); return ValueTask.FromException<ReadResult>(owner.Translate(e)); }
            if (!read.IsCompletedSuccessfully) return Await(read);
            var r = read.Result;
            if (r.IsCompleted) owner.InputEnded();
            return new ValueTask<ReadResult>(r);
        }

        [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
        private async ValueTask<ReadResult> Await(ValueTask<ReadResult> read)
        {
            ReadResult r;
            try { r = await read.ConfigureAwait(false); }
            catch (SocketException e) { owner.InputEnded(); throw owner.Translate(e); }
            if (r.IsCompleted) owner.InputEnded();
            return r;
        }
    }

    /// <summary>The connection's output: a failed connection completes the flush (as a closed socket does for Kestrel) rather than throwing.</summary>
    private sealed class Writer(PipeWriter inner, StackConnectionContext owner) : PipeWriter
    {
        public override void Advance(int bytes) => inner.Advance(bytes);
        public override Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);
        public override Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);
        public override void CancelPendingFlush() => inner.CancelPendingFlush();
        public override bool CanGetUnflushedBytes => inner.CanGetUnflushedBytes;
        public override long UnflushedBytes => inner.UnflushedBytes;

        /// <summary>Completion sends FIN after the data; completion with an error resets the connection instead, as
        /// Kestrel's sockets transport shuts the socket when its send loop fails (the peer can be told nothing else).</summary>
        public override void Complete(Exception? exception = null)
        {
            inner.Complete();
            owner.OutputEnded();
            if (exception is not null) owner.Abort(exception as ConnectionAbortedException ?? new ConnectionAbortedException(exception.Message, exception));
        }

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
        {
            ValueTask<FlushResult> flush;
            try { flush = inner.FlushAsync(cancellationToken); }
            catch (SocketException) { return new ValueTask<FlushResult>(new FlushResult(isCanceled: false, isCompleted: true)); }
            return flush.IsCompletedSuccessfully ? flush : Await(flush);
        }

        [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
        private static async ValueTask<FlushResult> Await(ValueTask<FlushResult> flush)
        {
            try { return await flush.ConfigureAwait(false); }
            catch (SocketException) { return new FlushResult(isCanceled: false, isCompleted: true); }
        }
    }
}
