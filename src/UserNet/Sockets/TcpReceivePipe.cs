using System.Buffers;
using System.IO.Pipelines;
using UserNet.Core;
using UserNet.Tcp;

namespace UserNet.Sockets;

/// <summary>
/// TEMPORARY (replaced by the block-ring receive buffer): the receive side over a Pipe, in-order writes only.
/// </summary>
internal sealed class TcpReceivePipe : ITcpReceiveBuffer
{
    private readonly Pipe _pipe;
    private readonly PipeScheduler _scheduler;
    private readonly int _size;
    private long _written;
    private long _consumed;
    private volatile bool _readerCompleted;

    public TcpReceivePipe(int capacity, PipeScheduler readerScheduler, Action onConsumed)
    {
        _size = capacity;
        _scheduler = readerScheduler;
        _pipe = new Pipe(new PipeOptions(pool: BlockMemoryPool.Instance, pauseWriterThreshold: 0, readerScheduler: readerScheduler,
            writerScheduler: PipeScheduler.Inline, minimumSegmentSize: BlockMemoryPool.BlockSize, useSynchronizationContext: false));
        Reader = new CountingReader(this, _pipe.Reader, onConsumed);
    }

    public PipeReader Reader { get; }
    public int Capacity => _size;
    public int Free => (int)Math.Max(0, _size - (_written - Interlocked.Read(ref _consumed)));
    public bool ReaderCompleted => _readerCompleted;

    public void Write(int offset, ReadOnlySpan<byte> data)
    {
        if (offset != 0) throw new NotSupportedException("out-of-order writes");
        if (_readerCompleted) return;
        _pipe.Writer.Write(data);
        _written += data.Length;
    }

    public void Commit(int count)
    {
        if (_readerCompleted) return;
        _ = _pipe.Writer.FlushAsync();
    }

    public void Complete(Exception? error = null) =>
        _scheduler.Schedule(static s => { var (w, e) = ((PipeWriter, Exception?))s!; w.Complete(e); }, (_pipe.Writer, error));

    private sealed class CountingReader(TcpReceivePipe owner, PipeReader inner, Action onRead) : PipeReader
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
            owner._readerCompleted = true;
            inner.Complete(exception);
            onRead();
        }
    }
}
