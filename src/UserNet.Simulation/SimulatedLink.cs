using System.Buffers;
using System.Globalization;

namespace UserNet.Simulation;

/// <summary>
/// One direction between two hosts of a segment: its profile (its own, or the segment's), its seeded random source,
/// the rate limiter's queue, the Gilbert-Elliott state and the counters. Frames are offered by the sender's loop only;
/// a lock keeps the counters coherent for readers on other threads.
/// </summary>
internal sealed class SimulatedLink
{
    private readonly Random _random;
    private readonly Queue<(long Finish, int Length)> _queue = new();
    private long _queuedBytes;
    private long _nextFree;
    private long _lastDelivery;
    private bool _bad;
    private long _sent, _delivered, _lost, _burstLost, _queueDropped, _duplicated, _reordered, _corrupted, _tooBig, _partition, _highWater, _hostDown;

    public SimulatedLink(SimulatedHost from, SimulatedHost to, int networkSeed)
    {
        From = from;
        To = to;
        Name = $"{from.Name}-{to.Name}";
        _random = new Random(SimulatedNetwork.StableSeed(networkSeed, "link", from.Name, to.Name));
    }

    public SimulatedHost From { get; }
    public SimulatedHost To { get; }
    public string Name { get; }

    /// <summary>This direction's own profile; null: the segment's.</summary>
    public volatile LinkProfile? Override;

    public LinkProfile Profile => Override ?? From.Segment.Profile;

    /// <summary>
    /// Decides the fate of one frame offered at <paramref name="now"/> and schedules its deliveries through
    /// <paramref name="network"/>. Returns the fate in words when <paramref name="describe"/> (for the capture), else null.
    /// </summary>
    public string? Offer(SimulatedNetwork network, ReadOnlySpan<byte> frame, long now, bool partitioned, bool describe)
    {
        var p = Profile;
        lock (this)
        {
            _sent++;
            if (partitioned) { _partition++; return describe ? "dropped (partition)" : null; }
            if (!To.IsUp) { _hostDown++; return describe ? "dropped (host down)" : null; }
            if (p.Mtu is { } mtu && frame.Length - SimulatedNetwork.EthernetHeader > mtu) { _tooBig++; return describe ? "dropped (too big)" : null; }

            long departure = now;
            if (p.RateBitsPerSecond > 0)
            {
                while (_queue.TryPeek(out var q) && q.Finish <= now)
                {
                    _queue.Dequeue();
                    _queuedBytes -= q.Length;
                }
                if (_queuedBytes + frame.Length > p.QueueLimitBytes) { _queueDropped++; return describe ? "dropped (queue full)" : null; }
                long start = Math.Max(now, _nextFree);
                long serialise = (long)((double)frame.Length * 8 * TimeSpan.TicksPerSecond / p.RateBitsPerSecond);
                departure = start + serialise;
                _nextFree = departure;
                _queue.Enqueue((departure, frame.Length));
                _queuedBytes += frame.Length;
                if (_queuedBytes > _highWater) _highWater = _queuedBytes;
            }

            if (p.BurstLoss is { } ge)
            {
                // Gilbert-Elliott: the channel moves first, then the frame meets the loss of the state it is in.
                if (_bad) { if (_random.NextDouble() < ge.BadToGood) _bad = false; }
                else if (_random.NextDouble() < ge.GoodToBad) _bad = true;
                double loss = _bad ? ge.LossInBad : ge.LossInGood;
                if (loss > 0 && _random.NextDouble() < loss) { _burstLost++; return describe ? "dropped (burst loss)" : null; }
            }
            if (p.Loss > 0 && _random.NextDouble() < p.Loss) { _lost++; return describe ? "dropped (loss)" : null; }

            int bit = -1;
            if (p.Corrupt > 0 && _random.NextDouble() < p.Corrupt && frame.Length > SimulatedNetwork.EthernetHeader)
            {
                bit = _random.Next((frame.Length - SimulatedNetwork.EthernetHeader) * 8);
                _corrupted++;
            }

            long delay = p.Latency.Ticks;
            if (p.Jitter > TimeSpan.Zero) delay += (long)((_random.NextDouble() * 2 - 1) * p.Jitter.Ticks);
            if (delay < 0) delay = 0;
            long at = departure + delay;
            bool reordered = p.Reorder > 0 && _random.NextDouble() < p.Reorder;
            if (reordered)
            {
                at += p.ReorderDelay.Ticks;
                _reordered++;
            }
            else
            {
                // Jitter does not reorder: a frame waits for the one sent before it (see LinkProfile.Jitter).
                if (at < _lastDelivery) at = _lastDelivery;
                _lastDelivery = at;
            }
            bool duplicate = p.Duplicate > 0 && _random.NextDouble() < p.Duplicate;

            Schedule(network, frame, at, bit);
            if (duplicate)
            {
                _duplicated++;
                Schedule(network, frame, at, -1);
            }
            if (!describe) return null;
            var text = $"delayed {TimeSpan.FromTicks(at - now).TotalMilliseconds.ToString("0.0", CultureInfo.InvariantCulture)} ms";
            if (bit >= 0) text += $", corrupted (bit {bit})";
            if (reordered) text += ", reordered";
            if (duplicate) text += ", duplicated";
            return text;
        }
    }

    private void Schedule(SimulatedNetwork network, ReadOnlySpan<byte> frame, long at, int bit)
    {
        var buffer = network.Frames.Rent(frame.Length);
        frame.CopyTo(buffer);
        if (bit >= 0) buffer[SimulatedNetwork.EthernetHeader + bit / 8] ^= (byte)(0x80 >> (bit % 8));
        network.ScheduleDelivery(at, new TimedEvent(EventKind.Delivery, this, buffer, frame.Length, 0));
    }

    public void CountDelivered(bool delivered)
    {
        lock (this)
        {
            if (delivered) _delivered++;
            else _hostDown++;
        }
    }

    public void CountQueueDrop()
    {
        lock (this) _queueDropped++;
    }

    public LinkStatistics Statistics()
    {
        lock (this)
            return new LinkStatistics(_sent, _delivered, _lost, _burstLost, _queueDropped, _duplicated, _reordered, _corrupted, _tooBig, _partition, _highWater)
            {
                HostDown = _hostDown,
            };
    }
}
