using System.Buffers.Binary;
using System.Net.Sockets;
using System.Security.Cryptography;
using UserNet.Core;
using UserNet.Ip;
using UserNet.Wire;

namespace UserNet.Tcp;

/// <summary>
/// TCP's part of the stack: checks segments, finds their connection or listener, answers segments for no
/// connection with the RST of RFC 9293 section 3.10.7.1, runs connection timers. Runs on the loop.
/// </summary>
internal sealed class TcpLayer : IDisposable
{
    private const int EphemeralFirst = 49152, EphemeralLast = 65535;

    private readonly Dictionary<(uint RemoteAddress, ushort RemotePort, ushort LocalPort), TcpControlBlock> _connections = new();
    private readonly Dictionary<ushort, TcpListenerCore> _listeners = new();
    private readonly List<TcpControlBlock> _due = new();
    private readonly byte[] _isnKey = new byte[32];
    private readonly TokenBucket _challengeAcks;
    private int _nextEphemeral;

    public TcpLayer(NetStack stack)
    {
        Stack = stack;
        Settings = stack.Options.Tcp;
        var rng = stack.Options.Seed is { } seed ? new Random(seed + 23) : Random.Shared;
        rng.NextBytes(_isnKey); // RFC 6528: a secret the peer cannot guess; seeded runs are reproducible on purpose
        _nextEphemeral = rng.Next(EphemeralFirst, EphemeralLast + 1);
        _challengeAcks = new TokenBucket(Settings.ChallengeAcksPerSecond, Settings.ChallengeAcksPerSecond);
    }

    public NetStack Stack { get; }
    public TcpSettings Settings { get; }
    public int ConnectionCount => _connections.Count;
    internal IEnumerable<TcpControlBlock> Connections => _connections.Values;

    public void Receive(Ipv4Header ip, bool broadcast)
    {
        var payload = ip.Payload;
        if (!TcpSegment.TryParse(payload, out var seg)) { Stack.Drop(DropReason.TcpTruncated); return; }
        if (!seg.IsChecksumValid(ip.Source, ip.Destination)) { Stack.Drop(DropReason.TcpBadChecksum); return; }
        if (broadcast) { Stack.Drop(DropReason.TcpBroadcast); return; } // RFC 9293 3.9.1: TCP is unicast only
        Stack.Counters.Received(Layer.Tcp);
        Stack.Decide(Layer.Tcp, "tcp segment");

        if (_connections.TryGetValue((ip.Source.Value, seg.SourcePort, seg.DestinationPort), out var tcb))
        {
            tcb.OnSegment(seg, ip);
            return;
        }
        var flags = seg.Flags;
        if (_listeners.TryGetValue(seg.DestinationPort, out var listener))
        {
            // LISTEN (RFC 9293 3.10.7.2): ignore RST, answer ACK with RST, take SYN.
            if ((flags & TcpFlags.Rst) != 0) { Stack.Decide(Layer.Tcp, "tcp rst to a listener -> ignored"); return; }
            if ((flags & TcpFlags.Ack) != 0)
            {
                Stack.Decide(Layer.Tcp, "tcp ack to a listener -> rst");
                SendReset(ip.Source, seg.SourcePort, seg.DestinationPort, seg.AcknowledgmentNumber, 0, withAck: false);
                return;
            }
            if ((flags & TcpFlags.Syn) == 0) { Stack.Drop(DropReason.TcpNoConnection); return; }
            if (!listener.HasRoom) { Stack.Drop(DropReason.TcpBacklogFull); return; } // the peer's SYN retry tries again
            var child = new TcpControlBlock(this, listener.Settings, ip.Destination, seg.DestinationPort, ip.Source, seg.SourcePort, listener);
            _connections.Add((ip.Source.Value, seg.SourcePort, seg.DestinationPort), child);
            listener.OnHalfOpen();
            child.AcceptSyn(seg);
            Stack.Decide(Layer.Tcp, "tcp syn to a listener -> SYN-RECEIVED, syn-ack");
            return;
        }
        // No connection (RFC 9293 3.10.7.1): RST for anything but a RST.
        Stack.Drop(DropReason.TcpNoConnection);
        if ((flags & TcpFlags.Rst) != 0) return;
        if ((flags & TcpFlags.Ack) != 0)
            SendReset(ip.Source, seg.SourcePort, seg.DestinationPort, seg.AcknowledgmentNumber, 0, withAck: false);
        else
        {
            int len = seg.Payload.Length + ((flags & TcpFlags.Syn) != 0 ? 1 : 0) + ((flags & TcpFlags.Fin) != 0 ? 1 : 0);
            SendReset(ip.Source, seg.SourcePort, seg.DestinationPort, 0, unchecked(seg.SequenceNumber + (uint)len), withAck: true);
        }
    }

    /// <summary>Sends a RST (with ACK when <paramref name="withAck"/>); it has no connection of its own.</summary>
    public void SendReset(Ipv4Address to, ushort toPort, ushort fromPort, uint seq, uint ack, bool withAck)
    {
        var tx = Stack.TxIpPayload;
        var flags = withAck ? TcpFlags.Rst | TcpFlags.Ack : TcpFlags.Rst;
        int hl = TcpSegment.WriteHeader(tx, fromPort, toPort, seq, withAck ? ack : 0, flags, 0, default);
        new TcpSegment(tx[..hl]).UpdateChecksum(Stack.IpAddress, to);
        Stack.Counters.Sent(Layer.Tcp);
        Stack.Ip.Send(to, IpProtocol.Tcp, hl, Layer.Tcp, "tcp rst");
    }

