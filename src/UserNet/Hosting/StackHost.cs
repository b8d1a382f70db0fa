using System.Collections.Concurrent;
using System.IO.Pipelines;
using UserNet.Core;
using UserNet.Devices;
using UserNet.Sockets;
using UserNet.Stack;
using UserNet.Wire;

namespace UserNet.Hosting;

/// <summary>
/// Runs a stack on a device, on one thread of its own (the loop): it takes the frames that arrived, runs the work
/// sockets posted from other threads, runs due timers, and when there is nothing to do waits in the device until a
/// frame, a post or the next deadline. Only that thread touches the protocol core. Time comes from a
/// <see cref="TimeProvider"/>, so tests can run the same loop on a clock they control. Open sockets on it
/// (<see cref="UdpSocket"/>, <see cref="TcpConnection"/>, <see cref="TcpConnectionListener"/>, <see cref="Pinger"/>);
/// their application code continues on the thread pool. A connection's reader waiting for data is woken once per batch
/// of frames (up to <see cref="Batch"/>), at its end: one thread-pool item per batch, not one per segment.
/// </summary>
public sealed class StackHost : IStackHost, IAsyncDisposable
{
    /// <summary>Frames taken from the device before the loop looks at posted work and timers again.</summary>
    private const int Batch = 64;

    private readonly INetDevice _device;
    private readonly TimeProvider _time;
    private readonly bool _systemClock;
    private readonly long _startTimestamp;
    private readonly NetStack _stack;
    private readonly ConcurrentQueue<Action<NetStack>> _work = new();
    private readonly Receiver _receiver;
    private readonly ITimer? _wakeTimer;
    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TimeSpan _armedDeadline = TimeSpan.MaxValue;
    private Thread? _thread;
    private int _sleeping;
    private volatile bool _timerFired;
    private volatile bool _stopping;
    private volatile bool _loopEnded;
    private int _disposed;

