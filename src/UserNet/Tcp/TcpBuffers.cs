using System.Buffers;
using System.IO.Pipelines;

namespace UserNet.Tcp;

/// <summary>
/// The send side of a connection: a pipe the application writes into and the loop reads from. Bytes stay unconsumed
/// in the pipe until the peer acknowledges them, so retransmission reads them again from there; the pipe's pause
/// threshold is the send buffer size, so a writer that runs ahead of the network waits in FlushAsync.
/// </summary>
internal sealed class TcpSendBuffer
{
    private readonly Pipe _pipe;
    private readonly PipeReader _reader;

    public TcpSendBuffer(int size, Action onWritten)
    {
        _pipe = new Pipe(new PipeOptions(pool: Core.BlockMemoryPool.Instance, pauseWriterThreshold: size, resumeWriterThreshold: size / 2,
            readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.ThreadPool,
            minimumSegmentSize: Core.BlockMemoryPool.BlockSize, useSynchronizationContext: false));
        _reader = _pipe.Reader;
        AppWriter = new NotifyingWriter(_pipe.Writer, onWritten);
    }

    /// <summary>What the application writes to.</summary>
    public PipeWriter AppWriter { get; }

    // Every read here marks nothing as examined (AdvanceTo(start, start)): TryRead hands back bytes already
    // examined only when new ones arrive, and unacknowledged bytes must stay readable for retransmission.

    /// <summary>Bytes held (sent but unacknowledged, and not yet sent), and whether the application has finished writing.</summary>
    public (long Buffered, bool Completed) Peek()
    {
        if (!_reader.TryRead(out var r)) return (0, false);
        var result = (r.Buffer.Length, r.IsCompleted);
        _reader.AdvanceTo(r.Buffer.Start, r.Buffer.Start);
        return result;
    }

    /// <summary>Copies <paramref name="destination"/>.Length bytes starting <paramref name="offset"/> bytes after the oldest unacknowledged one.</summary>
    public void CopyTo(long offset, Span<byte> destination)
    {
        if (!_reader.TryRead(out var r)) throw new InvalidOperationException("send buffer is empty");
        r.Buffer.Slice(offset, destination.Length).CopyTo(destination);
        _reader.AdvanceTo(r.Buffer.Start, r.Buffer.Start);
    }

    /// <summary>Drops <paramref name="count"/> acknowledged bytes; a paused writer resumes once enough are gone.</summary>
    public void Acknowledge(long count)
    {
        if (count <= 0 || !_reader.TryRead(out var r)) return;
        var b = r.Buffer;
        var consumed = b.GetPosition(Math.Min(count, b.Length));
        _reader.AdvanceTo(consumed, consumed);
    }

    /// <summary>The connection is gone: writers see completion, nothing more is read.</summary>
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

/// <summary>
/// The receive side: the loop writes in-order bytes into a pipe the application reads. The window we advertise is
/// the buffer size less what is unread; reading reopens it, and the loop is told so it can say so to the peer.
/// </summary>
internal sealed class TcpReceiveBuffer
{
    private readonly Pipe _pipe;
    private readonly int _size;
    private long _written;
    private long _consumed;

    public TcpReceiveBuffer(int size, Action onRead)
    {
        _size = size;
        // The window, not the pipe, bounds what arrives: the loop must never wait on its own pipe.
        _pipe = new Pipe(new PipeOptions(pool: Core.BlockMemoryPool.Instance, pauseWriterThreshold: 0, readerScheduler: PipeScheduler.ThreadPool,
            writerScheduler: PipeScheduler.Inline, minimumSegmentSize: Core.BlockMemoryPool.BlockSize, useSynchronizationContext: false));
        AppReader = new CountingReader(this, _pipe.Reader, onRead);
    }

    public PipeReader AppReader { get; }
    public int Size => _size;
    /// <summary>Bytes received and not yet consumed by the application.</summary>
    public long Unread => _written - Interlocked.Read(ref _consumed);
    public int Free => (int)Math.Max(0, _size - Unread);
    private volatile bool _readerCompleted;
    public bool ReaderCompleted { get => _readerCompleted; private set => _readerCompleted = value; }

    public void Write(ReadOnlySpan<byte> data)
    {
        if (ReaderCompleted) return; // the application stopped reading: acknowledge and forget
        _pipe.Writer.Write(data);
        _written += data.Length;
        _ = _pipe.Writer.FlushAsync(); // never pauses (threshold 0): completes at once
    }

    /// <summary>End of stream (the peer's FIN), or an error the reader will see (a reset).</summary>
    public void Complete(Exception? error = null) => _pipe.Writer.Complete(error);

    private sealed class CountingReader(TcpReceiveBuffer owner, PipeReader inner, Action onRead) : PipeReader
    {
        private ReadOnlySequence<byte> _last;

        public override async ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
        {
            var r = await inner.ReadAsync(cancellationToken).ConfigureAwait(false);
            _last = r.Buffer;
            return r;
        }

        public override bool TryRead(out ReadResult result)
        {
            if (!inner.TryRead(out result)) return false;
            _last = result.Buffer;
            return true;
        }

        public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
        {
            long n = _last.Slice(_last.Start, consumed).Length;
            inner.AdvanceTo(consumed, examined);
            if (n > 0)
            {
                Interlocked.Add(ref owner._consumed, n);
                onRead();
            }
        }

        public override void CancelPendingRead() => inner.CancelPendingRead();

        public override void Complete(Exception? exception = null)
        {
            owner.ReaderCompleted = true;
            inner.Complete(exception);
            onRead();
        }
    }
}
