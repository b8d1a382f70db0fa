using System.Buffers;
using System.IO.Pipelines;
using UserNet.Core;
using UserNet.Tcp;

namespace UserNet.Sockets;

/// <summary>
/// The send side of a connection: a pipe the application writes into and the loop reads from. Bytes stay unconsumed
/// in the pipe until the peer acknowledges them, so retransmission reads them again from there; the pipe's pause
/// threshold is the send buffer size, so a writer that runs ahead of the network waits in FlushAsync.
/// </summary>
internal sealed class TcpSendPipe : ITcpSendBuffer
{
    private readonly Pipe _pipe;
    private readonly PipeReader _reader;

    /// <param name="size">The send buffer: sent-but-unacknowledged plus unsent bytes a writer may have in the pipe.</param>
    /// <param name="writerScheduler">Where a writer waiting in FlushAsync continues once the peer's acknowledgments made room.</param>
    /// <param name="onWritten">Called on the writer's thread after each flush and at completion (it tells the loop).</param>
    public TcpSendPipe(int size, PipeScheduler writerScheduler, Action onWritten)
    {
        _pipe = new Pipe(new PipeOptions(pool: BlockMemoryPool.Instance, pauseWriterThreshold: size, resumeWriterThreshold: size / 2,
            readerScheduler: PipeScheduler.Inline, writerScheduler: writerScheduler,
            minimumSegmentSize: BlockMemoryPool.BlockSize, useSynchronizationContext: false));
        _reader = _pipe.Reader;
        Writer = new NotifyingWriter(_pipe.Writer, onWritten);
    }

    /// <summary>What the application writes to.</summary>
    public PipeWriter Writer { get; }

    // Every read here marks nothing as examined (AdvanceTo(start, start)): TryRead hands back bytes already
    // examined only when new ones arrive, and unacknowledged bytes must stay readable for retransmission.

    public long Peek(out bool completed)
    {
        if (!_reader.TryRead(out var r)) { completed = false; return 0; }
        completed = r.IsCompleted;
        long n = r.Buffer.Length;
        _reader.AdvanceTo(r.Buffer.Start, r.Buffer.Start);
        return n;
    }

    public void CopyTo(long offset, Span<byte> destination)
    {
        if (!_reader.TryRead(out var r)) throw new InvalidOperationException("send buffer is empty");
        r.Buffer.Slice(offset, destination.Length).CopyTo(destination);
        _reader.AdvanceTo(r.Buffer.Start, r.Buffer.Start);
    }

    public void Acknowledge(long count)
    {
        if (count <= 0 || !_reader.TryRead(out var r)) return;
        var b = r.Buffer;
        var consumed = b.GetPosition(Math.Min(count, b.Length));
        _reader.AdvanceTo(consumed, consumed);
    }

    public void Close(Exception? error = null) => _reader.Complete(error);

    /// <summary>Forwards everything to the pipe's writer and tells the loop after each flush and at completion.</summary>
    private sealed class NotifyingWriter(PipeWriter inner, Action onWritten) : PipeWriter
    {
        public override void Advance(int bytes) => inner.Advance(bytes);
        public override Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);
        public override Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);
        public override void CancelPendingFlush() => inner.CancelPendingFlush();
        public override bool CanGetUnflushedBytes => inner.CanGetUnflushedBytes;
        public override long UnflushedBytes => inner.UnflushedBytes;

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
        {
            var flush = inner.FlushAsync(cancellationToken); // the bytes are committed before this returns
            onWritten();
            return flush;
        }

        public override void Complete(Exception? exception = null)
        {
            inner.Complete(exception);
            onWritten();
        }
    }
}
