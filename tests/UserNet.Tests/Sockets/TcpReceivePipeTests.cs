using System.Buffers;
using System.IO.Pipelines;
using CsCheck;
using UserNet.Core;
using UserNet.Sockets;
using UserNet.Tcp;

namespace UserNet.Tests.Sockets;

/// <summary>
/// The receive pipe: the loop writes anywhere in the window and commits the in-order prefix; the application reads
/// through a <see cref="PipeReader"/> that must keep <see cref="Pipe"/>'s contract, since application code
/// (CopyToAsync, ReadAtLeastAsync, AsStream, Kestrel-style parsers) relies on it.
/// </summary>
public sealed class TcpReceivePipeTests
{
    private const int Block = BlockMemoryPool.BlockSize;

    /// <summary>The byte at absolute stream offset <paramref name="i"/>: a hash, so bytes misplaced by a block or a ring turn show.</summary>
    private static byte At(long i) => (byte)(((ulong)i * 0x9E3779B97F4A7C15UL) >> 56);

    private static byte[] Stream(long start, int length)
    {
        var b = new byte[length];
        for (int i = 0; i < length; i++) b[i] = At(start + i);
        return b;
    }

    private static TcpReceivePipe NewPipe(int capacity = 64 * 1024, PipeScheduler? scheduler = null, Action? onConsumed = null) =>
        new(capacity, scheduler ?? PipeScheduler.Inline, onConsumed ?? (() => { }));

    /// <summary>The result of a read that must have completed already (no waiting in a test).</summary>
    private static ReadResult Done(ValueTask<ReadResult> read)
    {
        Assert.True(read.IsCompleted, "the read was expected to have completed");
        return read.GetAwaiter().GetResult();
    }

    private static ReadResult MustRead(TcpReceivePipe pipe)
    {
        Assert.True(pipe.Reader.TryRead(out var r), "a read was expected to complete at once");
        return r;
    }

    // =================================================================== in order and out of order

    [Fact]
    public void In_order_bytes_written_and_committed_are_read_back()
    {
        var pipe = NewPipe();
        Assert.Equal(64 * 1024, pipe.Capacity);
        pipe.Write(0, Stream(0, 100));
        pipe.Commit(100);
        var r = MustRead(pipe);
        Assert.Equal(Stream(0, 100), r.Buffer.ToArray());
        Assert.False(r.IsCompleted);
        Assert.False(r.IsCanceled);
        pipe.Reader.AdvanceTo(r.Buffer.End);

        pipe.Write(0, Stream(100, 50));
        pipe.Commit(50);
        r = MustRead(pipe);
        Assert.Equal(Stream(100, 50), r.Buffer.ToArray());
    }

    [Fact]
    public void Written_bytes_are_not_readable_until_committed()
    {
        var pipe = NewPipe();
        pipe.Write(0, Stream(0, 100));
        Assert.False(pipe.Reader.TryRead(out _));
        var read = pipe.Reader.ReadAsync();
        Assert.False(read.IsCompleted);
        pipe.Commit(60); // a prefix only
        Assert.True(read.IsCompleted);
        var r = Done(read);
        Assert.Equal(Stream(0, 60), r.Buffer.ToArray());
        pipe.Reader.AdvanceTo(r.Buffer.End);
        pipe.Commit(40);
        Assert.Equal(Stream(60, 40), MustRead(pipe).Buffer.ToArray());
    }

    [Fact]
    public void Out_of_order_writes_land_in_place_and_read_back_exactly_once_committed()
    {
        var pipe = NewPipe(capacity: 100_000);
        var stream = Stream(0, 50_000);
        // Three segments beyond RCV.NXT, one across a block boundary, then the hole at RCV.NXT.
        pipe.Write(30_000, stream.AsSpan(30_000, 20_000));
        pipe.Write(10_000, stream.AsSpan(10_000, 10_000));
        pipe.Write(20_000, stream.AsSpan(20_000, 10_000));
        Assert.False(pipe.Reader.TryRead(out _));
        pipe.Write(0, stream.AsSpan(0, 10_000));
        pipe.Commit(50_000);
        var r = MustRead(pipe);
        Assert.Equal(50_000, r.Buffer.Length);
        Assert.Equal(stream, r.Buffer.ToArray());
    }

    [Fact]
    public void A_rewrite_of_bytes_already_written_leaves_them_as_they_are()
    {
        var pipe = NewPipe();
        pipe.Write(100, Stream(100, 100));
        pipe.Write(150, Stream(150, 100)); // overlaps, with the same bytes (a retransmission)
        pipe.Write(0, Stream(0, 200));
        pipe.Commit(250);
        Assert.Equal(Stream(0, 250), MustRead(pipe).Buffer.ToArray());
    }

    [Fact]
    public void A_buffer_across_block_boundaries_is_one_segment_per_block_and_its_positions_advance_exactly()
    {
        var pipe = NewPipe(capacity: 4 * Block);
        pipe.Write(0, Stream(0, Block + 10));
        pipe.Commit(Block + 10);
        var r = MustRead(pipe);
        Assert.False(r.Buffer.IsSingleSegment);
        Assert.Equal(Block, r.Buffer.First.Length);
        pipe.Reader.AdvanceTo(r.Buffer.GetPosition(Block - 5)); // inside the first block
        r = MustRead(pipe);
        Assert.Equal(Stream(Block - 5, 15), r.Buffer.ToArray());
        pipe.Reader.AdvanceTo(r.Buffer.GetPosition(5));         // exactly the block boundary
        r = MustRead(pipe);
        Assert.Equal(Stream(Block, 10), r.Buffer.ToArray());
        Assert.True(r.Buffer.IsSingleSegment);
        pipe.Reader.AdvanceTo(r.Buffer.End);
        Assert.Equal(4 * Block, pipe.Free);
    }

