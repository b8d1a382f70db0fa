using System.Buffers;
using System.Net.Sockets;
using UserNet.Core;
using UserNet.Ip;
using UserNet.Wire;

namespace UserNet.Tcp;

/// <summary>
/// One TCP connection's state (the TCB of RFC 9293 section 3.3.1) and everything that happens to it: segment arrival
/// in the order of section 3.10.7, output with Nagle and the receiver's window, retransmission (RFC 6298), congestion
/// control (RFC 5681 with NewReno, RFC 6582), delayed ACKs, the persist timer and keep-alive (RFC 1122 4.2).
/// Runs on the stack's loop only.
/// </summary>
internal sealed class TcpControlBlock
{
    private const uint MaxCongestionWindow = 1u << 30;
    private readonly TcpLayer _layer;
    private readonly StackContext _ctx;
    private readonly Ipv4Layer _ip;
    private readonly TcpSettings _s;
    private readonly ITcpUser _user;
    private readonly ITcpSendBuffer _send;
    private readonly ITcpReceiveBuffer _recv;

    // Send sequence space (RFC 9293 3.3.1). _sndMax is the highest sequence number ever sent: _sndNxt goes back to
    // _sndUna on a retransmission timeout, and an ACK may still acknowledge up to _sndMax.
    private SeqNumber _iss, _sndUna, _sndNxt, _sndMax, _sndWl1, _sndWl2;
    private uint _sndWnd, _maxSndWnd;
    private int _sndMss;
    private byte _sndShift, _rcvShift;
    // Receive sequence space. _rcvEdge is the right edge of the window we last advertised (never moved left).
    private SeqNumber _irs, _rcvNxt, _rcvEdge;
    private bool _finReceived;
    private bool _finSent;
    private SeqNumber _finSeq;

    // Congestion control (RFC 5681, RFC 6582).
    private uint _cwnd, _ssthresh;
    private int _dupAcks;
    private bool _inRecovery;
    private SeqNumber _recover;
    private bool _recoverSet;

    // Round-trip estimation (RFC 6298).
    private TimeSpan _srtt, _rttvar, _rto;
    private bool _haveRtt, _timing;
    private SeqNumber _timedSeq;
    private TimeSpan _timedAt;
    private int _retries;
    private bool _synRetransmitted;
    /// <summary>Persist probes sent since the peer last acknowledged anything.</summary>
    private int _unansweredProbes;
    /// <summary>Once, let Output ignore Nagle and sender SWS avoidance (the override timeout, RFC 9293 3.8.6.2.1).</summary>
    private bool _forceSend;

    // Timers: deadlines on the stack's clock; MaxValue is off.
    private TimeSpan _rtxAt = TimeSpan.MaxValue, _persistAt = TimeSpan.MaxValue, _delAckAt = TimeSpan.MaxValue,
        _keepAliveAt = TimeSpan.MaxValue, _timeWaitAt = TimeSpan.MaxValue;
    private TimeSpan _persistBackoff;
    private int _keepAliveProbes;
    private int _segmentsToAck;

    private readonly List<(SeqNumber Seq, byte[] Data, int Length, bool Fin)> _outOfOrder = new();

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
        LocalAddress = localAddress;
        LocalPort = localPort;
        RemoteAddress = remoteAddress;
        RemotePort = remotePort;
        Listener = listener;
        State = listener is null ? TcpState.Closed : TcpState.Listen; // a passive open starts from its listener's LISTEN
        _rto = settings.InitialRetransmitTimeout;
        _sndMss = 536; // RFC 9293 3.7.1: the default when the peer sends no MSS option
        // Our window scale: the least shift that lets the whole receive buffer be advertised (RFC 7323 2.3).
        while (_rcvShift < 14 && (_recv.Capacity >> _rcvShift) > 65535) _rcvShift++;
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
    internal uint CongestionWindow => _cwnd;
    internal uint SlowStartThreshold => _ssthresh;
    internal TimeSpan RetransmitTimeout => _rto;
    internal SeqNumber SndUna => _sndUna;
    internal SeqNumber SndNxt => _sndNxt;
    internal SeqNumber RcvNxt => _rcvNxt;
    internal uint SndWnd => _sndWnd;
    private bool WindowScaling => _sndShift != 255;

    private int OurMss => _ctx.Mtu - Ipv4Header.MinimumLength - TcpSegment.MinimumHeaderLength;

    public TimeSpan NextDeadline
    {
        get
        {
            var d = _rtxAt;
            if (_persistAt < d) d = _persistAt;
            if (_delAckAt < d) d = _delAckAt;
            if (_keepAliveAt < d) d = _keepAliveAt;
            if (_timeWaitAt < d) d = _timeWaitAt;
            return d;
        }
    }

    // ---------------------------------------------------------------- opening

