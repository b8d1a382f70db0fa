using System.Net.Sockets;
using UserNet.Core;
using UserNet.Ip;
using UserNet.Wire;

namespace UserNet.Tcp;

/// <summary>
/// One TCP connection (the TCB of RFC 9293 section 3.3.1): segment arrival in the order of section 3.10.7, and output.
/// Everything else is a part with a job of its own, which the TCB calls: the send and receive sequence spaces
/// (<see cref="TcpSendSequence"/>, <see cref="TcpReceiveWindow"/>), the out-of-order ranges (<see cref="ReceiveAssembler"/>)
/// and the SACK blocks that report them (<see cref="SackReporter"/>), the segments in flight (<see cref="SackScoreboard"/>),
/// loss detection by time and the tail loss probe (<see cref="RackLossDetection"/>), the rate in recovery
/// (<see cref="ProportionalRateReduction"/>), the retransmission timer (<see cref="RttEstimator"/>), congestion control
/// (<see cref="ICongestionController"/>), timestamps and PAWS (<see cref="TcpTimestamps"/>), Nagle and silly window
/// avoidance (<see cref="TcpSendPolicy"/>), and the timers (<see cref="TcpTimers"/>). The bytes live in the
/// application's buffers (<see cref="ITcpUser"/>). Runs on the stack's loop only.
/// </summary>
internal sealed partial class TcpControlBlock : IDeadlineItem
{
    private readonly TcpLayer _layer;
    private readonly StackContext _ctx;
    private readonly Ipv4Layer _ip;
    private readonly TcpSettings _s;
    private readonly ITcpUser _user;
    private readonly ITcpSendBuffer _send;
    private readonly ITcpReceiveBuffer _recv;

    private readonly TcpSendSequence _snd = new();
    private readonly TcpReceiveWindow _rcv;
    private readonly ReceiveAssembler _outOfOrder;
    private readonly RttEstimator _rtt;
    private readonly ICongestionController _cc;
    private readonly SackScoreboard _board = new();
    private readonly RackLossDetection _rack = new();
    private readonly ProportionalRateReduction _prr = new();
    private readonly SackReporter _sackOut = new();
    private readonly TcpTimestamps _ts = new();
    private TcpTimers _timers = TcpTimers.Off;

    /// <summary>Both sides offered SACK (RFC 2018 section 2).</summary>
    private bool _sack;
    /// <summary>Fast recovery (RFC 6675 / RFC 6582) until SND.UNA reaches <see cref="_recover"/>.</summary>
    private bool _inRecovery;
    /// <summary>After a retransmission timeout, until SND.UNA reaches <see cref="_recover"/> (Linux's Loss state).</summary>
    private bool _inTimeoutRecovery;
    private SeqNumber _recover;
    private bool _recoverSet;
    /// <summary>Duplicate ACKs in a row (only counted for a peer without SACK).</summary>
    private int _dupAcks;
    /// <summary>Retransmissions since recovery began that no D-SACK has yet shown needless (Linux's undo_retrans).</summary>
    private int _undoRetransmissions;
    private bool _undoPossible;
    /// <summary>Our TSval when the retransmission timer fired: an ACK echoing an older one answers the original (RFC 3522).</summary>
    private uint _timeoutTsVal;
    private bool _timeoutUndoPossible;
    /// <summary>Where the tail loss probe's episode ends (TLP.end_seq), while a probe is out.</summary>
    private SeqNumber _probeEnd;
    private bool _probeOut, _probeWasRetransmission;
    private TimeSpan _minRtt = TimeSpan.MaxValue, _minRttAt;
    /// <summary>RCV.NXT when we last sent an ACK (Last.ACK.sent of RFC 7323 4.3).</summary>
    private SeqNumber _lastAckSent;
    /// <summary>The largest segment we send: the peer's MSS less the options every segment carries (RFC 6691).</summary>
    private int _segmentSize = 536;

    private int _sndMss = 536; // RFC 9293 3.7.1: the default when the peer sends no MSS option
    /// <summary>The peer's window scale; 255 while unknown or when it does not scale.</summary>
    private byte _sndShift;
    private bool _finReceived;
    /// <summary>Where the peer's FIN sits when it arrived out of order (delivered once RCV.NXT reaches it).</summary>
    private SeqNumber? _outOfOrderFin;
    private int _retries;
    private bool _synRetransmitted;
    /// <summary>Persist probes sent since the peer last acknowledged anything.</summary>
    private int _unansweredProbes;
    /// <summary>Once, let Output ignore Nagle and sender SWS avoidance (the override timeout, RFC 9293 3.8.6.2.1).</summary>
    private bool _forceSend;
    private TimeSpan _persistBackoff;
    private int _keepAliveProbes;
    private int _segmentsToAck;

    public TcpControlBlock(TcpLayer layer, TcpSettings settings, Ipv4Address localAddress, ushort localPort,
        Ipv4Address remoteAddress, ushort remotePort, ITcpUser user, TcpListenerCore? listener)
    {
        _layer = layer;
        _ctx = layer.Context;
        _ip = layer.Ip;
        _s = settings;
        _user = user;
        _send = user.Send;
        _recv = user.Receive;
        _rcv = new TcpReceiveWindow(_recv.Capacity);
        _outOfOrder = new ReceiveAssembler(settings.MaxOutOfOrderRanges);
        _rtt = new RttEstimator(settings.InitialRetransmitTimeout, settings.MinRetransmitTimeout, settings.MaxRetransmitTimeout);
        _cc = settings.CongestionControl == TcpCongestionControl.NewReno ? new NewRenoCongestionControl() : new CubicCongestionControl();
        _ts.SetOffset(layer.TimestampOffset(localAddress, localPort, remoteAddress, remotePort));
        LocalAddress = localAddress;
        LocalPort = localPort;
        RemoteAddress = remoteAddress;
        RemotePort = remotePort;
        Listener = listener;
        State = listener is null ? TcpState.Closed : TcpState.Listen; // a passive open starts from its listener's LISTEN
        user.OnAttached(this);
    }

    public Ipv4Address LocalAddress { get; }
    public ushort LocalPort { get; }
    public Ipv4Address RemoteAddress { get; }
    public ushort RemotePort { get; }
    public TcpListenerCore? Listener { get; private set; }
    public TcpState State { get; private set; } = TcpState.Closed;
    public ITcpUser User => _user;
    internal int SendMss => _sndMss;
    /// <summary>Data bytes per full segment: the send MSS less the timestamps option when it is on.</summary>
    internal int SegmentSize => _segmentSize;
    internal bool SackEnabled => _sack;
    /// <summary>Both SYNs carried SACK-permitted (RFC 2018 section 2).</summary>
    internal bool SackPermitted => _sack;
    /// <summary>TS.Recent (RFC 7323 section 4.3): the peer's TSval we echo.</summary>
    internal uint TsRecent => _ts.Recent;
    internal bool TimestampsEnabled => _ts.Enabled;
    internal bool InRecovery => _inRecovery || _inTimeoutRecovery;
    internal SackScoreboard Scoreboard => _board;
    internal uint CongestionWindow => _cc.Window;
    internal uint SlowStartThreshold => _cc.SlowStartThreshold;
    internal TimeSpan RetransmitTimeout => _rtt.Rto;
    internal SeqNumber SndUna => _snd.Una;
    /// <summary>Counted against its peer's connection limit by the TCP layer (which alone sets it).</summary>
    internal bool CountedForPeer { get; set; }
    internal SeqNumber SndNxt => _snd.Nxt;
    internal SeqNumber RcvNxt => _rcv.Nxt;
    internal uint SndWnd => _snd.Window;
    private bool WindowScaling => _sndShift != 255;

    private int OurMss => _ctx.Mtu - Ipv4Header.MinimumLength - TcpSegment.MinimumHeaderLength;

    /// <summary>The earliest timer deadline, or <see cref="TimeSpan.MaxValue"/>; the TCP layer keeps it in its heap.</summary>
    public TimeSpan NextDeadline => _timers.Earliest;
    int IDeadlineItem.HeapIndex { get; set; } = IDeadlineItem.NotInHeap;

    // ---------------------------------------------------------------- opening

    /// <summary>Active open (RFC 9293 3.10.1): send SYN, enter SYN-SENT.</summary>
    public void Connect()
    {
        _snd.Open(_layer.InitialSequenceNumber(LocalAddress, LocalPort, RemoteAddress, RemotePort));
        _sndShift = 255; // unknown until the SYN-ACK says
        SetState(TcpState.SynSent);
        SendSyn(ack: false);
        _rtt.StartTiming(_snd.Iss, _ctx.Now);
        ArmRetransmit();
        _layer.Reschedule(this);
    }