    [Fact]
    public void A_long_stream_through_a_small_window_wraps_around_the_block_ring()
    {
        // 40,000 bytes is not a whole number of blocks, so the window starts anywhere in a block.
        const int capacity = 40_000;
        const long total = 24L << 20;
        var pipe = NewPipe(capacity);
        var random = new Random(7);
        var chunk = new byte[capacity];
        long written = 0, read = 0;
        int maxHeld = 0;
        while (read < total)
        {
            // The loop: fill some of what the window allows, sometimes the far end first.
            int room = (int)Math.Min(pipe.Free, total - written);
            if (room > 0)
            {
                int n = random.Next(1, room + 1);
                for (int i = 0; i < n; i++) chunk[i] = At(written + i);
                int split = random.Next(0, n);
                pipe.Write(split, chunk.AsSpan(split, n - split));
                pipe.Write(0, chunk.AsSpan(0, split));
                pipe.Commit(n);
                written += n;
            }
            maxHeld = Math.Max(maxHeld, pipe.BlocksHeld);
            if (written == total) pipe.Complete(); // the FIN (again each turn: Complete is idempotent)

            // The application: check everything, consume some of it.
            var r = MustRead(pipe);
            Assert.Equal(written - read, r.Buffer.Length);
            Assert.Equal(written == total, r.IsCompleted);
            long at = read;
            foreach (var segment in r.Buffer) { CheckSegment(segment.Span, at); at += segment.Length; }
            long consume = random.Next(0, 4) == 0 ? r.Buffer.Length : random.NextInt64(0, r.Buffer.Length + 1);
            // "Need more" (everything examined) only while the window stays open, or the loop could not go on.
            bool shut = r.Buffer.Length - consume == capacity;
            pipe.Reader.AdvanceTo(r.Buffer.GetPosition(consume), shut ? r.Buffer.GetPosition(consume) : r.Buffer.End);
            read += consume;
        }
        Assert.Equal(total, written);
        Assert.Equal(0, pipe.BlocksHeld);
        Assert.True(maxHeld <= (capacity + Block - 1) / Block + 1, $"held {maxHeld} blocks at once");

        static void CheckSegment(ReadOnlySpan<byte> span, long start)
        {
            for (int i = 0; i < span.Length; i++)
                if (span[i] != At(start + i)) Assert.Fail($"byte {start + i} is {span[i]}, expected {At(start + i)}");
        }
    }

    /// <summary>
    /// Assembler and pipe together, as the control block will use them: segments of a stream arrive in random order
    /// with duplicates, in-window ones are written at their offset and recorded, in-order data commits
    /// count + Advance(count), and the reader, consuming random amounts, reads exactly the stream.
    /// </summary>
    [Fact]
    public void Random_segments_through_the_assembler_into_the_pipe_read_back_exactly_the_stream_RFC9293_3_10_7_4()
    {
        Gen.Select(Gen.Int[1, 200_000], Gen.Int[1, 9000], Gen.Int[1000, 80_000], Gen.Int).Sample((length, maxSegment, capacity, seed) =>
        {
            var random = new Random(seed);
            var pipe = NewPipe(capacity);
            var assembler = new ReceiveAssembler(8);
            var segments = new List<(long Start, long End)>();
            for (long p = 0; p < length;)
            {
                int n = (int)Math.Min(random.Next(1, Math.Min(maxSegment, capacity) + 1), length - p);
                segments.Add((p, p + n));
                if (random.Next(0, 8) == 0) segments.Add((p, p + n)); // a duplicate
                p += n;
            }

            long rcvNxt = 0, read = 0;
            var pending = new List<(long Start, long End)>();
            int next = 0;
            while (read < length)
            {
                // The peer sends a little ahead; segments arrive in random order out of what is in flight.
                while (next < segments.Count && pending.Count < 6) pending.Add(segments[next++]);
                if (pending.Count > 0)
                {
                    int k = random.Next(0, pending.Count);
                    var (start, end) = pending[k];
                    pending.RemoveAt(k);
                    Arrive(start, end);
                }
                if (random.Next(0, 3) == 0 || pending.Count == 0) Consume();
            }
            Assert.Equal(length, rcvNxt);
            Assert.Equal(0, pipe.BlocksHeld);

            void Arrive(long start, long end)
            {
                if (end <= rcvNxt) return;                         // old: acknowledged again, nothing kept
                start = Math.Max(start, rcvNxt);
                int offset = (int)(start - rcvNxt), count = (int)(end - start);
                // Trimmed to the window (RFC 9293 3.10.7.4); what lies beyond comes again later.
                if (offset >= pipe.Free) { pending.Add((start, end)); return; }
                if (offset + count > pipe.Free)
                {
                    count = pipe.Free - offset;
                    pending.Add((start + count, end));
                }
                pipe.Write(offset, Stream(start, count));
                if (offset == 0)
                {
                    int commit = count + assembler.Advance(count);
                    pipe.Commit(commit);
                    rcvNxt += commit;
                    if (rcvNxt == length) pipe.Complete();         // the FIN
                }
                else if (!assembler.Add(offset, count)) pending.Add((start, start + count));
            }

            void Consume()
            {
                if (!pipe.Reader.TryRead(out var r)) return;
                Assert.Equal(Stream(read, (int)r.Buffer.Length), r.Buffer.ToArray());
                long n = random.NextInt64(0, r.Buffer.Length + 1);
                bool shut = r.Buffer.Length - n == capacity;       // "need more" only while the window stays open
                pipe.Reader.AdvanceTo(r.Buffer.GetPosition(n), shut ? r.Buffer.GetPosition(n) : r.Buffer.End);
                read += n;
            }
        }, iter: 60);
    }

