using System.IO.Pipelines;

namespace UserNet.Simulation;

/// <summary>
/// The single scheduler of a deterministic simulation: a run queue of work (stack work the sockets post, application
/// continuations, tasks) and a heap of timed events (frame deliveries, stack deadlines, timers) on a virtual clock.
/// <see cref="Run"/> drives both on the calling thread: it runs what is runnable, and when nothing is, jumps the clock
/// to the earliest event. Nothing else moves the clock, so a run is a function of its seed.
/// </summary>
internal sealed class DeterministicLoop
{
    private readonly object _gate = new();
    private readonly Queue<WorkItem> _run = new();
    private readonly PriorityQueue<TimedEvent, (long Time, long Seq)> _heap = new();
    private readonly SimulatedNetwork _network;
    private long _seq;
    private long _now;
    private int _threadId = -1;
    private long _crossThread;

    public DeterministicLoop(SimulatedNetwork network)
    {
        _network = network;
        Clock = new VirtualClock(this);
        Context = new LoopSynchronizationContext(this);
        TaskScheduler = new LoopTaskScheduler(this);
        Pipe = new LoopPipeScheduler(this);
    }

    public VirtualClock Clock { get; }
    public LoopSynchronizationContext Context { get; }
    public LoopTaskScheduler TaskScheduler { get; }
    public PipeScheduler Pipe { get; }

    /// <summary>Virtual time since the network was made, in ticks.</summary>
    public long Now => Volatile.Read(ref _now);

    public bool Running => _threadId != -1;

    /// <summary>Work queued or events scheduled from a thread other than the running loop's (there should be none).</summary>
    public long CrossThreadCalls => Interlocked.Read(ref _crossThread);

    public bool OnLoopThread => _threadId == Environment.CurrentManagedThreadId;

    public void Enqueue(in WorkItem item)
    {
        Check();
        lock (_gate) _run.Enqueue(item);
    }

    public void At(long time, in TimedEvent e)
    {
        Check();
        lock (_gate) _heap.Enqueue(e, (time < _now ? _now : time, _seq++));
    }

    private void Check()
    {
        int t = _threadId;
        if (t != -1 && t != Environment.CurrentManagedThreadId) Interlocked.Increment(ref _crossThread);
    }

    /// <summary>Runs <paramref name="body"/> under this loop until it completes; throws what it threw, or on deadlock or time limit.</summary>
    public void Run(Func<Task> body, long limitTicks)
    {
        if (_threadId != -1) throw new InvalidOperationException("RunAsync is already running on this network (runs do not nest)");
        var previous = SynchronizationContext.Current;
        _threadId = Environment.CurrentManagedThreadId;
        // No context while the loop runs its own work: a library continuation (ConfigureAwait(false)) of a task the
        // loop completes then runs inline, here, where the runtime would otherwise send it to the thread pool. The
        // application's code runs with ours (see Execute), so its awaits come back to the loop.
        SynchronizationContext.SetSynchronizationContext(null);
        try
        {
            long limitAt = limitTicks == long.MaxValue ? long.MaxValue : _now + limitTicks;
            var task = Task.Factory.StartNew(body, CancellationToken.None, TaskCreationOptions.None, TaskScheduler).Unwrap();
            _network.OnLoopStarted();
            while (!task.IsCompleted)
            {
                WorkItem work;
                bool haveWork;
                lock (_gate) haveWork = _run.TryDequeue(out work);
                if (haveWork)
                {
                    Execute(work);
                    _network.AfterLoopStep();
                    continue;
                }
                TimedEvent e;
                long time;
                lock (_gate)
                {
                    if (!_heap.TryPeek(out e, out var key))
                        throw new InvalidOperationException(
                            $"deadlock: the test body is still waiting at simulated time {FormatTime(_now)}, but nothing is runnable and no frame, timer or stack deadline is pending");
                    time = key.Time;
                    if (!_network.IsLive(e))
                    {
                        _heap.Dequeue(); // a stack deadline that moved: it must not move the clock
                        continue;
                    }
                    if (time > limitAt)
                        throw new TimeoutException($"time limit: simulated time would pass {FormatTime(limitAt)} (next event at {FormatTime(time)}) while the test body is still running");
                    _heap.Dequeue();
                    if (time > _now) Volatile.Write(ref _now, time);
                }
                _network.Dispatch(e);
                _network.AfterLoopStep();
            }
            task.GetAwaiter().GetResult();
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(previous);
            _threadId = -1;
        }
    }

    internal static string FormatTime(long ticks) => $"{TimeSpan.FromTicks(ticks).TotalSeconds:0.000000} s";

