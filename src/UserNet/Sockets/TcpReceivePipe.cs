using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.IO.Pipelines;
using System.Runtime.ExceptionServices;
using System.Threading.Tasks.Sources;
using UserNet.Core;
using UserNet.Stack;
using UserNet.Tcp;

namespace UserNet.Sockets;

/// <summary>
/// A connection's receive buffer: the loop writes segments at their place in the receive window, in order or not, and
/// commits the contiguous prefix; the application reads the committed bytes through <see cref="Reader"/>, a
/// <see cref="PipeReader"/> that keeps <see cref="Pipe"/>'s rules (examined, cancellation, completion, errors).
/// </summary>
/// <remarks>
/// Positions are absolute stream offsets: consumed &lt;= examined &lt;= committed, and writes land in
/// [committed, consumed + capacity). Memory is 16 KiB blocks from <see cref="BlockMemoryPool"/>; block p / BlockSize
/// sits in slot (p / BlockSize) mod the slot count, and the window never spans more blocks than there are slots.
/// A block is rented when a write first lands in it and returned once the reader has consumed everything written to
/// it, so an idle connection holds none and a large window costs memory only for the bytes held. The slots are also
/// the segments of the sequences the reader gets, relinked at each read, so reading allocates nothing.
/// On a core (<c>loop</c> given) the loop's wake-ups of the reader wait for the end of its batch of frames
/// (<see cref="NetStack.DeferWake"/>): 64 segments handled in one batch wake a waiting reader once, one work item on
/// its scheduler, not one per segment. The end of the stream follows the same way, after the data before it.
/// </remarks>
internal sealed class TcpReceivePipe : ITcpReceiveBuffer, IValueTaskSource<ReadResult>, IDeferredWake
{
    private const int BlockSize = BlockMemoryPool.BlockSize;

    private readonly object _lock = new();
    private readonly int _capacity;
    private readonly PipeScheduler _readerScheduler;
    private readonly Action _onConsumed;
    private readonly NetStack? _loop;
    private readonly Slot?[] _slots;

    // The loop's own state (touched on the loop only): a wake held until the batch ends, and the completion behind it.
    private bool _deferred;
    private bool _completionDeferred;

    // Shared state, under _lock. _committed and _consumed are also read without it (Free), so they are written with Volatile.
    private long _committed;
    private long _consumed;
    private long _examined;
    /// <summary>The end of the buffer last handed to the reader: the furthest an AdvanceTo may reach.</summary>
    private long _readEnd;
    private int _blocksHeld;
    /// <summary>The end of the stream as the reader sees it: published through the reader scheduler (see <see cref="Complete"/>).</summary>
    private bool _writerCompleted;
    private ExceptionDispatchInfo? _writerError;
    /// <summary>The end of the stream as the loop asked for it; nothing may be written after it.</summary>
    private bool _completeRequested;
    private Exception? _requestedError;
    private volatile bool _readerCompleted;
    /// <summary>The loop is copying into blocks outside the lock: a reader's Complete leaves them to it to return.</summary>
    private bool _writing;
    private bool _cancelPending;
    /// <summary>
    /// Pipe's "reader awaitable is completed": set when bytes are committed, cleared when an AdvanceTo examines
    /// everything committed. A ReadAsync waits on this (not on unexamined bytes), TryRead on either.
    /// </summary>
    private bool _signaled;
    private ReadState _readState;

    // The waiting ReadAsync, if any.
    private ManualResetValueTaskSourceCore<ReadResult> _waiter = new() { RunContinuationsAsynchronously = false };
    private bool _waiting;
    private bool _wakeScheduled;
    private bool _tokenCanceled;
    private CancellationToken _waitToken;
    private CancellationTokenRegistration _registration;

    /// <summary>As in <see cref="Pipe"/>: a read's buffer must be advanced past before the next read, unless it was a canceled (tentative) one.</summary>
    private enum ReadState : byte { None, Reading, Tentative }

