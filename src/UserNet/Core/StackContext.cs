using Microsoft.Extensions.Logging;
using UserNet.Wire;

namespace UserNet.Core;

/// <summary>
/// What every layer of one stack shares, and nothing more: the interface's addresses, the clock value of the frame
/// or poll being handled, the one transmit buffer, the counters, and the bookkeeping that lets an observer see each
/// received frame with the decision taken about it and then the frames it caused. It holds no layer: layers meet
/// through the small interfaces each defines beneath the next (see the README's Architecture section).
/// </summary>
internal sealed class StackContext
{
    private readonly IFrameTransmitter _transmitter;
    private Layer _rxLayer;
    private Decision _rxDecision;
    private string? _rxWords;
    private DropReason? _rxDrop;
    private bool _receiving;
    private string? _stateChange;
    /// <summary>Frames sent while a received frame is being handled, held so the observer sees cause before effect.</summary>
    private readonly List<(byte[] Frame, Layer Layer, Decision What)> _heldForObserver = new();

    public StackContext(MacAddress mac, Ipv4Subnet subnet, int mtu, IFrameTransmitter transmitter, StackCounters counters,
        IFrameObserver? observer, ILogger? logger, StackLimits? limits = null)
    {
        Limits = limits ?? new StackLimits();
        UdpQueued = new SharedByteBudget(Limits.UdpQueuedBytes);
        Mac = mac;
        Subnet = subnet;
        Mtu = mtu;
        _transmitter = transmitter;
        Counters = counters;
        Observer = observer;
        Logger = logger;
        // Room for the largest datagram: upper layers build in place, the IP layer fragments to the MTU.
        TxBuffer = new byte[EthernetFrame.HeaderLength + 65535];
        SegmentationLimit = Math.Min(transmitter.SegmentationLimit, 65535);
    }

    public MacAddress Mac { get; }
    /// <summary>Our address and the on-link prefix.</summary>
    public Ipv4Subnet Subnet { get; }
    public Ipv4Address Address => Subnet.Address;
    /// <summary>The IP MTU of the link.</summary>
    public int Mtu { get; }
    public StackCounters Counters { get; }
    public IFrameObserver? Observer { get; }
    public ILogger? Logger { get; }
    /// <summary>The stack-wide caps.</summary>
    public StackLimits Limits { get; }
    /// <summary>Bytes of datagrams waiting in UDP sockets' queues, against <see cref="StackLimits.UdpQueuedBytes"/>.</summary>
    public SharedByteBudget UdpQueued { get; }

    /// <summary>The time of the frame, poll or posted work being handled.</summary>
    public TimeSpan Now { get; set; }

    /// <summary>The one frame being built for transmission; every sender builds into it and sends before returning.</summary>
    public byte[] TxBuffer { get; }

    /// <summary>
    /// True while the host hands in a batch of frames it read at once (the frames queued on the device): a receiver may
    /// then acknowledge the batch's in-order data once at its end, as Linux's GRO acknowledges what one NAPI poll merged.
    /// </summary>
    public bool InBatch { get; set; }

    /// <summary>What the link said of the frame being received (a partial checksum, a super-segment); default for none.</summary>
    public FrameOffload RxOffload { get; private set; }

    /// <summary>
    /// The largest IP datagram the link takes as one TCP super-segment (see <see cref="IFrameTransmitter.SegmentationLimit"/>);
    /// 0 when every frame must fit the MTU.
    /// </summary>
    public int SegmentationLimit { get; }

    /// <summary>
    /// True when the link says the transport checksum of the frame being received is partial, left by the local kernel
    /// for a device to finish (virtio's NEEDS_CSUM), and the field it names is the one at
    /// <paramref name="checksumField"/> of the transport header at <paramref name="transportStart"/> of the frame: then
    /// there is nothing to verify. Any other frame is verified.
    /// </summary>
    public bool ChecksumLeftPartial(int transportStart, int checksumField)
    {
        var o = RxOffload;
        return o.ChecksumPartial && o.ChecksumStart == transportStart && o.ChecksumOffset == checksumField;
    }

