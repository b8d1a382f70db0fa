using System.Diagnostics;

namespace UserNet.Simulation;

/// <summary>
/// Releases delayed frames at their time in real-time mode: one thread over a heap of deliveries, sleeping until the
/// earliest is due (the system's timer resolution, about a millisecond, bounds its precision).
/// </summary>
internal sealed class RealTimeDelivery : IDisposable
{
    private readonly object _gate = new();
    private readonly PriorityQueue<TimedEvent, (long Time, long Seq)> _heap = new();
    private readonly SimulatedNetwork _network;
    private readonly long _start = Stopwatch.GetTimestamp();
    private readonly Thread _thread;
    private long _seq;
    private bool _stopping;

    public RealTimeDelivery(SimulatedNetwork network)
    {
        _network = network;
        _thread = new Thread(Run) { IsBackground = true, Name = "usernet simulation delivery" };
        _thread.Start();
    }

    /// <summary>Ticks since the network was made.</summary>
    public long Now => Stopwatch.GetElapsedTime(_start).Ticks;

    public void At(long time, in TimedEvent e)
    {
        lock (_gate)
        {
            bool earliest = !_heap.TryPeek(out _, out var first) || time < first.Time;
            _heap.Enqueue(e, (time, _seq++));
            if (earliest) Monitor.Pulse(_gate);
        }
    }

    private void Run()
    {
        while (true)
        {
            TimedEvent e;
            lock (_gate)
            {
                while (true)
                {
                    if (_stopping) return;
                    if (!_heap.TryPeek(out e, out var key)) { Monitor.Wait(_gate); continue; }
                    long wait = key.Time - Now;
                    if (wait <= 0) { _heap.Dequeue(); break; }
                    Monitor.Wait(_gate, TimeSpan.FromTicks(Math.Max(wait, TimeSpan.TicksPerMillisecond / 2)));
                }
            }
            _network.Dispatch(e);
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _stopping = true;
            Monitor.Pulse(_gate);
        }
        _thread.Join();
        lock (_gate)
        {
            while (_heap.TryDequeue(out var e, out _)) if (e.Buffer is { } b) _network.Frames.Return(b);
        }
    }
}
