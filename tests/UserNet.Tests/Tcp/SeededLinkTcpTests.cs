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
    private static readonly IPAddress B = IPAddress.Parse("10.0.0.2");
    private static readonly TimeSpan OneWay = TimeSpan.FromMilliseconds(5);

    /// <summary>One direction of the wire: frames wait for their delivery time, some never arrive, some twice.</summary>
    private sealed class Wire(Random random, double loss, double reorder, double duplicate) : IFrameTransmitter
    {
        private readonly PriorityQueue<byte[], (TimeSpan At, long Order)> _queue = new();
        private long _order;
        public TimeSpan Now;
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
        public bool TryTake(TimeSpan now, out byte[] frame)
        {
            if (_queue.TryPeek(out frame!, out var p) && p.At <= now) { _queue.Dequeue(); return true; }
            frame = null!;
            return false;
        }
    }

    private sealed record Run(byte[] Received, long Timeouts, long Rack, long Probes, TimeSpan Took);

    /// <summary>Sends <paramref name="size"/> bytes from a to b through the seeded wire and returns what b read.</summary>
    private static Run Transfer(int seed, double loss, double reorder, double duplicate, int size)
    {
        var previous = SynchronizationContext.Current;
        SynchronizationContext.SetSynchronizationContext(null); // continuations run inline, on this thread, at once
        try
        {
            var rng = new Random(seed);
            var ab = new Wire(new Random(rng.Next()), loss, reorder, duplicate);
            var ba = new Wire(new Random(rng.Next()), loss, reorder, duplicate);
            var tcp = new TcpSettings { SendBufferSize = size + 1, ReceiveBufferSize = 1 << 20 };
            var a = new NetStack(new StackOptions { Address = Ipv4Subnet.Parse("10.0.0.1/24"), Name = "a", Seed = seed, Tcp = tcp }, ab);
            var b = new NetStack(new StackOptions { Address = Ipv4Subnet.Parse("10.0.0.2/24"), Name = "b", Seed = seed + 1, Tcp = tcp }, ba);
            var now = TimeSpan.Zero;
            a.Start(now);
            b.Start(now);
            var listening = TcpConnectionListener.StartAsync(b, 5001);
            Assert.True(listening.IsCompleted);
            var listener = listening.Result;
            var connecting = TcpConnection.ConnectAsync(a, new IPEndPoint(B, 5001));

            var data = new byte[size];
            new Random(seed).NextBytes(data);
            using var got = new MemoryStream();
            TcpConnection? client = null, server = null;
            bool done = false;
            var limit = TimeSpan.FromMinutes(10);
            while (!done && now < limit)
            {
                ab.Now = ba.Now = now;
                while (ab.TryTake(now, out var f)) b.Receive(f, now);
                while (ba.TryTake(now, out var f)) a.Receive(f, now);
                if (now >= a.NextDeadline) a.Poll(now);
                if (now >= b.NextDeadline) b.Poll(now);
                if (client is null && connecting.IsCompleted)
                {
                    client = connecting.Result;
                    Assert.True(client.Output.WriteAsync(data).IsCompleted);
                    client.Output.Complete();
                }
                if (server is null && listener.TryAccept(out var s)) server = s;
                if (server is not null && server.Input.TryRead(out var r))
                {
                    foreach (var m in r.Buffer) got.Write(m.Span);
                    server.Input.AdvanceTo(r.Buffer.End);
                    done = r.IsCompleted;
                }
                var next = new[] { ab.Next, ba.Next, a.NextDeadline, b.NextDeadline }.Min();
                if (done) break;
                Assert.NotEqual(TimeSpan.MaxValue, next); // something must still be due, or the transfer is stuck
                now = next > now ? next : now + TimeSpan.FromTicks(1);
            }
            Assert.True(done, $"not done after {limit} of simulated time");
            var c = a.Counters;
            return new Run(got.ToArray(), c.CountOf(TcpCounter.TimeoutRetransmissions), c.CountOf(TcpCounter.RackRetransmissions),
                c.CountOf(TcpCounter.LossProbes), now);
        }
        finally { SynchronizationContext.SetSynchronizationContext(previous); }
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

    private static byte[] Expected(int seed, int size)
    {
        var data = new byte[size];
        new Random(seed).NextBytes(data);
        return data;
    }
}