    /// <param name="capacity">The receive window at most, in bytes.</param>
    /// <param name="readerScheduler">Where a waiting read continues when data, completion or cancellation arrives.</param>
    /// <param name="onConsumed">Called (outside any lock) when the reader consumed bytes or completed: the window may reopen.</param>
    /// <param name="loop">The core whose loop writes here: its wakes of the reader wait for the end of the loop's batch; null wakes at once.</param>
    public TcpReceivePipe(int capacity, PipeScheduler readerScheduler, Action onConsumed, NetStack? loop = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentNullException.ThrowIfNull(readerScheduler);
        ArgumentNullException.ThrowIfNull(onConsumed);
        _capacity = capacity;
        _readerScheduler = readerScheduler;
        _onConsumed = onConsumed;
        _loop = loop;
        // A window that starts mid-block touches one block more than it fills.
        _slots = new Slot?[(capacity + BlockSize - 1) / BlockSize + 1];
        Reader = new ReceiveReader(this);
    }

    /// <summary>What the application reads.</summary>
    public PipeReader Reader { get; }

    public int Capacity => _capacity;

    public int Free => _capacity - (int)(Volatile.Read(ref _committed) - Volatile.Read(ref _consumed));

    public bool ReaderCompleted => _readerCompleted;

    /// <summary>Blocks this pipe holds now (for tests: an idle pipe holds none).</summary>
    internal int BlocksHeld => Volatile.Read(ref _blocksHeld);

    // =================================================================== the loop's side

    public void Write(int offset, ReadOnlySpan<byte> data)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        if (data.IsEmpty) return;
        long start;
        lock (_lock)
        {
            if (_readerCompleted) return; // nobody will read it: acknowledged and thrown away
            if (_completeRequested) ThrowWriterCompleted();
            if ((long)offset + data.Length > _capacity - (_committed - _consumed))
                throw new ArgumentOutOfRangeException(nameof(data), "The write reaches past the receive window.");
            start = _committed + offset;
            long end = start + data.Length;
            // Claim the blocks first: a block with bytes written past consumed is never returned under the copy.
            for (long b = start / BlockSize; b * BlockSize < end; b++)
            {
                var slot = Hold(b);
                slot.WrittenEnd = Math.Max(slot.WrittenEnd, Math.Min(end, (b + 1) * BlockSize));
            }
            _writing = true;
        }

        // Outside the lock: the reader only touches bytes before committed, and these are all at or after it.
        for (long p = start; !data.IsEmpty;)
        {
            var block = _slots[SlotOf(p / BlockSize)]!.Block.Span;
            int at = (int)(p % BlockSize);
            int n = Math.Min(BlockSize - at, data.Length);
            data[..n].CopyTo(block[at..]);
            data = data[n..];
            p += n;
        }

