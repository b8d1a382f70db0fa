using System.Diagnostics;
using System.Buffers;
using System.Net;
using UserNet.Sockets;
using UserNet.Stack;
using UserNet.Tcp;

namespace UserNet.Services;

/// <summary>What an iperf3 test asks the server for (TCP only), and where to report as it goes.</summary>
public sealed class Iperf3ClientOptions
{
    /// <summary>The test's length in whole seconds (-t), 1 to 86400.</summary>
    public int Seconds { get; init; } = 10;
    /// <summary>-R: the server sends and we receive.</summary>
    public bool Reverse { get; init; }
    /// <summary>-P: parallel streams, 1 to 128.</summary>
    public int Parallel { get; init; } = 1;
    /// <summary>-l: the sender's write size, 1 byte to 1 MiB.</summary>
    public int BlockSize { get; init; } = 128 * 1024;
    /// <summary>Told about each stream once it is connected, before the test starts.</summary>
    public Action<Iperf3Stream>? Connected { get; init; }
    /// <summary>Told about each one-second interval as it ends.</summary>
    public Action<Iperf3Interval>? Interval { get; init; }
}

/// <summary>One data connection of a test and, once the test is over, its totals on both ends.</summary>
public sealed class Iperf3Stream
{
    internal Iperf3Stream(int id, IPEndPoint local, IPEndPoint remote)
    {
        Id = id;
        LocalEndPoint = local;
        RemoteEndPoint = remote;
    }

    /// <summary>iperf3's stream id (1, 3, 4, 5, ...: iperf3 skips 2).</summary>
    public int Id { get; }
    public IPEndPoint LocalEndPoint { get; }
    public IPEndPoint RemoteEndPoint { get; }
    /// <summary>Bytes the sender wrote, and the sender's seconds.</summary>
    public long BytesSent { get; internal set; }
    public double SenderSeconds { get; internal set; }
    /// <summary>Bytes the receiver read, and the receiver's seconds.</summary>
    public long BytesReceived { get; internal set; }
    public double ReceiverSeconds { get; internal set; }
    /// <summary>The sender's retransmissions; -1 when the sender did not say.</summary>
    public long Retransmits { get; internal set; }
    /// <summary>The largest congestion window we saw in bytes, when we are the sender; 0 otherwise.</summary>
    public long MaxCongestionWindow { get; internal set; }
}

/// <summary>One interval of a test, per stream in the order of <see cref="Iperf3Report.Streams"/>.</summary>
public sealed class Iperf3Interval
{
    internal Iperf3Interval(double start, double end, long[] bytes, long[] retransmits, long[] cwnd)
    {
        Start = start;
        End = end;
        Bytes = bytes;
        Retransmits = retransmits;
        CongestionWindows = cwnd;
    }

    /// <summary>Seconds since the test started.</summary>
    public double Start { get; }
    public double End { get; }
    /// <summary>Bytes each stream moved in the interval (sent when we send, received when we receive).</summary>
    public IReadOnlyList<long> Bytes { get; }
    /// <summary>When we send: retransmissions in the interval (counted per stack, so all on the first stream); else 0.</summary>
    public IReadOnlyList<long> Retransmits { get; }
    /// <summary>When we send: each stream's congestion window in bytes at the interval's end; else 0.</summary>
    public IReadOnlyList<long> CongestionWindows { get; }
}

/// <summary>A finished test: its streams with both ends' totals, the intervals, and CPU use on both ends.</summary>
public sealed class Iperf3Report
{
    internal Iperf3Report() { }

    public string Cookie { get; internal init; } = "";
    /// <summary>True when the server sent (-R).</summary>
    public bool Reverse { get; internal init; }
    public IReadOnlyList<Iperf3Stream> Streams { get; internal init; } = [];
    public IReadOnlyList<Iperf3Interval> Intervals { get; internal init; } = [];
    /// <summary>Whether the sender counted retransmissions (iperf3's sender_has_retransmits).</summary>
    public bool SenderHasRetransmits { get; internal init; }
    /// <summary>CPU use of this process and the server's over the test, in percent (total, user, system).</summary>
    public (double Total, double User, double System) LocalCpu { get; internal init; }
    public (double Total, double User, double System) RemoteCpu { get; internal init; }
    /// <summary>Congestion control names: ours, and the server's if it said.</summary>
    public string LocalCongestion { get; internal init; } = "";
    public string? RemoteCongestion { get; internal init; }
}