    /// <summary>Passive open: a SYN reached a listener (RFC 9293 3.10.7.2, LISTEN state, third check).</summary>
    public void AcceptSyn(TcpSegment seg)
    {
        var irs = new SeqNumber(seg.SequenceNumber);
        _rcv.Open(irs);
        _snd.Open(_layer.InitialSequenceNumber(LocalAddress, LocalPort, RemoteAddress, RemotePort));
        ApplySynOptions(seg);
        _snd.SetSynWindow(seg.Window, irs, _snd.Una); // never scaled in a SYN (RFC 7323 2.2)
        SetState(TcpState.SynReceived);
        SendSyn(ack: true);
        _rtt.StartTiming(_snd.Iss, _ctx.Now);
        ArmRetransmit();
        _layer.Reschedule(this);
    }

    private void ApplySynOptions(TcpSegment seg)
    {
        TcpOptions.TryParse(seg.Options, out var o);
        // RFC 9293 3.7.1 / RFC 6691: use the peer's MSS, capped by ours; clamp absurdly small values (RFC 9293 3.7.1 allows
        // 536 as the floor when absent; Linux clamps advertised values below 88).
        _sndMss = Math.Clamp(o.Mss ?? 536, 88, OurMss);
        if (o.WindowScale is { } ws) _sndShift = Math.Min(ws, (byte)14);
        else { _sndShift = 255; _rcv.DisableScaling(); } // both must offer it, or neither side scales (RFC 7323 2.2)
        // RFC 2018 section 2 and RFC 7323 3.2: each is used only when both SYNs carry it (ours did iff the setting is on).
        _sack = _s.Sack && o.SackPermitted;
        if (_s.Timestamps && o.TimestampValue is { } tsv) _ts.Enable(tsv, _ctx.Now);
        _segmentSize = _sndMss - (_ts.Enabled ? TimestampOptionLength : 0);
        _cc.Start(_segmentSize, _snd.Nxt, _ctx.Now);
    }

    /// <summary>NOP, NOP, kind 8, length 10, TSval, TSecr: what the timestamps option takes in every segment.</summary>
    private const int TimestampOptionLength = 12;

    private void SendSyn(bool ack)
    {
        // A SYN offers SACK and timestamps when the settings say so; a SYN-ACK answers what the peer's SYN offered.
        bool sack = ack ? _sack : _s.Sack;
        bool ts = ack ? _ts.Enabled : _s.Timestamps;
        var o = new TcpOptions
        {
            Mss = (ushort)OurMss,
            WindowScale = (ack && !WindowScaling) ? null : _rcv.Shift,
            SackPermitted = sack,
            TimestampValue = ts ? _ts.Value(_ctx.Now) : null,
            TimestampEcho = ts && ack ? _ts.Recent : 0,
        };
        Emit(_snd.Iss, ack ? TcpFlags.Syn | TcpFlags.Ack : TcpFlags.Syn, 0, 0, o, ack ? Decision.TcpSynAckSent : Decision.TcpSynSent, windowOverride: _rcv.SynWindow);
    }

    // ---------------------------------------------------------------- segment arrival (RFC 9293 3.10.7)

    public void OnSegment(TcpSegment seg)
    {
        Arrive(seg);
        _layer.Reschedule(this);
    }

    private void Arrive(TcpSegment seg)
    {
        _keepAliveProbes = 0;
        if (_s.KeepAliveTime is { } ka && State == TcpState.Established) _timers.Set(TcpTimer.KeepAlive, _ctx.Now + ka);
        switch (State)
        {
            case TcpState.SynSent: OnSegmentInSynSent(seg); return;
            case TcpState.Closed: return;
        }

        var segSeq = new SeqNumber(seg.SequenceNumber);
        var flags = seg.Flags;
        if (State == TcpState.SynReceived && (flags & (TcpFlags.Syn | TcpFlags.Rst)) == TcpFlags.Syn && segSeq == _rcv.Irs)
        {
            // The peer's SYN again, or its SYN-ACK after SYNs crossed: both carry SEQ = IRS, which the window check
            // would reject as old (it is below RCV.NXT), so they are recognised here first (as Linux does).
            OnSynInSynReceived(seg, flags);
            return;
        }
        int segLen = seg.Payload.Length + ((flags & TcpFlags.Syn) != 0 ? 1 : 0) + ((flags & TcpFlags.Fin) != 0 ? 1 : 0);

        // Options matter after the handshake only for timestamps and SACK; a bare header (most ACKs without them) skips the parse.
        TcpOptions opts = default;
        if (seg.HeaderLength > TcpSegment.MinimumHeaderLength) TcpOptions.TryParse(seg.Options, out opts);

        // RFC 7323 5.3 R1, PAWS: a segment whose TSval is older than TS.Recent is an old duplicate: acknowledge, drop.
        if (opts.TimestampValue is { } tsv && (flags & TcpFlags.Rst) == 0 && _ts.IsOld(tsv, _ctx.Now))
        {
            _ctx.Drop(DropReason.TcpPaws);
            SendAck(Decision.TcpAckPawsSent);
            return;
        }

        // First: sequence number acceptability (the four cases).
        if (!_rcv.IsAcceptable(segSeq, segLen))
        {
            if ((flags & TcpFlags.Rst) == 0)
            {
                // A retransmission of what we hold already: its ACK reports it in a D-SACK block (RFC 2883 4.1.1).
                // Exactly 2^31 away, a sequence number is before RCV.NXT and after it at once: not a duplicate then.
                int dataLength = seg.Payload.Length, before = _rcv.Nxt - segSeq;
                if (_sack && dataLength > 0 && before > 0)
                    _sackOut.OnDuplicate(segSeq, segSeq + Math.Min(dataLength, before));
                _ctx.Decide(Decision.TcpSegmentOutsideWindowAck);
                SendAck(Decision.TcpAckOutsideWindowSent);
                if (State == TcpState.TimeWait && (flags & TcpFlags.Fin) != 0) _timers.Set(TcpTimer.TimeWait, _ctx.Now + _s.TimeWait);
            }
            else _ctx.Decide(Decision.TcpRstOutsideWindowIgnored);
            _ctx.DropOutgoing(DropReason.TcpOutOfWindow);
            return;
        }

        // RFC 7323 4.3 (2) / 5.3 R3: an acceptable segment's TSval becomes TS.Recent when it covers Last.ACK.sent.
        if (opts.TimestampValue is { } tsVal) _ts.OnSegment(tsVal, segSeq, _lastAckSent, _ctx.Now);

        // Second: RST (RFC 5961 section 3: only an exact match resets; in-window gets a challenge ACK).
        if ((flags & TcpFlags.Rst) != 0)
        {
            if (segSeq != _rcv.Nxt)
            {
                _ctx.Decide(Decision.TcpRstInWindowNotExact);
                SendChallengeAck();
                return;
            }
            if (State == TcpState.SynReceived && Listener is not null)
            {
                _ctx.Decide(Decision.TcpRstBackToListen);
                Destroy();
                return;
            }
            _ctx.Decide(Decision.TcpRstConnectionReset);
            Fail(State is TcpState.SynReceived ? SocketError.ConnectionRefused : SocketError.ConnectionReset, sendReset: false);
            return;
        }

        // Fourth: SYN in a synchronized state (RFC 5961 section 4): challenge ACK, whatever its sequence number.
        if ((flags & TcpFlags.Syn) != 0)
        {
            _ctx.Decide(Decision.TcpSynInSynchronizedState);
            SendChallengeAck();
            return;
        }

        // Fifth: ACK.
        if ((flags & TcpFlags.Ack) == 0) { _ctx.Decide(Decision.TcpSegmentWithoutAck); return; }
        var segAck = new SeqNumber(seg.AcknowledgmentNumber);
        if (State == TcpState.SynReceived)
        {
            if (!(segAck > _snd.Una && segAck <= _snd.Max))
            {
                _ctx.Decide(Decision.TcpAckOfNothingWeSent);
                _layer.SendReset(RemoteAddress, RemotePort, LocalPort, segAck.Value, 0, withAck: false);
                return;
            }
            OurSynAcknowledged(segSeq, segAck, (uint)seg.Window << Shift(_sndShift), Decision.TcpAckOfOurSynAck);
        }
        // RFC 5961 section 5: acceptable if SND.UNA - MAX.SND.WND <= SEG.ACK <= SND.NXT.
        if (segAck > _snd.Max)
        {
            _ctx.Decide(Decision.TcpAckOfDataNotYetSent);
            SendAck(Decision.TcpAckBeyondWhatWeSentSent);
            return;
        }
        if (segAck < _snd.Una - (int)Math.Min(_snd.MaxWindow, int.MaxValue))
        {
            _ctx.Decide(Decision.TcpAckFarTooOld);
            SendChallengeAck();
            return;
        }
        ProcessAck(seg, opts, segSeq, segAck);
        if (State == TcpState.Closed) return;

        // Seventh: segment text.
        var data = seg.Payload;
        bool fin = (flags & TcpFlags.Fin) != 0;
        if (data.Length > 0 || fin)
        {
            if (State is TcpState.Established or TcpState.FinWait1 or TcpState.FinWait2)
                ReceiveText(segSeq, data, fin);
            else if (State == TcpState.TimeWait && fin)
            {
                // A retransmitted FIN: acknowledge it again and restart the 2 MSL timer.
                _timers.Set(TcpTimer.TimeWait, _ctx.Now + _s.TimeWait);
                SendAck(Decision.TcpAckFinAgainInTimeWaitSent);
            }
        }
        Output();
        ScheduleLossProbe();
    }

