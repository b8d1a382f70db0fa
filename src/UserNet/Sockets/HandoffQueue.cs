using System.IO.Pipelines;
using System.Threading.Tasks.Sources;
using UserNet.Stack;

namespace UserNet.Sockets;

/// <summary>
/// Hands items from the stack's loop to the application: the loop enqueues (never waits), the application takes or
/// awaits them. A waiting taker is completed through the host's application scheduler, never inline on the loop
/// (unless that scheduler is inline), so application code runs where the host says: the thread pool for a
/// <c>StackHost</c>, the driving thread for a bare core, a test's own queue for a simulation. One waiting taker costs
/// no allocation; more than one at a time (concurrent receives) allocate a waiter each. On a core (<c>loop</c> given)
/// a taker the loop gave an item is scheduled when the loop's batch of frames ends (<see cref="NetStack.DeferWake"/>),
/// so a burst of datagrams costs one work item per waiting taker, and the taker finds the rest of the burst queued.
/// </summary>
internal sealed class HandoffQueue<T> : IDeferredWake
{
    private readonly object _gate = new();
    private readonly Queue<T> _items = new();
    private readonly Queue<Waiter> _waiters = new();
    private readonly PipeScheduler _scheduler;
    private readonly NetStack? _loop;
    /// <summary>Takers given an item and not yet scheduled (the loop's own list, touched on the loop only).</summary>
    private readonly List<Waiter> _given = new();
    private Waiter? _spare;
    private bool _completed;

    /// <param name="scheduler">Where a waiting taker continues.</param>
    /// <param name="loop">The core whose loop adds items: takers it serves continue once its batch ends; null: at once.</param>
    public HandoffQueue(PipeScheduler scheduler, NetStack? loop = null)
    {
        _scheduler = scheduler;
        _loop = loop;
    }

    /// <summary>Items waiting to be taken.</summary>
    public int Count { get { lock (_gate) return _items.Count; } }

    /// <summary>
    /// Gives an item to a waiting taker, or queues it when there is none and fewer than <paramref name="limit"/> wait.
    /// False when the queue is full or completed (the caller keeps the item).
    /// </summary>
    public bool TryAdd(T item, int limit = int.MaxValue)
    {
        Waiter? w;
        lock (_gate)
        {
            if (_completed) return false;
            if (!_waiters.TryDequeue(out w))
            {
                if (_items.Count >= limit) return false;
                _items.Enqueue(item);
                return true;
            }
            w.Claim(item);
        }
        if (_loop is null)
        {
            w.Schedule(_scheduler);
            return true;
        }
        // Claimed, so no cancellation or Complete can touch it any more; it runs when the batch ends.
        if (_given.Count == 0) _loop.DeferWake(this);
        _given.Add(w);
        return true;
    }

    /// <summary>The loop's batch ended: the takers it gave items continue now.</summary>
    void IDeferredWake.Flush()
    {
        foreach (var w in _given) w.Schedule(_scheduler);
        _given.Clear();
    }

    public bool TryTake(out T item)
    {
        lock (_gate) return _items.TryDequeue(out item!);
    }

    /// <summary>The next item; throws <see cref="ObjectDisposedException"/> once completed and empty.</summary>
    public ValueTask<T> TakeAsync(CancellationToken cancellationToken = default)
    {
        if (cancellationToken.IsCancellationRequested) return ValueTask.FromCanceled<T>(cancellationToken);
        lock (_gate)
        {
            if (_items.TryDequeue(out var item)) return ValueTask.FromResult(item);
            if (_completed) return ValueTask.FromException<T>(new ObjectDisposedException(nameof(HandoffQueue<T>)));
            var w = _spare ?? new Waiter(this);
            _spare = null;
            w.Arm();
            // Registered under the lock, before the waiter can be given anything: a token cancelled meanwhile runs the
            // callback right here (the lock is reentrant), which marks the waiter instead of failing it.
            if (cancellationToken.CanBeCanceled && w.Watch(cancellationToken))
            {
                _spare = w;
                return ValueTask.FromCanceled<T>(cancellationToken);
            }
            _waiters.Enqueue(w);
            return new ValueTask<T>(w, w.Version);
        }
    }

    /// <summary>No more items: waiting takers see <see cref="ObjectDisposedException"/>; returns what was still queued.</summary>
    public List<T> Complete()
    {
        List<Waiter> woken;
        List<T> left;
        lock (_gate)
        {
            if (_completed) return [];
            _completed = true;
            left = [.. _items];
            _items.Clear();
            woken = [.. _waiters];
            _waiters.Clear();
            foreach (var w in woken) w.Fail(new ObjectDisposedException(nameof(HandoffQueue<T>)));
        }
        foreach (var w in woken) w.Schedule(_scheduler);
        return left;
    }

    private void Cancel(Waiter w, int generation, CancellationToken token)
    {
        lock (_gate)
        {
            if (w.Generation != generation) return; // a callback from an earlier wait of a recycled waiter
            if (!_waiters.Contains(w))
            {
                w.CancelledBeforeQueued = true; // still inside TakeAsync (or already given an item, which wins)
                return;
            }
            var rest = _waiters.Where(x => x != w).ToArray();
            _waiters.Clear();
            foreach (var x in rest) _waiters.Enqueue(x);
            w.Fail(new OperationCanceledException(token));
        }
        w.Schedule(_scheduler);
    }

    private void Recycle(Waiter w)
    {
        lock (_gate) _spare ??= w;
    }

    private sealed class Waiter(HandoffQueue<T> owner) : IValueTaskSource<T>
    {
        private ManualResetValueTaskSourceCore<T> _core; // RunContinuationsAsynchronously false: the scheduler decides
        private T? _item;
        private Exception? _error;
        private CancellationTokenRegistration _registration;

        public short Version => _core.Version;
        /// <summary>Counts the waits this object served, so a late cancellation of an earlier wait is recognised.</summary>
        public int Generation { get; private set; }
        public bool CancelledBeforeQueued { get; set; }

        public void Arm()
        {
            _core.Reset();
            _item = default;
            _error = null;
            CancelledBeforeQueued = false;
            Generation++;
        }

        /// <summary>Cancels this wait when <paramref name="token"/> is cancelled; true when it already was.</summary>
        public bool Watch(CancellationToken token)
        {
            // One small allocation per cancellable wait: the callback must know which wait it belongs to.
            _registration = token.UnsafeRegister(static (s, t) => { var c = (CancelState)s!; c.Waiter.Owner.Cancel(c.Waiter, c.Generation, t); },
                new CancelState(this, Generation));
            if (!CancelledBeforeQueued) return false;
            _registration.Unregister();
            return true;
        }

        private sealed record CancelState(Waiter Waiter, int Generation);

        private HandoffQueue<T> Owner => owner;

        public void Claim(T item) => _item = item;
        public void Fail(Exception error) => _error = error;

        public void Schedule(PipeScheduler scheduler) => scheduler.Schedule(static s => ((Waiter)s!).Fire(), this);

        private void Fire()
        {
            _registration.Unregister(); // never blocks; a callback already running finds a stale generation
            _registration = default;
            if (_error is { } e) _core.SetException(e);
            else _core.SetResult(_item!);
        }

        public T GetResult(short token)
        {
            try { return _core.GetResult(token); }
            finally
            {
                _item = default;
                owner.Recycle(this);
            }
        }

        public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _core.OnCompleted(continuation, state, token, flags);
    }
}
