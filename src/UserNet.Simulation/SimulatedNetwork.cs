using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using UserNet.Stack;
using UserNet.Wire;

namespace UserNet.Simulation;

/// <summary>
/// A network of simulated hosts for tests: segments (switches), hosts with stacks on them, and directed links between
/// every pair with their own faults (<see cref="LinkProfile"/>). One seed decides every fault, every MAC address and
/// every stack's random choices, and <see cref="RunAsync(Func{Task})"/> names it when a test fails. In
/// <see cref="SimulationMode.Deterministic"/> mode the whole network runs on the test's thread in virtual time, so a
/// seed replays the run byte for byte.
/// </summary>
public sealed class SimulatedNetwork : IAsyncDisposable
{
    internal const int EthernetHeader = 14;

    private readonly List<SimulatedSegment> _segments = new();
    private readonly ConcurrentDictionary<string, SimulatedHost> _hosts = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<SimulatedHost> _hostOrder = new();
    private readonly ConcurrentDictionary<(SimulatedHost From, SimulatedHost To), SimulatedLink> _links = new();
    private readonly RealTimeDelivery? _delivery;
    private volatile HashSet<SimulatedHost>? _partition;
    private bool _started;
    private bool _failed;
    private int _disposed;

    /// <summary>A network with the given seed (null: <c>USERNET_SEED</c> if set, else a random one) and mode.</summary>
    public SimulatedNetwork(int? seed = null, SimulationMode mode = SimulationMode.RealTime)
        : this(new SimulationOptions { Seed = seed, Mode = mode })
    {
    }

    public SimulatedNetwork(SimulationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.DefaultProfile.Validate();
        Seed = options.Seed ?? SeedFromEnvironment(options.Environment ?? Environment.GetEnvironmentVariable) ?? Random.Shared.Next();
        Mode = options.Mode;
        if (Mode == SimulationMode.Deterministic)
        {
            Loop = new DeterministicLoop(this);
            Time = Loop.Clock;
        }
        else
        {
            Time = TimeProvider.System;
            _delivery = new RealTimeDelivery(this);
        }
        _segments.Add(new SimulatedSegment(this, "lan", 0, options.DefaultProfile));
    }

    private static int? SeedFromEnvironment(Func<string, string?> environment)
    {
        var text = environment(SimulationOptions.SeedVariable);
        if (string.IsNullOrWhiteSpace(text)) return null;
        if (!int.TryParse(text.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var seed))
            throw new FormatException($"{SimulationOptions.SeedVariable}={text} is not a 32-bit integer seed");
        return seed;
    }

    /// <summary>The seed of every random decision of this network.</summary>
    public int Seed { get; }
    public SimulationMode Mode { get; }
    /// <summary>The network's clock; every stack runs on it. Virtual in <see cref="SimulationMode.Deterministic"/> mode (it starts at 2000-01-01 UTC).</summary>
    public TimeProvider Time { get; }
    /// <summary>The segment every host joins unless given another.</summary>
    public SimulatedSegment DefaultSegment => _segments[0];
    /// <summary>The hosts, in the order they were added.</summary>
    public IReadOnlyList<SimulatedHost> Hosts { get { lock (_hostOrder) return _hostOrder.ToArray(); } }

    /// <summary>
    /// In deterministic mode, how many times work was queued or a timer set from a thread other than the one running
    /// <see cref="RunAsync(Func{Task})"/>: zero when the run stayed on one thread, as it must.
    /// </summary>
    public long CrossThreadCalls => Loop?.CrossThreadCalls ?? 0;

    internal DeterministicLoop? Loop { get; }
    internal FramePool Frames { get; } = new();
    internal NetworkCapture? Capture { get; private set; }

    /// <summary>Ticks of network time since the network was made.</summary>
    internal long NowTicks => Loop is { } l ? l.Now : _delivery!.Now;
    internal TimeSpan StackNow => TimeSpan.FromTicks(NowTicks);