/// <summary>
/// An iperf3 client (TCP only) speaking iperf 3.12's protocol, so that the stack can be measured against the
/// kernel's <c>iperf3 -s</c>: the control connection and its cookie, the parameters, the streams, the test, the
/// exchange of results.
/// </summary>
public static class Iperf3Client
{
    /// <summary>Runs one test against <paramref name="server"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An option out of its range.</exception>
    /// <exception cref="Iperf3Exception">The server refused (busy, or an unsupported option), or broke the protocol.</exception>
    /// <exception cref="System.Net.Sockets.SocketException">A connection could not be made or was reset.</exception>
    public static async Task<Iperf3Report> RunAsync(IStackHost host, IPEndPoint server, Iperf3ClientOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(server);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Seconds, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(options.Seconds, Iperf3Parameters.MaxSeconds);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Parallel, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(options.Parallel, Iperf3Parameters.MaxStreams);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.BlockSize, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(options.BlockSize, Iperf3Parameters.MaxBlockSize);
        var run = new Run(host, server, options);
        try { return await run.ExecuteAsync(cancellationToken).ConfigureAwait(false); }
        finally { await run.CloseAsync().ConfigureAwait(false); }
    }

    private sealed class Run(IStackHost host, IPEndPoint server, Iperf3ClientOptions options)
    {
        private readonly byte[] _cookie = Iperf3Wire.NewCookie();
        private readonly TcpSettings _settings = host.Core.Options.Tcp with { NoDelay = true };
        private readonly List<TcpConnection> _connections = new();
        private readonly List<Iperf3Stream> _streams = new();
        private readonly List<Iperf3Interval> _intervals = new();
        private TcpConnection? _control;
        private bool _done;

        public async Task<Iperf3Report> ExecuteAsync(CancellationToken ct)
        {
            _control = await TcpConnection.ConnectAsync(host, server, _settings, ct).ConfigureAwait(false);
            var input = _control.Input;
            var output = _control.Output;
            output.Write(_cookie);
            await output.FlushAsync(ct).ConfigureAwait(false);

            long[] bytes = [];
            double seconds = 0;
            long retransmits = 0;
            (double, double, double) cpu = default;
            Iperf3Results? theirs = null;
            Task<Iperf3State>? early = null; // a state byte read while the test ran
            while (true)
            {
                Iperf3State state;
                try
                {
                    state = early is not null ? await early.ConfigureAwait(false) : await Iperf3Wire.ReadStateAsync(input, ct).ConfigureAwait(false);
                }
                catch (EndOfStreamException) { throw new Iperf3Exception(Iperf3Error.CtrlClose); }
                early = null;
                switch (state)
                {
                    case Iperf3State.ParamExchange:
                        var p = new Iperf3Parameters { Seconds = options.Seconds, Parallel = options.Parallel, Reverse = options.Reverse, BlockSize = options.BlockSize };
                        Iperf3Wire.WriteJson(output, p.ToJson());
                        await output.FlushAsync(ct).ConfigureAwait(false);
                        break;
                    case Iperf3State.CreateStreams:
                        await CreateStreamsAsync(ct).ConfigureAwait(false);
                        break;
                    case Iperf3State.TestStart:
                        break;
                    case Iperf3State.TestRunning:
                        var cpuStart = Iperf3Cpu.Now();
                        (bytes, seconds, retransmits, early) = await TestAsync(input, ct).ConfigureAwait(false);
                        cpu = cpuStart.Since();
                        Iperf3Wire.WriteState(output, Iperf3State.TestEnd);
                        await output.FlushAsync(ct).ConfigureAwait(false);
                        break;
                    case Iperf3State.ExchangeResults:
                        var ours = new Iperf3Results
                        {
                            CpuTotal = cpu.Item1, CpuUser = cpu.Item2, CpuSystem = cpu.Item3,
                            SenderHasRetransmits = options.Reverse ? -1 : 1,
                            CongestionUsed = CongestionName(host),
                            Streams = _streams.Select((s, i) => new Iperf3StreamResult(s.Id, bytes.Length > i ? bytes[i] : 0,
                                options.Reverse ? -1 : (i == 0 ? retransmits : 0), 0, seconds)).ToArray(),
                        };
                        Iperf3Wire.WriteJson(output, ours.ToJson());
                        await output.FlushAsync(ct).ConfigureAwait(false);
                        try { theirs = Iperf3Results.Parse(await Iperf3Wire.ReadJsonAsync(input, ct).ConfigureAwait(false)); }
                        catch (Exception e) when (e is FormatException or EndOfStreamException) { throw new Iperf3Exception(Iperf3Error.RecvResults); }
                        Combine(bytes, seconds, retransmits, theirs);
                        break;
                    case Iperf3State.DisplayResults:
                        Iperf3Wire.WriteState(output, Iperf3State.IperfDone);
                        await output.FlushAsync(ct).ConfigureAwait(false);
                        _done = true;
                        if (theirs is null) throw new Iperf3Exception(Iperf3Error.Message);
                        return new Iperf3Report
                        {
                            Cookie = Iperf3Wire.CookieText(_cookie),
                            Reverse = options.Reverse,
                            Streams = _streams,
                            Intervals = _intervals,
                            SenderHasRetransmits = options.Reverse ? theirs.SenderHasRetransmits == 1 : true,
                            LocalCpu = cpu,
                            RemoteCpu = (theirs.CpuTotal, theirs.CpuUser, theirs.CpuSystem),
                            LocalCongestion = CongestionName(host),
                            RemoteCongestion = theirs.CongestionUsed,
                        };
                    case Iperf3State.AccessDenied:
                        throw new Iperf3Exception(Iperf3Error.AccessDenied);
                    case Iperf3State.ServerError:
                        int code, errno;
                        try
                        {
                            code = await Iperf3Wire.ReadInt32Async(input, ct).ConfigureAwait(false);
                            errno = await Iperf3Wire.ReadInt32Async(input, ct).ConfigureAwait(false);
                        }
                        catch (EndOfStreamException) { throw new Iperf3Exception(Iperf3Error.CtrlClose); }
                        throw new Iperf3Exception(code, errno);
                    case Iperf3State.ServerTerminate:
                        throw new Iperf3Exception(Iperf3Error.ServerTerm);
                    default:
                        throw new Iperf3Exception(Iperf3Error.Message);
                }
            }
        }