    /// <param name="device">The link; the caller owns it (disposing the host does not dispose it).</param>
    /// <param name="options">The stack's addresses, limits, observer and logger.</param>
    /// <param name="time">The clock; null for the system clock.</param>
    public StackHost(INetDevice device, StackOptions options, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(options);
        _device = device;
        _time = time ?? TimeProvider.System;
        _systemClock = ReferenceEquals(_time, TimeProvider.System);
        _startTimestamp = _time.GetTimestamp();
        _stack = new NetStack(options, new DeviceTransmitter(device));
        _receiver = new Receiver(this);
        // With the system clock the loop's wait itself times out at the next deadline; another clock wakes it with its timers.
        if (!_systemClock) _wakeTimer = _time.CreateTimer(static s => ((StackHost)s!).OnWakeTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        Pinger = new Pinger(this);
    }

    public StackCounters Counters => _stack.Counters;
    public INetDevice Device => _device;
    /// <summary>The stack's Ethernet address (given in the options, or drawn from the seed).</summary>
    public MacAddress Mac => _stack.Mac;
    /// <summary>The stack's address and prefix.</summary>
    public Ipv4Subnet Address => _stack.Address;
    /// <summary>ICMP echo client bound to this stack.</summary>
    public Pinger Pinger { get; }
    /// <summary>The stack's clock: time since the host was created.</summary>
    public TimeSpan Now => _time.GetElapsedTime(_startTimestamp);

    /// <summary>Starts the loop and announces the stack (gratuitous ARP). Completes once it can answer.</summary>
    public Task StartAsync()
    {
        if (_thread is not null) return _started.Task;
        _thread = new Thread(Run) { IsBackground = true, Name = $"usernet {_device.Name}" };
        _thread.Start();
        return _started.Task;
    }

    /// <summary>Completes when the loop ends (after <see cref="DisposeAsync"/>, or faulted if it crashed).</summary>
    public Task Completion => _ended.Task;

    NetStack IStackHost.Core => _stack;
    PipeScheduler IStackHost.ApplicationScheduler => PipeScheduler.ThreadPool;
    void IStackHost.Post(Action<NetStack> work) => Post(work);

    /// <summary>Runs <paramref name="action"/> on the loop and returns its result (tests reach the core this way).</summary>
    internal Task<T> InvokeAsync<T>(Func<NetStack, T> action) => StackHostExtensions.InvokeAsync(this, action);

    /// <summary>Queues work for the loop and wakes it. Once the host has stopped, work runs at once on the caller's thread.</summary>
    internal void Post(Action<NetStack> work)
    {
        if (_loopEnded)
        {
            RunWork(work);
            return;
        }
        _work.Enqueue(work); // a full fence: the loop's sleeping flag is read after the work is visible
        if (Volatile.Read(ref _sleeping) == 1) _device.Wake();
        // The loop may have ended between the check and the enqueue: then nobody else will run what is queued.
        if (_loopEnded) DrainWork();
    }

    private void DrainWork()
    {
        while (_work.TryDequeue(out var w)) RunWork(w);
    }

    private void RunWork(Action<NetStack> w)
    {
        try { _stack.Run(w, Now); }
        catch (Exception e)
        {
            // Work from outside must not stop the loop: count it as a fault and keep serving.
            _stack.Counters.Dropped(DropReason.StackFault);
            if (_stack.Options.Logger is { } l) StackLog.WorkFault(l, e);
        }
    }

    private void Run()
    {
        try
        {
            _stack.Start(Now);
            _started.TrySetResult();
            while (!_stopping)
            {
                int frames;
                // One batch: the frames at hand, the posted work, the due timers; the sockets' wake-ups of application
                // readers happen once at its end (one per connection), not once per segment.
                _stack.BeginBatch();
                try
                {
                    frames = _device.Receive(_receiver, Batch);
                    DrainWork();
                    var now = Now;
                    if (now >= _stack.NextDeadline) _stack.Poll(now);
                }
                finally { _stack.EndBatch(); }
                if (frames == Batch || !_work.IsEmpty) continue;
                Sleep();
            }
            _ended.TrySetResult();
        }
        catch (Exception e)
        {
            // A bug of ours escaped the core (malformed input cannot: the core drops and counts it). The loop is gone:
            // what is posted from now on runs in place, as after DisposeAsync, so that nobody waits for ever.
            _loopEnded = true;
            _started.TrySetException(e);
            _ended.TrySetException(e);
            DrainWork();
        }
    }

    /// <summary>Nothing to do: wait in the device for a frame, a post (<see cref="Post"/> wakes it) or the next deadline.</summary>
    private void Sleep()
    {
        Interlocked.Exchange(ref _sleeping, 1); // a full fence: a post after this sees it and wakes us
        try
        {
            if (!_work.IsEmpty || _stopping) return;
            var deadline = _stack.NextDeadline;
            var now = Now;
            if (deadline <= now) return;
            if (_systemClock)
            {
                _device.WaitForFrames(deadline == TimeSpan.MaxValue ? Timeout.InfiniteTimeSpan : deadline - now);
                return;
            }
            // A timer may fire a little before the deadline (it counts whole milliseconds); the loop then finds nothing
            // due, so it must arm the timer again even though the deadline has not changed.
            if (deadline != _armedDeadline || _timerFired)
            {
                _timerFired = false;
                _armedDeadline = deadline;
                _wakeTimer!.Change(deadline == TimeSpan.MaxValue ? Timeout.InfiniteTimeSpan : deadline - now, Timeout.InfiniteTimeSpan);
            }
            _device.WaitForFrames(Timeout.InfiniteTimeSpan);
        }
        finally { Volatile.Write(ref _sleeping, 0); }
    }

    private void OnWakeTimer()
    {
        _timerFired = true;
        _device.Wake();
    }

    /// <summary>Stops the loop. Does not dispose the device (the caller owns it).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        _stopping = true;
        _device.Wake();
        try
        {
            if (_thread is not null) await _ended.Task.ConfigureAwait(false);
        }
        finally
        {
            // From here on nothing reads the queue: run what is left, and later posts run in place (see Post), so that
            // nobody waits for ever on a loop that has stopped (a listener disposed after its host, say).
            _loopEnded = true;
            DrainWork();
            _wakeTimer?.Dispose();
            Pinger.CancelAll();
            _stack.Dispose();
            _started.TrySetCanceled();
            _ended.TrySetResult();
        }
    }

    /// <summary>
    /// Frames from the device go into the core, in place, each stamped with the time it is handled: TCP times every
    /// segment it sends (RACK, RFC 8985, compares transmission times), so a batch must not share one stale time.
    /// </summary>
    private sealed class Receiver(StackHost host) : IFrameReceiver
    {
        public void OnFrame(Span<byte> frame) => host._stack.Receive(frame, host.Now);
        public void OnFrame(Span<byte> frame, in FrameOffload offload) => host._stack.Receive(frame, host.Now, offload);
    }

    private sealed class DeviceTransmitter(INetDevice device) : IFrameTransmitter
    {
        public void Transmit(ReadOnlySpan<byte> frame) => device.Transmit(frame);
        public int SegmentationLimit => device.SegmentationLimit;
        public void Transmit(ReadOnlySpan<byte> frame, in FrameOffload offload) => device.Transmit(frame, offload);
    }
}