    private static int Shift(byte s) => s == 255 ? 0 : s;

    private void OnSynInSynReceived(TcpSegment seg, TcpFlags flags)
    {
        if ((flags & TcpFlags.Ack) == 0)
        {
            // Our SYN-ACK was lost and the peer sent its SYN again: answer it again (Karn: no RTT sample from it now).
            _rtt.StopTiming();
            _ctx.Decide(Decision.TcpSynAgain);
            SendSyn(ack: true);
            return;
        }
        var segAck = new SeqNumber(seg.AcknowledgmentNumber);
        if (segAck != _snd.Max)
        {
            _ctx.Decide(Decision.TcpSynAckAcknowledgesNothing);
            _layer.SendReset(RemoteAddress, RemotePort, LocalPort, segAck.Value, 0, withAck: false);
            return;
        }
        // Simultaneous open (RFC 9293 figure 8): the peer's SYN-ACK acknowledges our SYN. A SYN's window is never
        // scaled (RFC 7323 2.2).
        OurSynAcknowledged(_rcv.Irs, segAck, seg.Window, Decision.TcpSynAckInSynReceived);
        SendAck(Decision.TcpAckSimultaneousOpenSent);
        Output();
    }

    /// <summary>SYN-RECEIVED, and the peer acknowledged our SYN: take its window, stop the timer, be ESTABLISHED.</summary>
    private void OurSynAcknowledged(SeqNumber segSeq, SeqNumber segAck, uint window, Decision why)
    {
        _rtt.OnAck(segAck, _ctx.Now);
        _snd.Acknowledge(segAck);
        _snd.SetWindow(window, segSeq, segAck);
        _retries = 0;
        _timers.Stop(TcpTimer.Retransmit);
        Establish(why);
    }

    private void OnSegmentInSynSent(TcpSegment seg)
    {
        var flags = seg.Flags;
        var segAck = new SeqNumber(seg.AcknowledgmentNumber);
        bool hasAck = (flags & TcpFlags.Ack) != 0;
        if (hasAck && (segAck <= _snd.Iss || segAck > _snd.Max))
        {
            if ((flags & TcpFlags.Rst) == 0) _layer.SendReset(RemoteAddress, RemotePort, LocalPort, segAck.Value, 0, withAck: false);
            _ctx.Decide(Decision.TcpUnacceptableAckInSynSent);
            return;
        }
        if ((flags & TcpFlags.Rst) != 0)
        {
            if (hasAck) { _ctx.Decide(Decision.TcpRstConnectionRefused); Fail(SocketError.ConnectionRefused, sendReset: false); }
            else _ctx.Decide(Decision.TcpRstWithoutAckInSynSent);
            return;
        }
        if ((flags & TcpFlags.Syn) == 0) { _ctx.Decide(Decision.TcpSegmentWithoutSynInSynSent); return; }

        var irs = new SeqNumber(seg.SequenceNumber);
        _rcv.Open(irs);
        ApplySynOptions(seg);
        _snd.SetSynWindow(seg.Window, irs, segAck);
        if (hasAck)
        {
            _snd.Acknowledge(segAck);
            _retries = 0;
            _timers.Stop(TcpTimer.Retransmit);
            _rtt.OnAck(segAck, _ctx.Now);
            Establish(Decision.TcpSynAckEstablished);
            SendAck(Decision.TcpAckHandshakeSent);
            Output();
        }
        else
        {
            // Simultaneous open (RFC 9293 3.5, figure 8): answer with SYN-ACK from SYN-RECEIVED.
            SetState(TcpState.SynReceived);
            _ctx.Decide(Decision.TcpSynInSynSent);
            SendSyn(ack: true);
        }
    }

    private void Establish(Decision why)
    {
        // RFC 6298 (5.7): if a SYN had to be retransmitted and RTO is below 3 s, data transmission starts with 3 s.
        if (_synRetransmitted) _rtt.RaiseIfUnmeasured(RttEstimator.AfterSynRetransmission);
        SetState(TcpState.Established);
        _ctx.Decide(why);
        if (_s.KeepAliveTime is { } ka) _timers.Set(TcpTimer.KeepAlive, _ctx.Now + ka);
        _user.OnEstablished();
        if (Listener is { } l)
        {
            Listener = null;
            l.OnEstablished(this, _user);
        }
    }

    private void ProcessAck(TcpSegment seg, in TcpOptions opts, SeqNumber segSeq, SeqNumber segAck)
    {
        var now = _ctx.Now;
        int acked = segAck - _snd.Una;
        _unansweredProbes = 0;
        uint newWnd = (uint)seg.Window << Shift(_sndShift);
        long pipeBefore = _board.Pipe(_segmentSize);

        // SACK blocks (RFC 2018 section 3). The first is a D-SACK when it lies below the cumulative ACK or inside the
        // second block (RFC 2883 section 4): it reports a duplicate, not new data.
        Span<TcpSackBlock> blocks = stackalloc TcpSackBlock[4];
        int blockCount = _sack && seg.HeaderLength > TcpSegment.MinimumHeaderLength ? TcpOptions.ReadSackBlocks(seg.Options, blocks) : 0;
        bool dsack = blockCount > 0 && (new SeqNumber(blocks[0].Right) <= segAck
            || (blockCount > 1 && new SeqNumber(blocks[0].Left) >= new SeqNumber(blocks[1].Left) && new SeqNumber(blocks[0].Right) <= new SeqNumber(blocks[1].Right)));

        SackScoreboard.Delivery delivered = default;
        if (acked > 0)
        {
            _send.Acknowledge(_snd.Acknowledge(segAck));
            delivered = _board.Acknowledge(segAck);
            _retries = 0;
        }
        for (int i = dsack ? 1 : 0; i < blockCount; i++)
        {
            var left = new SeqNumber(blocks[i].Left);
            var right = new SeqNumber(blocks[i].Right);
            if (right <= left || right <= _snd.Una || right > _snd.Max) continue; // RFC 2018: a block about nothing outstanding says nothing
            delivered.Add(_board.Sack(left, right));
        }

        // An RTT sample (RFC 6298 section 3, Karn): from the oldest newly delivered segment never retransmitted, else
        // from the echoed timestamp, which names the transmission it answers (RFC 7323 section 4).
        TimeSpan? sample = null;
        if (acked > 0)
        {
            if (delivered.HasClean) sample = now - delivered.OldestCleanSentAt;
            else if (_ts.Enabled && opts.TimestampEcho is { } ecr && ecr != 0) sample = _ts.Since(ecr, now);
            if (sample is { } r) AddRttSample(r, now);
        }

        if (dsack) OnDsack(blocks[0]);
        if (acked > 0 && _timeoutUndoPossible) CheckSpuriousTimeout(opts);
        if (_probeOut) OnProbeAcknowledged(segAck, dsack);

        bool duplicate = acked == 0 && seg.Payload.Length == 0 && !seg.Has(TcpFlags.Fin | TcpFlags.Syn) && !_board.IsEmpty
                         && newWnd == _snd.Window;
        // Loss detection: RACK over SACK information (RFC 8985), or duplicate ACKs from a peer without SACK (RFC 5681,
        // RFC 6582, RFC 5827).
        if (_sack)
        {
            if (delivered.Any)
            {
                _silenceProbes = 0;
                _rack.OnDelivered(delivered, now, MinRtt, echoesRetransmission: null);
                DetectLossByTime(now, fromAck: true, blocks[..blockCount]);
            }
        }
        else CountDuplicates(acked, duplicate);

        if (acked > 0 && (_inRecovery || _inTimeoutRecovery) && segAck >= _recover) EndRecovery(now);

        if (_inRecovery)
        {
            // RFC 6937: what this ACK delivered decides how much may go out now (a duplicate ACK from a peer without
            // SACK delivered one segment).
            long deliveredBytes = delivered.NewlyDelivered;
            if (!_sack)
            {
                // RFC 6937 section 3 without SACK: a duplicate ACK counts one segment delivered; a cumulative ACK then
                // counts only what the duplicates before it did not.
                if (duplicate) { deliveredBytes = _segmentSize; _dupAckDelivered += _segmentSize; }
                else if (acked > 0) { deliveredBytes = Math.Max(0, deliveredBytes - _dupAckDelivered); _dupAckDelivered = 0; }
            }
            uint pipe = (uint)_board.Pipe(_segmentSize);
            uint sendCount = _prr.OnAck((uint)deliveredBytes, pipe, (uint)_segmentSize);
            _cc.SetWindow(pipe + sendCount);
        }
        else if (acked > 0)
        {
            _cc.OnAck((uint)acked, (uint)pipeBefore, segAck, _snd.Nxt, now, sample, _rtt.SmoothedRtt, MinRtt);
        }

        if (acked > 0)
        {
            if (_snd.AllAcknowledged) _timers.Stop(TcpTimer.Retransmit);
            else ArmRetransmit(); // RFC 6298 (5.3): restart on an ACK of new data
            if (State is not TcpState.Established and not TcpState.CloseWait) _ctx.Decide(Decision.TcpAck);
        }
        if (_board.IsEmpty) _timers.Stop(TcpTimer.Reorder);

        bool wasClosed = _snd.Window == 0;
        if (_snd.TryUpdateWindow(segSeq, segAck, newWnd) && wasClosed && newWnd > 0)
        {
            _timers.Stop(TcpTimer.Persist);
            _persistBackoff = TimeSpan.Zero;
            // What was out when the window closed may need resending: the retransmission timer watches it again.
            if (!_board.IsEmpty && !_timers.IsArmed(TcpTimer.Retransmit)) ArmRetransmit();
        }

        if (_snd.FinAcknowledged)
        {
            switch (State)
            {
                case TcpState.FinWait1: SetState(TcpState.FinWait2); _ctx.Decide(Decision.TcpAckOfOurFinFinWait2); break;
                case TcpState.Closing: EnterTimeWait(Decision.TcpAckOfOurFinTimeWait); break;
                case TcpState.LastAck: _ctx.Decide(Decision.TcpAckOfOurFinClosed); Destroy(); break;
            }
        }
    }