        /// <summary>Opens the streams one after the other (their ids follow the order), each first sending the cookie.</summary>
        private async Task CreateStreamsAsync(CancellationToken ct)
        {
            for (int i = 0; i < options.Parallel; i++)
            {
                var c = await TcpConnection.ConnectAsync(host, server, _settings, ct).ConfigureAwait(false);
                _connections.Add(c);
                c.Output.Write(_cookie);
                await c.Output.FlushAsync(ct).ConfigureAwait(false);
                var s = new Iperf3Stream(Iperf3Server.StreamId(i), c.LocalEndPoint, c.RemoteEndPoint);
                _streams.Add(s);
                options.Connected?.Invoke(s);
            }
        }

        /// <summary>
        /// The test: data flows until the time is up, sampled once a second; returns the bytes per stream, the seconds,
        /// our retransmissions, and a control read that finished early (the server spoke during the test) or null.
        /// </summary>
        private async Task<(long[] Bytes, double Seconds, long Retransmits, Task<Iperf3State>? Early)> TestAsync(
            System.IO.Pipelines.PipeReader control, CancellationToken ct)
        {
            int n = _connections.Count;
            var counters = new long[n];
            var started = Stopwatch.GetTimestamp();
            long retransmitsAtStart = Iperf3Server.Retransmissions(host);
            using var running = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var block = options.Reverse ? null : Iperf3Wire.NewBlock(options.BlockSize);
            var flows = new Task[n];
            for (int i = 0; i < n; i++)
                flows[i] = block is null
                    ? Iperf3Wire.ReceiveAsync(_connections[i].Input, counters, i, running.Token)
                    : Iperf3Wire.SendAsync(_connections[i].Output, block, counters, i, running.Token);

            var controlRead = Iperf3Wire.ReadStateAsync(control, ct).AsTask();
            var last = new long[n];
            long lastRetransmits = retransmitsAtStart;
            double lastTime = 0;
            bool early = false;
            for (int k = 1; k <= options.Seconds && !early; k++)
            {
                var wait = TimeSpan.FromSeconds(k) - Stopwatch.GetElapsedTime(started);
                if (wait > TimeSpan.Zero)
                {
                    var first = await Task.WhenAny(Task.Delay(wait, ct), controlRead).ConfigureAwait(false);
                    early = first == controlRead;
                    ct.ThrowIfCancellationRequested();
                }
                var now = Stopwatch.GetElapsedTime(started).TotalSeconds;
                var delta = new long[n];
                for (int i = 0; i < n; i++)
                {
                    var b = Volatile.Read(ref counters[i]);
                    delta[i] = b - last[i];
                    last[i] = b;
                }
                var retr = new long[n];
                var cwnd = new long[n];
                if (!options.Reverse)
                {
                    long r = Iperf3Server.Retransmissions(host);
                    retr[0] = r - lastRetransmits;
                    lastRetransmits = r;
                    // The loop owns the control blocks: read their windows there.
                    var windows = await host.InvokeAsync(_ => _connections.Select(c => (long)(c.ControlBlock?.CongestionWindow ?? 0)).ToArray()).ConfigureAwait(false);
                    windows.CopyTo(cwnd, 0);
                    for (int i = 0; i < n; i++) _streams[i].MaxCongestionWindow = Math.Max(_streams[i].MaxCongestionWindow, cwnd[i]);
                }
                var interval = new Iperf3Interval(lastTime, now, delta, retr, cwnd);
                lastTime = now;
                _intervals.Add(interval);
                options.Interval?.Invoke(interval);
            }
            var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
            running.Cancel();
            foreach (var f in flows)
            {
                try { await f.ConfigureAwait(false); }
                catch (Exception e) when (e is OperationCanceledException or System.Net.Sockets.SocketException or InvalidOperationException) { }
            }
            var bytes = new long[n];
            for (int i = 0; i < n; i++) bytes[i] = Volatile.Read(ref counters[i]);
            return (bytes, seconds, Iperf3Server.Retransmissions(host) - retransmitsAtStart, controlRead);
        }

