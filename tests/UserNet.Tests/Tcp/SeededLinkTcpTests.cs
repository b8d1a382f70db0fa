using System.Net;
using System.Security.Cryptography;
using UserNet.Core;
using UserNet.Sockets;
using UserNet.Stack;
using UserNet.Tcp;
using UserNet.Wire;

namespace UserNet.Tests.Tcp;

/// <summary>
/// Two bare stacks on a simulated wire with a fixed one-way delay and seeded faults (loss, reordering by extra delay,
/// duplication), driven on one virtual clock that jumps to the next frame or deadline: the same seed gives the same
/// run, so the number of retransmission timeouts a transfer needs is a fact of the code, not of the machine. This is
/// what SACK, RACK-TLP and PRR are for (RFC 2018, RFC 8985, RFC 6937): losses repaired within round trips, the timer
/// only the last resort.
/// </summary>
public sealed class SeededLinkTcpTests
{
    private static readonly TimeSpan OneWay = TimeSpan.FromMilliseconds(5);

    /// <summary>One direction of the wire: frames wait for their delivery time, some never arrive, some twice.</summary>
    private sealed class Wire(Random random, double loss, double reorder, double duplicate) : ISimulatedWire
    {
        private readonly PriorityQueue<byte[], (TimeSpan At, long Order)> _queue = new();
        private long _order;
        public TimeSpan Now { get; set; }
        public int Lost, Sent;

        public void Transmit(ReadOnlySpan<byte> frame)
        {
            Sent++;
            if (random.NextDouble() < loss) { Lost++; return; }
            var at = Now + OneWay + (random.NextDouble() < reorder ? TimeSpan.FromMilliseconds(2) : TimeSpan.Zero);
            _queue.Enqueue(frame.ToArray(), (at, _order++));
            if (random.NextDouble() < duplicate) _queue.Enqueue(frame.ToArray(), (at + TimeSpan.FromMilliseconds(1), _order++));
        }

        public TimeSpan Next => _queue.TryPeek(out _, out var p) ? p.At : TimeSpan.MaxValue;

        public void Deliver(NetStack to, TimeSpan now)
        {
            while (_queue.TryPeek(out var frame, out var p) && p.At <= now)
            {
                _queue.Dequeue();
                to.Receive(frame, now);
            }
        }
    }

    private sealed record Run(byte[] Received, long Timeouts, long Rack, long Probes, TimeSpan Took);

    /// <summary>Sends <paramref name="size"/> bytes from a to b through the seeded wire and returns what b read.</summary>
    private static Run Transfer(int seed, double loss, double reorder, double duplicate, int size)
    {
        var rng = new Random(seed);
        var ab = new Wire(new Random(rng.Next()), loss, reorder, duplicate);
        var ba = new Wire(new Random(rng.Next()), loss, reorder, duplicate);
        var r = SimulatedTransfer.Run(ab, ba, seed, size, TimeSpan.FromMinutes(10));
        var c = r.A;
        return new Run(r.Received, c.CountOf(TcpCounter.TimeoutRetransmissions), c.CountOf(TcpCounter.RackRetransmissions),
            c.CountOf(TcpCounter.LossProbes), r.Took);
    }

    [Theory]
    [InlineData(11)]
    [InlineData(12)]
    [InlineData(13)]
    public void Two_percent_loss_each_way_costs_at_most_one_retransmission_timeout_per_megabyte_RFC8985(int seed)
    {
        // 2 MiB through 2% random loss both ways (data and ACKs), 10 ms round trip: about 30 data segments and as
        // many ACKs are lost. RACK repairs holes from SACK information, PRR paces recovery, tail loss and silence
        // probes cover what no SACK can reveal; the timer may fire once in a while, never as the rule.
        const int size = 2 << 20;
        var run = Transfer(seed, loss: 0.02, reorder: 0, duplicate: 0, size);
        Assert.Equal(size, run.Received.Length);
        Assert.Equal(SHA256.HashData(Expected(seed, size)), SHA256.HashData(run.Received));
        Assert.True(run.Rack > 0, "losses were repaired by RACK");
        Assert.True(run.Timeouts <= 2, $"{run.Timeouts} retransmission timeouts for 2 MiB at 2% loss (rack {run.Rack}, probes {run.Probes})");
    }

    [Fact]
    public void The_same_seed_gives_the_same_run()
    {
        var first = Transfer(21, loss: 0.03, reorder: 0.02, duplicate: 0.01, 512 << 10);
        var second = Transfer(21, loss: 0.03, reorder: 0.02, duplicate: 0.01, 512 << 10);
        Assert.Equal(first.Took, second.Took);
        Assert.Equal(first.Rack, second.Rack);
        Assert.Equal(first.Timeouts, second.Timeouts);
    }

    [Theory]
    [InlineData(31, 0.05, 0.0, 0.0)]
    [InlineData(32, 0.10, 0.0, 0.0)]
    [InlineData(33, 0.05, 0.05, 0.02)]
    [InlineData(34, 0.10, 0.10, 0.05)]
    public void The_byte_stream_arrives_identical_through_loss_reordering_and_duplication(int seed, double loss, double reorder, double duplicate)
    {
        const int size = 1 << 20;
        var run = Transfer(seed, loss, reorder, duplicate, size);
        Assert.Equal(SHA256.HashData(Expected(seed, size)), SHA256.HashData(run.Received));
    }

    private static byte[] Expected(int seed, int size) => SimulatedTransfer.Data(seed, size);
}