    private TimeSpan MinRtt => _minRtt == TimeSpan.MaxValue ? TimeSpan.Zero : _minRtt;

    private void AddRttSample(TimeSpan rtt, TimeSpan now)
    {
        _rtt.AddSample(rtt);
        // The least round trip of the last five minutes (Linux's min_rtt window): RACK's reordering window is a quarter of it.
        if (rtt <= _minRtt || now - _minRttAt > MinRttWindow) { _minRtt = rtt; _minRttAt = now; }
    }

    private static readonly TimeSpan MinRttWindow = TimeSpan.FromMinutes(5);

    /// <summary>
    /// RFC 5681 section 2's duplicate ACK from a peer without SACK: each one says a segment beyond the hole arrived
    /// (counted for pipe, as Linux does). The third (or fewer with few segments out, RFC 5827) marks the first segment
    /// lost; in recovery a partial ACK marks the next one lost (RFC 6582 3.2 step 4).
    /// </summary>
    private void CountDuplicates(int acked, bool duplicate)
    {
        if (acked > 0)
        {
            _dupAcks = 0;
            if (_inRecovery && _recoverSet && _snd.Una < _recover && !_board.IsEmpty)
            {
                _board.MarkLost(0, LossCause.DuplicateAcks);
                _lossDecision = Decision.TcpFastRetransmissionPartialAck;
            }
            return;
        }
        if (!duplicate) return;
        _dupAcks++;
        _board.OnDuplicateAck();
        if (_inRecovery || _inTimeoutRecovery) return;
        // RFC 5827 early retransmit: with fewer than four segments outstanding and nothing new to send, three
        // duplicates can never come; retransmit after (outstanding segments - 1) of them instead.
        int threshold = 3;
        int segments = _board.Count;
        if (segments < 4 && _send.Peek(out _) <= _snd.Outstanding) threshold = Math.Max(1, segments - 1);
        // RFC 6582 3.2 step 2 (and section 4): no second fast retransmit for losses from the same window. The ACK must
        // cover more than recover, the highest byte sent then; _recover holds SND.MAX, one past it.
        if (_dupAcks < threshold || (_recoverSet && _snd.Una <= _recover)) return;
        _board.MarkLost(0, LossCause.DuplicateAcks);
        _lossDecision = threshold == 3 ? Decision.TcpFastRetransmissionThreeDupAcks : Decision.TcpEarlyRetransmission;
        StartRecovery(_ctx.Now);
        _ctx.Counters.Count(TcpCounter.DuplicateAckRecoveries);
    }

    /// <summary>Bytes PRR counted as delivered for duplicate ACKs since the last cumulative ACK (a peer without SACK).</summary>
    private long _dupAckDelivered;

    /// <summary>How the next retransmission of a segment lost to duplicate ACKs is traced.</summary>
    private Decision _lossDecision = Decision.TcpFastRetransmissionThreeDupAcks;

    /// <summary>
    /// RFC 8985 6.2 step 4 and 5: marks what RACK finds lost; a first loss starts recovery. What may be lost but is
    /// still inside the reordering window waits for the reordering timer (section 6.3).
    /// </summary>
    private void DetectLossByTime(TimeSpan now, bool fromAck, ReadOnlySpan<TcpSackBlock> blocks)
    {
        var reo = _rack.ReorderWindow(_inRecovery || _inTimeoutRecovery, _board.SackedSegments, MinRtt, _rtt.SmoothedRtt);
        int marked = _rack.DetectLoss(_board, now, reo, out var wait);
        if (wait > TimeSpan.Zero) _timers.Set(TcpTimer.Reorder, now + wait);
        else _timers.Stop(TcpTimer.Reorder);
        if (marked == 0) return;
        if (fromAck && _ctx.Narrating) _ctx.Explain(Decision.TcpSackRecovery, DescribeLoss(blocks, marked));
        if (!_inRecovery && !_inTimeoutRecovery)
        {
            StartRecovery(now);
            _ctx.Counters.Count(TcpCounter.SackRecoveries);
        }
    }

    /// <summary>The words for an ACK whose SACK blocks made RACK mark segments lost, in tcpdump's relative numbers.</summary>
    private string DescribeLoss(ReadOnlySpan<TcpSackBlock> blocks, int marked)
    {
        var sb = new System.Text.StringBuilder("tcp ack with sack");
        uint iss = _snd.Iss.Value;
        foreach (var b in blocks) sb.Append(' ').Append(unchecked(b.Left - iss)).Append(':').Append(unchecked(b.Right - iss));
        int first = _board.NextLost();
        uint hole = first >= 0 ? unchecked(_board[first].Start.Value - iss) : unchecked(_snd.Una.Value - iss);
        sb.Append(" -> hole at ").Append(hole).Append(marked == 1 ? " marked lost" : $" and {marked - 1} more marked lost").Append(" -> retransmit");
        return sb.ToString();
    }

    /// <summary>A loss ends the window's growth: ssthresh falls, and PRR (RFC 6937) paces what goes out until recovery ends.</summary>
    private void StartRecovery(TimeSpan now)
    {
        _inRecovery = true;
        _recover = _snd.Max;
        _recoverSet = true;
        _undoRetransmissions = 0;
        _undoPossible = true;
        _dupAckDelivered = 0;
        uint cwnd = _cc.Window;
        _cc.OnCongestionEvent(_snd.Outstanding, now);
        _prr.Start(_cc.SlowStartThreshold, Math.Max(cwnd, 1));
        _timers.Stop(TcpTimer.LossProbe);
    }

    /// <summary>SND.UNA passed the recovery point (RFC 6675 section 5, RFC 6582 3.2 step 3): the window is ssthresh again.</summary>
    private void EndRecovery(TimeSpan now)
    {
        if (_inRecovery)
        {
            _inRecovery = false;
            _cc.OnRecoveryExit(now);
            _rack.OnRecoveryEnd();
        }
        _inTimeoutRecovery = false;
        _dupAcks = 0;
    }