    /// <summary>
    /// Replay only (<c>PacketReplay</c>): when set and it returns a value for a connection's (local port, remote
    /// address, remote port), that value is the connection's ISN instead of RFC 6528's. A replayed capture's peer
    /// acknowledges the ISN the recorded stack chose, so the replay's stack must choose the same one. Null (the
    /// default) everywhere else; the check costs a null test.
    /// </summary>
    internal Func<ushort, Ipv4Address, ushort, uint?>? ReplayIsn { get; set; }

    /// <summary>RFC 6528: ISN = M + F(localip, localport, remoteip, remoteport, secretkey), M a 4-microsecond clock.</summary>
    public SeqNumber InitialSequenceNumber(Ipv4Address local, ushort localPort, Ipv4Address remote, ushort remotePort)
    {
        if (ReplayIsn?.Invoke(localPort, remote, remotePort) is uint recorded) return new SeqNumber(recorded);
        Span<byte> tuple = stackalloc byte[12];
        local.Write(tuple);
        BinaryPrimitives.WriteUInt16BigEndian(tuple[4..], localPort);
        remote.Write(tuple[6..]);
        BinaryPrimitives.WriteUInt16BigEndian(tuple[10..], remotePort);
        Span<byte> hash = stackalloc byte[32];
        HMACSHA256.HashData(_isnKey, tuple, hash);
        uint f = BinaryPrimitives.ReadUInt32BigEndian(hash);
        uint m = unchecked((uint)(Stack.Now.Ticks / 40)); // 40 ticks of 100 ns = 4 microseconds
        return new SeqNumber(unchecked(m + f));
    }

    public bool TakeChallengeAckToken() => _challengeAcks.TryTake(Stack.Now);
    public void CountDrop(DropReason r) => Stack.DropOutgoing(r);

    /// <summary>Active open from an ephemeral port (or <paramref name="localPort"/>).</summary>
    public TcpControlBlock Connect(Ipv4Address remote, ushort remotePort, TcpSettings settings, int localPort = 0)
    {
        ushort port = localPort != 0 ? (ushort)localPort : PickEphemeral(remote, remotePort);
        if (_connections.ContainsKey((remote.Value, remotePort, port))) throw new SocketException((int)SocketError.AddressAlreadyInUse);
        var tcb = new TcpControlBlock(this, settings, Stack.IpAddress, port, remote, remotePort, listener: null);
        _connections.Add((remote.Value, remotePort, port), tcb);
        return tcb;
    }

    private ushort PickEphemeral(Ipv4Address remote, ushort remotePort)
    {
        for (int tries = 0; tries <= EphemeralLast - EphemeralFirst; tries++)
        {
            var p = (ushort)_nextEphemeral;
            _nextEphemeral = _nextEphemeral == EphemeralLast ? EphemeralFirst : _nextEphemeral + 1;
            if (!_listeners.ContainsKey(p) && !_connections.ContainsKey((remote.Value, remotePort, p))) return p;
        }
        throw new SocketException((int)SocketError.AddressAlreadyInUse);
    }

    public void Listen(TcpListenerCore listener)
    {
        if (!_listeners.TryAdd(listener.Port, listener)) throw new SocketException((int)SocketError.AddressAlreadyInUse);
    }

    public void StopListening(TcpListenerCore listener)
    {
        if (_listeners.TryGetValue(listener.Port, out var l) && l == listener) _listeners.Remove(listener.Port);
    }

    public void Remove(TcpControlBlock tcb)
    {
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
        Stack.NoteStateChange(Transitions[(int)from, (int)to]);
        if (Stack.Logger is { } l) StackLog.TcpState(l, tcb.LocalPort, tcb.RemoteAddress, tcb.RemotePort, from, to);
        StateChanged?.Invoke(tcb, from, to);
    }

    /// <summary>For tracing and tests: every state change of every connection.</summary>
    public event Action<TcpControlBlock, TcpState, TcpState>? StateChanged;

    /// <summary>An ICMP error quoting a segment we sent: find the connection by the quoted ports.</summary>
    public bool OnIcmpError(Ipv4Address quotedDestination, ReadOnlySpan<byte> quotedHeader8, SocketError error)
    {
        ushort src = BinaryPrimitives.ReadUInt16BigEndian(quotedHeader8);
        ushort dst = BinaryPrimitives.ReadUInt16BigEndian(quotedHeader8[2..]);
        if (!_connections.TryGetValue((quotedDestination.Value, dst, src), out var tcb)) return false;
        tcb.OnIcmpError(error);
        return true;
    }

    public TimeSpan NextDeadline
    {
        get
        {
            var min = TimeSpan.MaxValue;
            foreach (var c in _connections.Values) { var d = c.NextDeadline; if (d < min) min = d; }
            return min;
        }
    }

    public void Poll()
    {
        var now = Stack.Now;
        _due.Clear();
        foreach (var c in _connections.Values) if (c.NextDeadline <= now) _due.Add(c);
        foreach (var c in _due) c.OnTimer();
        _due.Clear();
    }

    public void Dispose()
    {
        foreach (var c in _connections.Values.ToArray()) c.Abort();
        _connections.Clear();
        foreach (var l in _listeners.Values.ToArray()) l.Close();
        _listeners.Clear();
    }
}
