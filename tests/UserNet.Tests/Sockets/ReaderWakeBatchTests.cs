using System.Buffers;
using System.IO.Pipelines;
using UserNet.Tcp;
using UserNet.Tests.Tcp;

namespace UserNet.Tests.Sockets;

/// <summary>
/// A host's loop hands the core a batch of frames at a time (StackHost: up to 64); the segments of one batch wake a
/// connection's waiting reader once, at the batch's end: one work item on the application's scheduler, not one per
/// segment. A core driven by hand without a batch wakes when each call into it returns.
/// </summary>
public sealed class ReaderWakeBatchTests
{
    /// <summary>Runs what it is given at once (as PipeScheduler.Inline) and counts it.</summary>
    private sealed class CountingScheduler : PipeScheduler
    {
        public int Count;
        public override void Schedule(Action<object?> action, object? state)
        {
            Count++;
            action(state);
        }
    }

    /// <summary>An application that reads and consumes everything, counting how often its read had to wait and was woken.</summary>
    private sealed class Reader
    {
        public int Wakes;
        public long Bytes;
        public bool Ended;
        public readonly List<(long Bytes, bool Completed)> Reads = new();

        public async Task Run(PipeReader input)
        {
            while (true)
            {
                var pending = input.ReadAsync();
                if (!pending.IsCompleted) Wakes++;
                var r = await pending;
                Bytes += r.Buffer.Length;
                Reads.Add((r.Buffer.Length, r.IsCompleted));
                input.AdvanceTo(r.Buffer.End);
                if (r.IsCompleted) { Ended = true; return; }
            }
        }
    }

    private static (TcpPeer Peer, CountingScheduler Scheduler, Reader Reader) Connected()
    {
        var peer = new TcpPeer(new TcpSettings { ReceiveBufferSize = 1 << 20 });
        var scheduler = new CountingScheduler();
        peer.Stack.ApplicationScheduler = scheduler;
        var conn = peer.Accept();
        var reader = new Reader();
        _ = reader.Run(conn.Input); // waits at once: nothing has arrived
        scheduler.Count = 0;
        return (peer, scheduler, reader);
    }

    [Fact]
    public void Sixty_four_segments_in_one_batch_wake_the_waiting_reader_once()
    {
        var (peer, scheduler, reader) = Connected();
        peer.Stack.BeginBatch();
        for (int i = 0; i < 64; i++) peer.SendData(TcpPeer.Bytes(1000, i));
        Assert.Equal(0, scheduler.Count);    // nothing woke during the batch
        Assert.Equal(0L, reader.Bytes);
        Assert.Equal(1, peer.Stack.DeferredWakes); // one connection, one held wake, however many segments
        peer.Stack.EndBatch();

        Assert.Equal(1, scheduler.Count);    // one work item for the whole batch
        Assert.Equal(64 * 1000L, reader.Bytes);
        Assert.Equal(2, reader.Wakes);       // the first wait, woken once; the second wait is pending
        Assert.Single(reader.Reads);
    }

    [Fact]
    public void Without_a_batch_each_segment_wakes_the_reader_when_its_call_into_the_core_returns()
    {
        var (peer, scheduler, reader) = Connected();
        for (int i = 0; i < 8; i++) peer.SendData(TcpPeer.Bytes(1000, i));
        Assert.Equal(8, scheduler.Count);
        Assert.Equal(8, reader.Reads.Count);
        Assert.Equal(8 * 1000L, reader.Bytes);
    }

    [Fact]
    public void A_FIN_in_the_same_batch_reaches_the_reader_after_the_data_on_a_later_read()
    {
        var (peer, scheduler, reader) = Connected();
        peer.Stack.BeginBatch();
        for (int i = 0; i < 4; i++) peer.SendData(TcpPeer.Bytes(1000, i));
        peer.SendFin();
        Assert.Equal(0, scheduler.Count);
        peer.Stack.EndBatch();

        Assert.True(reader.Ended);
        // As recv(2): the data, then the end of the stream on the next read.
        Assert.Equal([(4000L, false), (0L, true)], reader.Reads);
        Assert.Equal(2, scheduler.Count);    // the wake for the data, then the completion
    }