    /// <summary>
    /// A D-SACK (RFC 2883): the peer got something twice. If we had retransmitted, one retransmission was needless
    /// (counted); when every retransmission of a recovery proves needless, the reduction is undone (Linux's undo, RFC
    /// 3708). RACK widens its reordering window (RFC 8985 6.2 step 3).
    /// </summary>
    private void OnDsack(TcpSackBlock block)
    {
        _rack.OnDsack(_snd.Una, _snd.Max);
        if (_undoRetransmissions <= 0) return;
        _ctx.Counters.Count(TcpCounter.SpuriousRetransmissions);
        if (_ctx.Narrating) _ctx.Explain(Decision.TcpSpuriousRetransmission, Decisions.Text(Decision.TcpSpuriousRetransmission));
        if (--_undoRetransmissions == 0 && _undoPossible)
        {
            _undoPossible = false;
            _cc.Undo();
        }
    }

    /// <summary>
    /// RFC 3522 (Eifel) as Linux applies it after a timeout: the first ACK of new data echoes a TSval older than the
    /// retransmission's, so it answers the original segment, which was delayed, not lost. Undo the timeout's
    /// reduction and stop resending what was marked lost.
    /// </summary>
    private void CheckSpuriousTimeout(in TcpOptions opts)
    {
        _timeoutUndoPossible = false;
        if (opts.TimestampEcho is not { } ecr || ecr == 0 || unchecked((int)(ecr - _timeoutTsVal)) >= 0) return;
        _cc.Undo();
        _board.UnmarkLostNotResent();
        _inTimeoutRecovery = false;
        _ctx.Counters.Count(TcpCounter.SpuriousRetransmissions);
        _ctx.Decide(Decision.TcpSpuriousTimeout);
    }

    /// <summary>
    /// RFC 8985 7.4: the ACK of a tail loss probe's episode. If the probe was a retransmission and no D-SACK says the
    /// original arrived, the probe repaired a loss, and the window is reduced once, as for any loss (Linux:
    /// tcp_process_tlp_ack).
    /// </summary>
    private void OnProbeAcknowledged(SeqNumber segAck, bool dsack)
    {
        if (dsack && _probeWasRetransmission)
        {
            // The peer had the original: the probe was needless (RFC 8985 7.4.2), and counted so, as OnDsack counts
            // the retransmissions of a recovery.
            _probeOut = false;
            _ctx.Counters.Count(TcpCounter.SpuriousRetransmissions);
            return;
        }
        if (segAck < _probeEnd) return;
        _probeOut = false;
        if (!_probeWasRetransmission || _inRecovery || _inTimeoutRecovery) return;
        _cc.OnCongestionEvent(_snd.Outstanding, _ctx.Now);
        _cc.OnRecoveryExit(_ctx.Now);
    }

    /// <summary>
    /// What one out-of-order range is charged on top of its bytes: the receive buffer's blocks it may pin that hold
    /// nothing else (a range touches at most two blocks more than its bytes fill).
    /// </summary>
    private const int OutOfOrderRangeCharge = 2 * BlockMemoryPool.BlockSize;

    /// <summary>What this connection's out-of-order data is charged to the stack (see <see cref="StackLimits.TcpOutOfOrderBytes"/>).</summary>
    private long _outOfOrderCharge;

    /// <summary>Brings the stack's charge for this connection's out-of-order data up to date with the assembler.</summary>
    private void SettleOutOfOrderCharge()
    {
        long charge = _outOfOrder.HeldBytes + (long)_outOfOrder.RangeCount * OutOfOrderRangeCharge;
        if (charge == _outOfOrderCharge) return;
        _layer.ChargeOutOfOrder(charge - _outOfOrderCharge);
        _outOfOrderCharge = charge;
    }

    private void ReceiveText(SeqNumber seq, Span<byte> data, bool fin)
    {
        // Trim what we already have (the front) and what lies beyond the window (the back).
        int skip = _rcv.Nxt - seq;
        if (skip > 0)
        {
            // RFC 2883 section 4: a duplicate is reported in a D-SACK block, so the sender learns it resent needlessly.
            if (_sack && data.Length > 0) _sackOut.OnDuplicate(seq, seq + Math.Min(skip, data.Length));
            if (skip > data.Length) { _ctx.Decide(Decision.TcpDuplicate); SendAck(Decision.TcpAckDuplicateSent); return; }
            data = data[skip..];
            seq = _rcv.Nxt;
        }
        int room = Math.Min(_rcv.Edge - seq, _recv.Free - (seq - _rcv.Nxt));
        if (room < data.Length) { data = data[..Math.Max(0, room)]; fin = false; }
        if (data.Length == 0 && !fin) { _ctx.Decide(Decision.TcpDuplicate); SendAck(Decision.TcpAckDuplicateSent); return; }

        int offset = seq - _rcv.Nxt;
        if (offset > 0)
        {
            // Out of order: the bytes go to their place in the receive buffer; the assembler remembers they are there.
            if (data.Length > 0)
            {
                int heldBefore = _outOfOrder.HeldBytes;
                // The stack's cap on out-of-order data: the worst this segment can add (its bytes and a new range's
                // blocks) must fit before it lands; what it really added is charged just after.
                if (!_layer.OutOfOrderHasRoomFor(data.Length + OutOfOrderRangeCharge))
                {
                    _ctx.DropOutgoing(DropReason.TcpOutOfOrderLimit);
                    _ctx.Decide(Decision.TcpDataOutOfOrderOverLimit);
                    SendAck(Decision.TcpAckDuplicateOutOfOrderSent);
                    return;
                }
                _recv.Write(offset, data);
                bool added = _outOfOrder.Add(offset, data.Length);
                SettleOutOfOrderCharge();
                if (!added) _ctx.DropOutgoing(DropReason.TcpOutOfOrderFull);
                else if (_sack)
                {
                    // RFC 2018 section 4: the first block is the whole held range this segment now belongs to.
                    var (start, length) = _outOfOrder.RangeContaining(offset);
                    if (_outOfOrder.HeldBytes == heldBefore) _sackOut.OnDuplicate(seq, seq + data.Length);
                    _sackOut.OnOutOfOrder(_rcv.Nxt + start, _rcv.Nxt + start + length);
                }
            }
            if (fin) _outOfOrderFin = seq + data.Length;
            _ctx.Decide(Decision.TcpDataOutOfOrder);
            SendAck(Decision.TcpAckDuplicateOutOfOrderSent);
            return;
        }
        bool filledGap = false;
        if (data.Length > 0)
        {
            _recv.Write(0, data);
            int held = _outOfOrder.Advance(data.Length);
            if (held > 0 || !_outOfOrder.IsEmpty) SettleOutOfOrderCharge();
            _recv.Commit(data.Length + held);
            _rcv.Advance(data.Length + held);
            filledGap = held > 0;
            if (_sack) _sackOut.OnAdvance(_rcv.Nxt);
        }
        if (_outOfOrderFin is { } f && _rcv.Nxt >= f) { fin = true; _outOfOrderFin = null; }
        if (fin) ReceiveFin();
        else
        {
            _ctx.Decide(filledGap ? Decision.TcpDataFillsGap : Decision.TcpDataDelivered);
            // RFC 1122 4.2.3.2: acknowledge at least every second full-sized segment, and within the delay.
            _segmentsToAck += data.Length > OurMss ? 2 : 1; // a super-segment from the link is many full-sized segments
            if (filledGap || !_outOfOrder.IsEmpty) SendAck(Decision.TcpAck);
            else if (_segmentsToAck >= 2)
            {
                // In a batch of frames the host read at once, the ACK for in-order data waits for the batch's end and
                // then covers all of it (up to 64 KiB): what Linux's GRO does with the segments one NAPI poll merged.
                if (_ctx.InBatch && _rcv.Nxt - _lastAckSent < MaxStretchAck)
                {
                    if (!_ackDeferred) { _ackDeferred = true; _layer.DeferAck(this); }
                }
                else SendAck(Decision.TcpAck);
            }
            else if (!_timers.IsArmed(TcpTimer.DelayedAck)) _timers.Set(TcpTimer.DelayedAck, _ctx.Now + _s.DelayedAckTimeout);
        }
    }

    /// <summary>The most in-order data one held ACK covers: a GRO super-segment's worth.</summary>
    private const int MaxStretchAck = 65535;
    private bool _ackDeferred;

    /// <summary>The host's batch ended: send the ACK held for it, unless another segment of ours carried it meanwhile.</summary>
    internal void OnBatchEnd()
    {
        _ackDeferred = false;
        if (_segmentsToAck > 0 && State is not (TcpState.Closed or TcpState.TimeWait)) SendAck(Decision.TcpAck);
    }

