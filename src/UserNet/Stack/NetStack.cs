using System.IO.Pipelines;
using UserNet.Arp;
using UserNet.Core;
using UserNet.Ethernet;
using UserNet.Icmp;
using UserNet.Ip;
using UserNet.Tcp;
using UserNet.Udp;
using UserNet.Wire;

namespace UserNet.Stack;

/// <summary>
/// Whatever runs a stack, and so can open sockets on it: a <see cref="NetStack"/> driven by hand, a
/// <c>StackHost</c> running one on a device. The sockets (<c>UserNet.Sockets</c>) take one. Implemented inside this
/// library only.
/// </summary>
public interface IStackHost
{
    /// <summary>The protocol core. Touch it only from work run through <see cref="Post"/>.</summary>
    internal NetStack Core { get; }

    /// <summary>Runs <paramref name="work"/> on the thread that owns the core, soon; callable from any thread.</summary>
    internal void Post(Action<NetStack> work);

    /// <summary>Where the sockets continue application code (a completed read, accept or flush).</summary>
    internal PipeScheduler ApplicationScheduler { get; }

    /// <summary>The stack's address and prefix (fixed when the stack is made, so readable from any thread).</summary>
    public Ipv4Subnet Address => Core.Address;

    /// <summary>
    /// The clock the sockets' own timeouts (a ping's) run on: the system clock, unless the host runs on a clock of its
    /// own that the sockets must follow (a simulated network's virtual time).
    /// </summary>
    internal TimeProvider SocketTime => TimeProvider.System;
}

/// <summary>
/// A wake-up of application code (a read waiting for data that arrived) that the core holds back until the loop is
/// done with the frames at hand, so that a batch of segments for one connection wakes its reader once.
/// </summary>
internal interface IDeferredWake
{
    /// <summary>Called on the loop, once per <see cref="NetStack.DeferWake"/>, when the batch (or the call) ends.</summary>
    void Flush();
}

/// <summary>
/// The protocol core: frames and a time go in (<see cref="Receive(Span{byte}, TimeSpan)"/>, <see cref="Poll"/>), frames and the next
/// timer deadline come out (<see cref="IFrameTransmitter"/>, <see cref="NextDeadline"/>). It never reads a clock,
/// opens a file or starts a thread, and it is not thread-safe: one thread drives it. This is the composition root:
/// it builds the layers and wires them through the interfaces each one defines (see the README's Architecture).
/// Sockets may be opened on it directly (it is an <see cref="IStackHost"/>): their work then runs on the thread
/// that calls into it, inside the next call or at once.
/// </summary>
public sealed class NetStack : IStackHost, IDisposable
{
    private readonly StackContext _ctx;
    private readonly EthernetLayer _ethernet;
    private readonly Queue<Action<NetStack>> _posted = new();
    private int _depth;
    private bool _runningPosted;
    /// <summary>Wakes held back (see <see cref="DeferWake"/>); loop-only, so no lock.</summary>
    private readonly List<IDeferredWake> _wakes = new();
    private readonly List<IDeferredWake> _flushing = new();
    private int _batch;

    public NetStack(StackOptions options, IFrameTransmitter transmitter)
    {
        if (options.Mtu < 68 || options.Mtu > 65535) throw new ArgumentOutOfRangeException(nameof(options), $"MTU {options.Mtu} is outside 68..65535 (RFC 791 requires at least 68)");
        var mac = options.Mac ?? MacAddress.RandomLocal(options.Seed is { } s ? new Random(s + 29) : null);
        if (mac.IsMulticast || mac == MacAddress.Zero) throw new ArgumentException($"{mac} is not a unicast MAC address", nameof(options));
        ArgumentNullException.ThrowIfNull(options.Limits);
        options.Limits.Validate();
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.UdpReceiveBufferSize, nameof(options.UdpReceiveBufferSize));
        Options = options;
        Counters = new StackCounters(options.Name);
        _ctx = new StackContext(mac, options.Address, options.Mtu, transmitter, Counters, options.Observer, options.Logger, options.Limits);
        Random Seeded(int salt) => options.Seed is { } seed ? new Random(seed + salt) : Random.Shared;