        lock (_lock)
        {
            _writing = false;
            if (_readerCompleted) ReleaseAll(); // the reader completed during the copy and left the blocks to us
        }
    }

    public void Commit(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (count == 0) return;
        bool wake = false, defer = false;
        lock (_lock)
        {
            if (count > _capacity - (_committed - _consumed))
                throw new ArgumentOutOfRangeException(nameof(count), "The commit reaches past the receive window.");
            if (_readerCompleted)
            {
                // Nothing is kept for a reader that is gone: consumed follows committed, the window stays open.
                Volatile.Write(ref _committed, _committed + count);
                Volatile.Write(ref _consumed, _committed);
                _examined = _readEnd = _committed;
                return;
            }
            if (_completeRequested) ThrowWriterCompleted();
            long end = _committed + count;
            for (long b = _committed / BlockSize; b * BlockSize < end; b++)
            {
                var slot = _slots[SlotOf(b)];
                if (slot?.Owner is null) throw new InvalidOperationException("Bytes that were never written cannot be committed.");
                slot.WrittenEnd = Math.Max(slot.WrittenEnd, Math.Min(end, (b + 1) * BlockSize));
            }
            Volatile.Write(ref _committed, end);
            _signaled = true;
            // A reader that starts waiting after this finds the bytes at once (ReadAsyncReady): only one waiting now needs a wake.
            if (_loop is null) wake = WakeDue();
            else defer = _waiting && !_wakeScheduled;
        }
        if (wake) ScheduleWake();
        else if (defer) Defer();
    }

    public void Complete(Exception? error = null)
    {
        lock (_lock)
        {
            if (_completeRequested) return;
            _completeRequested = true;
            _requestedError = error;
        }
        if (_loop is not null)
        {
            // Behind the wake for the data of this batch, so that the reader sees the data first (see below).
            _completionDeferred = true;
            Defer();
            return;
        }
        ScheduleCompletion();
    }

    private void ScheduleCompletion()
    {
        // The end of the stream (or the reset) reaches the reader through its scheduler, after the bytes before it: a
        // reader taking those bytes sees the end on a later read, as recv(2) returns the data and then 0. A host that
        // steps the application (a replay) so sees two steps, as the application on its own thread would take them.
        _readerScheduler.Schedule(static s => ((TcpReceivePipe)s!).PublishCompletion(), this);
    }

    private void Defer()
    {
        if (_deferred) return;
        _deferred = true;
        _loop!.DeferWake(this);
    }

    /// <summary>The loop's batch ended: the one wake of the reader it held back, then the end of the stream if it came.</summary>
    void IDeferredWake.Flush()
    {
        _deferred = false;
        bool wake;
        lock (_lock) wake = WakeDue();
        if (wake) ScheduleWake();
        if (_completionDeferred)
        {
            _completionDeferred = false;
            ScheduleCompletion();
        }
    }

    private void PublishCompletion()
    {
        bool wake;
        lock (_lock)
        {
            _writerCompleted = true;
            if (_requestedError is { } e) _writerError = ExceptionDispatchInfo.Capture(e);
            wake = WakeDue();
        }
        if (wake) Wake(); // already where the scheduler runs the reader
    }

    // =================================================================== the application's side

    private ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken)
    {
        if (_readerCompleted) ThrowReaderCompleted();
        if (cancellationToken.IsCancellationRequested) return ValueTask.FromCanceled<ReadResult>(cancellationToken);
        short version;
        lock (_lock)
        {
            if (_readerCompleted) ThrowReaderCompleted();
            if (_waiting) throw new InvalidOperationException("Concurrent reads are not supported.");
            if (ReadAsyncReady) return new ValueTask<ReadResult>(BuildResult());
            // As Pipe: a read still in progress is refused when this one completes (in BuildResult), not now.
            _waiter.Reset();
            version = _waiter.Version;
            _waiting = true;
            _tokenCanceled = false;
            _waitToken = cancellationToken;
        }
        if (cancellationToken.CanBeCanceled) Register(cancellationToken, version);
        return new ValueTask<ReadResult>(this, version);
    }

    private bool TryRead(out ReadResult result)
    {
        lock (_lock)
        {
            if (_readerCompleted) ThrowReaderCompleted();
            if (_waiting) ThrowAlreadyReading();
            if (TryReadReady)
            {
                result = BuildResult();
                return true;
            }
            if (_readState == ReadState.Reading) ThrowAlreadyReading();
            _readState = ReadState.Tentative; // as Pipe: an AdvanceTo may follow a TryRead that found nothing
            result = default;
            return false;
        }
    }

    private void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        bool advanced;
        lock (_lock)
        {
            if (_readerCompleted) ThrowReaderCompleted();
            if (_readState == ReadState.None) throw new InvalidOperationException("No reading operation to complete.");
            // A position without a segment comes from an empty buffer: it moves nothing.
            long c = consumed.GetObject() is null ? _consumed : Absolute(consumed);
            long e = examined.GetObject() is null ? Math.Max(c, _examined) : Absolute(examined);
            if (c < _consumed || c > _readEnd || e > _readEnd)
                throw new InvalidOperationException("The position is outside the buffer the last read returned.");
            if (e < c) throw new InvalidOperationException("The examined position must be greater than or equal to the consumed position.");
            _readState = ReadState.None;
            // As Pipe (.NET 10): examined may also move back; the bytes after it count as not examined again.
            _examined = e;
            // Examined everything committed: a ReadAsync now waits for more. An empty buffer's positions (or none) examine all it had.
            bool examinedEverything = examined.GetObject() is null ? _consumed == _committed : e == _committed;
            if (examinedEverything) _signaled = false;
            advanced = c > _consumed;
            if (advanced)
            {
                long from = _consumed;
                Volatile.Write(ref _consumed, c);
                ReleaseConsumed(from, c);
            }
        }
        if (advanced) _onConsumed();
    }

    private void CancelPendingRead()
    {
        bool wake;
        lock (_lock)
        {
            _cancelPending = true;
            wake = WakeDue();
        }
        if (wake) ScheduleWake();
    }

    private void CompleteReader()
    {
        bool wake;
        lock (_lock)
        {
            if (_readerCompleted) return;
            _readerCompleted = true;
            _readState = ReadState.None;
            Volatile.Write(ref _consumed, _committed);
            _examined = _readEnd = _committed;
            if (!_writing) ReleaseAll();
            wake = WakeDue(); // a read waiting on another thread fails instead of waiting for ever
        }
        if (wake) ScheduleWake();
        _onConsumed();
    }

    /// <summary>What completes a ReadAsync, as in Pipe: bytes committed since everything was last examined, the end of the stream, or a cancellation.</summary>
    private bool ReadAsyncReady => _signaled || _writerCompleted || _cancelPending || _tokenCanceled || _readerCompleted;

    /// <summary>What lets TryRead return a buffer, as in Pipe: that, or bytes not examined (examined may have moved back).</summary>
    private bool TryReadReady => _committed > _examined || ReadAsyncReady;

    /// <summary>The buffer from consumed to committed, over the slots relinked in order. Under the lock.</summary>
    /// <remarks>The checks come in Pipe's order: the writer's error, then the cancellation is observed, then a read still in progress is refused.</remarks>
    private ReadResult BuildResult()
    {
        _writerError?.Throw(); // as Pipe: the writer's error, on every read
        bool canceled = _cancelPending;
        _cancelPending = false;
        if (_readState == ReadState.Reading) ThrowAlreadyReading();
        _readState = canceled ? ReadState.Tentative : ReadState.Reading;
        long start = _consumed, end = _committed;
        _readEnd = end;
        var buffer = default(ReadOnlySequence<byte>);
        if (end > start)
        {
            long firstBlock = start / BlockSize, lastBlock = (end - 1) / BlockSize;
            Slot? first = null, previous = null;
            for (long b = firstBlock; b <= lastBlock; b++)
            {
                var slot = _slots[SlotOf(b)]!;
                slot.Link(b * BlockSize);
                if (previous is null) first = slot;
                else previous.SetNext(slot);
                previous = slot;
            }
            buffer = new ReadOnlySequence<byte>(first!, (int)(start - firstBlock * BlockSize), previous!, (int)(end - lastBlock * BlockSize));
        }
        return new ReadResult(buffer, canceled, _writerCompleted);
    }

    private static long Absolute(SequencePosition position) =>
        position.GetObject() is Slot slot
            ? slot.RunningIndex + position.GetInteger()
            : throw new InvalidOperationException("The position does not come from this reader.");

    // =================================================================== waiting reads

    private void Register(CancellationToken cancellationToken, short version)
    {
        // Registered outside the lock: a token canceled meanwhile runs the callback here, and it takes the lock.
        var registration = cancellationToken.UnsafeRegister(static s => ((TcpReceivePipe)s!).OnTokenCanceled(), this);
        bool kept;
        lock (_lock)
        {
            kept = _waiting && !_wakeScheduled && _waiter.Version == version;
            if (kept) _registration = registration;
        }
        if (!kept) registration.Unregister();
    }

    private void OnTokenCanceled()
    {
        bool wake;
        lock (_lock)
        {
            // A registration left over from an earlier read finds another token (or none) here and does nothing.
            if (!_waiting || !_waitToken.IsCancellationRequested) return;
            _tokenCanceled = true;
            wake = WakeDue();
        }
        if (wake) ScheduleWake();
    }

    /// <summary>Under the lock: true when a waiting read can complete and nobody has scheduled it yet (the caller then does, outside the lock).</summary>
    private bool WakeDue()
    {
        if (!_waiting || _wakeScheduled || !ReadAsyncReady) return false;
        _wakeScheduled = true;
        return true;
    }

    private void ScheduleWake() => _readerScheduler.Schedule(static s => ((TcpReceivePipe)s!).Wake(), this);

    /// <summary>Runs where the reader scheduler says; the result itself is built when the reader takes it.</summary>
    private void Wake()
    {
        CancellationTokenRegistration registration;
        lock (_lock)
        {
            _waiting = false;
            _wakeScheduled = false;
            registration = _registration;
            _registration = default;
        }
        registration.Unregister(); // never waits for a running callback: that one finds no read waiting
        _waiter.SetResult(default);
    }

    ValueTaskSourceStatus IValueTaskSource<ReadResult>.GetStatus(short token) => _waiter.GetStatus(token);

    void IValueTaskSource<ReadResult>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        // As a Pipe with useSynchronizationContext: false: the continuation runs where the reader scheduler ran Wake.
        _waiter.OnCompleted(continuation, state, token, flags & ~ValueTaskSourceOnCompletedFlags.UseSchedulingContext);

    ReadResult IValueTaskSource<ReadResult>.GetResult(short token)
    {
        _waiter.GetResult(token);
        lock (_lock)
        {
            var cancellationToken = _waitToken;
            bool tokenCanceled = _tokenCanceled;
            _waitToken = default;
            _tokenCanceled = false;
            if (_readerCompleted) ThrowReaderCompleted();
            _writerError?.Throw(); // as Pipe: the writer's error comes before a cancellation
            if (tokenCanceled)
            {
                _cancelPending = false; // as Pipe: one cancellation state, observed by this read
                throw new OperationCanceledException(cancellationToken);
            }
            return BuildResult();
        }
    }

    // =================================================================== blocks

    private int SlotOf(long block) => (int)(block % _slots.Length);

    /// <summary>The slot of block <paramref name="block"/>, with a block rented if it has none. Under the lock.</summary>
    private Slot Hold(long block)
    {
        var slot = _slots[SlotOf(block)] ??= new Slot();
        if (slot.Owner is null)
        {
            slot.Owner = BlockMemoryPool.Instance.Rent(BlockSize);
            slot.Block = slot.Owner.Memory;
            slot.WrittenEnd = 0;
            _blocksHeld++;
        }
        return slot;
    }

    /// <summary>Returns the blocks from <paramref name="from"/>'s to <paramref name="to"/>'s whose written bytes are all consumed. Under the lock.</summary>
    private void ReleaseConsumed(long from, long to)
    {
        for (long b = from / BlockSize; b <= to / BlockSize; b++)
        {
            var slot = _slots[SlotOf(b)];
            if (slot?.Owner is not null && slot.WrittenEnd <= to) Release(slot);
        }
    }

    private void ReleaseAll()
    {
        foreach (var slot in _slots)
            if (slot?.Owner is not null) Release(slot);
    }

    private void Release(Slot slot)
    {
        slot.Owner!.Dispose();
        slot.Owner = null;
        slot.Block = default;
        slot.WrittenEnd = 0;
        _blocksHeld--;
    }

    [DoesNotReturn]
    private static void ThrowReaderCompleted() => throw new InvalidOperationException("Reading is not allowed after the reader was completed.");
    [DoesNotReturn]
    private static void ThrowAlreadyReading() => throw new InvalidOperationException("Reading is already in progress.");
    [DoesNotReturn]
    private static void ThrowWriterCompleted() => throw new InvalidOperationException("Writing is not allowed after the stream was completed.");

    /// <summary>One ring slot: the block it holds, and the segment it is in the reader's sequences.</summary>
    private sealed class Slot : ReadOnlySequenceSegment<byte>
    {
        public IMemoryOwner<byte>? Owner;
        public Memory<byte> Block;
        /// <summary>The absolute end of the bytes written to this block (past its start): it is returned once consumed reaches this.</summary>
        public long WrittenEnd;

        /// <summary>Makes this the segment for the block starting at absolute offset <paramref name="runningIndex"/>, last so far.</summary>
        public void Link(long runningIndex)
        {
            Memory = Block;
            RunningIndex = runningIndex;
            Next = null;
        }

        public void SetNext(Slot next) => Next = next;
    }

    /// <summary>The application's view; all state is the pipe's.</summary>
    private sealed class ReceiveReader(TcpReceivePipe pipe) : PipeReader
    {
        public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default) => pipe.ReadAsync(cancellationToken);
        public override bool TryRead(out ReadResult result) => pipe.TryRead(out result);
        public override void AdvanceTo(SequencePosition consumed) => pipe.AdvanceTo(consumed, consumed);
        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined) => pipe.AdvanceTo(consumed, examined);
        public override void CancelPendingRead() => pipe.CancelPendingRead();
        public override void Complete(Exception? exception = null) => pipe.CompleteReader();
    }
}