    /// <summary>Eighth: the peer's FIN (RFC 9293 3.10.7.4).</summary>
    private void ReceiveFin()
    {
        if (_finReceived) { SendAck(Decision.TcpAckFinAgainSent); return; }
        _finReceived = true;
        _rcv.Advance(1);
        _recv.Complete();
        switch (State)
        {
            case TcpState.SynReceived:
            case TcpState.Established:
                SetState(TcpState.CloseWait);
                _ctx.Decide(Decision.TcpFinCloseWait);
                break;
            case TcpState.FinWait1:
                if (_snd.FinAcknowledged) EnterTimeWait(Decision.TcpFinTimeWait);
                else { SetState(TcpState.Closing); _ctx.Decide(Decision.TcpFinClosing); }
                break;
            case TcpState.FinWait2:
                EnterTimeWait(Decision.TcpFinTimeWait);
                break;
        }
        SendAck(Decision.TcpAckOfFinSent);
    }

    private void EnterTimeWait(Decision why)
    {
        // Past the stack's cap on TIME-WAIT, the state lasts until the next poll instead of 2 MSL (as Linux closes at
        // once past tcp_max_tw_buckets): the ACK of the peer's FIN still goes, nothing is kept for long.
        bool full = !_layer.HasRoomForTimeWait;
        SetState(TcpState.TimeWait);
        _ctx.Decide(why);
        _timers.Stop(TcpTimer.Retransmit);
        _timers.Stop(TcpTimer.Persist);
        _timers.Stop(TcpTimer.KeepAlive);
        if (full) _ctx.Counters.Count(TcpCounter.TimeWaitLimitReached);
        _timers.Set(TcpTimer.TimeWait, full ? _ctx.Now : _ctx.Now + _s.TimeWait);
        _send.Close();
    }

    // ---------------------------------------------------------------- output

    /// <summary>
    /// Sends what the windows allow: first segments marked lost (RFC 6675 NextSeg rule 1; SACKed data is never sent
    /// again), then new data (Nagle and sender SWS avoidance, <see cref="TcpSendPolicy"/>), then our FIN. What may be in
    /// the network is cwnd less pipe (RFC 6675 section 5, as Linux counts it); in recovery PRR has set cwnd.
    /// </summary>
    private void Output()
    {
        if (State is not (TcpState.Established or TcpState.CloseWait or TcpState.FinWait1 or TcpState.Closing or TcpState.LastAck)) return;
        long buffered = _send.Peek(out bool completed);
        int mss = _segmentSize;
        while (true)
        {
            long room = (long)_cc.Window - _board.Pipe(mss);
            int lost = _board.NextLost();
            if (lost >= 0)
            {
                // A retransmission needs room in cwnd and in the peer's window, like new data.
                if (room <= 0 || _board[lost].End - _snd.Una > (long)_snd.Window) return;
                Retransmit(lost, ReasonFor(_board[lost].Cause));
                continue;
            }
            if (_snd.FinSent) return; // everything including the FIN is out
            // Each segment in flight is a scoreboard entry: tiny segments into a huge window must not make that
            // bookkeeping the connection's largest cost. Beyond this many, new data waits for ACKs.
            if (_board.Count >= MaxSegmentsInFlight) return;
            uint inFlight = _snd.Outstanding;
            long unsent = buffered - inFlight;
            long usable = Math.Min((long)_snd.Window - inFlight, room);
            if (unsent > 0)
            {
                var verdict = TcpSendPolicy.Decide(unsent, usable, mss, inFlight, _snd.MaxWindow, _s.NoDelay, completed, _forceSend);
                if (verdict.Length == 0)
                {
                    if (verdict.ArmPersist && !_timers.IsArmed(TcpTimer.Persist)) ArmPersist();
                    return;
                }
                _forceSend = false;
                if (verdict.Length == mss && SuperSegmentPieces(unsent, usable, mss) is var pieces and > 1)
                {
                    SendSuperSegment(pieces, mss, unsent);
                    continue;
                }
                SendNewData(verdict.Length, unsent, Decision.TcpDataSent);
                continue;
            }
            if (completed)
            {
                // All data is out and the application closed its side: send FIN (RFC 9293 3.10.4, CLOSE call).
                var finSeq = _snd.SendFin();
                Emit(finSeq, TcpFlags.Fin | TcpFlags.Ack, 0, 0, default, Decision.TcpFinSent);
                _board.OnSent(finSeq, 1, SendStamp(), fin: true);
                if (!_timers.IsArmed(TcpTimer.Retransmit)) ArmRetransmit();
                if (State == TcpState.Established) SetState(TcpState.FinWait1);
                else if (State == TcpState.CloseWait) SetState(TcpState.LastAck);
            }
            return;
        }
    }

    /// <summary>The most segments in flight at once (about 2 MB of scoreboard; a full 1 MB buffer of 1448-byte segments is 725).</summary>
    private const int MaxSegmentsInFlight = 1 << 16;

    /// <summary>Sends <paramref name="length"/> new bytes from SND.NXT and records them in the scoreboard.</summary>
    private void SendNewData(int length, long unsent, Decision what)
    {
        _timers.Stop(TcpTimer.Persist); // data in flight: the retransmission timer watches it now
        _persistBackoff = TimeSpan.Zero;
        var flags = TcpFlags.Ack | (length == unsent ? TcpFlags.Psh : 0);
        var seq = _snd.Nxt;
        Emit(seq, flags, _snd.Outstanding, length, default, what);
        _board.OnSent(seq, length, SendStamp());
        if (_inRecovery) _prr.OnSent((uint)length);
        _snd.Advance(length);
        if (!_timers.IsArmed(TcpTimer.Retransmit)) ArmRetransmit();
        ScheduleLossProbe();
    }

    /// <summary>
    /// How many full segments may go at once as one super-segment for the link to cut (TSO): as many as the data, the
    /// windows, the scoreboard and the link's limit allow; 0 or 1 when the link cuts none or one segment is all there is.
    /// </summary>
    private int SuperSegmentPieces(long unsent, long usable, int mss)
    {
        int limit = _ip.SegmentationLimit(RemoteAddress);
        if (limit == 0) return 0;
        // Room for the largest TCP header: with a peer's MSS below what the MTU allows, SACK blocks fit beside the data.
        int header = Ipv4Header.MinimumLength + TcpSegment.MinimumHeaderLength + TcpOptions.MaxLength;
        long n = Math.Min(Math.Min(unsent, usable), limit - header) / mss;
        return (int)Math.Min(n, MaxSegmentsInFlight - _board.Count);
    }

    /// <summary>
    /// Sends <paramref name="pieces"/> full segments of new data as one super-segment: one TCP header, the data of all
    /// of them, and the link cuts it into segments of <paramref name="mss"/> bytes that carry that header with the
    /// sequence numbers moved on (the kernel's GSO behind a TAP). To the scoreboard they are what the wire carries:
    /// one segment each, so a SACK or a loss touches only its own.
    /// </summary>
    private void SendSuperSegment(int pieces, int mss, long unsent)
    {
        _timers.Stop(TcpTimer.Persist);
        _persistBackoff = TimeSpan.Zero;
        int length = pieces * mss;
        var flags = TcpFlags.Ack | (length == unsent ? TcpFlags.Psh : 0); // the link sets PSH on the last piece only
        var seq = _snd.Nxt;
        Emit(seq, flags, _snd.Outstanding, length, default, Decision.TcpDataSent, segmentSize: mss);
        for (int i = 0; i < pieces; i++) _board.OnSent(seq + i * mss, mss, SendStamp());
        if (_inRecovery) _prr.OnSent((uint)length);
        _snd.Advance(length);
        if (!_timers.IsArmed(TcpTimer.Retransmit)) ArmRetransmit();
        ScheduleLossProbe();
    }

    /// <summary>
    /// The time a segment goes out, made strictly increasing: segments sent while handling one frame share the
    /// clock's value, and RACK must still know which went first (a retransmission after new data is newer). One tick
    /// (100 ns) per segment keeps the order without moving the time by anything a round trip would notice.
    /// </summary>
    private TimeSpan SendStamp()
    {
        var now = _ctx.Now;
        _lastSendStamp = now > _lastSendStamp ? now : _lastSendStamp + TimeSpan.FromTicks(1);
        return _lastSendStamp;
    }

    private TimeSpan _lastSendStamp;

    private Decision ReasonFor(LossCause cause) => cause switch
    {
        LossCause.Rack => Decision.TcpRackRetransmission,
        LossCause.DuplicateAcks => _lossDecision,
        _ => Decision.TcpRetransmissionSent, // the timeout's: the words every capture so far recorded for it
    };

