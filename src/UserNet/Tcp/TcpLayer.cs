using System.Buffers.Binary;
using System.Net.Sockets;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using UserNet.Core;
using UserNet.Ip;
using UserNet.Wire;

namespace UserNet.Tcp;

/// <summary>
/// Chooses the initial sequence number of a connection instead of RFC 6528's function: return null to keep RFC 6528's.
/// For replaying a capture (the peer acknowledges the numbers the recorded stack chose) and for tests. It also chooses
/// the ISN of a SYN-ACK that would carry a SYN cookie; one it chose is remembered until its ACK instead of checked.
/// </summary>
public delegate uint? TcpIsnSelector(Ipv4Address localAddress, ushort localPort, Ipv4Address remoteAddress, ushort remotePort);

/// <summary>
/// TCP's part of the stack: checks segments, finds their connection or listener, answers segments for no
/// connection with the RST of RFC 9293 section 3.10.7.1, runs connection timers. Runs on the loop.
/// </summary>
internal sealed partial class TcpLayer : ITransportProtocol, IDisposable
{
    private readonly Dictionary<(uint RemoteAddress, ushort RemotePort, ushort LocalPort), TcpControlBlock> _connections = new();
    private readonly Dictionary<ushort, TcpListenerCore> _listeners = new();
    /// <summary>Every connection with a timer armed, by its earliest deadline: a poll visits only those due.</summary>
    private readonly DeadlineHeap<TcpControlBlock> _timers = new();
    private readonly List<TcpControlBlock> _due = new();
    private readonly byte[] _isnKey = new byte[32];
    private readonly TokenBucket _challengeAcks;
    private readonly EphemeralPorts _ephemeral;
    private readonly TcpIsnSelector? _isnSelector;
    private readonly TcpIsnSelector? _timestampOffsets;
    private readonly StackLimits _limits;
    private readonly TokenBucket _resets;
    /// <summary>Connections in TIME-WAIT and in SYN-RECEIVED, kept by <see cref="OnStateChanged"/> for the stack's caps.</summary>
    private int _timeWait, _halfOpen;
    /// <summary>Connections (but those in TIME-WAIT) by remote address, for <see cref="StackLimits.TcpConnectionsPerPeer"/>.</summary>
    private readonly Dictionary<uint, int> _perPeer = new();
    /// <summary>What every connection's out-of-order data is charged, against <see cref="StackLimits.TcpOutOfOrderBytes"/>.</summary>
    private long _outOfOrderCharged;

    public TcpLayer(StackContext context, Ipv4Layer ip, TcpSettings settings, Random random, TcpIsnSelector? isnSelector = null,
        TcpIsnSelector? timestampOffsets = null)
    {
        Context = context;
        Ip = ip;
        Settings = settings;
        random.NextBytes(_isnKey); // RFC 6528: a secret the peer cannot guess; seeded runs are reproducible on purpose
        _ephemeral = new EphemeralPorts(random);
        _cookies = new SynCookies(random); // drawn last: the seeded ISN secret and ephemeral ports stay as they were
        _challengeAcks = new TokenBucket(Settings.ChallengeAcksPerSecond, Settings.ChallengeAcksPerSecond);
        _isnSelector = isnSelector;
        _timestampOffsets = timestampOffsets;
        _limits = context.Limits;
        _resets = new TokenBucket(_limits.TcpResetsPerSecond, _limits.TcpResetBurst);
    }

    public StackContext Context { get; }
    public Ipv4Layer Ip { get; }
    public TcpSettings Settings { get; }
    public int ConnectionCount => _connections.Count;
    /// <summary>Connections counted against <see cref="StackLimits.TcpConnections"/>: all but those in TIME-WAIT.</summary>
    public int ActiveConnectionCount => _connections.Count - _timeWait;
    public int TimeWaitCount => _timeWait;
    public int HalfOpenCount => _halfOpen;
    public long OutOfOrderCharged => _outOfOrderCharged;
    /// <summary>
    /// Null when one more connection with <paramref name="remote"/> fits under <see cref="StackLimits.TcpConnections"/>
    /// and <see cref="StackLimits.TcpConnectionsPerPeer"/>; otherwise the reason to drop its SYN for.
    /// </summary>
    public DropReason? RoomForConnection(Ipv4Address remote)
    {
        if (ActiveConnectionCount >= _limits.TcpConnections) return DropReason.TcpConnectionLimit;
        if (_perPeer.TryGetValue(remote.Value, out int n) && n >= _limits.TcpConnectionsPerPeer) return DropReason.TcpPeerConnectionLimit;
        return null;
    }

