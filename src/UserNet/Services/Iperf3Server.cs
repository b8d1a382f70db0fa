using System.Diagnostics;
using Microsoft.Extensions.Logging;
using UserNet.Core;
using UserNet.Sockets;
using UserNet.Stack;
using UserNet.Tcp;

namespace UserNet.Services;

/// <summary>
/// An iperf3 server (TCP only) speaking iperf 3.12's protocol, so that the kernel's <c>iperf3 -c</c> measures the
/// stack: one test at a time; a second client is told ACCESS_DENIED; what we do not support (UDP, SCTP, -b, -n, -k,
/// -O, --bidir, -w, -M, -C, --get-server-output ...) gets SERVER_ERROR with iperf3's own error number, so that the
/// client prints the error and exits; a client that goes away ends its test, and the next one is served.
/// </summary>
internal sealed partial class Iperf3Server
{
    /// <summary>How long a new connection has to send its cookie, and a client to answer each control step.</summary>
    private static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(10);
    /// <summary>After the test's time, how long we wait for TEST_END before giving the test up (iperf3's server waits too).</summary>
    private static readonly TimeSpan EndGrace = TimeSpan.FromSeconds(10);

    private readonly IStackHost _host;
    private readonly ILogger? _log;
    private readonly object _lock = new();
    private Test? _current;

    public Iperf3Server(IStackHost host, ILogger? log)
    {
        _host = host;
        _log = log;
    }

    /// <summary>The settings of every connection it accepts: the stack's, with Nagle off (the control messages are single bytes).</summary>
    public static TcpSettings Settings(IStackHost host) => host.Core.Options.Tcp with { NoDelay = true };

    /// <summary>Serves connections from <paramref name="listener"/> until <paramref name="stop"/>.</summary>
    public async Task RunAsync(TcpConnectionListener listener, CancellationToken stop)
    {
        var pending = new List<Task>();
        long accepted = 0;
        while (!stop.IsCancellationRequested)
        {
            TcpConnection c;
            try { c = await listener.AcceptAsync(stop).ConfigureAwait(false); }
            catch (OperationCanceledException) { break; }
            catch (ObjectDisposedException) { break; }
            pending.RemoveAll(t => t.IsCompleted);
            pending.Add(OnConnectionAsync(c, accepted++, stop));
        }
        Test? t;
        lock (_lock) t = _current;
        t?.Stop();
        try { await Task.WhenAll(pending).ConfigureAwait(false); } catch (Exception) { }
    }