    /// <summary>
    /// The same random operations on a real <see cref="Pipe"/> (written in order and flushed) and on ours (written
    /// and committed): every read, advance, cancellation and completion must come out the same: the same bytes, flags,
    /// reads that wait, and the same exception types for the contract's mistakes (examined before consumed, advancing
    /// without a read, reading twice). Pipe's writer is the loop here, its reader the oracle.
    /// </summary>
    [Fact]
    public void The_reader_behaves_as_System_IO_Pipelines_Pipe_under_random_operations()
    {
        Gen.Select(Gen.Int, Gen.Int[1, 200]).Sample((seed, steps) =>
        {
            var random = new Random(seed);
            var real = new Pipe(new PipeOptions(pauseWriterThreshold: 0, readerScheduler: PipeScheduler.Inline,
                writerScheduler: PipeScheduler.Inline, useSynchronizationContext: false));
            var ours = NewPipe(capacity: 1 << 24);
            ReadResult? realRead = null, ourRead = null; // the read being processed, whose positions an AdvanceTo may use
            long written = 0;
            bool writerDone = false;
            var trace = new List<string>(); // what was done, shown when the two differ
            try { Steps(); }
            catch (Exception e) { throw new Xunit.Sdk.XunitException($"{e.Message}\nafter: {string.Join("; ", trace)}"); }

            void Steps()
            {
            Arrive();

            for (int step = 0; step < steps; step++)
            {
                switch (random.Next(0, 9))
                {
                    case 0: case 1:
                        Arrive();
                        break;
                    case 2: case 3:
                        trace.Add("TryRead");
                        Compare(Run(() => real.Reader.TryRead(out var r) ? r : (ReadResult?)null),
                                Run(() => ours.Reader.TryRead(out var r) ? r : (ReadResult?)null));
                        break;
                    case 4:
                        ReadAsync();
                        break;
                    case 5: case 6:
                        Advance();
                        break;
                    case 7:
                        trace.Add("CancelPendingRead");
                        real.Reader.CancelPendingRead();
                        ours.Reader.CancelPendingRead();
                        break;
                    case 8:
                        if (random.Next(0, 3) == 0 && !writerDone)
                        {
                            var error = random.Next(0, 2) == 0 ? null : new IOException("reset");
                            trace.Add($"Complete({error?.Message})");
                            real.Writer.Complete(error);
                            ours.Complete(error);
                            writerDone = true;
                        }
                        else if (random.Next(0, 10) == 0)
                        {
                            trace.Add("Reader.Complete");
                            real.Reader.Complete();
                            ours.Reader.Complete();
                            Assert.Equal(Run(() => real.Reader.TryRead(out _)).Error, Run(() => ours.Reader.TryRead(out _)).Error);
                            Assert.Equal(Run(() => real.Reader.ReadAsync()).Error, Run(() => ours.Reader.ReadAsync()).Error);
                            return;
                        }
                        break;
                }
            }
            }

            void Arrive()
            {
                if (writerDone) return;
                var data = Stream(written, random.Next(1, 3 * Block));
                trace.Add($"arrive {data.Length}");
                real.Writer.Write(data);
                var flush = real.Writer.FlushAsync();
                Assert.True(flush.IsCompleted);
                ours.Write(0, data);
                ours.Commit(data.Length);
                written += data.Length;
            }

            void ReadAsync()
            {
                trace.Add("ReadAsync");
                var (realTask, realError) = Run(() => real.Reader.ReadAsync());
                var (ourTask, ourError) = Run(() => ours.Reader.ReadAsync());
                Assert.Equal(realError, ourError);
                if (realError is not null) return;
                Assert.Equal(realTask.IsCompleted, ourTask.IsCompleted);
                if (!realTask.IsCompleted)
                {
                    // Waiting: something must come that ends the wait, for both alike.
                    trace.Add("(waits)");
                    switch (writerDone ? random.Next(1, 2) : random.Next(0, 3))
                    {
                        case 0: Arrive(); break;
                        case 1: real.Reader.CancelPendingRead(); ours.Reader.CancelPendingRead(); break;
                        default: real.Writer.Complete(); ours.Complete(); writerDone = true; break;
                    }
                    Assert.True(realTask.IsCompleted);
                    Assert.True(ourTask.IsCompleted);
                }
                Compare(Run(() => (ReadResult?)realTask.GetAwaiter().GetResult()), Run(() => (ReadResult?)ourTask.GetAwaiter().GetResult()));
            }

            void Advance()
            {
                if (realRead is not { } rr || ourRead is not { } or)
                {
                    // No read in progress, or one that found nothing: both must agree whether that is allowed.
                    trace.Add("AdvanceTo(default)");
                    Assert.Equal(Run(() => { real.Reader.AdvanceTo(default); return 0; }).Error,
                                 Run(() => { ours.Reader.AdvanceTo(default); return 0; }).Error);
                    return;
                }
                long length = rr.Buffer.Length;
                long consumed = random.NextInt64(0, length + 1);
                long examined = random.Next(0, 8) switch
                {
                    0 => random.NextInt64(0, consumed + 1),   // often before consumed: a mistake
                    1 or 2 => length,
                    _ => random.NextInt64(consumed, length + 1),
                };
                bool consumedOnly = random.Next(0, 4) == 0;
                trace.Add(consumedOnly ? $"AdvanceTo({consumed} of {length})" : $"AdvanceTo({consumed}, {examined} of {length})");
                var realError = Run(() =>
                {
                    if (consumedOnly) real.Reader.AdvanceTo(rr.Buffer.GetPosition(consumed));
                    else real.Reader.AdvanceTo(rr.Buffer.GetPosition(consumed), rr.Buffer.GetPosition(examined));
                    return 0;
                }).Error;
                var ourError = Run(() =>
                {
                    if (consumedOnly) ours.Reader.AdvanceTo(or.Buffer.GetPosition(consumed));
                    else ours.Reader.AdvanceTo(or.Buffer.GetPosition(consumed), or.Buffer.GetPosition(examined));
                    return 0;
                }).Error;
                Assert.Equal(realError, ourError);
                if (realError is null) realRead = ourRead = null; // that buffer is gone
            }

            void Compare((ReadResult? Value, Type? Error) expected, (ReadResult? Value, Type? Error) actual)
            {
                Assert.Equal(expected.Error, actual.Error);
                trace.Add(expected.Error is not null ? $"-> {expected.Error.Name}"
                    : expected.Value is { } v ? $"-> {v.Buffer.Length}{(v.IsCanceled ? " canceled" : "")}{(v.IsCompleted ? " completed" : "")}" : "-> false");
                if (expected.Error is not null) return;
                Assert.Equal(expected.Value.HasValue, actual.Value.HasValue);
                if (expected.Value is { } e && actual.Value is { } a)
                {
                    Assert.Equal(e.IsCanceled, a.IsCanceled);
                    Assert.Equal(e.IsCompleted, a.IsCompleted);
                    Assert.Equal(e.Buffer.ToArray(), a.Buffer.ToArray());
                    realRead = e;
                    ourRead = a;
                }
                else realRead = ourRead = null;
            }
        }, iter: 400);
    }

    private static (T? Value, Type? Error) Run<T>(Func<T> operation)
    {
        try { return (operation(), null); }
        catch (Exception e) { return (default, e.GetType()); }
    }