    /// <summary>Active open (RFC 9293 3.10.1): send SYN, enter SYN-SENT.</summary>
    public void Connect()
    {
        _iss = _layer.InitialSequenceNumber(LocalAddress, LocalPort, RemoteAddress, RemotePort);
        _sndUna = _iss;
        _sndNxt = _sndMax = _iss + 1;
        _sndShift = 255; // unknown until the SYN-ACK says
        SetState(TcpState.SynSent);
        SendSyn(ack: false);
        StartTiming(_iss);
        ArmRetransmit();
    }

    /// <summary>Passive open: a SYN reached a listener (RFC 9293 3.10.7.2, LISTEN state, third check).</summary>
    public void AcceptSyn(TcpSegment seg)
    {
        _irs = new SeqNumber(seg.SequenceNumber);
        _rcvNxt = _irs + 1;
        _iss = _layer.InitialSequenceNumber(LocalAddress, LocalPort, RemoteAddress, RemotePort);
        _sndUna = _iss;
        _sndNxt = _sndMax = _iss + 1;
        ApplySynOptions(seg);
        _sndWnd = seg.Window; // never scaled in a SYN (RFC 7323 2.2)
        _sndWl1 = _irs;
        _sndWl2 = _sndUna;
        _rcvEdge = _rcvNxt + Math.Min(65535, _recv.Capacity); // what our SYN-ACK offers, unscaled
        SetState(TcpState.SynReceived);
        SendSyn(ack: true);
        StartTiming(_iss);
        ArmRetransmit();
    }

    private void StartTiming(SeqNumber seq)
    {
        _timing = true;
        _timedSeq = seq;
        _timedAt = _ctx.Now;
    }

    private void ApplySynOptions(TcpSegment seg)
    {
        TcpOptions.TryParse(seg.Options, out var o);
        // RFC 9293 3.7.1 / RFC 6691: use the peer's MSS, capped by ours; clamp absurdly small values (RFC 9293 3.7.1 allows
        // 536 as the floor when absent; Linux clamps advertised values below 88).
        int mss = o.Mss ?? 536;
        _sndMss = Math.Clamp(mss, 88, OurMss);
        if (o.WindowScale is { } ws) _sndShift = Math.Min(ws, (byte)14);
        else { _sndShift = 255; _rcvShift = 0; } // both must offer it, or neither side scales (RFC 7323 2.2)
        // Initial window (RFC 6928): min(10*MSS, max(2*MSS, 14600)).
        _cwnd = (uint)Math.Min(10 * _sndMss, Math.Max(2 * _sndMss, 14600));
        _ssthresh = uint.MaxValue;
    }

    private void SendSyn(bool ack)
    {
        var o = new TcpOptions { Mss = (ushort)OurMss, WindowScale = (ack && !WindowScaling) ? null : _rcvShift };
        Emit(_iss, ack ? TcpFlags.Syn | TcpFlags.Ack : TcpFlags.Syn, 0, 0, o, ack ? Decision.TcpSynAckSent : Decision.TcpSynSent, windowOverride: (ushort)Math.Min(65535, _recv.Capacity));
    }

    // ---------------------------------------------------------------- segment arrival (RFC 9293 3.10.7)