    [Fact]
    public void A_batch_without_a_waiting_reader_holds_no_wake()
    {
        var peer = new TcpPeer();
        var scheduler = new CountingScheduler();
        peer.Stack.ApplicationScheduler = scheduler;
        var conn = peer.Accept();
        scheduler.Count = 0;
        peer.Stack.BeginBatch();
        peer.SendData(TcpPeer.Bytes(500));
        Assert.Equal(0, peer.Stack.DeferredWakes); // nobody waits: the bytes are there for the next read
        peer.Stack.EndBatch();
        Assert.Equal(0, scheduler.Count);
        Assert.True(conn.Input.TryRead(out var r));
        Assert.Equal(500, r.Buffer.Length);
        conn.Input.AdvanceTo(r.Buffer.End);
    }

    [Fact]
    public void Batches_nest_and_only_the_outermost_end_flushes()
    {
        var (peer, scheduler, reader) = Connected();
        peer.Stack.BeginBatch();
        peer.Stack.BeginBatch();
        peer.SendData(TcpPeer.Bytes(100));
        peer.Stack.EndBatch();
        Assert.Equal(0, scheduler.Count);
        peer.Stack.EndBatch();
        Assert.Equal(1, scheduler.Count);
        Assert.Equal(100L, reader.Bytes);
        Assert.Throws<InvalidOperationException>(() => peer.Stack.EndBatch());
    }

    [Fact]
    public async Task A_writer_waiting_on_a_full_send_buffer_is_woken_once_when_room_opens_not_once_per_ACK()
    {
        const int Buffer = 64 * 1024;
        var peer = new TcpPeer(new TcpSettings { SendBufferSize = Buffer, NoDelay = true });
        var scheduler = new CountingScheduler();
        peer.Stack.ApplicationScheduler = scheduler;
        var conn = peer.Accept();
        scheduler.Count = 0;

        var write = Writer(); // past the send buffer: the flush waits
        Assert.False(write.IsCompleted);
        int acks = 0;
        while (!write.IsCompleted && acks < 1000)
        {
            // The peer acknowledges each segment on its own, as a receiver without delayed ACKs would.
            foreach (var s in peer.TakeAndReceive().Where(s => s.Payload.Length > 0))
            {
                peer.SendAck(s.Seq + (uint)s.Payload.Length);
                acks++;
            }
        }
        Assert.True(write.IsCompleted);
        Assert.True(acks > 10, $"only {acks} ACKs");
        Assert.Equal(1, scheduler.Count); // one wake of the writer for all those ACKs
        await write;

        async Task Writer() => await conn.Output.WriteAsync(TcpPeer.Bytes(Buffer + 1000));
    }

    [Fact]
    public async Task A_burst_of_datagrams_in_one_batch_wakes_the_waiting_UDP_receiver_once_and_the_rest_wait_queued()
    {
        var f = TestSupport.TestStack.Started();
        var scheduler = new CountingScheduler();
        f.Stack.ApplicationScheduler = scheduler;
        using var socket = await UserNet.Sockets.UdpSocket.BindAsync(f.Stack, 5000);
        var buffer = new byte[64];
        int received = 0;
        var receiving = Receive();
        Assert.False(receiving.IsCompleted);
        scheduler.Count = 0;

        f.Stack.BeginBatch();
        for (int i = 0; i < 10; i++) f.Receive(TestSupport.TestStack.UdpFrame(4000, 5000, [(byte)i]));
        Assert.Equal(0, scheduler.Count);
        f.Stack.EndBatch();

        Assert.Equal(1, scheduler.Count);    // one work item for the burst
        Assert.Equal(10, received);          // the other nine were there when the receiver came back
        Assert.Equal(1, scheduler.Count);
        await receiving;

        async Task Receive()
        {
            for (int i = 0; i < 10; i++)
            {
                var r = await socket.ReceiveFromAsync(buffer);
                Assert.Equal((byte)i, buffer[0]);
                received++;
            }
        }
    }
}