    /// <summary>Sends the <paramref name="index"/>th segment of the scoreboard again, counted under its cause.</summary>
    private void Retransmit(int index, Decision what)
    {
        ref readonly var s = ref _board[index];
        var cause = s.Cause;
        if (s.IsFin) Emit(s.Start, TcpFlags.Fin | TcpFlags.Ack, 0, 0, default, what == Decision.TcpLossProbeRetransmission ? what : Decision.TcpFinRetransmissionSent);
        else
        {
            long offset = s.Start - _snd.Una;
            bool last = index == _board.Count - 1 || _board[index + 1].IsFin;
            Emit(s.Start, TcpFlags.Ack | (last ? TcpFlags.Psh : 0), offset, s.Length, default, what);
        }
        if (_inRecovery) _prr.OnSent((uint)s.Length);
        _board.OnRetransmitted(index, SendStamp());
        _undoRetransmissions++;
        _ctx.Counters.Count(what == Decision.TcpLossProbeRetransmission ? TcpCounter.LossProbes : cause switch
        {
            LossCause.Rack => TcpCounter.RackRetransmissions,
            LossCause.DuplicateAcks => TcpCounter.FastRetransmissions,
            _ => TcpCounter.TimeoutRetransmissions,
        });
        if (!_timers.IsArmed(TcpTimer.Retransmit)) ArmRetransmit();
    }

    /// <summary>
    /// RFC 8985 7.2: with data out, SACK in use, no recovery and nothing SACKed, a tail loss probe is due two round
    /// trips after the last transmission or ACK (Linux's conditions for scheduling one). One per episode. Beyond the
    /// RFC, when the ACKs stop in any other state (in recovery, after a timeout, after the probe itself), a silence
    /// probe is due after the same time doubled per probe already sent, up to three (see <see cref="SendSilenceProbe"/>).
    /// </summary>
    private void ScheduleLossProbe()
    {
        if (!_sack || _board.IsEmpty || _snd.Window == 0 || _silenceProbes >= MaxSilenceProbes
            || State is not (TcpState.Established or TcpState.CloseWait or TcpState.FinWait1 or TcpState.Closing or TcpState.LastAck))
        {
            _timers.Stop(TcpTimer.LossProbe);
            return;
        }
        var pto = RackLossDetection.ProbeTimeout(_rtt.SmoothedRtt, _rtt.HasSample, _board.Count, _rtt.Rto);
        if (!TailProbeAllowed) pto *= 1 << _silenceProbes;
        _timers.Set(TcpTimer.LossProbe, _ctx.Now + pto);
    }

    /// <summary>RFC 8985 7.2 and Linux: a tail loss probe only outside recovery, with nothing SACKed, once per episode.</summary>
    private bool TailProbeAllowed => !_probeOut && !_inRecovery && !_inTimeoutRecovery && _board.SackedSegments == 0;

    /// <summary>
    /// RFC 8985 7.3: the probe timer fired. Send one new segment if the windows let one go (even past cwnd, as
    /// Linux does), otherwise the last segment again; either way the ACK it brings shows RACK what the tail lost.
    /// </summary>
    private void SendLossProbe()
    {
        if (_board.IsEmpty) return;
        if (!TailProbeAllowed) { SendSilenceProbe(); return; }
        long buffered = _send.Peek(out _);
        long unsent = buffered - _snd.Outstanding;
        if (unsent > 0 && !_snd.FinSent && (long)_snd.Window - _snd.Outstanding >= Math.Min(unsent, _segmentSize))
        {
            SendNewData((int)Math.Min(unsent, _segmentSize), unsent, Decision.TcpLossProbeSent);
            _ctx.Counters.Count(TcpCounter.LossProbes);
            _probeWasRetransmission = false;
        }
        else
        {
            Retransmit(_board.Count - 1, Decision.TcpLossProbeRetransmission);
            _undoRetransmissions--; // a probe is not a recovery's retransmission
            _probeWasRetransmission = true;
        }
        _probeOut = true;
        _probeEnd = _snd.Max;
        ArmRetransmit();
        ScheduleLossProbe(); // the silence probe, should this one go unanswered
    }

    /// <summary>
    /// The ACKs stopped for a probe timeout where RFC 8985 has no probe (in recovery, after a timeout, or after its
    /// one tail loss probe): the peer's last ACK was lost, or what we sent last was, and nothing left in flight will
    /// bring another. RFC 8985 leaves this to the retransmission timer, 200 ms at least; on a path that loses both
    /// ways that wait is most of a transfer's time (the bench measures it). So the highest segment not SACKed goes
    /// again: a receiver answers a segment it already holds at once (RFC 5681 4.2), and the ACK shows RACK what is
    /// missing. Up to three per silence, each after twice the wait of the one before; an ACK that delivers anything
    /// starts the count again, and the retransmission timer stays the last resort.
    /// </summary>
    private void SendSilenceProbe()
    {
        int i = _board.Count - 1;
        while (i > 0 && _board[i].Sacked) i--;
        if (_board[i].Sacked) return;
        Retransmit(i, Decision.TcpLossProbeRetransmission);
        _undoRetransmissions--; // a probe is not one of the recovery's retransmissions
        _silenceProbes++;
        ScheduleLossProbe();
    }

    /// <summary>Silence probes sent since the last ACK that delivered anything.</summary>
    private int _silenceProbes;
    private const int MaxSilenceProbes = 3;

    /// <summary>
    /// A segment with no data carries SND.MAX, the highest sequence number sent, not SND.NXT: after a retransmission
    /// timeout SND.NXT goes back to SND.UNA, and the peer may already hold more than that, so it would find SND.NXT
    /// below RCV.NXT, call the segment unacceptable and never read its ACK (RFC 9293 3.10.7.4). Two sides that both
    /// time out would then reject each other's ACKs for ever. Linux does the same (tcp_acceptable_seq).
    /// </summary>
    private void SendAck(Decision what) => Emit(_snd.Max, TcpFlags.Ack, 0, 0, default, what);

    private void SendChallengeAck()
    {
        if (_layer.TakeChallengeAckToken()) SendAck(Decision.TcpChallengeAckSent);
        else _ctx.DropOutgoing(DropReason.TcpChallengeAckLimited);
    }

    /// <summary>
    /// Builds one segment in the stack's transmit buffer and sends it. Every segment carries our window and ACK; with
    /// timestamps on, every segment but a SYN (which builds its own) carries TSval and TS.Recent (RFC 7323 3.2); an
    /// ACK carries the SACK blocks the receiver holds, as many as fit (RFC 2018 section 4). With a non-zero
    /// <c>segmentSize</c> it is a super-segment, which the link cuts into pieces of that many data bytes.
    /// </summary>
    private void Emit(SeqNumber seq, TcpFlags flags, long dataOffset, int dataLength, TcpOptions options, Decision what, ushort? windowOverride = null, int segmentSize = 0)
    {
        var tx = _ip.TxPayload;
        ushort window = windowOverride ?? _rcv.Advertise(_recv.Free, OurMss);
        bool ackFlag = (flags & TcpFlags.Ack) != 0;
        var ack = ackFlag ? _rcv.Nxt.Value : 0;
        bool syn = (flags & TcpFlags.Syn) != 0;
        if (_ts.Enabled && !syn)
        {
            options.TimestampValue = _ts.Value(_ctx.Now);
            options.TimestampEcho = _ts.Recent;
        }
        Span<TcpSackBlock> blocks = stackalloc TcpSackBlock[4];
        int blockCount = 0;
        if (_sack && ackFlag && !syn && !_sackOut.IsEmpty)
        {
            // Room for blocks: the IP packet stays within the MTU (a full data segment leaves none).
            int fixedLength = TcpSegment.MinimumHeaderLength + (_ts.Enabled ? TimestampOptionLength : 0) + (segmentSize > 0 ? segmentSize : dataLength);
            int fit = (_ctx.Mtu - Ipv4Header.MinimumLength - fixedLength - 4) / 8;
            int max = Math.Min(TcpOptions.MaxSackBlocks(_ts.Enabled), fit);
            if (max > 0) blockCount = _sackOut.Fill(blocks, max);
        }
        int hl = TcpSegment.WriteHeader(tx, LocalPort, RemotePort, seq.Value, ack, flags, window, options, blocks[..blockCount]);
        if (dataLength > 0) _send.CopyTo(dataOffset, tx.Slice(hl, dataLength));
        var seg = new TcpSegment(tx[..(hl + dataLength)]);
        // A super-segment's checksum is the link's to finish, piece by piece: it holds the pseudo-header's sum only.
        if (segmentSize > 0) seg.SetPartialChecksum(LocalAddress, RemoteAddress);
        else seg.UpdateChecksum(LocalAddress, RemoteAddress);
        _ctx.Counters.Sent(Layer.Tcp);
        if (ackFlag)
        {
            _segmentsToAck = 0;
            _timers.Stop(TcpTimer.DelayedAck);
            _lastAckSent = _rcv.Nxt;
            if (blockCount > 0) _sackOut.OnAckSent();
        }
        if (segmentSize > 0)
        {
            _ctx.Counters.Count(TcpCounter.SuperSegmentsSent);
            _ip.SendSuperSegment(RemoteAddress, hl + dataLength, hl, segmentSize, what);
        }
        else _ip.Send(RemoteAddress, IpProtocol.Tcp, hl + dataLength, Layer.Tcp, what);
    }