    public void OnSegment(TcpSegment seg)
    {
        _keepAliveProbes = 0;
        if (_s.KeepAliveTime is { } ka && State == TcpState.Established) _keepAliveAt = _ctx.Now + ka;
        switch (State)
        {
            case TcpState.SynSent: OnSegmentInSynSent(seg); return;
            case TcpState.Closed: return;
        }

        var segSeq = new SeqNumber(seg.SequenceNumber);
        var flags = seg.Flags;
        if (State == TcpState.SynReceived && (flags & (TcpFlags.Syn | TcpFlags.Rst)) == TcpFlags.Syn && segSeq == _irs)
        {
            // The peer's SYN again, or its SYN-ACK after SYNs crossed: both carry SEQ = IRS, which the window check
            // would reject as old (it is below RCV.NXT), so they are recognised here first (as Linux does).
            OnSynInSynReceived(seg, flags);
            return;
        }
        int segLen = seg.Payload.Length + ((flags & TcpFlags.Syn) != 0 ? 1 : 0) + ((flags & TcpFlags.Fin) != 0 ? 1 : 0);
        uint rcvWnd = (uint)Math.Max(0, _rcvEdge - _rcvNxt);

        // First: sequence number acceptability (the four cases).
        bool acceptable = segLen == 0
            ? (rcvWnd == 0 ? segSeq == _rcvNxt : segSeq.InRange(_rcvNxt, _rcvNxt + rcvWnd))
            : rcvWnd != 0 && (segSeq.InRange(_rcvNxt, _rcvNxt + rcvWnd) || (segSeq + (segLen - 1)).InRange(_rcvNxt, _rcvNxt + rcvWnd));
        if (!acceptable)
        {
            if ((flags & TcpFlags.Rst) == 0)
            {
                _ctx.Decide(Decision.TcpSegmentOutsideWindowAck);
                SendAck(Decision.TcpAckOutsideWindowSent);
                if (State == TcpState.TimeWait && (flags & TcpFlags.Fin) != 0) _timeWaitAt = _ctx.Now + _s.TimeWait;
            }
            else _ctx.Decide(Decision.TcpRstOutsideWindowIgnored);
            _ctx.DropOutgoing(DropReason.TcpOutOfWindow);
            return;
        }

        // Second: RST (RFC 5961 section 3: only an exact match resets; in-window gets a challenge ACK).
        if ((flags & TcpFlags.Rst) != 0)
        {
            if (segSeq != _rcvNxt)
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
            if (!(segAck > _sndUna && segAck <= _sndMax))
            {
                _ctx.Decide(Decision.TcpAckOfNothingWeSent);
                _layer.SendReset(RemoteAddress, RemotePort, LocalPort, segAck.Value, 0, withAck: false);
                return;
            }
            OurSynAcknowledged(segSeq, segAck, (uint)seg.Window << Shift(_sndShift), Decision.TcpAckOfOurSynAck);
        }
        // RFC 5961 section 5: acceptable if SND.UNA - MAX.SND.WND <= SEG.ACK <= SND.NXT.
        if (segAck > _sndMax)
        {
            _ctx.Decide(Decision.TcpAckOfDataNotYetSent);
            SendAck(Decision.TcpAckBeyondWhatWeSentSent);
            return;
        }
        if (segAck < _sndUna - (int)Math.Min(_maxSndWnd, int.MaxValue))
        {
            _ctx.Decide(Decision.TcpAckFarTooOld);
            SendChallengeAck();
            return;
        }
        ProcessAck(seg, segSeq, segAck);
        if (State == TcpState.Closed) return;

        // Seventh: segment text.
        var data = seg.Payload;
        bool fin = (flags & TcpFlags.Fin) != 0;
        if (data.Length > 0 || fin)
        {
            if (State is TcpState.Established or TcpState.FinWait1 or TcpState.FinWait2)
                ReceiveText(segSeq, data, fin, (flags & TcpFlags.Psh) != 0);
            else if (State == TcpState.TimeWait && fin)
            {
                // A retransmitted FIN: acknowledge it again and restart the 2 MSL timer.
                _timeWaitAt = _ctx.Now + _s.TimeWait;
                SendAck(Decision.TcpAckFinAgainInTimeWaitSent);
            }
        }
        Output();
    }

    private static int Shift(byte s) => s == 255 ? 0 : s;

    private void OnSynInSynReceived(TcpSegment seg, TcpFlags flags)
    {
        if ((flags & TcpFlags.Ack) == 0)
        {
            // Our SYN-ACK was lost and the peer sent its SYN again: answer it again (Karn: no RTT sample from it now).
            _timing = false;
            _ctx.Decide(Decision.TcpSynAgain);
            SendSyn(ack: true);
            return;
        }
        var segAck = new SeqNumber(seg.AcknowledgmentNumber);
        if (segAck != _sndMax)
        {
            _ctx.Decide(Decision.TcpSynAckAcknowledgesNothing);
            _layer.SendReset(RemoteAddress, RemotePort, LocalPort, segAck.Value, 0, withAck: false);
            return;
        }
        // Simultaneous open (RFC 9293 figure 8): the peer's SYN-ACK acknowledges our SYN. A SYN's window is never
        // scaled (RFC 7323 2.2).
        OurSynAcknowledged(_irs, segAck, seg.Window, Decision.TcpSynAckInSynReceived);
        SendAck(Decision.TcpAckSimultaneousOpenSent);
        Output();
    }

    /// <summary>SYN-RECEIVED, and the peer acknowledged our SYN: take its window, stop the timer, be ESTABLISHED.</summary>
    private void OurSynAcknowledged(SeqNumber segSeq, SeqNumber segAck, uint window, Decision why)
    {
        if (_timing && segAck > _timedSeq) SampleRtt();
        _sndUna = segAck;
        _sndWnd = window;
        _maxSndWnd = Math.Max(_maxSndWnd, _sndWnd);
        _sndWl1 = segSeq;
        _sndWl2 = segAck;
        _retries = 0;
        DisarmRetransmit();
        Establish(why);
    }

