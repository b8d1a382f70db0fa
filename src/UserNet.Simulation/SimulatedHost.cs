using System.Net.Http;
using System.IO.Pipelines;
using System.Reflection;
using UserNet.Core;
using UserNet.Devices;
using UserNet.Hosting;
using UserNet.Sockets;
using UserNet.Stack;
using UserNet.Wire;

namespace UserNet.Simulation;

/// <summary>
/// A host of a <see cref="SimulatedNetwork"/>: a stack with an address and a MAC on one segment. It is an
/// <see cref="IStackHost"/>, so the sockets (<see cref="TcpConnection"/>, <see cref="TcpConnectionListener"/>,
/// <see cref="UdpSocket"/>, <see cref="Pinger"/>) and whatever is built on them open on it. It can crash (its stack's
/// state is gone at once, connections vanish without FIN or RST) and restart (a fresh stack, same address and MAC).
/// </summary>
public sealed class SimulatedHost : IStackHost
{
    private readonly StackOptions _options;
    private Incarnation _current;
    private Task _stopped = Task.CompletedTask;
    private int _incarnations;
    private volatile bool _up = true;

    internal SimulatedHost(SimulatedNetwork network, SimulatedSegment segment, string name, Ipv4Subnet address, MacAddress mac, StackOptions? options)
    {
        Network = network;
        Segment = segment;
        Name = name;
        Address = address;
        Mac = mac;
        _options = options ?? new StackOptions { Address = address };
        _current = Create();
    }

    public string Name { get; }
    public Ipv4Subnet Address { get; }
    public MacAddress Mac { get; }
    public SimulatedNetwork Network { get; }
    /// <summary>The segment (switch) the host is plugged into.</summary>
    public SimulatedSegment Segment { get; }
    /// <summary>The current stack's counters (a restart starts new ones).</summary>
    public StackCounters Counters => _current.Stack.Counters;
    /// <summary>The current stack's ICMP echo client.</summary>
    public Pinger Pinger => _current.Pinger;
    /// <summary>False between <see cref="Crash"/> and <see cref="RestartAsync"/>.</summary>
    public bool IsUp => _up;

    internal Incarnation Current => Volatile.Read(ref _current);

    /// <summary>
    /// The host fails: its stack's state is gone at once. Its connections vanish without FIN or RST (the peer learns
    /// of it by timeout, or by a RST from the restarted stack); frames that reach it meanwhile are dropped ("host
    /// down"). Its own sockets see their connections aborted.
    /// </summary>
    public void Crash()
    {
        if (!_up) return;
        _up = false;
        var dead = Current;
        dead.Alive = false; // from here on what the old stack sends goes nowhere
        if (dead.Loop is { } loop) _stopped = loop.DisposeAsync().AsTask();
        else dead.Stack.Dispose();
    }

    /// <summary>Boots a fresh stack with the same address and MAC (and a new seed for its sequence numbers).</summary>
    public async Task RestartAsync()
    {
        if (_up) throw new InvalidOperationException($"{Name} is up; Crash it first");
        await _stopped.ConfigureAwait(false);
        var fresh = Create();
        Volatile.Write(ref _current, fresh);
        _up = true;
        await Network.StartHostAsync(this).ConfigureAwait(false);
    }

    internal Task StartAsync()
    {
        var c = Current;
        if (c.Started) return Task.CompletedTask;
        c.Started = true;
        if (c.Loop is { } loop) return loop.StartAsync();
        c.Stack.Start(Network.StackNow);
        return Task.CompletedTask;
    }

    internal void RunPosted(Action<NetStack> work) => Current.Stack.Run(work, Network.StackNow);

    NetStack IStackHost.Core => Current.Stack;

    void IStackHost.Post(Action<NetStack> work)
    {
        var c = Current;
        if (c.Loop is { } loop) loop.Post(work);
        else Network.Loop!.Enqueue(new WorkItem(WorkKind.StackWork, this, work));
    }

    PipeScheduler IStackHost.ApplicationScheduler => Network.Loop is { } l ? l.Pipe : PipeScheduler.ThreadPool;

    TimeProvider IStackHost.SocketTime => Network.Time;