    // =================================================================== the window

    [Fact]
    public void Free_is_the_capacity_less_committed_bytes_not_yet_consumed()
    {
        int consumedCalls = 0;
        var pipe = NewPipe(capacity: 10_000, onConsumed: () => consumedCalls++);
        Assert.Equal(10_000, pipe.Free);
        pipe.Write(5000, Stream(5000, 1000));
        Assert.Equal(10_000, pipe.Free);   // out-of-order bytes are the caller's to account for
        pipe.Write(0, Stream(0, 3000));
        pipe.Commit(3000);
        Assert.Equal(7000, pipe.Free);

        var r = MustRead(pipe);
        pipe.Reader.AdvanceTo(r.Buffer.Start, r.Buffer.End); // examined, not consumed: the window stays shut
        Assert.Equal(7000, pipe.Free);
        Assert.Equal(0, consumedCalls);

        pipe.Write(0, Stream(3000, 2000));
        pipe.Commit(3000);                                  // reaches the held bytes: 6000 committed
        Assert.Equal(4000, pipe.Free);
        r = MustRead(pipe);
        pipe.Reader.AdvanceTo(r.Buffer.GetPosition(2500));
        Assert.Equal(6500, pipe.Free);
        Assert.Equal(1, consumedCalls);
        Assert.Equal(Stream(2500, 3500), MustRead(pipe).Buffer.ToArray());
    }

    [Fact]
    public void Writes_and_commits_past_the_window_are_refused()
    {
        var pipe = NewPipe(capacity: 1000);
        Assert.Throws<ArgumentOutOfRangeException>(() => pipe.Write(900, new byte[101]));
        Assert.Throws<ArgumentOutOfRangeException>(() => pipe.Write(-1, new byte[1]));
        pipe.Write(0, new byte[600]);
        pipe.Commit(600);
        Assert.Throws<ArgumentOutOfRangeException>(() => pipe.Write(0, new byte[401]));
        Assert.Throws<ArgumentOutOfRangeException>(() => pipe.Commit(401));
        Assert.Throws<ArgumentOutOfRangeException>(() => pipe.Commit(-1));
        pipe.Write(0, new byte[400]);  // exactly the window
        pipe.Commit(400);
        Assert.Equal(0, pipe.Free);
    }

    [Fact]
    public void Committing_bytes_in_a_block_never_written_is_the_callers_mistake()
    {
        var pipe = NewPipe(capacity: 4 * Block);
        pipe.Write(0, new byte[10]);
        Assert.Throws<InvalidOperationException>(() => pipe.Commit(Block + 10));
    }

    // =================================================================== memory

    [Fact]
    public void An_idle_pipe_holds_no_block_and_a_large_window_costs_only_the_blocks_written()
    {
        var pipe = NewPipe(capacity: 1 << 20);
        Assert.Equal(0, pipe.BlocksHeld);
        pipe.Write(0, Stream(0, 100));
        Assert.Equal(1, pipe.BlocksHeld);
        pipe.Write(500_000, Stream(500_000, 100)); // far out in the window: one more block, not the ones between
        Assert.Equal(2, pipe.BlocksHeld);
        pipe.Commit(100);
        var r = MustRead(pipe);
        pipe.Reader.AdvanceTo(r.Buffer.End);
        Assert.Equal(1, pipe.BlocksHeld);          // everything written to the first block is consumed, mid-block
    }

    [Fact]
    public void Blocks_are_returned_as_soon_as_the_reader_consumes_past_them()
    {
        var pipe = NewPipe(capacity: 8 * Block);
        pipe.Write(0, Stream(0, 3 * Block + 100));
        pipe.Commit(3 * Block + 100);
        Assert.Equal(4, pipe.BlocksHeld);
        var r = MustRead(pipe);
        pipe.Reader.AdvanceTo(r.Buffer.GetPosition(Block + 1));
        Assert.Equal(3, pipe.BlocksHeld);
        r = MustRead(pipe);
        pipe.Reader.AdvanceTo(r.Buffer.GetPosition(2 * Block - 1)); // exactly to the end of the third block
        Assert.Equal(1, pipe.BlocksHeld);
        r = MustRead(pipe);
        pipe.Reader.AdvanceTo(r.Buffer.End);
        Assert.Equal(0, pipe.BlocksHeld);

        // Next time round the ring, blocks are rented again only as writes land.
        pipe.Write(2 * Block, Stream(0, 10));
        Assert.Equal(1, pipe.BlocksHeld);
    }