    // ---------------------------------------------------------------- timers

    private void ArmRetransmit() => _timers.Set(TcpTimer.Retransmit, _ctx.Now + _rtt.Rto);

    private void ArmPersist()
    {
        _persistBackoff = _persistBackoff == TimeSpan.Zero ? _rtt.Rto : TimeSpan.FromTicks(Math.Min(_persistBackoff.Ticks * 2, _s.MaxRetransmitTimeout.Ticks));
        _timers.Set(TcpTimer.Persist, _ctx.Now + _persistBackoff);
    }

    /// <summary>Runs the timers that are due (the TCP layer calls it when this connection's deadline has passed).</summary>
    public void OnTimer()
    {
        Expire();
        _layer.Reschedule(this);
    }

    private void Expire()
    {
        var now = _ctx.Now;
        if (_timers.IsDue(TcpTimer.TimeWait, now)) { _timers.Stop(TcpTimer.TimeWait); Destroy(); return; }
        if (_timers.IsDue(TcpTimer.DelayedAck, now)) { _timers.Stop(TcpTimer.DelayedAck); SendAck(Decision.TcpDelayedAckSent); }
        if (_timers.IsDue(TcpTimer.Retransmit, now)) OnRetransmitTimeout();
        if (State == TcpState.Closed) return;
        if (_timers.IsDue(TcpTimer.Reorder, now))
        {
            // RFC 8985 6.3: the reordering window has passed for a segment RACK was unsure of.
            _timers.Stop(TcpTimer.Reorder);
            DetectLossByTime(now, fromAck: false, default);
            Output();
        }
        if (_timers.IsDue(TcpTimer.LossProbe, now))
        {
            _timers.Stop(TcpTimer.LossProbe);
            SendLossProbe();
        }
        if (_timers.IsDue(TcpTimer.Persist, now))
        {
            _timers.Stop(TcpTimer.Persist);
            if (_snd.Window > 0)
            {
                // A small window: the override timeout sends what it allows (RFC 9293 3.8.6.2.1).
                _forceSend = true;
                Output();
                _forceSend = false;
            }
            else if (_unansweredProbes >= _s.DataRetries)
            {
                Fail(SocketError.TimedOut, sendReset: true); // nobody answers: the peer is gone, not just busy
                return;
            }
            else
            {
                // Zero-window probe (RFC 1122 4.2.2.17): an old sequence number makes the peer answer with its window.
                _unansweredProbes++;
                Emit(_snd.Una - 1, TcpFlags.Ack, 0, 0, default, Decision.TcpZeroWindowProbeSent);
                ArmPersist();
            }
        }
        if (_timers.IsDue(TcpTimer.KeepAlive, now))
        {
            if (_keepAliveProbes >= _s.KeepAliveProbes) { Fail(SocketError.TimedOut, sendReset: true); return; }
            _keepAliveProbes++;
            Emit(_snd.Una - 1, TcpFlags.Ack, 0, 0, default, Decision.TcpKeepAliveSent);
            _timers.Set(TcpTimer.KeepAlive, now + _s.KeepAliveInterval);
        }
    }

    private void OnRetransmitTimeout()
    {
        if (_snd.Window == 0 && State is TcpState.Established or TcpState.CloseWait or TcpState.FinWait1 or TcpState.Closing or TcpState.LastAck)
        {
            // The peer closed its window: what went beyond it will be sent again when it opens. While the peer
            // answers our probes the connection must stay (RFC 1122 4.2.2.17), so this is persist, not a retry.
            // What is out goes again once the window opens (Linux marks it lost the same way, tcp_enter_loss).
            _board.MarkAllLost(LossCause.Timeout);
            _timers.Stop(TcpTimer.Retransmit);
            if (!_timers.IsArmed(TcpTimer.Persist)) ArmPersist();
            return;
        }
        _retries++;
        int limit = State is TcpState.SynSent or TcpState.SynReceived ? _s.SynRetries : _s.DataRetries;
        if (_retries > limit)
        {
            if (State == TcpState.SynReceived && Listener is not null) { Destroy(); return; }
            Fail(SocketError.TimedOut, sendReset: State != TcpState.SynSent);
            return;
        }
        // RFC 6298 (5.5)-(5.6): back off, and Karn: no RTT sample from what is retransmitted.
        _rtt.Backoff();
        _rtt.StopTiming();
        switch (State)
        {
            case TcpState.SynSent: _synRetransmitted = true; SendSyn(ack: false); break;
            case TcpState.SynReceived: _synRetransmitted = true; SendSyn(ack: true); break;
            default:
                var now = _ctx.Now;
                if (!_inTimeoutRecovery && _ts.Enabled)
                {
                    // The first timeout of an episode can be proved spurious by the echo of the ACK that follows (RFC 3522).
                    _timeoutUndoPossible = true;
                    _timeoutTsVal = _ts.Value(now);
                }
                _cc.OnRetransmitTimeout(_snd.Outstanding, now);
                // RFC 6675 5.1 and RFC 5681 (5.4): everything not SACKed is taken as lost and resent, oldest first, as
                // slow start allows; what the peer SACKed stays (Linux keeps it unless the peer reneges).
                _board.MarkAllLost(LossCause.Timeout);
                _inRecovery = false;
                _inTimeoutRecovery = true;
                _recover = _snd.Max;
                _recoverSet = true;
                _dupAcks = 0;
                _probeOut = false;
                _timers.Stop(TcpTimer.Retransmit);
                _timers.Stop(TcpTimer.Reorder);
                _timers.Stop(TcpTimer.LossProbe);
                Output();
                _silenceProbes = 0;
                ScheduleLossProbe();
                break;
        }
        ArmRetransmit();
    }

    // ---------------------------------------------------------------- from the application

    /// <summary>On the loop, when the application wrote or read: send what was written; tell the peer the window reopened if it had nearly closed.</summary>
    public void OnAppNudge()
    {
        if (State == TcpState.Closed) return;
        Output();
        if (State is (TcpState.Established or TcpState.FinWait1 or TcpState.FinWait2) && _rcv.UpdateWorthSending(_recv.Free, OurMss))
            SendAck(Decision.TcpWindowUpdateSent);
        _layer.Reschedule(this);
    }

    /// <summary>Abort (RFC 9293 3.10.5): RST to the peer, everything dropped.</summary>
    public void Abort()
    {
        if (State == TcpState.Closed) return;
        Fail(SocketError.ConnectionAborted, sendReset: State is not (TcpState.SynSent or TcpState.TimeWait));
    }

    /// <summary>An ICMP error about a segment we sent (RFC 1122 4.2.3.9): hard errors abort a connection being opened.</summary>
    public void OnIcmpError(SocketError error)
    {
        if (State == TcpState.SynSent && error is SocketError.ConnectionRefused or SocketError.HostUnreachable or SocketError.NetworkUnreachable)
            Fail(error, sendReset: false);
    }

    // ---------------------------------------------------------------- the end

    private void Fail(SocketError error, bool sendReset)
    {
        if (sendReset) _layer.SendReset(RemoteAddress, RemotePort, LocalPort, _snd.Max.Value, _rcv.Nxt.Value, withAck: true); // as SendAck: acceptable to the peer
        var ex = new SocketException((int)error);
        _recv.Complete(ex);
        _send.Close(ex);
        _user.OnFailed(error);
        Destroy();
    }

    private void Destroy()
    {
        if (State == TcpState.Closed) return;
        if (Listener is { } l) { Listener = null; l.OnHalfOpenGone(); }
        SetState(TcpState.Closed);
        _timers.StopAll();
        _outOfOrder.Clear();
        SettleOutOfOrderCharge();
        _board.Clear();
        _sackOut.Clear();
        _recv.Complete();
        _send.Close();
        _layer.Remove(this);
    }

    private void SetState(TcpState s)
    {
        if (State == s) return;
        var from = State;
        State = s;
        _user.OnStateChanged(s);
        _layer.OnStateChanged(this, from, s);
    }
}
