using Microsoft.Extensions.Logging;
using UserNet.Arp;
using UserNet.Icmp;
using UserNet.Ip;
using UserNet.Tcp;
using UserNet.Udp;
using UserNet.Wire;

namespace UserNet.Core;

/// <summary>
/// The protocol core: frames and a time go in (<see cref="Receive"/>, <see cref="Poll"/>), frames and the next
/// timer deadline come out (<see cref="IFrameTransmitter"/>, <see cref="NextDeadline"/>). It never reads a clock,
/// opens a file or starts a thread, and it is not thread-safe: one loop drives it (see <c>StackHost</c>).
/// </summary>
public sealed class NetStack : IDisposable
{
    private readonly IFrameTransmitter _transmitter;
    /// <summary>The one frame being built for transmission; every sender builds into it and sends before returning.</summary>
    private readonly byte[] _tx;
    private Layer _rxLayer;
    private string _rxDecision = "";
    private bool _receiving;
    private string? _stateChange;
    /// <summary>Frames sent while a received frame is being handled, held so the observer sees cause before effect.</summary>
    private readonly List<(byte[] Frame, Layer Layer, string What)> _heldForObserver = new();

    public NetStack(StackOptions options, IFrameTransmitter transmitter)
    {
        if (options.Mtu < 68 || options.Mtu > 65535) throw new ArgumentOutOfRangeException(nameof(options), $"MTU {options.Mtu} is outside 68..65535 (RFC 791 requires at least 68)");
        if (options.Mac.IsMulticast || options.Mac == MacAddress.Zero) throw new ArgumentException($"{options.Mac} is not a unicast MAC address", nameof(options));
        Options = options;
        _transmitter = transmitter;
        // Room for the largest datagram: upper layers build in place, the IP layer fragments to the MTU.
        _tx = new byte[EthernetFrame.HeaderLength + 65535];
        Counters = new StackCounters(options.Name);
        Arp = new ArpLayer(this);
        Ip = new Ipv4Layer(this);
        Icmp = new IcmpLayer(this);
        Udp = new UdpLayer(this);
        Tcp = new TcpLayer(this);
    }

    public StackOptions Options { get; }
    public MacAddress Mac => Options.Mac;
    public Ipv4Subnet Address => Options.Address;
    public Ipv4Address IpAddress => Options.Address.Address;
    public int Mtu => Options.Mtu;
    public StackCounters Counters { get; }
    internal ILogger? Logger => Options.Logger;

    /// <summary>Sees every frame in and out with the decision taken; null for none.</summary>
    public IFrameObserver? Observer { get; set; }
    /// <summary>Receives echo replies (the ping client).</summary>
    public IEchoReplyListener? EchoListener { get; set; }

    internal ArpLayer Arp { get; }
    internal Ipv4Layer Ip { get; }
    internal IcmpLayer Icmp { get; }
    internal UdpLayer Udp { get; }
    internal TcpLayer Tcp { get; }

    /// <summary>How other threads get work onto the loop (set by the host); without a host, work runs at once.</summary>
    internal Action<Action<NetStack>>? Poster { get; set; }
    internal void PostToLoop(Action<NetStack> work)
    {
        if (Poster is { } p) p(work);
        else work(this);
    }