    /// <summary>Reads the cookie, then: a new test's control connection, a stream of the test that waits for it, or turned away.</summary>
    /// <remarks>
    /// <paramref name="order"/> is where it came in the accept queue: the streams of a test are numbered in that order,
    /// as iperf3's server numbers them (it reads each cookie as it accepts), whichever cookie is read first here.
    /// </remarks>
    private async Task OnConnectionAsync(TcpConnection c, long order, CancellationToken stop)
    {
        var cookie = new byte[Iperf3Wire.CookieSize];
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stop);
            timeout.CancelAfter(StepTimeout);
            await Iperf3Wire.ReadExactAsync(c.Input, cookie, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception)
        {
            c.Abort();
            await c.CloseAsync().ConfigureAwait(false);
            return;
        }
        Test? run = null;
        bool taken = false;
        lock (_lock)
        {
            if (_current is null) _current = run = new Test(this, c, cookie);
            else taken = _current.TryAddStream(c, order, cookie);
        }
        if (run is not null)
        {
            try { await run.RunAsync(stop).ConfigureAwait(false); }
            finally { lock (_lock) _current = null; }
            return;
        }
        if (taken) return; // the test owns it now
        // iperf3 serves one test at a time: ACCESS_DENIED (-1), then close.
        if (_log is not null) Denied(_log, c.RemoteEndPoint);
        try
        {
            Iperf3Wire.WriteState(c.Output, Iperf3State.AccessDenied);
            await c.Output.FlushAsync(stop).ConfigureAwait(false);
        }
        catch (Exception) { }
        await c.CloseAsync().ConfigureAwait(false);
    }

    /// <summary>One test: its control connection, its streams, its counters.</summary>
    private sealed class Test(Iperf3Server server, TcpConnection control, byte[] cookie)
    {
        private readonly List<TcpConnection> _streams = new();
        /// <summary>Each stream's place in the accept queue, beside <see cref="_streams"/>, which is kept in that order.</summary>
        private readonly List<long> _order = new();
        private readonly CancellationTokenSource _stop = new();
        private int _wanted; // streams expected while CREATE_STREAMS is on, else 0
        private TaskCompletionSource? _allStreams;
        private bool _streamsClosed;

        public void Stop() => _stop.Cancel();

        /// <summary>A stream joins if it carries our cookie while we wait for streams (iperf_tcp_accept).</summary>
        public bool TryAddStream(TcpConnection c, long order, byte[] theirs)
        {
            lock (_streams)
            {
                if (_wanted == 0 || !theirs.AsSpan().SequenceEqual(cookie) || _streams.Count >= _wanted) return false;
                // In accept order, not in the order the cookies happened to be read: the client numbers its streams
                // in the order it opened them, one after the other, and the results are matched by those numbers.
                int at = _order.BinarySearch(order);
                at = at < 0 ? ~at : at;
                _order.Insert(at, order);
                _streams.Insert(at, c);
                if (_streams.Count == _wanted) _allStreams!.TrySetResult();
                return true;
            }
        }

        public async Task RunAsync(CancellationToken serverStop)
        {
            using var link = CancellationTokenSource.CreateLinkedTokenSource(serverStop, _stop.Token);
            var ct = link.Token;
            var log = server._log;
            var remote = control.RemoteEndPoint;
            try
            {
                await RunTestAsync(ct).ConfigureAwait(false);
            }
            catch (Iperf3Exception e)
            {
                if (log is not null) Refused(log, remote, e.Message);
                try
                {
                    Iperf3Wire.WriteServerError(control.Output, e.ErrorCode, e.SystemError);
                    await control.Output.FlushAsync(ct).ConfigureAwait(false);
                }
                catch (Exception) { }
            }
            catch (Exception e) when (e is OperationCanceledException or EndOfStreamException or FormatException
                or System.Net.Sockets.SocketException or InvalidOperationException)
            {
                // The client went away, stalled, or sent nonsense: the test ends and the next client is served.
                if (log is not null) Abandoned(log, remote, e.GetType().Name, e.Message);
            }
            finally
            {
                link.Cancel(); // a control read still waiting ends here
                lock (_streams) _wanted = 0;
                if (!_streamsClosed)
                    foreach (var s in _streams)
                    {
                        s.Abort(); // the test failed: nothing more to say on them
                        await s.CloseAsync().ConfigureAwait(false);
                    }
                await control.CloseAsync().ConfigureAwait(false);
                _stop.Dispose();
            }
        }

        private async Task RunTestAsync(CancellationToken ct)
        {
            var log = server._log;
            var input = control.Input;
            var output = control.Output;

            Iperf3Wire.WriteState(output, Iperf3State.ParamExchange);
            await output.FlushAsync(ct).ConfigureAwait(false);
            Iperf3Parameters p;
            using (var step = Step(ct))
            {
                try { p = Iperf3Parameters.Parse(await Iperf3Wire.ReadJsonAsync(input, step.Token).ConfigureAwait(false)); }
                catch (Exception e) when (e is FormatException or System.Text.Json.JsonException) { throw new Iperf3Exception(Iperf3Error.RecvParams); }
            }
            if (p.Refusal() is var refusal and not 0)
                throw new Iperf3Exception(refusal, 0, p.Unsupported.Count > 0 ? string.Join(", ", p.Unsupported) : null);
            if (log is not null) Starting(log, control.RemoteEndPoint, p.Parallel, p.Seconds, p.Reverse ? "sends" : "receives");

            lock (_streams)
            {
                _allStreams = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                _wanted = p.Parallel;
            }
            Iperf3Wire.WriteState(output, Iperf3State.CreateStreams);
            await output.FlushAsync(ct).ConfigureAwait(false);
            // While the streams connect, the control connection must stay quiet; its end (the client gave up) ends the wait.
            var controlNext = Iperf3Wire.ReadStateAsync(input, ct).AsTask();
            using (var step = Step(ct))
            {
                var first = await Task.WhenAny(_allStreams.Task, controlNext, Task.Delay(Timeout.Infinite, step.Token)).ConfigureAwait(false);
                if (first != _allStreams.Task)
                {
                    if (first == controlNext) await ClientStoppedAsync(controlNext).ConfigureAwait(false);
                    throw new OperationCanceledException("the streams did not come");
                }
            }
            TcpConnection[] streams;
            lock (_streams)
            {
                _wanted = 0;
                streams = _streams.ToArray();
            }

            var bytes = new long[streams.Length];
            var cpu = Iperf3Cpu.Now();
            long retransmitsBefore = Retransmissions(server._host);
            Iperf3Wire.WriteState(output, Iperf3State.TestStart);
            Iperf3Wire.WriteState(output, Iperf3State.TestRunning);
            await output.FlushAsync(ct).ConfigureAwait(false);
            var started = Stopwatch.GetTimestamp();

            using var running = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var block = p.Reverse ? Iperf3Wire.NewBlock(p.BlockSize) : null;
            var flows = new Task[streams.Length];
            for (int i = 0; i < streams.Length; i++)
                flows[i] = block is null
                    ? Iperf3Wire.ReceiveAsync(streams[i].Input, bytes, i, running.Token)
                    : Iperf3Wire.SendAsync(streams[i].Output, block, bytes, i, running.Token);

            // The client says when the time is up (TEST_END); past the time and a grace, we stop waiting.
            Iperf3State next;
            using (var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct))
            {
                if (p.Seconds > 0) deadline.CancelAfter(TimeSpan.FromSeconds(p.Seconds) + EndGrace);
                var end = await Task.WhenAny(controlNext, Task.Delay(Timeout.Infinite, deadline.Token)).ConfigureAwait(false);
                if (end != controlNext) throw new OperationCanceledException("no TEST_END");
                next = await ClientStoppedAsync(controlNext).ConfigureAwait(false);
            }
            var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
            running.Cancel();
            foreach (var f in flows)
            {
                try { await f.ConfigureAwait(false); }
                catch (Exception e) when (e is OperationCanceledException or System.Net.Sockets.SocketException or InvalidOperationException) { }
            }
            if (next != Iperf3State.TestEnd) throw new Iperf3Exception(Iperf3Error.Message);
            // As iperf3 does at TEST_END, the streams close before the results go. A sending server's close must be
            // graceful: iperf3's client, now blocking, drains each stream a whole block at a time until its end, and
            // would wait forever for the rest of a block we never send (or fail on a reset). A receiving server's
            // close has data unread, which is a reset, as a kernel's close(2) would send.
            _streamsClosed = true;
            foreach (var s in streams)
            {
                if (!p.Reverse) s.Abort();
                await s.CloseAsync().ConfigureAwait(false);
            }
            var (cpuTotal, cpuUser, cpuSystem) = cpu.Since();
            long retransmits = Retransmissions(server._host) - retransmitsBefore;

            Iperf3Wire.WriteState(output, Iperf3State.ExchangeResults);
            await output.FlushAsync(ct).ConfigureAwait(false);
            using (var step = Step(ct))
            {
                try { Iperf3Results.Parse(await Iperf3Wire.ReadJsonAsync(input, step.Token).ConfigureAwait(false)); }
                catch (FormatException) { throw new Iperf3Exception(Iperf3Error.RecvResults); }
            }
            var results = new Iperf3Results
            {
                CpuTotal = cpuTotal, CpuUser = cpuUser, CpuSystem = cpuSystem,
                // A receiver says -1; as a sender we count retransmissions, but per stack, not per connection: all of
                // them go on the first stream (exact with one stream, and the sum is right with more).
                SenderHasRetransmits = p.Reverse ? 1 : -1,
                CongestionUsed = server._host.Core.Options.Tcp.CongestionControl.ToString().ToLowerInvariant(),
                Streams = streams.Select((_, i) => new Iperf3StreamResult(StreamId(i), Volatile.Read(ref bytes[i]),
                    p.Reverse ? (i == 0 ? retransmits : 0) : -1, 0, seconds)).ToArray(),
            };
            Iperf3Wire.WriteJson(output, results.ToJson());
            Iperf3Wire.WriteState(output, Iperf3State.DisplayResults);
            await output.FlushAsync(ct).ConfigureAwait(false);
            if (log is not null) Finished(log, control.RemoteEndPoint, p.Reverse ? "sent" : "received", bytes.Sum(), seconds);
            using (var step = Step(ct))
            {
                // IPERF_DONE, or the client just closes: either way the test is over.
                try { await Iperf3Wire.ReadStateAsync(input, step.Token).ConfigureAwait(false); }
                catch (EndOfStreamException) { }
            }
        }

        /// <summary>What the client sent on the control connection while we waited for something else.</summary>
        private static async Task<Iperf3State> ClientStoppedAsync(Task<Iperf3State> read)
        {
            var s = await read.ConfigureAwait(false); // EndOfStream or a reset: the client is gone
            if (s is Iperf3State.ClientTerminate or Iperf3State.IperfDone) throw new OperationCanceledException("the client ended the test");
            return s;
        }

        private static CancellationTokenSource Step(CancellationToken ct)
        {
            var s = CancellationTokenSource.CreateLinkedTokenSource(ct);
            s.CancelAfter(StepTimeout);
            return s;
        }
    }

    /// <summary>iperf3 numbers its streams 1, 3, 4, 5, ... (iperf_add_stream skips 2); both ends do, so the results match up.</summary>
    internal static int StreamId(int index) => index == 0 ? 1 : index + 2;

    /// <summary>The stack's retransmissions of every cause so far (the stack counts them per stack, not per connection).</summary>
    internal static long Retransmissions(IStackHost host)
    {
        var c = host.Core.Counters;
        return c.CountOf(TcpCounter.FastRetransmissions) + c.CountOf(TcpCounter.RackRetransmissions)
            + c.CountOf(TcpCounter.LossProbes) + c.CountOf(TcpCounter.TimeoutRetransmissions);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "iperf3: a test from {Remote}: {Streams} stream(s), {Seconds} s, the stack {Direction}")]
    private static partial void Starting(ILogger logger, System.Net.IPEndPoint remote, int streams, int seconds, string direction);

    [LoggerMessage(Level = LogLevel.Information, Message = "iperf3: the test from {Remote} is done: {Direction} {Bytes} bytes in {Seconds:F2} s")]
    private static partial void Finished(ILogger logger, System.Net.IPEndPoint remote, string direction, long bytes, double seconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "iperf3: refused the test from {Remote}: {Reason}")]
    private static partial void Refused(ILogger logger, System.Net.IPEndPoint remote, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "iperf3: the test from {Remote} ended early ({Kind}: {Reason})")]
    private static partial void Abandoned(ILogger logger, System.Net.IPEndPoint remote, string kind, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "iperf3: {Remote} is turned away: a test is running")]
    private static partial void Denied(ILogger logger, System.Net.IPEndPoint remote);
}
