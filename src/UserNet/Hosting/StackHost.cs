using System.Collections.Concurrent;
using System.IO.Pipelines;
using UserNet.Core;
using UserNet.Devices;
using UserNet.Wire;

namespace UserNet.Hosting;

/// <summary>
/// Runs a <see cref="NetStack"/> on a device: the loop reads frame records from the device's receive pipe,
/// runs due timers, and executes work posted from other threads, all serially. Time comes from a
/// <see cref="TimeProvider"/>, so tests can run the same loop on a clock they control.
/// </summary>
public sealed class StackHost : IAsyncDisposable
{
    private readonly INetDevice _device;
    private readonly TimeProvider _time;
    private readonly long _startTimestamp;
    private readonly Pipe _rx;
    private readonly ConcurrentQueue<Action<NetStack>> _work = new();
    private readonly ITimer _wakeTimer;
    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TimeSpan _armedDeadline = TimeSpan.MaxValue;
    private byte[] _scratch = new byte[2048];
    private volatile bool _stopping;
    private int _disposed;
    private volatile bool _loopEnded;
    private volatile bool _timerFired;
    private Task _loop = Task.CompletedTask;

    public StackHost(INetDevice device, StackOptions options, TimeProvider? time = null)
    {
        _device = device;
        _time = time ?? TimeProvider.System;
        _startTimestamp = _time.GetTimestamp();
        var transmitter = new DeviceTransmitter(device);
        Stack = new NetStack(options, transmitter);
        Pinger = new Pinger(this);
        Stack.EchoListener = Pinger;
        Stack.Poster = Post;
        // The pipe is the device-to-loop handoff: records are written in place by the device's reader, and the
        // pause threshold bounds how much can queue before the reader stops (leaving further frames to the kernel).
        _rx = new Pipe(new PipeOptions(
            pool: BlockMemoryPool.Instance,
            readerScheduler: device.ReceivesOnOwnThread ? PipeScheduler.Inline : PipeScheduler.ThreadPool,
            writerScheduler: PipeScheduler.Inline,
            pauseWriterThreshold: 4 << 20,
            resumeWriterThreshold: 2 << 20,
            minimumSegmentSize: BlockMemoryPool.BlockSize,
            useSynchronizationContext: false));
        _wakeTimer = _time.CreateTimer(static s => ((StackHost)s!).OnWakeTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>The stack. Touch it only from work posted with <see cref="InvokeAsync{T}"/>; its counters may be read from anywhere.</summary>
    public NetStack Stack { get; }
    public StackCounters Counters => Stack.Counters;
    public INetDevice Device => _device;
    /// <summary>ICMP echo client bound to this stack.</summary>
    public Pinger Pinger { get; }
    /// <summary>The stack's clock: time since the host was created.</summary>
    public TimeSpan Now => _time.GetElapsedTime(_startTimestamp);
    internal TimeProvider TimeProvider => _time;

    /// <summary>Starts the device and the loop, and announces the stack (gratuitous ARP). Completes once it can answer.</summary>
    public Task StartAsync()
    {
        _device.StartReceiving(_rx.Writer);
        _loop = Task.Run(RunAsync);
        return _started.Task;
    }

    /// <summary>Completes when the loop ends (after <see cref="DisposeAsync"/>, or faulted if it crashed).</summary>
    public Task Completion => _loop;

    /// <summary>Runs <paramref name="action"/> on the loop and returns its result.</summary>
    public Task<T> InvokeAsync<T>(Func<NetStack, T> action)
    {
        var tcs = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        Post(s =>
        {
            try { tcs.TrySetResult(action(s)); }
            catch (Exception e) { tcs.TrySetException(e); }
        });
        return tcs.Task;
    }

    /// <summary>Queues work for the loop and wakes it. Once the host has stopped, work runs at once on the caller's thread.</summary>
    public void Post(Action<NetStack> work)
    {
        if (_loopEnded)
        {
            RunWork(work);
            return;
        }
        _work.Enqueue(work);
        _rx.Reader.CancelPendingRead();
        // The loop may have ended between the check and the enqueue: then nobody else will run what is queued.
        if (_loopEnded) DrainWork();
    }

    private void DrainWork()
    {
        while (_work.TryDequeue(out var w)) RunWork(w);
    }

    private void RunWork(Action<NetStack> w)
    {
        try { w(Stack); }
        catch (Exception e)
        {
            // Work from outside must not stop the loop: count it as a fault and keep serving.
            Stack.Counters.Dropped(DropReason.StackFault);
            if (Stack.Options.Logger is { } l) StackLog.StackFault(l, e);
        }
    }

    private async Task RunAsync()
    {
        var reader = _rx.Reader;
        Stack.Start(Now);
        _started.TrySetResult();
        while (!_stopping)
        {
            var now = Now;
            DrainWork();
            Stack.Poll(now);
            ArmWakeTimer(now);

            var result = await reader.ReadAsync().ConfigureAwait(false);
            var buffer = result.Buffer;
            if (!buffer.IsEmpty)
            {
                now = Now;
                while (FrameRecords.TryRead(ref buffer, ref _scratch, out var frame))
                    Stack.Receive(frame, now);
            }
            reader.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted) break;
        }
    }

    private void OnWakeTimer()
    {
        // A timer may fire a little before the deadline (it counts whole milliseconds); the loop then finds nothing
        // due, so it must arm the timer again even though the deadline has not changed.
        _timerFired = true;
        _rx.Reader.CancelPendingRead();
    }

    private void ArmWakeTimer(TimeSpan now)
    {
        var deadline = Stack.NextDeadline;
        if (deadline == _armedDeadline && !_timerFired) return;
        _timerFired = false;
        _armedDeadline = deadline;
        if (deadline == TimeSpan.MaxValue) _wakeTimer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        else _wakeTimer.Change(deadline > now ? deadline - now : TimeSpan.Zero, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Stops the loop and the device's receiver. Does not dispose the device (the caller owns it).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        _stopping = true;
        _rx.Reader.CancelPendingRead();
        try { await _loop.ConfigureAwait(false); }
        finally
        {
            // From here on nothing reads the queue: run what is left, and later posts run in place (see Post), so that
            // nobody waits for ever on a loop that has stopped (a listener disposed after its host, say).
            _loopEnded = true;
            DrainWork();
            // Complete the reader first: a device thread waiting in a paused flush is released (its flush completes)
            // and can be joined; only then is its writer completed.
            _rx.Reader.Complete();
            _device.StopReceiving();
            _rx.Writer.Complete();
            _wakeTimer.Dispose();
            Pinger.CancelAll();
            Stack.Dispose();
        }
    }

    private sealed class DeviceTransmitter(INetDevice device) : IFrameTransmitter
    {
        public void Transmit(ReadOnlySpan<byte> frame) => device.Transmit(frame);
    }
}