    [Fact]
    public void Steady_state_write_commit_read_advance_allocates_nothing()
    {
        var pipe = NewPipe(capacity: 256 * 1024);
        var segment = Stream(0, 1460);
        void Cycle()
        {
            pipe.Write(1460, segment);   // one out of order, then the hole before it
            pipe.Write(0, segment);
            pipe.Commit(2 * 1460);
            Assert.True(pipe.Reader.TryRead(out var r));
            pipe.Reader.AdvanceTo(r.Buffer.GetPosition(1000));
            Assert.True(pipe.Reader.TryRead(out r));
            pipe.Reader.AdvanceTo(r.Buffer.End);
        }
        for (int i = 0; i < 2000; i++) Cycle(); // warm up: every slot and pooled block exists
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 20_000; i++) Cycle();
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void A_waiting_ReadAsync_woken_inline_by_Commit_allocates_nothing_in_steady_state()
    {
        // On a thread of its own with no SynchronizationContext, as a host's loop thread is: under xunit's context an
        // await's continuation may be posted to the context (an allocation, and a read that is not inline) when the
        // test runner's threads are busy, which made this test fail now and then on a loaded CI machine.
        long reads = 0, allocated = -1;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                SynchronizationContext.SetSynchronizationContext(null);
                var pipe = NewPipe(capacity: 256 * 1024);
                var segment = Stream(0, 1460);
                var loop = ReadLoop(pipe);
                Assert.False(loop.IsCompleted); // waiting for data

                for (int i = 0; i < 2000; i++) { pipe.Write(0, segment); pipe.Commit(segment.Length); }
                long before = GC.GetAllocatedBytesForCurrentThread();
                for (int i = 0; i < 20_000; i++) { pipe.Write(0, segment); pipe.Commit(segment.Length); }
                allocated = GC.GetAllocatedBytesForCurrentThread() - before;
                Assert.Equal(22_000, Volatile.Read(ref reads)); // each Commit ran one turn of the reader, inline
                pipe.Complete();
                Assert.True(loop.IsCompletedSuccessfully); // the FIN, too, reached the reader inline
            }
            catch (Exception e) { failure = e; }
        });
        thread.Start();
        thread.Join();
        if (failure is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(failure).Throw();
        Assert.Equal(0, allocated);

        async Task ReadLoop(TcpReceivePipe pipe)
        {
            while (true)
            {
                var r = await pipe.Reader.ReadAsync();
                if (r.IsCompleted) return;
                reads++;
                pipe.Reader.AdvanceTo(r.Buffer.End);
            }
        }
    }

    // =================================================================== completion

    [Fact]
    public void The_peers_FIN_ends_the_stream_after_the_bytes_before_it()
    {
        var pipe = NewPipe();
        pipe.Write(0, Stream(0, 10));
        pipe.Commit(10);
        pipe.Complete();
        var r = MustRead(pipe);
        Assert.True(r.IsCompleted);
        Assert.Equal(Stream(0, 10), r.Buffer.ToArray());
        pipe.Reader.AdvanceTo(r.Buffer.End);
        r = MustRead(pipe);
        Assert.True(r.IsCompleted);
        Assert.True(r.Buffer.IsEmpty);
        pipe.Reader.AdvanceTo(r.Buffer.End);
        var again = pipe.Reader.ReadAsync();   // after the end, reads keep completing at once
        Assert.True(again.IsCompletedSuccessfully);
        Assert.True(Done(again).IsCompleted);
    }

    [Fact]
    public void Complete_wakes_a_waiting_read()
    {
        var pipe = NewPipe();
        var read = pipe.Reader.ReadAsync();
        Assert.False(read.IsCompleted);
        pipe.Complete();
        Assert.True(read.IsCompletedSuccessfully);
        Assert.True(Done(read).IsCompleted);
    }

    private sealed class PeerResetException(string message) : IOException(message);

    [Fact]
    public async Task A_reset_is_thrown_to_the_reader_as_the_same_exception_by_every_read()
    {
        var pipe = NewPipe();
        pipe.Write(0, Stream(0, 10));
        pipe.Commit(10);
        var waiting = NewPipe();
        var read = waiting.Reader.ReadAsync();

        var reset = new PeerResetException("connection reset by peer");
        pipe.Complete(reset);
        waiting.Complete(reset);
        // As Pipe: the error comes before any bytes left unread, and again on every read.
        Assert.Same(reset, Assert.Throws<PeerResetException>(() => pipe.Reader.TryRead(out _)));
        Assert.Same(reset, await Assert.ThrowsAsync<PeerResetException>(async () => await pipe.Reader.ReadAsync()));
        Assert.Same(reset, await Assert.ThrowsAsync<PeerResetException>(async () => await pipe.Reader.ReadAsync()));
        Assert.Same(reset, await Assert.ThrowsAsync<PeerResetException>(async () => await read));
    }

    [Fact]
    public void Complete_is_idempotent_and_the_first_one_counts()
    {
        var pipe = NewPipe();
        pipe.Complete();
        pipe.Complete(new IOException("late"));
        var r = MustRead(pipe);
        Assert.True(r.IsCompleted);
    }

    [Fact]
    public void After_Complete_writing_or_committing_is_the_callers_mistake()
    {
        var pipe = NewPipe();
        pipe.Complete();
        Assert.Throws<InvalidOperationException>(() => pipe.Write(0, new byte[1]));
        Assert.Throws<InvalidOperationException>(() => pipe.Commit(1));
    }

    // =================================================================== the reader stops reading

    [Fact]
    public void When_the_reader_completes_later_data_is_thrown_away_and_the_window_stays_open()
    {
        int consumedCalls = 0;
        var pipe = NewPipe(capacity: 4 * Block, onConsumed: () => consumedCalls++);
        pipe.Write(0, Stream(0, 2 * Block));
        pipe.Write(3 * Block, Stream(3 * Block, 100)); // held out of order
        pipe.Commit(Block);
        Assert.True(pipe.Reader.TryRead(out _));       // completing with a read outstanding is allowed, as in Pipe
        Assert.False(pipe.ReaderCompleted);

        pipe.Reader.Complete();
        Assert.True(pipe.ReaderCompleted);
        Assert.Equal(1, consumedCalls);
        Assert.Equal(0, pipe.BlocksHeld);
        Assert.Equal(4 * Block, pipe.Free);

        pipe.Write(0, Stream(0, 1000));                // ignored
        Assert.Equal(0, pipe.BlocksHeld);
        pipe.Commit(3 * Block);                        // discarded: consumed follows committed
        Assert.Equal(4 * Block, pipe.Free);
        pipe.Reader.Complete();                        // again: nothing more happens
        Assert.Equal(1, consumedCalls);

        Assert.Throws<InvalidOperationException>(() => pipe.Reader.TryRead(out _));
        Assert.Throws<InvalidOperationException>(() => { _ = pipe.Reader.ReadAsync(); });
        Assert.Throws<InvalidOperationException>(() => pipe.Reader.AdvanceTo(default));
        pipe.Complete();                               // the peer's FIN still comes: fine
    }

    [Fact]
    public async Task Completing_the_reader_fails_a_read_waiting_on_another_thread()
    {
        var pipe = NewPipe();
        var read = pipe.Reader.ReadAsync().AsTask();
        pipe.Reader.Complete();
        await Assert.ThrowsAsync<InvalidOperationException>(() => read);
    }

    // =================================================================== examined and the Pipe contract

    [Fact]
    public void A_ReadAsync_after_examining_everything_waits_until_a_commit()
    {
        var pipe = NewPipe();
        pipe.Write(0, Stream(0, 100));
        pipe.Commit(100);
        var r = MustRead(pipe);
        pipe.Reader.AdvanceTo(r.Buffer.Start, r.Buffer.End); // "need more": nothing consumed, everything examined

        Assert.False(pipe.Reader.TryRead(out _));
        pipe.Reader.AdvanceTo(default);                      // as Pipe: a TryRead that found nothing may be advanced
        var read = pipe.Reader.ReadAsync();
        Assert.False(read.IsCompleted);
        pipe.Write(0, Stream(100, 20));
        Assert.False(read.IsCompleted);                      // written is not committed
        pipe.Commit(20);
        Assert.True(read.IsCompleted);
        Assert.Equal(Stream(0, 120), Done(read).Buffer.ToArray()); // the unconsumed bytes and the new ones
    }

    [Fact]
    public void Examined_short_of_the_end_lets_the_next_read_complete_at_once()
    {
        var pipe = NewPipe();
        pipe.Write(0, Stream(0, 100));
        pipe.Commit(100);
        var r = MustRead(pipe);
        pipe.Reader.AdvanceTo(r.Buffer.GetPosition(10), r.Buffer.GetPosition(50));
        var read = pipe.Reader.ReadAsync();
        Assert.True(read.IsCompleted);
        Assert.Equal(Stream(10, 90), Done(read).Buffer.ToArray());
    }

    [Fact]
    public void AdvanceTo_with_consumed_only_examines_up_to_consumed()
    {
        var pipe = NewPipe();
        pipe.Write(0, Stream(0, 100));
        pipe.Commit(100);
        var r = MustRead(pipe);
        pipe.Reader.AdvanceTo(r.Buffer.GetPosition(40));
        r = MustRead(pipe);                          // the rest is not examined yet
        Assert.Equal(Stream(40, 60), r.Buffer.ToArray());
    }

    [Fact]
    public void The_Pipe_contracts_mistakes_are_refused_as_Pipe_refuses_them()
    {
        var pipe = NewPipe();
        pipe.Write(0, Stream(0, 100));
        pipe.Commit(100);
        Assert.Throws<InvalidOperationException>(() => pipe.Reader.AdvanceTo(default)); // no read to complete
        var r = MustRead(pipe);
        Assert.Throws<InvalidOperationException>(() => pipe.Reader.TryRead(out _));    // reading is already in progress
        Assert.Throws<InvalidOperationException>(() => { _ = pipe.Reader.ReadAsync(); });
        Assert.Throws<InvalidOperationException>(() => pipe.Reader.AdvanceTo(r.Buffer.GetPosition(50), r.Buffer.GetPosition(20))); // examined before consumed
        pipe.Reader.AdvanceTo(r.Buffer.GetPosition(10), r.Buffer.GetPosition(80));
        r = MustRead(pipe);
        pipe.Reader.AdvanceTo(r.Buffer.GetPosition(20), r.Buffer.GetPosition(70));
        Assert.Equal(Stream(30, 70), MustRead(pipe).Buffer.ToArray());
    }

    [Fact]
    public void Examined_may_move_back_as_in_Pipe_and_the_bytes_after_it_are_unexamined_again()
    {
        var pipe = NewPipe();
        pipe.Write(0, Stream(0, 100));
        pipe.Commit(100);
        var r = MustRead(pipe);
        pipe.Reader.AdvanceTo(r.Buffer.Start, r.Buffer.End);
        Assert.False(pipe.Reader.TryRead(out _));
        pipe.Write(0, Stream(100, 10));
        pipe.Commit(10);
        r = MustRead(pipe);
        pipe.Reader.AdvanceTo(r.Buffer.GetPosition(20));  // consumed only: examined goes back from 100 to 20
        r = MustRead(pipe);                               // so the rest reads again at once, no new data needed
        Assert.Equal(Stream(20, 90), r.Buffer.ToArray());
    }

    [Fact]
    public void A_second_ReadAsync_while_one_waits_is_refused()
    {
        var pipe = NewPipe();
        var first = pipe.Reader.ReadAsync();
        Assert.Throws<InvalidOperationException>(() => { _ = pipe.Reader.ReadAsync(); });
        Assert.Throws<InvalidOperationException>(() => pipe.Reader.TryRead(out _));
        pipe.Complete();
        Assert.True(Done(first).IsCompleted);
    }

    // =================================================================== cancellation

    [Fact]
    public void CancelPendingRead_completes_a_waiting_read_as_canceled_once()
    {
        var pipe = NewPipe();
        var read = pipe.Reader.ReadAsync();
        pipe.Reader.CancelPendingRead();
        Assert.True(read.IsCompletedSuccessfully);
        var r = Done(read);
        Assert.True(r.IsCanceled);
        Assert.False(r.IsCompleted);
        // A canceled read need not be advanced; the next one waits again.
        var next = pipe.Reader.ReadAsync();
        Assert.False(next.IsCompleted);
        pipe.Write(0, Stream(0, 5));
        pipe.Commit(5);
        r = Done(next);
        Assert.False(r.IsCanceled);
        Assert.Equal(Stream(0, 5), r.Buffer.ToArray());
    }

    [Fact]
    public void CancelPendingRead_before_a_read_cancels_the_next_one_with_the_data_there()
    {
        var pipe = NewPipe();
        pipe.Write(0, Stream(0, 5));
        pipe.Commit(5);
        pipe.Reader.CancelPendingRead();
        var r = MustRead(pipe);
        Assert.True(r.IsCanceled);
        Assert.Equal(5, r.Buffer.Length);
        pipe.Reader.AdvanceTo(r.Buffer.Start);
        r = MustRead(pipe);
        Assert.False(r.IsCanceled);
    }

    [Fact]
    public async Task A_canceled_token_fails_the_waiting_read_with_OperationCanceledException()
    {
        var pipe = NewPipe();
        using var cts = new CancellationTokenSource();
        var read = pipe.Reader.ReadAsync(cts.Token).AsTask();
        Assert.False(read.IsCompleted);
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => read);

        // Already canceled: the read fails without waiting. Then the pipe goes on as before.
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await pipe.Reader.ReadAsync(cts.Token));
        pipe.Write(0, Stream(0, 3));
        pipe.Commit(3);
        var r = await pipe.Reader.ReadAsync(CancellationToken.None);
        Assert.Equal(Stream(0, 3), r.Buffer.ToArray());
    }

    [Fact]
    public async Task A_token_of_an_earlier_read_canceled_later_does_not_cancel_the_current_one()
    {
        var pipe = NewPipe();
        using var first = new CancellationTokenSource();
        var read = pipe.Reader.ReadAsync(first.Token);
        pipe.Write(0, Stream(0, 3));
        pipe.Commit(3);
        var r = await read;
        pipe.Reader.AdvanceTo(r.Buffer.End);
        var second = pipe.Reader.ReadAsync();
        first.Cancel();
        Assert.False(second.IsCompleted);
        pipe.Complete();
        Assert.True((await second).IsCompleted);
    }

    // =================================================================== where continuations run

    /// <summary>Queues what it is given until the test drains it, so the test sees when continuations run.</summary>
    private sealed class QueueingScheduler : PipeScheduler
    {
        private readonly Queue<(Action<object?> Action, object? State)> _queue = new();
        public int Count { get { lock (_queue) return _queue.Count; } }
        public override void Schedule(Action<object?> action, object? state) { lock (_queue) _queue.Enqueue((action, state)); }

        public void Drain()
        {
            while (true)
            {
                (Action<object?> Action, object? State) work;
                lock (_queue) if (!_queue.TryDequeue(out work)) return;
                work.Action(work.State);
            }
        }
    }

    [Fact]
    public void A_waiting_read_continues_only_when_the_reader_scheduler_runs_it()
    {
        var scheduler = new QueueingScheduler();
        var pipe = NewPipe(scheduler: scheduler);
        bool continued = false;
        ReadResult seen = default;
        _ = Reader();
        Assert.False(continued);

        pipe.Write(0, Stream(0, 10));
        pipe.Commit(10);
        Assert.Equal(1, scheduler.Count);
        Assert.False(continued);        // nothing ran in Commit
        pipe.Write(0, Stream(10, 10));
        pipe.Commit(10);
        Assert.Equal(1, scheduler.Count); // one wake-up per wait, however many commits
        scheduler.Drain();
        Assert.True(continued);         // ran in Drain, inline: no SynchronizationContext, no thread pool
        Assert.Equal(Stream(0, 20), seen.Buffer.ToArray());

        async Task Reader()
        {
            seen = await pipe.Reader.ReadAsync();
            continued = true;
        }
    }

    [Fact]
    public void Cancel_and_completion_also_wake_through_the_reader_scheduler()
    {
        var scheduler = new QueueingScheduler();
        var pipe = NewPipe(scheduler: scheduler);
        var read = pipe.Reader.ReadAsync();
        pipe.Reader.CancelPendingRead();
        Assert.False(read.IsCompleted);
        scheduler.Drain();
        Assert.True(Done(read).IsCanceled);

        read = pipe.Reader.ReadAsync();
        pipe.Complete();
        Assert.False(read.IsCompleted);
        scheduler.Drain();
        Assert.True(Done(read).IsCompleted);
    }

    [Fact]
    public void With_the_inline_scheduler_the_read_continues_inside_Commit()
    {
        var pipe = NewPipe(scheduler: PipeScheduler.Inline);
        int thread = -1;
        var task = Reader();
        pipe.Write(0, Stream(0, 1));
        pipe.Commit(1);
        Assert.True(task.IsCompleted);
        Assert.Equal(Environment.CurrentManagedThreadId, thread);

        async Task Reader()
        {
            await pipe.Reader.ReadAsync();
            thread = Environment.CurrentManagedThreadId;
        }
    }

    // =================================================================== two threads

    /// <summary>
    /// The loop on its own thread writes chunks of random size, some out of order within the window (through the
    /// assembler, as the control block will), waiting for the window when it is shut; the application reads with
    /// ReadAsync on the thread pool, consuming random amounts. Every byte must arrive as sent, in bounded time.
    /// </summary>
    [Fact]
    public async Task Loop_and_application_threads_at_once_move_the_stream_byte_for_byte()
    {
        const long total = 32L << 20;
        const int capacity = 200_000;
        const int MaxSegment = 9000;
        using var room = new SemaphoreSlim(0);
        var pipe = new TcpReceivePipe(capacity, PipeScheduler.ThreadPool, () => Signal(room));
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(120));

        Exception? loopError = null;
        int outOfOrderWrites = 0, windowShut = 0; // the loop thread's, read after it is joined
        var loop = new Thread(() =>
        {
            try { RunLoop(); }
            catch (Exception e) { loopError = e; pipe.Complete(e); }
        }) { IsBackground = true, Name = "test loop" };
        loop.Start();

        long read = 0;
        int waitedReads = 0;
        var random = new Random(2);
        while (true)
        {
            var pending = pipe.Reader.ReadAsync(stop.Token);
            if (!pending.IsCompleted) waitedReads++;
            var r = await pending;
            long at = read;
            foreach (var segment in r.Buffer)
            {
                var span = segment.Span;
                for (int i = 0; i < span.Length; i++)
                    if (span[i] != At(at + i)) Assert.Fail($"byte {at + i} is {span[i]}, expected {At(at + i)}");
                at += span.Length;
            }
            long n = r.IsCompleted || random.Next(0, 2) == 0 ? r.Buffer.Length : random.NextInt64(0, r.Buffer.Length + 1);
            // "Need more" (everything examined) only while an in-order segment still fits, or both sides would wait.
            bool needMore = r.Buffer.Length - n <= capacity - MaxSegment;
            pipe.Reader.AdvanceTo(r.Buffer.GetPosition(n), needMore ? r.Buffer.End : r.Buffer.GetPosition(n));
            read += n;
            if (r.IsCompleted && n == r.Buffer.Length) break;
        }
        pipe.Reader.Complete();
        Assert.True(loop.Join(TimeSpan.FromSeconds(30)));
        Assert.Null(loopError);
        Assert.Equal(total, read);
        Assert.Equal(0, pipe.BlocksHeld);
        // The run went through the paths it is for: reads that waited and were woken, data out of order, a full window.
        Assert.True(waitedReads > 50, $"{waitedReads} reads waited");
        Assert.True(outOfOrderWrites > 100, $"{outOfOrderWrites} writes out of order");
        Assert.True(windowShut > 0, $"the window was shut {windowShut} times");

        void RunLoop()
        {
            var rng = new Random(1);
            var assembler = new ReceiveAssembler(4);
            var chunk = new byte[MaxSegment];
            var delayed = new List<(long Start, long End)>(); // segments the network holds back past later ones
            long rcvNxt = 0, sent = 0;
            while (rcvNxt < total)
            {
                stop.Token.ThrowIfCancellationRequested();
                if (rng.Next(0, 128) == 0) Thread.Sleep(1); // the network pauses now and then: the reader catches up and waits
                (long Start, long End) segment;
                if (delayed.Count > 0 && (delayed.Count >= 4 || sent == total || rng.Next(0, 3) == 0))
                {
                    int k = rng.Next(0, delayed.Count);
                    segment = delayed[k];
                    delayed.RemoveAt(k);
                }
                else
                {
                    segment = (sent, Math.Min(total, sent + rng.Next(1, MaxSegment + 1)));
                    sent = segment.End;
                    if (rng.Next(0, 4) == 0) { delayed.Add(segment); continue; }
                }

                long start = Math.Max(segment.Start, rcvNxt);
                if (segment.End <= start) continue;           // all old
                int offset = (int)(start - rcvNxt), count = (int)(segment.End - start);
                if (offset + count > pipe.Free)
                {
                    delayed.Add(segment);                     // comes again once the window opens
                    if (offset == 0) { windowShut++; room.Wait(10); }
                    continue;
                }
                for (int i = 0; i < count; i++) chunk[i] = At(start + i);
                pipe.Write(offset, chunk.AsSpan(0, count));
                if (offset == 0)
                {
                    int commit = count + assembler.Advance(count);
                    pipe.Commit(commit);
                    rcvNxt += commit;
                }
                else if (assembler.Add(offset, count)) outOfOrderWrites++;
                else delayed.Add(segment);
            }
            pipe.Complete();
        }
    }

    [Fact]
    public async Task The_reader_completing_while_the_loop_writes_leaves_no_block_held()
    {
        for (int round = 0; round < 50; round++)
        {
            var pipe = NewPipe(capacity: 8 * Block, scheduler: PipeScheduler.ThreadPool);
            var chunk = Stream(0, 3 * Block);
            int writesAfter = 0;
            var loop = new Thread(() =>
            {
                var rng = new Random(round);
                while (writesAfter < 200)
                {
                    if (pipe.ReaderCompleted) writesAfter++;
                    int n = Math.Min(pipe.Free, rng.Next(1, chunk.Length));
                    if (n == 0) { Thread.Yield(); continue; }
                    pipe.Write(rng.Next(0, pipe.Free - n + 1), chunk.AsSpan(0, n)); // anywhere in the window
                    pipe.Write(0, chunk.AsSpan(0, n));
                    pipe.Commit(n);
                }
            }) { IsBackground = true };
            loop.Start();
            for (int reads = 0; reads < 5; reads++)
            {
                var r = await pipe.Reader.ReadAsync();
                pipe.Reader.AdvanceTo(r.Buffer.End);
            }
            pipe.Reader.Complete();
            Assert.True(loop.Join(TimeSpan.FromSeconds(30)));
            Assert.Equal(0, pipe.BlocksHeld);
            Assert.Equal(8 * Block, pipe.Free);
        }
    }

    // =================================================================== the application's helpers

    [Fact]
    public async Task AsStream_reads_the_stream_to_its_end()
    {
        using var room = new SemaphoreSlim(0);
        var pipe = NewPipe(capacity: 3 * Block, scheduler: PipeScheduler.ThreadPool, onConsumed: () => Signal(room));
        var expected = Stream(0, 1 << 20);
        var writer = Task.Run(() => Feed(pipe, expected, room));
        using var stream = pipe.Reader.AsStream();
        var copy = new MemoryStream();
        var buffer = new byte[7000];
        int n;
        while ((n = await stream.ReadAsync(buffer)) > 0) copy.Write(buffer, 0, n);
        await writer;
        Assert.Equal(expected, copy.ToArray());
    }

    [Fact]
    public async Task CopyToAsync_copies_everything_until_the_end()
    {
        using var room = new SemaphoreSlim(0);
        var pipe = NewPipe(capacity: 3 * Block, scheduler: PipeScheduler.ThreadPool, onConsumed: () => Signal(room));
        var expected = Stream(0, 1 << 20);
        var writer = Task.Run(() => Feed(pipe, expected, room));
        var copy = new MemoryStream();
        await pipe.Reader.CopyToAsync(copy);
        await writer;
        Assert.Equal(expected, copy.ToArray());
    }

    [Fact]
    public async Task ReadAtLeastAsync_waits_for_enough_bytes_or_the_end()
    {
        var pipe = NewPipe(scheduler: PipeScheduler.ThreadPool);
        var read = pipe.Reader.ReadAtLeastAsync(100).AsTask();
        pipe.Write(0, Stream(0, 60));
        pipe.Commit(60);
        await Task.Delay(50);
        Assert.False(read.IsCompleted);
        pipe.Write(0, Stream(60, 60));
        pipe.Commit(60);
        var r = await read.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(Stream(0, 120), r.Buffer.ToArray());
        pipe.Reader.AdvanceTo(r.Buffer.GetPosition(100), r.Buffer.End);

        read = pipe.Reader.ReadAtLeastAsync(100).AsTask();
        pipe.Complete();
        r = await read.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(r.IsCompleted);
        Assert.Equal(Stream(100, 20), r.Buffer.ToArray());
    }

    /// <summary>Tells a loop waiting on <paramref name="room"/> that the window may have reopened.</summary>
    private static void Signal(SemaphoreSlim room)
    {
        if (room.CurrentCount == 0) room.Release();
    }

    /// <summary>A loop that writes <paramref name="data"/> in order as the window allows, then the FIN.</summary>
    private static void Feed(TcpReceivePipe pipe, byte[] data, SemaphoreSlim room)
    {
        var random = new Random(3);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        for (int p = 0; p < data.Length;)
        {
            int n = Math.Min(Math.Min(pipe.Free, random.Next(1, 5000)), data.Length - p);
            if (n == 0)
            {
                if (DateTime.UtcNow > deadline) throw new TimeoutException("the reader never reopened the window");
                room.Wait(10); // a signal may be missed between Free and Wait: the timeout covers it
                continue;
            }
            pipe.Write(0, data.AsSpan(p, n));
            pipe.Commit(n);
            p += n;
        }
        pipe.Complete();
    }
}