        /// <summary>Both ends' totals per stream: ours, and the server's matched by stream id.</summary>
        private void Combine(long[] bytes, double seconds, long retransmits, Iperf3Results theirs)
        {
            for (int i = 0; i < _streams.Count; i++)
            {
                var s = _streams[i];
                var match = theirs.Streams.Where(t => t.Id == s.Id).ToArray();
                if (match.Length != 1) throw new Iperf3Exception(Iperf3Error.StreamId);
                var t = match[0];
                long mine = bytes.Length > i ? bytes[i] : 0;
                if (options.Reverse)
                {
                    (s.BytesSent, s.SenderSeconds, s.Retransmits) = (t.Bytes, t.EndTime - t.StartTime, theirs.SenderHasRetransmits == 1 ? t.Retransmits : -1);
                    (s.BytesReceived, s.ReceiverSeconds) = (mine, seconds);
                }
                else
                {
                    (s.BytesSent, s.SenderSeconds, s.Retransmits) = (mine, seconds, i == 0 ? retransmits : 0);
                    (s.BytesReceived, s.ReceiverSeconds) = (t.Bytes, t.EndTime - t.StartTime);
                }
            }
        }

        /// <summary>
        /// The streams are reset (iperf3 closes them with data unread or unsent); the control connection is closed,
        /// and after a clean end we stay until the server has our IPERF_DONE and FIN (our process takes the stack with it).
        /// </summary>
        public async Task CloseAsync()
        {
            foreach (var c in _connections)
            {
                c.Abort();
                await c.CloseAsync().ConfigureAwait(false);
            }
            if (_control is not { } control) return;
            if (!_done) control.Abort();
            await control.CloseAsync().ConfigureAwait(false);
            var until = Stopwatch.GetTimestamp() + Stopwatch.Frequency * 2;
            while (_done && control.State is not (TcpState.Closed or TcpState.TimeWait or TcpState.FinWait2) && Stopwatch.GetTimestamp() < until)
                await Task.WhenAny(control.Closed, Task.Delay(10)).ConfigureAwait(false);
        }
    }

    private static string CongestionName(IStackHost host) => host.Core.Options.Tcp.CongestionControl.ToString().ToLowerInvariant();
}