    private void Execute(in WorkItem w)
    {
        switch (w.Kind)
        {
            case WorkKind.Callback: ((Action<object?>)w.A).Invoke(w.B); break;
            case WorkKind.Post:
                SynchronizationContext.SetSynchronizationContext(Context);
                try { ((SendOrPostCallback)w.A).Invoke(w.B); }
                finally { SynchronizationContext.SetSynchronizationContext(null); }
                break;
            case WorkKind.Task:
                SynchronizationContext.SetSynchronizationContext(Context);
                try { TaskScheduler.Execute((Task)w.A); }
                finally { SynchronizationContext.SetSynchronizationContext(null); }
                break;
            case WorkKind.StackWork: ((SimulatedHost)w.A).RunPosted((Action<UserNet.Stack.NetStack>)w.B!); break;
        }
    }

    public sealed class LoopSynchronizationContext(DeterministicLoop loop) : SynchronizationContext
    {
        public override void Post(SendOrPostCallback d, object? state) => loop.Enqueue(new WorkItem(WorkKind.Post, d, state));

        public override void Send(SendOrPostCallback d, object? state)
        {
            if (loop.OnLoopThread) d(state);
            else throw new InvalidOperationException("a deterministic simulation runs on one thread: Send from another thread would block it");
        }

        public override SynchronizationContext CreateCopy() => this;
    }

    public sealed class LoopTaskScheduler(DeterministicLoop loop) : TaskScheduler
    {
        protected override void QueueTask(Task task) => loop.Enqueue(new WorkItem(WorkKind.Task, task, null));

        protected override bool TryExecuteTaskInline(Task task, bool taskWasPreviouslyQueued) =>
            loop.OnLoopThread && TryExecuteTask(task);

        protected override IEnumerable<Task>? GetScheduledTasks() => null;

        public override int MaximumConcurrencyLevel => 1;

        internal void Execute(Task task) => TryExecuteTask(task);
    }

    private sealed class LoopPipeScheduler(DeterministicLoop loop) : PipeScheduler
    {
        public override void Schedule(Action<object?> action, object? state) => loop.Enqueue(new WorkItem(WorkKind.Callback, action, state));
    }
}

internal enum WorkKind : byte { Callback, Post, Task, StackWork }

/// <summary>One runnable item; a struct of references, so queuing allocates nothing.</summary>
internal readonly record struct WorkItem(WorkKind Kind, object A, object? B);

internal enum EventKind : byte { Delivery, Poll, Timer }

/// <summary>One timed event: a frame's delivery on a link, a stack's deadline, a timer's due time.</summary>
internal readonly record struct TimedEvent(EventKind Kind, object Target, byte[]? Buffer, int Length, long Generation);

/// <summary>The network's clock in deterministic mode: virtual, moved only by the loop. Timers fire on the loop.</summary>
internal sealed class VirtualClock(DeterministicLoop loop) : TimeProvider
{
    /// <summary>Virtual time zero as a wall-clock date: fixed, so that nothing of the real clock enters a capture.</summary>
    public static readonly DateTimeOffset Epoch = new(2000, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public override DateTimeOffset GetUtcNow() => Epoch + TimeSpan.FromTicks(loop.Now);
    public override long GetTimestamp() => loop.Now;
    public override long TimestampFrequency => TimeSpan.TicksPerSecond;
    public override TimeZoneInfo LocalTimeZone => TimeZoneInfo.Utc;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var t = new VirtualTimer(loop, callback, state);
        t.Change(dueTime, period);
        return t;
    }
}

internal sealed class VirtualTimer(DeterministicLoop loop, TimerCallback callback, object? state) : ITimer
{
    private long _generation;
    private TimeSpan _period = Timeout.InfiniteTimeSpan;
    private bool _disposed;

    public bool Change(TimeSpan dueTime, TimeSpan period)
    {
        lock (this)
        {
            if (_disposed) return false;
            long g = ++_generation;
            _period = period;
            if (dueTime == Timeout.InfiniteTimeSpan) return true;
            if (dueTime < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(dueTime));
            loop.At(loop.Now + dueTime.Ticks, new TimedEvent(EventKind.Timer, this, null, 0, g));
            return true;
        }
    }

    internal bool IsCurrent(long generation)
    {
        lock (this) return !_disposed && generation == _generation;
    }

    internal void Fire(long generation)
    {
        TimeSpan period;
        lock (this)
        {
            if (_disposed || generation != _generation) return;
            period = _period;
            if (period != Timeout.InfiniteTimeSpan && period > TimeSpan.Zero)
                loop.At(loop.Now + period.Ticks, new TimedEvent(EventKind.Timer, this, null, 0, generation));
        }
        callback(state);
    }

    public void Dispose()
    {
        lock (this)
        {
            _disposed = true;
            _generation++;
        }
    }

    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }
}