    /// <summary>Adds an Ethernet segment (a switch); hosts on different segments do not reach each other.</summary>
    public SimulatedSegment AddSegment(string name, LinkProfile? profile = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        profile?.Validate();
        lock (_segments)
        {
            if (_segments.Any(s => s.Name == name)) throw new ArgumentException($"a segment named {name} exists already", nameof(name));
            var segment = new SimulatedSegment(this, name, _segments.Count, profile ?? LinkProfile.Perfect);
            _segments.Add(segment);
            Capture?.AddInterface(segment);
            return segment;
        }
    }

    /// <summary>
    /// Adds a host named <paramref name="name"/> with <paramref name="address"/> and its prefix (<c>10.0.0.1/24</c>) on
    /// <paramref name="segment"/> (the default segment when null). <paramref name="options"/> give the rest of its
    /// stack; their address and MAC are replaced by the host's (the MAC is drawn from the seed and the name).
    /// </summary>
    public SimulatedHost AddHost(string name, string address, SimulatedSegment? segment = null, StackOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(address);
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (!address.Contains('/')) throw new ArgumentException($"address {address} has no prefix length: write it as 10.0.0.1/24", nameof(address));
        Ipv4Subnet subnet;
        try { subnet = Ipv4Subnet.Parse(address); }
        catch (Exception e) when (e is FormatException or ArgumentException or OverflowException)
        {
            throw new ArgumentException($"address {address} is not an IPv4 address with a prefix length (10.0.0.1/24): {e.Message}", nameof(address), e);
        }
        segment ??= DefaultSegment;
        if (segment.Network != this) throw new ArgumentException($"segment {segment.Name} belongs to another network", nameof(segment));
        lock (_hostOrder)
        {
            if (_hosts.ContainsKey(name)) throw new ArgumentException($"a host named {name} exists already", nameof(name));
            if (_hostOrder.FirstOrDefault(h => h.Address.Address == subnet.Address) is { } other)
                throw new ArgumentException($"address {subnet.Address} is {other.Name}'s already", nameof(address));
            var host = new SimulatedHost(this, segment, name, subnet, MacFor(name), options);
            _hosts[name] = host;
            _hostOrder.Add(host);
            segment.Attach(host);
            if (_started) _ = StartHostAsync(host);
            return host;
        }
    }

    private MacAddress MacFor(string name)
    {
        ulong h = Fnv1a(Fnv1a(0xcbf29ce484222325UL ^ (uint)Seed, "mac"), name);
        ulong v = h & 0xFFFF_FFFF_FFFFUL;
        // Locally administered (bit 1 of the first octet), unicast (bit 0 clear).
        v = (v & ~(0x03UL << 40)) | (0x02UL << 40);
        if (v == (0x02UL << 40)) v |= 1;
        return new MacAddress(v);
    }

    /// <summary>Sets the profile of the direction <paramref name="from"/> → <paramref name="to"/>; may be changed while running.</summary>
    public void SetProfile(SimulatedHost from, SimulatedHost to, LinkProfile profile)
    {
        ArgumentNullException.ThrowIfNull(profile);
        profile.Validate();
        LinkOf(from, to).Override = profile;
    }

    /// <summary>Sets the profile of both directions between <paramref name="a"/> and <paramref name="b"/>.</summary>
    public void SetLink(SimulatedHost a, SimulatedHost b, LinkProfile profile)
    {
        SetProfile(a, b, profile);
        SetProfile(b, a, profile);
    }

    /// <summary>Cuts <paramref name="side"/> off from every other host (frames across are dropped, "partition") until <see cref="Heal"/>.</summary>
    public void Partition(IEnumerable<SimulatedHost> side)
    {
        ArgumentNullException.ThrowIfNull(side);
        var set = new HashSet<SimulatedHost>(side);
        foreach (var h in set) if (h.Network != this) throw new ArgumentException($"{h.Name} belongs to another network", nameof(side));
        _partition = set;
    }

    /// <summary>Cuts <paramref name="side"/> off from every other host.</summary>
    public void Partition(params SimulatedHost[] side) => Partition((IEnumerable<SimulatedHost>)side);

    /// <summary>Ends the partition.</summary>
    public void Heal() => _partition = null;