    /// <summary>The time of the frame or poll being handled.</summary>
    internal TimeSpan Now { get; private set; }

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
        Now = now;
        Arp.Announce();
    }

    /// <summary>Runs timers that are due: ARP retries and expiry.</summary>
    public void Poll(TimeSpan now)
    {
        Now = now;
        Arp.Poll();
        Ip.Poll();
        Tcp.Poll();
    }

    /// <summary>Handles one received Ethernet frame (without FCS). Never throws for malformed input: drops and counts.</summary>
    public void Receive(Span<byte> frame, TimeSpan now)
    {
        Now = now;
        _rxLayer = Layer.Ethernet;
        _rxDecision = "";
        _receiving = true;
        try { ReceiveEthernet(frame); }
        catch (Exception e) when (e is IndexOutOfRangeException or ArgumentException or InvalidOperationException or OverflowException)
        {
            // A bug of ours met an input we did not foresee: drop the frame, count and log it, keep serving.
            Drop(DropReason.StackFault);
            if (Logger is { } l) StackLog.StackFault(l, e);
        }
        finally { _receiving = false; }
        if (Observer is { } o)
        {
            // Tracing only: a connection state change becomes part of the decision (this concatenation allocates).
            var decision = _stateChange is { } change ? $"{_rxDecision} ({change})" : _rxDecision;
            _stateChange = null;
            o.OnFrame(FrameDirection.Received, frame, _rxLayer, decision, now);
            foreach (var (f, l, w) in _heldForObserver) o.OnFrame(FrameDirection.Sent, f, l, w, now);
            _heldForObserver.Clear();
        }
    }

    private void ReceiveEthernet(Span<byte> frame)
    {
        if (!EthernetFrame.TryParse(frame, out var eth)) { Drop(DropReason.EthernetTooShort); return; }
        if (frame.Length > EthernetFrame.HeaderLength + Mtu) { Drop(DropReason.EthernetTooLarge); return; }
        var dst = eth.Destination;
        if (dst != Mac && !dst.IsBroadcast) { Drop(DropReason.EthernetNotForUs); return; }
        Counters.Received(Layer.Ethernet);
        switch (eth.EtherType)
        {
            case EtherType.Arp: Arp.Receive(eth.Payload); break;
            case EtherType.Ipv4: Ip.Receive(eth.Payload, dst.IsBroadcast); break;
            default: Drop(DropReason.EthernetUnknownType); break;
        }
    }

    /// <summary>Records that a layer took a frame and what it did; the text must be a constant (no per-packet formatting).</summary>
    internal void Decide(Layer layer, string decision)
    {
        _rxLayer = layer;
        _rxDecision = decision;
    }

    /// <summary>Remembers a connection state change caused by the frame being handled, for the observer (a constant text).</summary>
    internal void NoteStateChange(string transition)
    {
        if (_receiving && Observer is not null) _stateChange = transition;
    }

    /// <summary>Drops the frame being handled: counted under its reason, traced with the reason's words.</summary>
    internal void Drop(DropReason reason)
    {
        Counters.Dropped(reason);
        _rxLayer = DropReasons.LayerOf(reason);
        _rxDecision = DropReasons.Decision(reason);
    }

    /// <summary>Counts a packet of ours that could not be sent (no route, unresolved, too big); it is not the frame being received.</summary>
    internal void DropOutgoing(DropReason reason) => Counters.Dropped(reason);

    /// <summary>The transmit buffer's room for an IPv4 payload (after the Ethernet and a 20-byte IP header).</summary>
    internal Span<byte> TxIpPayload => _tx.AsSpan(EthernetFrame.HeaderLength + Ipv4Header.MinimumLength);
    internal Span<byte> TxBuffer => _tx;

    /// <summary>Hands a finished frame to the device, counting and tracing it.</summary>
    internal void Transmit(ReadOnlySpan<byte> frame, Layer layer, string what)
    {
        Counters.Sent(Layer.Ethernet);
        if (Observer is { } o)
        {
            if (_receiving) _heldForObserver.Add((frame.ToArray(), layer, what)); // tracing only: copies are fine here
            else o.OnFrame(FrameDirection.Sent, frame, layer, what, Now);
        }
        _transmitter.Transmit(frame);
    }

    /// <summary>Sends an ICMP echo request from us (the ping client). Returns false when it could not be sent.</summary>
    public bool SendEchoRequest(Ipv4Address destination, ushort identifier, ushort sequence, ReadOnlySpan<byte> data, TimeSpan now)
    {
        Now = now;
        return Icmp.SendEchoRequest(destination, identifier, sequence, data);
    }

    public void Dispose()
    {
        Arp.Dispose();
        Ip.Dispose();
        Udp.Dispose();
        Tcp.Dispose();
        Counters.Dispose();
    }
}