    /// <summary>A received frame is about to be handled: its decision starts empty.</summary>
    public void BeginReceive(TimeSpan now, in FrameOffload offload = default)
    {
        Now = now;
        RxOffload = offload;
        _rxLayer = Layer.Ethernet;
        _rxDecision = Decision.None;
        _rxDrop = null;
        _rxWords = null;
        _receiving = true;
    }

    /// <summary>The received frame has been handled: the observer sees it with its decision, then what it caused.</summary>
    public void EndReceive(ReadOnlySpan<byte> frame)
    {
        _receiving = false;
        RxOffload = default;
        if (Observer is not { } o) return;
        var text = _rxDrop is { } drop ? DropReasons.Decision(drop) : _rxWords ?? Decisions.Text(_rxDecision);
        _rxWords = null;
        // Tracing only: a connection state change becomes part of the decision (this concatenation allocates).
        if (_stateChange is { } change) text = $"{text} ({change})";
        _stateChange = null;
        o.OnFrame(FrameDirection.Received, frame, _rxLayer, text, Now);
        foreach (var (f, l, w) in _heldForObserver) o.OnFrame(FrameDirection.Sent, f, l, Decisions.Text(w), Now);
        _heldForObserver.Clear();
    }

    /// <summary>Records that a layer took the frame being received and what it did.</summary>
    public void Decide(Decision decision)
    {
        _rxLayer = Decisions.LayerOf(decision);
        _rxDecision = decision;
        _rxWords = null;
        _rxDrop = null;
    }

    /// <summary>True while a received frame is being handled and someone watches: worth building words for <see cref="Explain"/>.</summary>
    public bool Narrating => _receiving && Observer is not null;

    /// <summary>
    /// Records what a layer did with the frame being received in words built for this frame (tracing only: call it
    /// when <see cref="Narrating"/>, since building the text allocates).
    /// </summary>
    public void Explain(Decision decision, string words)
    {
        Decide(decision);
        _rxWords = words;
    }

    /// <summary>Drops the frame being handled: counted under its reason, traced with the reason's words.</summary>
    public void Drop(DropReason reason)
    {
        Counters.Dropped(reason);
        _rxLayer = DropReasons.LayerOf(reason);
        _rxDrop = reason;
    }

    /// <summary>Counts a packet that is not the frame being received (ours that could not be sent, a held one evicted).</summary>
    public void DropOutgoing(DropReason reason) => Counters.Dropped(reason);

    /// <summary>Remembers a connection state change caused by the frame being handled, for the observer (a constant text).</summary>
    public void NoteStateChange(string transition)
    {
        if (_receiving && Observer is not null) _stateChange = transition;
    }

    /// <summary>Tells the observer about a datagram put together from fragments (it is valid during the call only).</summary>
    public void NoteReassembled(ReadOnlySpan<byte> datagram)
    {
        if (_receiving) Observer?.OnReassembled(datagram, Now);
    }

    /// <summary>Hands a finished frame to the device, counting and tracing it.</summary>
    public void Transmit(ReadOnlySpan<byte> frame, Layer layer, Decision what) => Transmit(frame, layer, what, default);

    /// <summary>Hands a finished frame with offload work (a super-segment) to the device, counting and tracing it.</summary>
    public void Transmit(ReadOnlySpan<byte> frame, Layer layer, Decision what, in FrameOffload offload)
    {
        Counters.Sent(Layer.Ethernet);
        if (Observer is { } o)
        {
            if (_receiving) _heldForObserver.Add((frame.ToArray(), layer, what)); // tracing only: copies are fine here
            else o.OnFrame(FrameDirection.Sent, frame, layer, Decisions.Text(what), Now);
        }
        if (offload.IsSuperSegment || offload.ChecksumPartial) _transmitter.Transmit(frame, offload);
        else _transmitter.Transmit(frame);
    }
}