    /// <summary>
    /// The address of the host named <paramref name="name"/> (case-insensitive, as DNS is), or the address an IPv4
    /// literal spells. Throws <see cref="SocketException"/> (HostNotFound) for a name nobody has, as a DNS lookup does.
    /// </summary>
    public ValueTask<IPAddress> ResolveAsync(string name, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        cancellationToken.ThrowIfCancellationRequested();
        if (_hosts.TryGetValue(name, out var host)) return ValueTask.FromResult(host.Address.Address.ToIPAddress());
        if (IPAddress.TryParse(name, out var literal) && literal.AddressFamily == AddressFamily.InterNetwork) return ValueTask.FromResult(literal);
        return ValueTask.FromException<IPAddress>(new SocketException((int)SocketError.HostNotFound, $"no simulated host is named {name}"));
    }

    /// <summary>What the direction <paramref name="from"/> → <paramref name="to"/> did so far.</summary>
    public LinkStatistics GetLinkStatistics(SimulatedHost from, SimulatedHost to) => LinkOf(from, to).Statistics();

    /// <summary>
    /// Records every frame of the network to one pcapng file at <paramref name="path"/> (an interface per segment).
    /// Call it before adding hosts. With <see cref="CaptureRetention.OnFailure"/> the file is deleted when the network
    /// is disposed unless a run failed.
    /// </summary>
    public void CaptureTo(string path, CaptureRetention retention = CaptureRetention.Always)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (Capture is not null) throw new InvalidOperationException($"the network already captures to {Capture.Path}");
        lock (_hostOrder)
            if (_hostOrder.Count > 0) throw new InvalidOperationException("call CaptureTo before adding hosts (each stack is built with the capture's observer)");
        lock (_segments) Capture = new NetworkCapture(Path.GetFullPath(path), retention, _segments.ToArray(), Mode == SimulationMode.Deterministic ? VirtualClock.Epoch : DateTimeOffset.UtcNow);
    }

    /// <summary>
    /// Starts every host (each announces itself with a gratuitous ARP). In real-time mode it completes once they all
    /// run; in deterministic mode hosts boot on the loop when <see cref="RunAsync(Func{Task})"/> starts.
    /// </summary>
    public async Task StartAsync()
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        SimulatedHost[] hosts;
        lock (_hostOrder)
        {
            _started = true;
            hosts = _hostOrder.ToArray();
        }
        if (Mode == SimulationMode.Deterministic) return;
        foreach (var h in hosts) await h.StartAsync().ConfigureAwait(false);
    }

    internal Task StartHostAsync(SimulatedHost host)
    {
        if (Loop is { } loop && !loop.OnLoopThread) return Task.CompletedTask; // it boots when the loop runs
        return host.StartAsync();
    }

    /// <summary>
    /// Runs the test <paramref name="body"/>. If it throws, a <see cref="SimulationFailedException"/> names the seed that
    /// replays the run and the capture kept of it (its inner exception is what the body threw). In deterministic mode
    /// the whole network runs on the calling thread until the body completes; a body waiting with nothing left to run
    /// fails as a deadlock.
    /// </summary>
    public Task RunAsync(Func<Task> body) => RunAsync(body, Timeout.InfiniteTimeSpan);

    /// <summary>As <see cref="RunAsync(Func{Task})"/>, failing if (simulated, in deterministic mode) time passes <paramref name="timeLimit"/>.</summary>
    public async Task RunAsync(Func<Task> body, TimeSpan timeLimit)
    {
        ArgumentNullException.ThrowIfNull(body);
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (timeLimit != Timeout.InfiniteTimeSpan) ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(timeLimit, TimeSpan.Zero);
        try
        {
            if (Loop is { } loop)
            {
                lock (_hostOrder) _started = true;
                loop.Run(body, timeLimit == Timeout.InfiniteTimeSpan ? long.MaxValue : timeLimit.Ticks);
                return;
            }
            await StartAsync().ConfigureAwait(false);
            var run = body();
            if (timeLimit == Timeout.InfiniteTimeSpan) await run.ConfigureAwait(false);
            else
            {
                using var cts = new CancellationTokenSource();
                var limit = Task.Delay(timeLimit, cts.Token);
                if (await Task.WhenAny(run, limit).ConfigureAwait(false) == limit)
                    throw new TimeoutException($"time limit: the test body ran longer than {timeLimit.TotalSeconds:0.###} s");
                cts.Cancel();
                await run.ConfigureAwait(false);
            }
        }
        catch (Exception e)
        {
            _failed = true;
            Capture?.Flush();
            var capture = Capture is { } c ? $"; capture kept at {c.Path}" : "";
            throw new SimulationFailedException(
                $"simulated run failed at network time {DeterministicLoop.FormatTime(NowTicks)} ({Mode}) with seed {Seed}; set {SimulationOptions.SeedVariable}={Seed} to replay it{capture}: {e.GetType().Name}: {e.Message}",
                Seed, Capture?.Path, e);
        }
    }

    // ---- the switch and the links

    private SimulatedLink LinkOf(SimulatedHost from, SimulatedHost to)
    {
        ArgumentNullException.ThrowIfNull(from);
        ArgumentNullException.ThrowIfNull(to);
        if (from.Network != this || to.Network != this) throw new ArgumentException("both hosts must belong to this network");
        if (from == to) throw new ArgumentException($"a link joins two hosts; {from.Name} was given twice");
        if (from.Segment != to.Segment) throw new ArgumentException($"{from.Name} ({from.Segment.Name}) and {to.Name} ({to.Segment.Name}) are on different segments: no link joins them");
        return _links.GetOrAdd((from, to), static (k, seed) => new SimulatedLink(k.From, k.To, seed), Seed);
    }

    /// <summary>A stack sent a frame: it enters its segment's switch, which hands it to the links of its destinations.</summary>
    internal void OnTransmit(SimulatedHost.Incarnation sender, ReadOnlySpan<byte> frame)
    {
        if (_disposed != 0) return;
        var host = sender.Host;
        var segment = host.Segment;
        long now = NowTicks;
        var observer = Capture is null ? null : sender.Stack?.Options.Observer as CaptureObserver;
        if (frame.Length < EthernetHeader)
        {
            // Hostile or broken input never throws through a loop: a runt is dropped and counted.
            segment.CountRunt();
            observer?.OnSwitched(segment.Index, now, frame, "switch: dropped (runt, shorter than an Ethernet header)");
            return;
        }
        var destination = MacAddress.Read(frame);
        segment.Learn(MacAddress.Read(frame[6..]), host);
        var partition = _partition;
        StringBuilder? fates = observer is null ? null : new StringBuilder();
        var port = destination.IsMulticast ? null : segment.PortOf(destination);
        if (port is not null)
        {
            if (port != host) Offer(host, port, frame, now, partition, fates);
        }
        else
        {
            foreach (var to in segment.Ports)
                if (to != host) Offer(host, to, frame, now, partition, fates);
        }
        if (observer is not null) observer.OnSwitched(segment.Index, now, frame, fates!.Length == 0 ? "switch: no other port" : fates.ToString());
    }

    private void Offer(SimulatedHost from, SimulatedHost to, ReadOnlySpan<byte> frame, long now, HashSet<SimulatedHost>? partition, StringBuilder? fates)
    {
        var link = _links.GetOrAdd((from, to), static (k, seed) => new SimulatedLink(k.From, k.To, seed), Seed);
        bool cut = partition is not null && partition.Contains(from) != partition.Contains(to);
        var fate = link.Offer(this, frame, now, cut, fates is not null);
        if (fates is null) return;
        if (fates.Length > 0) fates.Append("; ");
        fates.Append("link ").Append(link.Name).Append(": ").Append(fate);
    }

    internal void ScheduleDelivery(long at, in TimedEvent e)
    {
        if (Loop is { } loop) loop.At(at, e);
        else _delivery!.At(at, e);
    }

    /// <summary>A timed event is due (on the loop, or on the real-time delivery thread).</summary>
    internal void Dispatch(in TimedEvent e)
    {
        switch (e.Kind)
        {
            case EventKind.Delivery:
            {
                var link = (SimulatedLink)e.Target;
                var buffer = e.Buffer!;
                try
                {
                    var to = link.To;
                    var inc = to.Current;
                    if (!to.IsUp || !inc.Alive || _disposed != 0) { link.CountDelivered(false); return; }
                    if (inc.Port is { } port)
                    {
                        if (port.Deliver(buffer.AsSpan(0, e.Length))) link.CountDelivered(true);
                        else link.CountQueueDrop(); // the host's receive ring is full: its loop fell behind
                    }
                    else
                    {
                        if (!inc.Started) { link.CountDelivered(false); return; }
                        link.CountDelivered(true);
                        inc.Stack.Receive(buffer.AsSpan(0, e.Length), StackNow);
                    }
                }
                finally { Frames.Return(buffer); }
                break;
            }
            case EventKind.Poll:
            {
                var inc = (SimulatedHost.Incarnation)e.Target;
                inc.Armed = long.MaxValue;
                if (inc.Alive && inc.Stack.NextDeadline <= StackNow) inc.Stack.Poll(StackNow);
                break;
            }
            case EventKind.Timer:
                ((VirtualTimer)e.Target).Fire(e.Generation);
                break;
        }
    }

    /// <summary>Whether a timed event still matters (a stack deadline that moved, a timer changed or disposed, does not).</summary>
    internal bool IsLive(in TimedEvent e) => e.Kind switch
    {
        EventKind.Poll => e.Generation == ((SimulatedHost.Incarnation)e.Target).Armed && ((SimulatedHost.Incarnation)e.Target).Alive,
        EventKind.Timer => ((VirtualTimer)e.Target).IsCurrent(e.Generation),
        _ => true,
    };

    /// <summary>The loop began a run: boot the hosts not yet booted.</summary>
    internal void OnLoopStarted()
    {
        foreach (var h in Hosts)
            if (h.IsUp) _ = h.StartAsync();
        AfterLoopStep();
    }

    /// <summary>After each step of the loop: every live stack's next deadline is an event on the heap.</summary>
    internal void AfterLoopStep()
    {
        var loop = Loop!;
        lock (_hostOrder)
        {
            foreach (var h in _hostOrder)
            {
                var inc = h.Current;
                if (!inc.Alive || !inc.Started) continue;
                long d = inc.Stack.NextDeadline == TimeSpan.MaxValue ? long.MaxValue : inc.Stack.NextDeadline.Ticks;
                if (d == inc.Armed) continue;
                inc.Armed = d;
                if (d != long.MaxValue) loop.At(d, new TimedEvent(EventKind.Poll, inc, null, 0, d));
            }
        }
    }

    // ---- seeds

    /// <summary>A seed from the network's seed and names, by FNV-1a: stable across runs and processes, unlike string.GetHashCode.</summary>
    internal static int StableSeed(int seed, string purpose, string a, string? b = null)
    {
        ulong h = 0xcbf29ce484222325UL;
        h = Fnv1a(h, seed.ToString(CultureInfo.InvariantCulture));
        h = Fnv1a(h, purpose);
        h = Fnv1a(h, a);
        if (b is not null) h = Fnv1a(h, b);
        return (int)(h ^ (h >> 32));
    }

    private static ulong Fnv1a(ulong h, string s)
    {
        foreach (char c in s)
        {
            h = (h ^ (byte)c) * 0x100000001b3UL;
            h = (h ^ (byte)(c >> 8)) * 0x100000001b3UL;
        }
        return (h ^ 0xff) * 0x100000001b3UL; // a separator, so ("ab","c") and ("a","bc") differ
    }

    /// <summary>Stops every host and the delivery thread, and closes the capture (deleting it if it was kept only for a failure that did not happen).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        foreach (var h in Hosts)
        {
            var inc = h.Current;
            inc.Alive = false;
            if (inc.Loop is { } loop)
            {
                await loop.DisposeAsync().ConfigureAwait(false);
                inc.Port!.Dispose();
            }
            else if (h.IsUp) inc.Stack.Dispose();
        }
        _delivery?.Dispose();
        if (Capture is { } c)
        {
            c.Dispose();
            if (c.Retention == CaptureRetention.OnFailure && !_failed) File.Delete(c.Path);
        }
    }
}