        _ethernet = new EthernetLayer(_ctx);
        Arp = new ArpLayer(_ctx, _ethernet, new ArpSettings
        {
            EntryLifetime = options.ArpEntryLifetime,
            RequestInterval = options.ArpRequestInterval,
            RequestAttempts = options.ArpRequestAttempts,
            QueueLength = options.ArpQueueLength,
            CacheCapacity = options.ArpCacheCapacity,
            DefendInterval = options.ArpDefendInterval,
        });
        Ip = new Ipv4Layer(_ctx, _ethernet, Arp, new Ipv4Settings
        {
            Gateway = options.Gateway,
            DefaultTtl = options.DefaultTtl,
            Reassembly = options.Reassembly,
            IcmpErrorsPerSecond = options.IcmpErrorsPerSecond,
            IcmpErrorBurst = options.IcmpErrorBurst,
            Random = Seeded(0),
        });
        Icmp = new IcmpLayer(_ctx, Ip);
        Udp = new UdpLayer(_ctx, Ip, Seeded(17));
        Tcp = new TcpLayer(_ctx, Ip, options.Tcp, Seeded(23), options.TcpInitialSequenceNumbers, options.TcpTimestampOffsets);

        _ethernet.Register(EtherType.Arp, Arp);
        _ethernet.Register(EtherType.Ipv4, Ip);
        Ip.Register(IpProtocol.Icmp, Icmp);
        Ip.Register(IpProtocol.Udp, Udp);
        Ip.Register(IpProtocol.Tcp, Tcp);
    }

    public StackOptions Options { get; }
    /// <summary>Our Ethernet address (given, or drawn from the seed).</summary>
    public MacAddress Mac => _ctx.Mac;
    public Ipv4Subnet Address => _ctx.Subnet;
    public int Mtu => _ctx.Mtu;
    public StackCounters Counters { get; }

    /// <summary>Receives echo replies and errors about our echo requests (a ping client); null for none.</summary>
    public IEchoReplyListener? EchoListener
    {
        get => Icmp.EchoListener;
        set => Icmp.EchoListener = value;
    }

    /// <summary>Where sockets opened on this core continue application code; inline (on the driving thread) by default.</summary>
    public PipeScheduler ApplicationScheduler { get; set; } = PipeScheduler.Inline;

    internal StackContext Context => _ctx;
    internal ArpLayer Arp { get; }
    internal Ipv4Layer Ip { get; }
    internal IcmpLayer Icmp { get; }
    internal UdpLayer Udp { get; }
    internal TcpLayer Tcp { get; }

    /// <summary>The time of the frame, poll or work being handled (the last one given).</summary>
    internal TimeSpan Now => _ctx.Now;

    /// <summary>The earliest time <see cref="Poll"/> has work to do, or <see cref="TimeSpan.MaxValue"/>.</summary>
    public TimeSpan NextDeadline
    {
        get
        {
            var a = Arp.NextDeadline;
            var b = Ip.NextDeadline;
            var c = Tcp.NextDeadline;
            var ab = a < b ? a : b;
            return ab < c ? ab : c;
        }
    }

    /// <summary>Announces our address (a gratuitous ARP, RFC 5227 section 2.3) so neighbours update their caches.</summary>
    public void Start(TimeSpan now)
    {
        Enter(now);
        try { Arp.Announce(); }
        finally { Leave(); }
    }

    /// <summary>Runs timers that are due: ARP retries and expiry, reassembly timeouts, TCP timers.</summary>
    public void Poll(TimeSpan now)
    {
        Enter(now);
        try
        {
            Arp.Poll();
            Ip.Poll();
            Tcp.Poll();
        }
        finally { Leave(); }
    }

    /// <summary>Handles one received Ethernet frame (without FCS), possibly in place. Never throws for malformed input: drops and counts.</summary>
    public void Receive(Span<byte> frame, TimeSpan now) => Receive(frame, now, default);

    /// <summary>
    /// Handles one received Ethernet frame with what the link said of it (<paramref name="offload"/>: a transport
    /// checksum the local kernel left partial, a TCP super-segment larger than the MTU). Never throws for malformed input.
    /// </summary>
    public void Receive(Span<byte> frame, TimeSpan now, in FrameOffload offload)
    {
        _depth++;
        _ctx.BeginReceive(now, offload);
        try { _ethernet.Receive(frame); }
        catch (Exception e) when (e is IndexOutOfRangeException or ArgumentException or InvalidOperationException or OverflowException)
        {
            // A bug of ours met an input we did not foresee: drop the frame, count and log it, keep serving.
            _ctx.Drop(DropReason.StackFault);
            if (_ctx.Logger is { } l) StackLog.StackFault(l, e);
        }
        finally
        {
            _ctx.EndReceive(frame);
            Leave();
        }
    }

    /// <summary>Sends an ICMP echo request from us (the ping client). Returns false when it could not be sent.</summary>
    public bool SendEchoRequest(Ipv4Address destination, ushort identifier, ushort sequence, ReadOnlySpan<byte> data, TimeSpan now)
    {
        Enter(now);
        try { return Icmp.SendEchoRequest(destination, identifier, sequence, data); }
        finally { Leave(); }
    }

    /// <summary>
    /// Runs application code (a socket's continuation that your <see cref="ApplicationScheduler"/> queued) as one step,
    /// at <paramref name="now"/>: the work the sockets post meanwhile (sending what it wrote, the window its reads
    /// reopened) runs once it returns, coalesced, as a host's loop would take it. For driving sockets by hand.
    /// </summary>
    public void RunApplicationWork(Action work, TimeSpan now)
    {
        ArgumentNullException.ThrowIfNull(work);
        Enter(now);
        try { work(); }
        finally { Leave(); }
    }

    /// <summary>Runs work posted to the host that drives this core, at <paramref name="now"/>.</summary>
    internal void Run(Action<NetStack> work, TimeSpan now)
    {
        Enter(now);
        try { work(this); }
        finally { Leave(); }
    }

    private void Enter(TimeSpan now)
    {
        _depth++;
        _ctx.Now = now;
    }

    private void Leave()
    {
        if (--_depth != 0) return;
        RunPosted();
        if (_batch == 0) FlushWakes();
    }

    /// <summary>
    /// The host is about to hand in a batch of frames (and the posted work and timers after them): wakes the sockets
    /// ask for meanwhile wait for <see cref="EndBatch"/>. Without a batch they happen when each call into the core
    /// returns. Batches nest; only the outermost end flushes.
    /// </summary>
    internal void BeginBatch()
    {
        _batch++;
        _ctx.InBatch = true;
    }

    /// <summary>
    /// Ends the batch <see cref="BeginBatch"/> began: the ACKs TCP held for it go out (one per connection, for all the
    /// in-order data of the batch), then every held wake happens, once each.
    /// </summary>
    internal void EndBatch()
    {
        if (_batch == 0) throw new InvalidOperationException("EndBatch without BeginBatch.");
        if (--_batch != 0) return;
        _ctx.InBatch = false;
        if (Tcp.HasDeferredAcks)
        {
            Enter(_ctx.Now);
            try { Tcp.SendDeferredAcks(); }
            finally { Leave(); }
        }
        if (_depth == 0) FlushWakes();
    }

    /// <summary>
    /// Holds <paramref name="wake"/> until the batch ends (or the current call into the core returns). Call it from
    /// the loop, at most once per flush for a given object (the caller keeps a flag).
    /// </summary>
    internal void DeferWake(IDeferredWake wake) => _wakes.Add(wake);

    /// <summary>Wakes held so far, for tests.</summary>
    internal int DeferredWakes => _wakes.Count;

    private void FlushWakes()
    {
        // A wake may run application code inline (an inline scheduler) that calls into the core and defers again:
        // those land in the next round, never in the list being walked.
        while (_wakes.Count > 0 && _flushing.Count == 0)
        {
            _flushing.AddRange(_wakes);
            _wakes.Clear();
            try
            {
                foreach (var w in _flushing) w.Flush();
            }
            finally { _flushing.Clear(); }
        }
    }

    /// <summary>Outside any call into the core: run the work sockets posted (it may post more, which runs too).</summary>
    private void RunPosted()
    {
        if (_runningPosted) return;
        _runningPosted = true;
        try
        {
            while (_posted.TryDequeue(out var work)) work(this);
        }
        finally { _runningPosted = false; }
    }

    NetStack IStackHost.Core => this;

    /// <summary>Work posted by a socket: run at once, or when the call into the core under way returns.</summary>
    void IStackHost.Post(Action<NetStack> work)
    {
        _posted.Enqueue(work);
        if (_depth == 0) RunPosted();
    }

    PipeScheduler IStackHost.ApplicationScheduler => ApplicationScheduler;

    public void Dispose()
    {
        // Top down: the RSTs of connections aborted here still find their next hop's MAC in the ARP cache.
        Tcp.Dispose();
        Udp.Dispose();
        Ip.Dispose();
        Arp.Dispose();
        Counters.Dispose();
    }
}