    /// <summary>Connections with <paramref name="remote"/> counted against <see cref="StackLimits.TcpConnectionsPerPeer"/>.</summary>
    public int ConnectionsWith(Ipv4Address remote) => _perPeer.GetValueOrDefault(remote.Value);

    private void Track((uint, ushort, ushort) key, TcpControlBlock tcb)
    {
        _connections.Add(key, tcb);
        tcb.CountedForPeer = true;
        System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_perPeer, key.Item1, out _)++;
    }

    /// <summary>The connection stops counting against its peer's limit (it entered TIME-WAIT, or it is gone).</summary>
    private void UntrackPeer(TcpControlBlock tcb)
    {
        if (!tcb.CountedForPeer) return;
        tcb.CountedForPeer = false;
        uint peer = tcb.RemoteAddress.Value;
        if (--System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrNullRef(_perPeer, peer) == 0) _perPeer.Remove(peer);
    }
    /// <summary>A connection entering TIME-WAIT fits under <see cref="StackLimits.TcpTimeWaitConnections"/> (it is counted once there).</summary>
    public bool HasRoomForTimeWait => _timeWait < _limits.TcpTimeWaitConnections;
    internal IEnumerable<TcpControlBlock> Connections => _connections.Values;

    public TransportDisposition Receive(Ipv4Header ip, bool broadcast)
    {
        var payload = ip.Payload;
        var ctx = Context;
        if (!TcpSegment.TryParse(payload, out var seg)) { ctx.Drop(DropReason.TcpTruncated); return TransportDisposition.Handled; }
        // A partial checksum from the local kernel (a TAP with offloads) has nothing to verify; anything else is verified.
        if (!ctx.ChecksumLeftPartial(EthernetFrame.HeaderLength + ip.HeaderLength, TcpSegment.ChecksumFieldOffset)
            && !seg.IsChecksumValid(ip.Source, ip.Destination)) { ctx.Drop(DropReason.TcpBadChecksum); return TransportDisposition.Handled; }
        if (ctx.RxOffload.IsSuperSegment) ctx.Counters.Count(TcpCounter.SuperSegmentsReceived);
        if (broadcast) { ctx.Drop(DropReason.TcpBroadcast); return TransportDisposition.Handled; } // RFC 9293 3.9.1: TCP is unicast only
        ctx.Counters.Received(Layer.Tcp);
        ctx.Decide(Decision.TcpSegment);

        if (_connections.TryGetValue((ip.Source.Value, seg.SourcePort, seg.DestinationPort), out var tcb))
        {
            tcb.OnSegment(seg);
            return TransportDisposition.Handled;
        }
        var flags = seg.Flags;
        if (_listeners.TryGetValue(seg.DestinationPort, out var listener))
        {
            // LISTEN (RFC 9293 3.10.7.2): ignore RST, answer ACK with RST (unless it brings back a SYN cookie), take SYN.
            if ((flags & TcpFlags.Rst) != 0) { ctx.Decide(Decision.TcpRstToListenerIgnored); return TransportDisposition.Handled; }
            if ((flags & TcpFlags.Ack) != 0)
            {
                if (TryAcceptSynCookie(ip, seg, listener, out bool badCookie)) return TransportDisposition.Handled;
                ctx.Decide(badCookie ? Decision.TcpAckWithBadSynCookieRst : Decision.TcpAckToListenerRst);
                if (TakeResetToken())
                    SendReset(ip.Source, seg.SourcePort, seg.DestinationPort, seg.AcknowledgmentNumber, 0, withAck: false);
                return TransportDisposition.Handled;
            }
            if ((flags & TcpFlags.Syn) == 0) { ctx.Drop(DropReason.TcpNoConnection); return TransportDisposition.Handled; }
            if ((flags & TcpFlags.Fin) != 0) { ctx.Decide(Decision.TcpSynFinToListenerIgnored); return TransportDisposition.Handled; } // as Linux
            // A connection the stack has no room for gets nothing, not even a cookie (its ACK would need the room).
            if (RoomForConnection(ip.Source) is { } full) { ctx.Drop(full); return TransportDisposition.Handled; }
            bool stackFull = _halfOpen >= _limits.TcpHalfOpenConnections;
            if (!listener.HasRoom || stackFull)
            {
                if (stackFull) ctx.Counters.Count(TcpCounter.HalfOpenLimitReached);
                if (listener.Settings.SynCookies) SendSynCookie(ip, seg, listener);
                else ctx.Drop(stackFull ? DropReason.TcpHalfOpenLimit : DropReason.TcpBacklogFull); // the peer's SYN retry tries again
                return TransportDisposition.Handled;
            }
            var user = listener.User.CreateUser(listener.Settings);
            var child = new TcpControlBlock(this, listener.Settings, ip.Destination, seg.DestinationPort, ip.Source, seg.SourcePort, user, listener);
            Track((ip.Source.Value, seg.SourcePort, seg.DestinationPort), child);
            listener.OnHalfOpen();
            child.AcceptSyn(seg);
            ctx.Decide(Decision.TcpSynToListener);
            return TransportDisposition.Handled;
        }
        // No connection (RFC 9293 3.10.7.1): RST for anything but a RST, as many a second as the limit allows.
        ctx.Drop(DropReason.TcpNoConnection);
        if ((flags & TcpFlags.Rst) != 0 || !TakeResetToken()) return TransportDisposition.Handled;
        if ((flags & TcpFlags.Ack) != 0)
            SendReset(ip.Source, seg.SourcePort, seg.DestinationPort, seg.AcknowledgmentNumber, 0, withAck: false);
        else
        {
            int len = seg.Payload.Length + ((flags & TcpFlags.Syn) != 0 ? 1 : 0) + ((flags & TcpFlags.Fin) != 0 ? 1 : 0);
            SendReset(ip.Source, seg.SourcePort, seg.DestinationPort, 0, unchecked(seg.SequenceNumber + (uint)len), withAck: true);
        }
        return TransportDisposition.Handled;
    }

    /// <summary>
    /// A token for a RST answering a segment for no connection (<see cref="StackLimits.TcpResetsPerSecond"/>); when
    /// there is none, the RST is not sent and <see cref="TcpCounter.ResetsRateLimited"/> counts it.
    /// </summary>
    private bool TakeResetToken()
    {
        if (_resets.TryTake(Context.Now)) return true;
        Context.Counters.Count(TcpCounter.ResetsRateLimited);
        return false;
    }

    /// <summary>Out-of-order data of <paramref name="bytes"/> more fits under <see cref="StackLimits.TcpOutOfOrderBytes"/>.</summary>
    public bool OutOfOrderHasRoomFor(long bytes) => _outOfOrderCharged + bytes <= _limits.TcpOutOfOrderBytes;

    /// <summary>A connection's out-of-order data grew or shrank by <paramref name="bytes"/> of charge.</summary>
    public void ChargeOutOfOrder(long bytes) => _outOfOrderCharged += bytes;

    /// <summary>Sends a RST (with ACK when <paramref name="withAck"/>); it has no connection of its own.</summary>
    public void SendReset(Ipv4Address to, ushort toPort, ushort fromPort, uint seq, uint ack, bool withAck)
    {
        var tx = Ip.TxPayload;
        var flags = withAck ? TcpFlags.Rst | TcpFlags.Ack : TcpFlags.Rst;
        int hl = TcpSegment.WriteHeader(tx, fromPort, toPort, seq, withAck ? ack : 0, flags, 0, default);
        new TcpSegment(tx[..hl]).UpdateChecksum(Context.Address, to);
        Context.Counters.Sent(Layer.Tcp);
        Ip.Send(to, IpProtocol.Tcp, hl, Layer.Tcp, Decision.TcpRstSent);
    }

    /// <summary>RFC 6528: ISN = M + F(localip, localport, remoteip, remoteport, secretkey), M a 4-microsecond clock.</summary>
    public SeqNumber InitialSequenceNumber(Ipv4Address local, ushort localPort, Ipv4Address remote, ushort remotePort)
    {
        if (_isnSelector?.Invoke(local, localPort, remote, remotePort) is uint chosen) return new SeqNumber(chosen);
        uint f = KeyedHash(local, localPort, remote, remotePort, 0);
        uint m = unchecked((uint)(Context.Now.Ticks / 40)); // 40 ticks of 100 ns = 4 microseconds
        return new SeqNumber(unchecked(m + f));
    }

    /// <summary>
    /// The offset a connection adds to its TSval clock (RFC 7323 section 7.1 suggests one per connection, as Linux
    /// does): a keyed hash of the addresses, so that TSval says nothing about the stack's uptime.
    /// </summary>
    public uint TimestampOffset(Ipv4Address local, ushort localPort, Ipv4Address remote, ushort remotePort) =>
        _timestampOffsets?.Invoke(local, localPort, remote, remotePort) ?? KeyedHash(local, localPort, remote, remotePort, 4);

    private uint KeyedHash(Ipv4Address local, ushort localPort, Ipv4Address remote, ushort remotePort, int at)
    {
        Span<byte> tuple = stackalloc byte[12];
        local.Write(tuple);
        BinaryPrimitives.WriteUInt16BigEndian(tuple[4..], localPort);
        remote.Write(tuple[6..]);
        BinaryPrimitives.WriteUInt16BigEndian(tuple[10..], remotePort);
        Span<byte> hash = stackalloc byte[32];
        HMACSHA256.HashData(_isnKey, tuple, hash);
        return BinaryPrimitives.ReadUInt32BigEndian(hash[at..]);
    }

    public bool TakeChallengeAckToken() => _challengeAcks.TryTake(Context.Now);

    /// <summary>Active open from an ephemeral port (or <paramref name="localPort"/>); the caller then calls <see cref="TcpControlBlock.Connect"/>.</summary>
    public TcpControlBlock Connect(Ipv4Address remote, ushort remotePort, TcpSettings settings, ITcpUser user, int localPort = 0)
    {
        if (!Ip.HasRoute(remote)) throw new SocketException((int)SocketError.NetworkUnreachable);
        if (RoomForConnection(remote) is not null) throw new SocketException((int)SocketError.NoBufferSpaceAvailable);
        ushort port = localPort != 0 ? (ushort)localPort : PickEphemeral(remote, remotePort);
        if (_connections.ContainsKey((remote.Value, remotePort, port))) throw new SocketException((int)SocketError.AddressAlreadyInUse);
        var tcb = new TcpControlBlock(this, settings, Context.Address, port, remote, remotePort, user, listener: null);
        Track((remote.Value, remotePort, port), tcb);
        return tcb;
    }

    private ushort PickEphemeral(Ipv4Address remote, ushort remotePort)
    {
        if (_ephemeral.TryTake((this, remote.Value, remotePort),
                static (s, p) => !s.Item1._listeners.ContainsKey(p) && !s.Item1._connections.ContainsKey((s.Item2, s.Item3, p)), out var port))
            return port;
        throw new SocketException((int)SocketError.AddressAlreadyInUse);
    }

    /// <summary>A port for a listener bound to port 0: the next free one in the dynamic range (RFC 6335 section 6).</summary>
    public ushort PickListenPort()
    {
        if (_ephemeral.TryTake(this, static (s, p) => !s._listeners.ContainsKey(p), out var port)) return port;
        throw new SocketException((int)SocketError.AddressAlreadyInUse);
    }

    public void Listen(TcpListenerCore listener)
    {
        if (!_listeners.TryAdd(listener.Port, listener)) throw new SocketException((int)SocketError.AddressAlreadyInUse);
    }

    public void StopListening(TcpListenerCore listener)
    {
        if (_listeners.TryGetValue(listener.Port, out var l) && l == listener) _listeners.Remove(listener.Port);
        listener.Close();
    }

    /// <summary>A connection's timers changed: keep its place in the deadline heap.</summary>
    public void Reschedule(TcpControlBlock tcb) => _timers.Set(tcb, tcb.NextDeadline);

    public void Remove(TcpControlBlock tcb)
    {
        _timers.Remove(tcb);
        UntrackPeer(tcb);
        if (_connections.TryGetValue((tcb.RemoteAddress.Value, tcb.RemotePort, tcb.LocalPort), out var t) && t == tcb)
            _connections.Remove((tcb.RemoteAddress.Value, tcb.RemotePort, tcb.LocalPort));
    }

    private static readonly string[,] Transitions = BuildTransitions();

    private static string[,] BuildTransitions()
    {
        var names = Enum.GetValues<TcpState>();
        var t = new string[names.Length, names.Length];
        foreach (var a in names) foreach (var b in names) t[(int)a, (int)b] = $"{Name(a)} -> {Name(b)}";
        return t;
    }

    /// <summary>RFC 9293's spelling of a state (SYN-RECEIVED, TIME-WAIT, ...).</summary>
    public static string Name(TcpState s) => s switch
    {
        TcpState.SynSent => "SYN-SENT",
        TcpState.SynReceived => "SYN-RECEIVED",
        TcpState.FinWait1 => "FIN-WAIT-1",
        TcpState.FinWait2 => "FIN-WAIT-2",
        TcpState.CloseWait => "CLOSE-WAIT",
        TcpState.LastAck => "LAST-ACK",
        TcpState.TimeWait => "TIME-WAIT",
        _ => s.ToString().ToUpperInvariant(),
    };

    public void OnStateChanged(TcpControlBlock tcb, TcpState from, TcpState to)
    {
        if (from == TcpState.TimeWait) _timeWait--;
        if (to == TcpState.TimeWait) { _timeWait++; UntrackPeer(tcb); }
        if (from == TcpState.SynReceived) _halfOpen--;
        if (to == TcpState.SynReceived) _halfOpen++;
        Context.NoteStateChange(Transitions[(int)from, (int)to]);
        if (Context.Logger is { } l) LogState(l, tcb.LocalPort, tcb.RemoteAddress, tcb.RemotePort, from, to);
        StateChanged?.Invoke(tcb, from, to);
    }

    /// <summary>For tests: every state change of every connection.</summary>
    public event Action<TcpControlBlock, TcpState, TcpState>? StateChanged;

    /// <summary>An ICMP error quoting a segment we sent: find the connection by the quoted ports.</summary>
    public bool ReceiveError(IcmpErrorReport report)
    {
        var quoted = report.QuotedTransport;
        ushort src = BinaryPrimitives.ReadUInt16BigEndian(quoted);
        ushort dst = BinaryPrimitives.ReadUInt16BigEndian(quoted[2..]);
        if (!_connections.TryGetValue((report.QuotedDestination.Value, dst, src), out var tcb)) return false;
        tcb.OnIcmpError(report.SocketError);
        return true;
    }

    public TimeSpan NextDeadline => _timers.Earliest;

    /// <summary>Connections whose ACK waits for the end of the host's batch (see <see cref="TcpControlBlock.OnBatchEnd"/>).</summary>
    private readonly List<TcpControlBlock> _deferredAcks = new();

    public bool HasDeferredAcks => _deferredAcks.Count > 0;

    /// <summary>Holds <paramref name="tcb"/>'s ACK until the batch ends (the caller keeps a flag: once per batch).</summary>
    public void DeferAck(TcpControlBlock tcb) => _deferredAcks.Add(tcb);

    /// <summary>The batch ended: each connection that held its ACK sends it now.</summary>
    public void SendDeferredAcks()
    {
        for (int i = 0; i < _deferredAcks.Count; i++) _deferredAcks[i].OnBatchEnd();
        _deferredAcks.Clear();
    }

    public void Poll()
    {
        var now = Context.Now;
        // Take every connection that is due first, then run them: a timer that re-arms at or before now waits for the
        // next poll instead of running twice in this one.
        _due.Clear();
        while (_timers.TryTakeDue(now, out var c)) _due.Add(c);
        foreach (var c in _due) c.OnTimer();
        _due.Clear();
    }

    public void Dispose()
    {
        foreach (var c in _connections.Values.ToArray()) c.Abort();
        _connections.Clear();
        _timers.Clear();
        foreach (var l in _listeners.Values.ToArray()) l.Close();
        _listeners.Clear();
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "TCP :{LocalPort} <-> {Remote}:{RemotePort}: {From} -> {To}")]
    private static partial void LogState(ILogger logger, ushort localPort, Ipv4Address remote, ushort remotePort, TcpState from, TcpState to);
}

