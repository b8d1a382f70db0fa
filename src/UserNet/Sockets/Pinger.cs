using UserNet.Icmp;
using UserNet.Stack;
using UserNet.Wire;

namespace UserNet.Sockets;

/// <summary>
/// The outcome of one echo request: a reply, or an ICMP error about it (<see cref="ErrorType"/> set; <see cref="From"/>
/// is who reported it, our own address when ARP found nobody).
/// </summary>
public readonly record struct PingResult(Ipv4Address From, ushort Sequence, int DataLength, byte Ttl, TimeSpan RoundTripTime, bool DataIntact,
    byte? ErrorType = null, byte ErrorCode = 0)
{
    public bool IsError => ErrorType is not null;

    /// <summary>1 for the first reply or error matched for this echo identifier, 2 for the next: the order the stack saw them in.</summary>
    public long Order { get; init; }

    /// <summary>What iputils ping prints for the error (ping_common.c / ping.c pr_icmph).</summary>
    public string? ErrorText => ErrorType switch
    {
        null => null,
        IcmpType.DestinationUnreachable => ErrorCode switch
        {
            0 => "Destination Net Unreachable",
            1 => "Destination Host Unreachable",
            2 => "Destination Protocol Unreachable",
            3 => "Destination Port Unreachable",
            4 => "Frag needed and DF set",
            5 => "Source Route Failed",
            13 => "Communication prohibited by filter",
            _ => $"Dest Unreachable, Bad Code: {ErrorCode}",
        },
        IcmpType.TimeExceeded => ErrorCode == 0 ? "Time to live exceeded" : "Frag reassembly time exceeded",
        _ => $"Bad ICMP type: {ErrorType}",
    };
}

/// <summary>
/// An ICMP echo client on a stack: sends a request, matches the reply by identifier and sequence number, and reports
/// the round trip measured on the stack's clock. A stack has one (a <c>StackHost</c> makes it: <c>StackHost.Pinger</c>).
/// </summary>
public sealed class Pinger : IEchoReplyListener
{
    private readonly IStackHost _host;
    // Touched on the loop only.
    private readonly Dictionary<(ushort Id, ushort Seq), Pending> _pending = new();
    private int _nextId = Random.Shared.Next(1, 0xFFFF);
    private readonly Dictionary<ushort, long> _matched = new(); // per identifier; touched on the loop only

    private long NextOrder(ushort identifier)
    {
        _matched.TryGetValue(identifier, out var n);
        _matched[identifier] = ++n;
        return n;
    }

    private sealed class Pending
    {
        public required TaskCompletionSource<PingResult?> Completion;
        public required byte[] Data;
        public TimeSpan SentAt;
    }

    /// <summary>A ping client on <paramref name="host"/>; it becomes the stack's echo listener (replacing any other).</summary>
    public Pinger(IStackHost host)
    {
        ArgumentNullException.ThrowIfNull(host);
        _host = host;
        host.Post(stack => stack.EchoListener = this);
    }

    /// <summary>A fresh echo identifier (RFC 792: "to aid in matching echos and replies").</summary>
    public ushort NewIdentifier() => (ushort)Interlocked.Increment(ref _nextId);

    /// <summary>
    /// Sends one echo request with <paramref name="dataLength"/> bytes of data and waits up to <paramref name="timeout"/>
    /// for the reply. Returns null on timeout. Throws <see cref="InvalidOperationException"/> if the request could not be sent.
    /// </summary>
    public async Task<PingResult?> PingAsync(Ipv4Address target, ushort identifier, ushort sequence, int dataLength = 56,
        TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var data = new byte[dataLength];
        // Like iputils: a timestamp-sized lead then a counting pattern, so corruption is visible.
        for (int i = 0; i < data.Length; i++) data[i] = (byte)(i + 8);
        // Completed through the host's application scheduler, never inline on a timer's thread nor on the thread pool
        // behind the scheduler's back: a host that runs everything on one thread (a deterministic simulation) stays so.
        var pending = new Pending { Completion = new(), Data = data };
        var sent = await _host.InvokeAsync(stack =>
        {
            _pending[(identifier, sequence)] = pending;
            pending.SentAt = stack.Now;
            if (stack.SendEchoRequest(target, identifier, sequence, data, pending.SentAt)) return true;
            _pending.Remove((identifier, sequence));
            return false;
        }).ConfigureAwait(false);
        if (!sent) throw new InvalidOperationException($"could not send to {target}: no route or datagram too large for the MTU");

        using var timeoutCts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(1), _host.SocketTime);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeoutCts.Token);
        var scheduler = _host.ApplicationScheduler;
        using var reg = cts.Token.Register(() => scheduler.Schedule(static p => ((Pending)p!).Completion.TrySetResult(null), pending));
        var reply = await pending.Completion.Task.ConfigureAwait(false);
        if (reply is null)
        {
            _host.Post(_ => _pending.Remove((identifier, sequence)));
            cancellationToken.ThrowIfCancellationRequested();
        }
        return reply;
    }

    bool IEchoReplyListener.OnEchoReply(Ipv4Address from, ushort identifier, ushort sequence, byte ttl, ReadOnlySpan<byte> data, TimeSpan time)
    {
        if (!_pending.Remove((identifier, sequence), out var p)) return false;
        var rtt = time - p.SentAt;
        Complete(p, new PingResult(from, sequence, data.Length, ttl, rtt, data.SequenceEqual(p.Data)) { Order = NextOrder(identifier) });
        return true;
    }

    bool IEchoReplyListener.OnEchoError(Ipv4Address reporter, ushort identifier, ushort sequence, byte type, byte code, TimeSpan time)
    {
        if (!_pending.Remove((identifier, sequence), out var p)) return false;
        Complete(p, new PingResult(reporter, sequence, 0, 0, time - p.SentAt, false, type, code) { Order = NextOrder(identifier) });
        return true;
    }

    private void Complete(Pending p, PingResult result) =>
        _host.ApplicationScheduler.Schedule(static s => { var (p, r) = ((Pending, PingResult))s!; p.Completion.TrySetResult(r); }, (p, result));

    internal void CancelAll()
    {
        foreach (var p in _pending.Values) _host.ApplicationScheduler.Schedule(static s => ((Pending)s!).Completion.TrySetResult(null), p);
        _pending.Clear();
    }
}