    private Incarnation Create()
    {
        int n = _incarnations++;
        var options = Copy(_options);
        var inc = new Incarnation(this);
        var capture = Network.Capture;
        Set(options, nameof(StackOptions.Address), Address);
        Set(options, nameof(StackOptions.Mac), (MacAddress?)Mac);
        Set(options, nameof(StackOptions.Name), Name);
        Set(options, nameof(StackOptions.Seed), (int?)SimulatedNetwork.StableSeed(_options.Seed ?? Network.Seed, "stack", Name, n.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        if (capture is not null) Set(options, nameof(StackOptions.Observer), new CaptureObserver(capture, inc, _options.Observer));
        if (Network.Mode == SimulationMode.RealTime)
        {
            inc.Port = new SimulatedPort(inc, $"{Name}", options.Mtu);
            inc.Loop = new StackHost(inc.Port, options, TimeProvider.System);
            inc.Stack = ((IStackHost)inc.Loop).Core;
        }
        else
        {
            inc.Stack = new NetStack(options, inc) { ApplicationScheduler = Network.Loop!.Pipe };
        }
        Volatile.Write(ref _current, inc);
        inc.Pinger = new Pinger(this);
        return inc;
    }

    private static StackOptions Copy(StackOptions o)
    {
        // StackOptions is init-only: a shallow copy whose address, MAC, name, seed and observer are then replaced
        // (so options added to StackOptions later are copied too).
        var copy = (StackOptions)typeof(object).GetMethod("MemberwiseClone", BindingFlags.Instance | BindingFlags.NonPublic)!.Invoke(o, null)!;
        return copy;
    }

    private static void Set(StackOptions o, string property, object? value) =>
        typeof(StackOptions).GetProperty(property)!.SetValue(o, value);

    /// <summary>
    /// A <see cref="SocketsHttpHandler"/> whose connections this host opens (<see cref="StackHttp.ConnectCallback"/>),
    /// resolving host names through the network (<see cref="SimulatedNetwork.ResolveAsync"/>), so that
    /// <c>http://server/</c> reaches the host named "server". Set its timeouts and pooling as on any handler.
    /// </summary>
    public SocketsHttpHandler CreateHttpHandler() => StackHttp.CreateHandler(this, Network.ResolveAsync);

    /// <summary>
    /// An unchanged <see cref="HttpClient"/> over <see cref="CreateHttpHandler"/>: its requests leave from this host
    /// and cross the simulated links. Run it in <see cref="SimulationMode.RealTime"/> (it brings its own threads).
    /// </summary>
    public HttpClient CreateHttpClient() => new(CreateHttpHandler(), disposeHandler: true);

    public override string ToString() => $"{Name} {Address}";

    /// <summary>One life of the host's stack, from boot (or restart) to crash.</summary>
    internal sealed class Incarnation(SimulatedHost host) : IFrameTransmitter
    {
        public SimulatedHost Host { get; } = host;
        public NetStack Stack = null!;
        public StackHost? Loop;
        public SimulatedPort? Port;
        public Pinger Pinger = null!;
        public volatile bool Alive = true;
        public bool Started;
        /// <summary>The stack deadline (ticks) a poll event is scheduled for (deterministic mode).</summary>
        public long Armed = long.MaxValue;

        public void Transmit(ReadOnlySpan<byte> frame)
        {
            if (Alive) Host.Network.OnTransmit(this, frame);
        }
    }

    /// <summary>The host's network port in real-time mode: the device its <see cref="StackHost"/> runs on.</summary>
    internal sealed class SimulatedPort(Incarnation owner, string name, int mtu) : INetDevice
    {
        private readonly FrameQueue _received = new(4 << 20);

        public string Name { get; } = name;
        public int Mtu { get; } = mtu;
        public int Receive(IFrameReceiver receiver, int max) => _received.Receive(receiver, max);
        public void WaitForFrames(TimeSpan timeout) => _received.Wait(timeout);
        public void Wake() => _received.Wake();
        public void Transmit(ReadOnlySpan<byte> frame) => owner.Transmit(frame);
        public bool Deliver(ReadOnlySpan<byte> frame) => _received.Deliver(frame);
        public void Dispose() => _received.Close();
    }
}