/// <summary>The loop's side of a listener: counts half-open connections against the backlog, hands established ones over.</summary>
internal sealed class TcpListenerCore(ushort port, int backlog, TcpSettings settings, ITcpListenerUser user)
{
    private int _halfOpen;
    private bool _closed;
    public ushort Port { get; } = port;
    public TcpSettings Settings { get; } = settings;
    public ITcpListenerUser User { get; } = user;

    /// <summary>Room for another SYN: half-open plus not-yet-accepted stay within the backlog.</summary>
    public bool HasRoom => _halfOpen + User.Waiting < backlog;
    /// <summary>Room for one more established connection (one from a SYN cookie): not-yet-accepted stay within the backlog.</summary>
    public bool AcceptQueueHasRoom => User.Waiting < backlog;
    /// <summary>When a SYN last found no room and got a SYN cookie; ACKs are checked as cookies only for a while after.</summary>
    public TimeSpan? LastOverflow { get; set; }
    public void OnHalfOpen() => _halfOpen++;
    public void OnHalfOpenGone() => _halfOpen--;

    public void OnEstablished(TcpControlBlock tcb, ITcpUser user)
    {
        _halfOpen--;
        if (_closed || !User.Accept(tcb, user)) tcb.Abort();
    }

    public void Close()
    {
        if (_closed) return;
        _closed = true;
        User.OnClosed();
    }
}