    private void OnSegmentInSynSent(TcpSegment seg)
    {
        var flags = seg.Flags;
        var segAck = new SeqNumber(seg.AcknowledgmentNumber);
        bool hasAck = (flags & TcpFlags.Ack) != 0;
        if (hasAck && (segAck <= _iss || segAck > _sndMax))
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

        _irs = new SeqNumber(seg.SequenceNumber);
        _rcvNxt = _irs + 1;
        ApplySynOptions(seg);
        _sndWnd = seg.Window;
        _sndWl1 = _irs;
        _sndWl2 = segAck;
        _rcvEdge = _rcvNxt + Math.Min(65535, _recv.Capacity); // what our SYN offered, unscaled
        if (hasAck)
        {
            _sndUna = segAck;
            _retries = 0;
            DisarmRetransmit();
            if (_timing && segAck > _timedSeq) SampleRtt();
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
        if (_synRetransmitted && !_haveRtt && _rto < TimeSpan.FromSeconds(3)) _rto = Clamp(TimeSpan.FromSeconds(3));
        SetState(TcpState.Established);
        _ctx.Decide(why);
        if (_s.KeepAliveTime is { } ka) _keepAliveAt = _ctx.Now + ka;
        _user.OnEstablished();
        if (Listener is { } l)
        {
            Listener = null;
            l.OnEstablished(this, _user);
        }
    }

    private void ProcessAck(TcpSegment seg, SeqNumber segSeq, SeqNumber segAck)
    {
        int acked = segAck - _sndUna;
        _unansweredProbes = 0;
        bool windowUpdate = _sndWl1 < segSeq || (_sndWl1 == segSeq && _sndWl2 <= segAck);
        uint newWnd = (uint)seg.Window << Shift(_sndShift);
        if (acked > 0)
        {
            long dataAcked = acked;
            if (_finSent && segAck > _finSeq) dataAcked--; // our FIN takes a sequence number but no buffer byte
            _send.Acknowledge(dataAcked);
            var flight = (uint)(_sndMax - _sndUna);
            _sndUna = segAck;
            if (_sndNxt < _sndUna) _sndNxt = _sndUna;
            if (_timing && segAck > _timedSeq) SampleRtt();
            _retries = 0;
            OnNewAck((uint)acked, flight, segAck);
            if (_sndUna == _sndMax) DisarmRetransmit();
            else ArmRetransmit(); // RFC 6298 (5.3): restart on an ACK of new data
            if (State is not TcpState.Established and not TcpState.CloseWait) _ctx.Decide(Decision.TcpAck);
        }
        // RFC 5681 section 2: a duplicate ACK acknowledges nothing new, carries no data, SYN or FIN, leaves the
        // window as it was, and arrives while data is outstanding.
        else if (acked == 0 && seg.Payload.Length == 0 && !seg.Has(TcpFlags.Fin | TcpFlags.Syn) && _sndMax > _sndUna
                 && newWnd == _sndWnd)
        {
            OnDuplicateAck();
        }
        if (windowUpdate)
        {
            bool opened = _sndWnd == 0 && newWnd > 0;
            _sndWnd = newWnd;
            _maxSndWnd = Math.Max(_maxSndWnd, _sndWnd);
            _sndWl1 = segSeq;
            _sndWl2 = segAck;
            if (opened) { _persistAt = TimeSpan.MaxValue; _persistBackoff = TimeSpan.Zero; }
        }

        if (_finSent && _sndUna > _finSeq)
        {
            switch (State)
            {
                case TcpState.FinWait1: SetState(TcpState.FinWait2); _ctx.Decide(Decision.TcpAckOfOurFinFinWait2); break;
                case TcpState.Closing: EnterTimeWait(Decision.TcpAckOfOurFinTimeWait); break;
                case TcpState.LastAck: _ctx.Decide(Decision.TcpAckOfOurFinClosed); Destroy(); break;
            }
        }
    }

    /// <summary>RFC 5681 section 3.1 and RFC 6582 section 3.2: grow the window, or leave or stay in fast recovery.</summary>
    private void OnNewAck(uint acked, uint flightBefore, SeqNumber segAck)
    {
        uint mss = (uint)_sndMss;
        if (_inRecovery)
        {
            if (segAck >= _recover)
            {
                // Full acknowledgment: deflate the window and leave recovery (RFC 6582 3.2 step 3, option 1).
                _cwnd = Math.Min(_ssthresh, Math.Max((uint)(_sndMax - _sndUna), mss) + mss);
                _inRecovery = false;
                _dupAcks = 0;
            }
            else
            {
                // Partial acknowledgment: the next hole is lost too; resend it and stay in recovery (step 4).
                RetransmitFirst(Decision.TcpFastRetransmissionPartialAck);
                _cwnd = _cwnd > acked ? _cwnd - acked + mss : mss;
            }
            return;
        }
        _dupAcks = 0;
        // Grow only when the window limited what was in flight (RFC 7661 section 4.2): an application-limited
        // sender must not build a window it never tested. The cap keeps the arithmetic far from overflow.
        if (flightBefore + mss < _cwnd || _cwnd >= MaxCongestionWindow) return;
        if (_cwnd < _ssthresh) _cwnd += Math.Min(acked, mss); // slow start
        else _cwnd += Math.Max(1, mss * mss / _cwnd);          // congestion avoidance
    }

    private void OnDuplicateAck()
    {
        _dupAcks++;
        uint mss = (uint)_sndMss;
        if (_inRecovery) { _cwnd += mss; return; } // RFC 6582 3.2 step 3: inflate per further duplicate
        // RFC 5827 early retransmit: with fewer than four segments outstanding and nothing new to send, three
        // duplicates can never come; retransmit after (outstanding segments - 1) of them instead.
        int threshold = 3;
        int outstanding = (int)((_sndMax - _sndUna + _sndMss - 1) / _sndMss);
        if (outstanding < 4 && _send.Buffered <= _sndMax - _sndUna) threshold = Math.Max(1, outstanding - 1);
        // RFC 6582 section 4.1: no second fast retransmit for losses from the same window (ACK must pass recover).
        if (_dupAcks >= threshold && (!_recoverSet || _sndUna - 1 > _recover))
        {
            // Fast retransmit (RFC 5681 3.2 steps 2-4).
            uint flight = (uint)(_sndMax - _sndUna);
            _ssthresh = Math.Max(flight / 2, 2 * mss);
            _recover = _sndMax;
            _recoverSet = true;
            _inRecovery = true;
            _timing = false;
            RetransmitFirst(threshold == 3 ? Decision.TcpFastRetransmissionThreeDupAcks : Decision.TcpEarlyRetransmission);
            _cwnd = _ssthresh + (uint)_dupAcks * mss;
        }
    }

    private void ReceiveText(SeqNumber seq, Span<byte> data, bool fin, bool push)
    {
        // Trim what we already have (the front) and what lies beyond the window (the back).
        int skip = _rcvNxt - seq;
        if (skip > 0)
        {
            if (skip > data.Length) { _ctx.Decide(Decision.TcpDuplicate); SendAck(Decision.TcpAckDuplicateSent); return; }
            data = data[skip..];
            seq = _rcvNxt;
        }
        int room = _rcvEdge - seq;
        if (room < data.Length) { data = data[..Math.Max(0, room)]; fin = false; }
        if (data.Length == 0 && !fin) { _ctx.Decide(Decision.TcpDuplicate); SendAck(Decision.TcpAckDuplicateSent); return; }

        if (seq != _rcvNxt)
        {
            HoldOutOfOrder(seq, data, fin);
            _ctx.Decide(Decision.TcpDataOutOfOrder);
            SendAck(Decision.TcpAckDuplicateOutOfOrderSent);
            return;
        }
        if (data.Length > 0)
        {
            _recv.Write(0, data);
            _recv.Commit(data.Length);
            _rcvNxt += data.Length;
        }
        bool filledGap = DeliverHeld(ref fin);
        if (fin) ReceiveFin();
        else
        {
            _ctx.Decide(filledGap ? Decision.TcpDataFillsGap : Decision.TcpDataDelivered);
            // RFC 1122 4.2.3.2: acknowledge at least every second full-sized segment, and within the delay.
            _segmentsToAck++;
            if (filledGap || _segmentsToAck >= 2 || _outOfOrder.Count > 0) SendAck(Decision.TcpAck);
            else if (_delAckAt == TimeSpan.MaxValue) _delAckAt = _ctx.Now + _s.DelayedAckTimeout;
        }
    }

    private void HoldOutOfOrder(SeqNumber seq, ReadOnlySpan<byte> data, bool fin)
    {
        if (_outOfOrder.Count >= _s.MaxOutOfOrderSegments) { _ctx.DropOutgoing(DropReason.TcpOutOfOrderFull); return; }
        int i = 0;
        while (i < _outOfOrder.Count && _outOfOrder[i].Seq < seq) i++;
        if (i < _outOfOrder.Count && _outOfOrder[i].Seq == seq && _outOfOrder[i].Length >= data.Length) return; // have it
        var buf = ArrayPool<byte>.Shared.Rent(Math.Max(1, data.Length));
        data.CopyTo(buf);
        _outOfOrder.Insert(i, (seq, buf, data.Length, fin));
    }

    /// <summary>Moves held segments that now follow RCV.NXT into the stream; returns true if any did.</summary>
    private bool DeliverHeld(ref bool fin)
    {
        bool any = false;
        while (_outOfOrder.Count > 0 && _outOfOrder[0].Seq <= _rcvNxt)
        {
            var (seq, buf, len, f) = _outOfOrder[0];
            _outOfOrder.RemoveAt(0);
            int skip = _rcvNxt - seq;
            if (skip < len)
            {
                _recv.Write(0, buf.AsSpan(skip, len - skip));
                _recv.Commit(len - skip);
                _rcvNxt += len - skip;
                any = true;
            }
            if (f && skip <= len) fin = true;
            ArrayPool<byte>.Shared.Return(buf);
        }
        return any;
    }

    /// <summary>Eighth: the peer's FIN (RFC 9293 3.10.7.4).</summary>
    private void ReceiveFin()
    {
        if (_finReceived) { SendAck(Decision.TcpAckFinAgainSent); return; }
        _finReceived = true;
        _rcvNxt += 1;
        _recv.Complete();
        switch (State)
        {
            case TcpState.SynReceived:
            case TcpState.Established:
                SetState(TcpState.CloseWait);
                _ctx.Decide(Decision.TcpFinCloseWait);
                break;
            case TcpState.FinWait1:
                if (_sndUna > _finSeq) EnterTimeWait(Decision.TcpFinTimeWait);
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
        SetState(TcpState.TimeWait);
        _ctx.Decide(why);
        DisarmRetransmit();
        _persistAt = _keepAliveAt = TimeSpan.MaxValue;
        _timeWaitAt = _ctx.Now + _s.TimeWait;
        _send.Close();
    }

    // ---------------------------------------------------------------- output

    /// <summary>Sends what the windows allow: data (Nagle and sender SWS avoidance, RFC 1122 4.2.3.4), then our FIN.</summary>
    public void Output()
    {
        if (State is not (TcpState.Established or TcpState.CloseWait or TcpState.FinWait1 or TcpState.Closing or TcpState.LastAck)) return;
        long buffered = _send.Buffered;
        bool completed = _send.Completed;
        while (true)
        {
            long sentData = _sndNxt - _sndUna;
            if (_finSent && _sndNxt > _finSeq) return; // everything including the FIN is out
            long unsent = buffered - sentData;
            uint flight = (uint)(_sndNxt - _sndUna);
            // RFC 3042 limited transmit: each of the first two duplicate ACKs lets one new segment out beyond cwnd,
            // so a small window still produces the duplicates that fast retransmit needs.
            uint extra = !_inRecovery && _dupAcks is 1 or 2 ? (uint)(_dupAcks * _sndMss) : 0;
            uint window = Math.Min(_sndWnd, _cwnd + extra);
            long usable = (long)window - flight;
            if (unsent > 0)
            {
                int len = (int)Math.Min(Math.Min(unsent, _sndMss), Math.Max(0, usable));
                if (len <= 0)
                {
                    // Window closed (or too small for anything) with nothing in flight: only the persist timer can
                    // get us going again if the peer's window update is lost (RFC 1122 4.2.2.17).
                    if (flight == 0 && _persistAt == TimeSpan.MaxValue) ArmPersist();
                    return;
                }
                if (len < _sndMss && !_forceSend)
                {
                    bool allOfIt = len == unsent;
                    // Nagle (RFC 896): one small segment in flight at a time, unless asked not to or finishing.
                    if (allOfIt && flight > 0 && !_s.NoDelay && !completed) return;
                    // Sender SWS avoidance: a window-limited piece must be at least half the largest window seen;
                    // with nothing in flight the persist timer is the override timeout that sends it anyway.
                    if (!allOfIt && len < _maxSndWnd / 2)
                    {
                        if (flight == 0 && _persistAt == TimeSpan.MaxValue) ArmPersist();
                        return;
                    }
                }
                _forceSend = false;
                _persistAt = TimeSpan.MaxValue; // data in flight: the retransmission timer watches it now
                _persistBackoff = TimeSpan.Zero;
                bool retransmission = _sndNxt < _sndMax;
                var flags = TcpFlags.Ack | (len == unsent ? TcpFlags.Psh : 0);
                Emit(_sndNxt, flags, sentData, len, default, retransmission ? Decision.TcpRetransmissionSent : Decision.TcpDataSent);
                if (!retransmission && !_timing) { _timing = true; _timedSeq = _sndNxt; _timedAt = _ctx.Now; }
                _sndNxt += len;
                if (_sndNxt > _sndMax) _sndMax = _sndNxt;
                if (_rtxAt == TimeSpan.MaxValue) ArmRetransmit();
                continue;
            }
            if (completed && unsent == 0)
            {
                // All data is out and the application closed its side: send FIN (RFC 9293 3.10.4, CLOSE call).
                bool first = !_finSent;
                if (first) { _finSent = true; _finSeq = _sndNxt; }
                Emit(_finSeq, TcpFlags.Fin | TcpFlags.Ack, 0, 0, default, first ? Decision.TcpFinSent : Decision.TcpFinRetransmissionSent);
                _sndNxt = _finSeq + 1;
                if (_sndNxt > _sndMax) _sndMax = _sndNxt;
                if (_rtxAt == TimeSpan.MaxValue) ArmRetransmit();
                if (first)
                {
                    if (State == TcpState.Established) SetState(TcpState.FinWait1);
                    else if (State == TcpState.CloseWait) SetState(TcpState.LastAck);
                }
            }
            return;
        }
    }

    private void RetransmitFirst(Decision what)
    {
        long buffered = _send.Buffered;
        if (buffered > 0)
        {
            int len = (int)Math.Min(buffered, _sndMss);
            Emit(_sndUna, TcpFlags.Ack | (len == buffered ? TcpFlags.Psh : 0), 0, len, default, what);
        }
        else if (_finSent && _sndUna == _finSeq) Emit(_finSeq, TcpFlags.Fin | TcpFlags.Ack, 0, 0, default, what);
        ArmRetransmit();
    }

    /// <summary>
    /// A segment with no data carries SND.MAX, the highest sequence number sent, not SND.NXT: after a retransmission
    /// timeout SND.NXT goes back to SND.UNA, and the peer may already hold more than that, so it would find SND.NXT
    /// below RCV.NXT, call the segment unacceptable and never read its ACK (RFC 9293 3.10.7.4). Two sides that both
    /// time out would then reject each other's ACKs for ever. Linux does the same (tcp_acceptable_seq).
    /// </summary>
    private void SendAck(Decision what) => Emit(_sndMax, TcpFlags.Ack, 0, 0, default, what);

    private void SendChallengeAck()
    {
        if (_layer.TakeChallengeAckToken()) SendAck(Decision.TcpChallengeAckSent);
        else _ctx.DropOutgoing(DropReason.TcpChallengeAckLimited);
    }

    /// <summary>The window we can offer now (RFC 9293 3.8.6.2.2: receiver SWS avoidance; never shrink the right edge).</summary>
    private int AdvertisableWindow()
    {
        int free = _recv.Free;
        int threshold = Math.Min(_recv.Capacity / 2, OurMss);
        var edge = _rcvNxt + free;
        if (edge - _rcvEdge < threshold && _rcvEdge >= _rcvNxt) edge = _rcvEdge;
        int wnd = Math.Max(0, edge - _rcvNxt);
        wnd = Math.Min(wnd, 65535 << _rcvShift);
        return wnd >> _rcvShift << _rcvShift; // what the scaled field can say
    }

    /// <summary>Builds one segment in the stack's transmit buffer and sends it; every segment carries our window and ACK.</summary>
    private void Emit(SeqNumber seq, TcpFlags flags, long dataOffset, int dataLength, TcpOptions options, Decision what, ushort? windowOverride = null)
    {
        var tx = _ip.TxPayload;
        ushort window;
        if (windowOverride is { } w) window = w;
        else
        {
            int wnd = AdvertisableWindow();
            var edge = _rcvNxt + wnd;
            if (edge > _rcvEdge) _rcvEdge = edge;
            window = (ushort)Math.Min(65535, wnd >> _rcvShift);
        }
        var ack = (flags & TcpFlags.Ack) != 0 ? _rcvNxt.Value : 0;
        int hl = TcpSegment.WriteHeader(tx, LocalPort, RemotePort, seq.Value, ack, flags, window, options);
        if (dataLength > 0) _send.CopyTo(dataOffset, tx.Slice(hl, dataLength));
        var seg = new TcpSegment(tx[..(hl + dataLength)]);
        seg.UpdateChecksum(LocalAddress, RemoteAddress);
        _ctx.Counters.Sent(Layer.Tcp);
        if ((flags & TcpFlags.Ack) != 0) { _segmentsToAck = 0; _delAckAt = TimeSpan.MaxValue; }
        _ip.Send(RemoteAddress, IpProtocol.Tcp, hl + dataLength, Layer.Tcp, what);
    }

    // ---------------------------------------------------------------- timers

    private void ArmRetransmit() => _rtxAt = _ctx.Now + _rto;
    private void DisarmRetransmit() => _rtxAt = TimeSpan.MaxValue;

    private void ArmPersist()
    {
        _persistBackoff = _persistBackoff == TimeSpan.Zero ? _rto : TimeSpan.FromTicks(Math.Min(_persistBackoff.Ticks * 2, _s.MaxRetransmitTimeout.Ticks));
        _persistAt = _ctx.Now + _persistBackoff;
    }

    /// <summary>RFC 6298 section 2: SRTT, RTTVAR and RTO from a new measurement (Karn: never from a retransmitted segment).</summary>
    private void SampleRtt()
    {
        _timing = false;
        var r = _ctx.Now - _timedAt;
        if (!_haveRtt)
        {
            _srtt = r;
            _rttvar = r / 2;
            _haveRtt = true;
        }
        else
        {
            var delta = (_srtt - r).Duration();
            _rttvar = _rttvar * 3 / 4 + delta / 4;
            _srtt = _srtt * 7 / 8 + r / 8;
        }
        var rto = _srtt + TimeSpan.FromTicks(Math.Max(TimeSpan.FromMilliseconds(1).Ticks, 4 * _rttvar.Ticks));
        _rto = Clamp(rto);
    }

    private TimeSpan Clamp(TimeSpan rto) =>
        rto < _s.MinRetransmitTimeout ? _s.MinRetransmitTimeout : rto > _s.MaxRetransmitTimeout ? _s.MaxRetransmitTimeout : rto;

    public void OnTimer()
    {
        var now = _ctx.Now;
        if (now >= _timeWaitAt) { _timeWaitAt = TimeSpan.MaxValue; Destroy(); return; }
        if (now >= _delAckAt) { _delAckAt = TimeSpan.MaxValue; SendAck(Decision.TcpDelayedAckSent); }
        if (now >= _rtxAt) OnRetransmitTimeout();
        if (State == TcpState.Closed) return;
        if (now >= _persistAt)
        {
            _persistAt = TimeSpan.MaxValue;
            if (_sndWnd > 0)
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
                Emit(_sndUna - 1, TcpFlags.Ack, 0, 0, default, Decision.TcpZeroWindowProbeSent);
                ArmPersist();
            }
        }
        if (now >= _keepAliveAt)
        {
            if (_keepAliveProbes >= _s.KeepAliveProbes) { Fail(SocketError.TimedOut, sendReset: true); return; }
            _keepAliveProbes++;
            Emit(_sndUna - 1, TcpFlags.Ack, 0, 0, default, Decision.TcpKeepAliveSent);
            _keepAliveAt = now + _s.KeepAliveInterval;
        }
    }

    private void OnRetransmitTimeout()
    {
        if (_sndWnd == 0 && State is TcpState.Established or TcpState.CloseWait or TcpState.FinWait1 or TcpState.Closing or TcpState.LastAck)
        {
            // The peer closed its window: what went beyond it will be sent again when it opens. While the peer
            // answers our probes the connection must stay (RFC 1122 4.2.2.17), so this is persist, not a retry.
            _sndNxt = _sndUna;
            if (_finSent && _sndUna == _finSeq) _sndNxt = _finSeq;
            _rtxAt = TimeSpan.MaxValue;
            if (_persistAt == TimeSpan.MaxValue) ArmPersist();
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
        _rto = Clamp(_rto * 2);
        _timing = false;
        switch (State)
        {
            case TcpState.SynSent: _synRetransmitted = true; SendSyn(ack: false); break;
            case TcpState.SynReceived: _synRetransmitted = true; SendSyn(ack: true); break;
            default:
                // RFC 5681 (4): after a timeout, ssthresh = max(FlightSize/2, 2*SMSS), cwnd = one segment.
                uint flight = (uint)(_sndMax - _sndUna);
                _ssthresh = Math.Max(flight / 2, 2 * (uint)_sndMss);
                _cwnd = (uint)_sndMss;
                _inRecovery = false;
                _dupAcks = 0;
                _recover = _sndMax;
                _recoverSet = true;
                _sndNxt = _sndUna; // go back: resend from the oldest unacknowledged byte as the window reopens
                if (_finSent && _sndUna == _finSeq) _sndNxt = _finSeq;
                _rtxAt = TimeSpan.MaxValue;
                Output();
                break;
        }
        ArmRetransmit();
    }

    // ---------------------------------------------------------------- from the application

    /// <summary>On the loop: send what was written; tell the peer the window reopened if it had nearly closed.</summary>
    public void OnAppNudge()
    {
        if (State == TcpState.Closed) return;
        Output();
        if (State is TcpState.Established or TcpState.FinWait1 or TcpState.FinWait2)
        {
            int wnd = AdvertisableWindow();
            int advertised = Math.Max(0, _rcvEdge - _rcvNxt);
            // RFC 1122 4.2.3.3: update when the window opens by min(half the buffer, one MSS) past what was offered.
            if (wnd - advertised >= Math.Min(_recv.Capacity / 2, OurMss) && advertised < _recv.Capacity / 2) SendAck(Decision.TcpWindowUpdateSent);
        }
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
        if (sendReset) _layer.SendReset(RemoteAddress, RemotePort, LocalPort, _sndMax.Value, _rcvNxt.Value, withAck: true); // as SendAck: acceptable to the peer
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
        _rtxAt = _persistAt = _delAckAt = _keepAliveAt = _timeWaitAt = TimeSpan.MaxValue;
        foreach (var o in _outOfOrder) ArrayPool<byte>.Shared.Return(o.Data);
        _outOfOrder.Clear();
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
