using System.Net.Sockets;
using UserNet.Core;
using UserNet.Ip;
using UserNet.Wire;

namespace UserNet.Tcp;

/// <summary>
/// One TCP connection (the TCB of RFC 9293 section 3.3.1): segment arrival in the order of section 3.10.7, and output.
/// Everything else is a part with a job of its own, which the TCB calls: the send and receive sequence spaces
/// (<see cref="TcpSendSequence"/>, <see cref="TcpReceiveWindow"/>), the out-of-order ranges (<see cref="ReceiveAssembler"/>),
/// the retransmission timer (<see cref="RttEstimator"/>), congestion control (<see cref="ICongestionController"/>),
/// Nagle and silly window avoidance (<see cref="TcpSendPolicy"/>), and the timers (<see cref="TcpTimers"/>). The bytes
/// live in the application's buffers (<see cref="ITcpUser"/>). Runs on the stack's loop only.
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
    private readonly ICongestionController _cc = new NewRenoCongestionControl();
    private TcpTimers _timers = TcpTimers.Off;

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
    internal uint CongestionWindow => _cc.Window;
    internal uint SlowStartThreshold => _cc.SlowStartThreshold;
    internal TimeSpan RetransmitTimeout => _rtt.Rto;
    internal SeqNumber SndUna => _snd.Una;
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
        _cc.Start(_sndMss);
    }

    private void SendSyn(bool ack)
    {
        var o = new TcpOptions { Mss = (ushort)OurMss, WindowScale = (ack && !WindowScaling) ? null : _rcv.Shift };
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

        // First: sequence number acceptability (the four cases).
        if (!_rcv.IsAcceptable(segSeq, segLen))
        {
            if ((flags & TcpFlags.Rst) == 0)
            {
                _ctx.Decide(Decision.TcpSegmentOutsideWindowAck);
                SendAck(Decision.TcpAckOutsideWindowSent);
                if (State == TcpState.TimeWait && (flags & TcpFlags.Fin) != 0) _timers.Set(TcpTimer.TimeWait, _ctx.Now + _s.TimeWait);
            }
            else _ctx.Decide(Decision.TcpRstOutsideWindowIgnored);
            _ctx.DropOutgoing(DropReason.TcpOutOfWindow);
            return;
        }

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
        ProcessAck(seg, segSeq, segAck);
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

    private void ProcessAck(TcpSegment seg, SeqNumber segSeq, SeqNumber segAck)
    {
        int acked = segAck - _snd.Una;
        _unansweredProbes = 0;
        uint newWnd = (uint)seg.Window << Shift(_sndShift);
        if (acked > 0)
        {
            uint flightBefore = _snd.Outstanding;
            _send.Acknowledge(_snd.Acknowledge(segAck));
            _rtt.OnAck(segAck, _ctx.Now);
            _retries = 0;
            if (_cc.OnAck((uint)acked, flightBefore, segAck) == CongestionAction.RetransmitNextHole)
                RetransmitFirst(Decision.TcpFastRetransmissionPartialAck); // RFC 6582 3.2 step 4
            if (_snd.AllAcknowledged) _timers.Stop(TcpTimer.Retransmit);
            else ArmRetransmit(); // RFC 6298 (5.3): restart on an ACK of new data
            if (State is not TcpState.Established and not TcpState.CloseWait) _ctx.Decide(Decision.TcpAck);
        }
        // RFC 5681 section 2: a duplicate ACK acknowledges nothing new, carries no data, SYN or FIN, leaves the
        // window as it was, and arrives while data is outstanding.
        else if (acked == 0 && seg.Payload.Length == 0 && !seg.Has(TcpFlags.Fin | TcpFlags.Syn) && !_snd.AllAcknowledged
                 && newWnd == _snd.Window)
        {
            OnDuplicateAck();
        }
        bool wasClosed = _snd.Window == 0;
        if (_snd.TryUpdateWindow(segSeq, segAck, newWnd) && wasClosed && newWnd > 0)
        {
            _timers.Stop(TcpTimer.Persist);
            _persistBackoff = TimeSpan.Zero;
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

    private void OnDuplicateAck()
    {
        // RFC 5827 early retransmit: with fewer than four segments outstanding and nothing new to send, three
        // duplicates can never come; retransmit after (outstanding segments - 1) of them instead.
        uint outstanding = _snd.Outstanding;
        int threshold = 3;
        int segments = (int)((outstanding + _sndMss - 1) / _sndMss);
        if (segments < 4 && _send.Peek(out _) <= outstanding) threshold = Math.Max(1, segments - 1);
        var action = _cc.OnDuplicateAck(outstanding, _snd.Una, _snd.Max, threshold);
        if (action is CongestionAction.None) return;
        _rtt.StopTiming();
        RetransmitFirst(action == CongestionAction.FastRetransmit ? Decision.TcpFastRetransmissionThreeDupAcks : Decision.TcpEarlyRetransmission);
    }

    private void ReceiveText(SeqNumber seq, Span<byte> data, bool fin)
    {
        // Trim what we already have (the front) and what lies beyond the window (the back).
        int skip = _rcv.Nxt - seq;
        if (skip > 0)
        {
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
                _recv.Write(offset, data);
                if (!_outOfOrder.Add(offset, data.Length)) _ctx.DropOutgoing(DropReason.TcpOutOfOrderFull);
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
            _recv.Commit(data.Length + held);
            _rcv.Advance(data.Length + held);
            filledGap = held > 0;
        }
        if (_outOfOrderFin is { } f && _rcv.Nxt >= f) { fin = true; _outOfOrderFin = null; }
        if (fin) ReceiveFin();
        else
        {
            _ctx.Decide(filledGap ? Decision.TcpDataFillsGap : Decision.TcpDataDelivered);
            // RFC 1122 4.2.3.2: acknowledge at least every second full-sized segment, and within the delay.
            _segmentsToAck++;
            if (filledGap || _segmentsToAck >= 2 || !_outOfOrder.IsEmpty) SendAck(Decision.TcpAck);
            else if (!_timers.IsArmed(TcpTimer.DelayedAck)) _timers.Set(TcpTimer.DelayedAck, _ctx.Now + _s.DelayedAckTimeout);
        }
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
        SetState(TcpState.TimeWait);
        _ctx.Decide(why);
        _timers.Stop(TcpTimer.Retransmit);
        _timers.Stop(TcpTimer.Persist);
        _timers.Stop(TcpTimer.KeepAlive);
        _timers.Set(TcpTimer.TimeWait, _ctx.Now + _s.TimeWait);
        _send.Close();
    }

    // ---------------------------------------------------------------- output

    /// <summary>Sends what the windows allow: data (Nagle and sender SWS avoidance, <see cref="TcpSendPolicy"/>), then our FIN.</summary>
    private void Output()
    {
        if (State is not (TcpState.Established or TcpState.CloseWait or TcpState.FinWait1 or TcpState.Closing or TcpState.LastAck)) return;
        long buffered = _send.Peek(out bool completed);
        while (true)
        {
            if (_snd.FinSent && _snd.Nxt > _snd.FinSeq) return; // everything including the FIN is out
            uint inFlight = _snd.Sent;
            long unsent = buffered - inFlight;
            // RFC 3042 limited transmit: each of the first two duplicate ACKs lets one new segment out beyond cwnd,
            // so a small window still produces the duplicates that fast retransmit needs.
            uint window = Math.Min(_snd.Window, _cc.Window + _cc.LimitedTransmit);
            long usable = (long)window - inFlight;
            if (unsent > 0)
            {
                var verdict = TcpSendPolicy.Decide(unsent, usable, _sndMss, inFlight, _snd.MaxWindow, _s.NoDelay, completed, _forceSend);
                if (verdict.Length == 0)
                {
                    if (verdict.ArmPersist && !_timers.IsArmed(TcpTimer.Persist)) ArmPersist();
                    return;
                }
                int len = verdict.Length;
                _forceSend = false;
                _timers.Stop(TcpTimer.Persist); // data in flight: the retransmission timer watches it now
                _persistBackoff = TimeSpan.Zero;
                bool retransmission = _snd.Nxt < _snd.Max;
                var flags = TcpFlags.Ack | (len == unsent ? TcpFlags.Psh : 0);
                Emit(_snd.Nxt, flags, inFlight, len, default, retransmission ? Decision.TcpRetransmissionSent : Decision.TcpDataSent);
                if (!retransmission) _rtt.StartTimingIfIdle(_snd.Nxt, _ctx.Now);
                _snd.Advance(len);
                if (!_timers.IsArmed(TcpTimer.Retransmit)) ArmRetransmit();
                continue;
            }
            if (completed && unsent == 0)
            {
                // All data is out and the application closed its side: send FIN (RFC 9293 3.10.4, CLOSE call).
                bool first = !_snd.FinSent;
                var finSeq = _snd.SendFin();
                Emit(finSeq, TcpFlags.Fin | TcpFlags.Ack, 0, 0, default, first ? Decision.TcpFinSent : Decision.TcpFinRetransmissionSent);
                if (!_timers.IsArmed(TcpTimer.Retransmit)) ArmRetransmit();
                if (first)
                {
                    if (State == TcpState.Established) SetState(TcpState.FinWait1);
                    else if (State == TcpState.CloseWait) SetState(TcpState.LastAck);
                }
            }
            return;
        }
    }

    /// <summary>Resends from SND.UNA: up to one MSS of data, or the FIN if that is all that is unacknowledged.</summary>
    private void RetransmitFirst(Decision what)
    {
        long buffered = _send.Peek(out _);
        if (buffered > 0)
        {
            int len = (int)Math.Min(buffered, _sndMss);
            Emit(_snd.Una, TcpFlags.Ack | (len == buffered ? TcpFlags.Psh : 0), 0, len, default, what);
        }
        else if (_snd.FinSent && _snd.Una == _snd.FinSeq) Emit(_snd.FinSeq, TcpFlags.Fin | TcpFlags.Ack, 0, 0, default, what);
        ArmRetransmit();
    }

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

    /// <summary>Builds one segment in the stack's transmit buffer and sends it; every segment carries our window and ACK.</summary>
    private void Emit(SeqNumber seq, TcpFlags flags, long dataOffset, int dataLength, TcpOptions options, Decision what, ushort? windowOverride = null)
    {
        var tx = _ip.TxPayload;
        ushort window = windowOverride ?? _rcv.Advertise(_recv.Free, OurMss);
        var ack = (flags & TcpFlags.Ack) != 0 ? _rcv.Nxt.Value : 0;
        int hl = TcpSegment.WriteHeader(tx, LocalPort, RemotePort, seq.Value, ack, flags, window, options);
        if (dataLength > 0) _send.CopyTo(dataOffset, tx.Slice(hl, dataLength));
        var seg = new TcpSegment(tx[..(hl + dataLength)]);
        seg.UpdateChecksum(LocalAddress, RemoteAddress);
        _ctx.Counters.Sent(Layer.Tcp);
        if ((flags & TcpFlags.Ack) != 0) { _segmentsToAck = 0; _timers.Stop(TcpTimer.DelayedAck); }
        _ip.Send(RemoteAddress, IpProtocol.Tcp, hl + dataLength, Layer.Tcp, what);
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
            _snd.Rewind();
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
                _cc.OnRetransmitTimeout(_snd.Outstanding, _snd.Max);
                _snd.Rewind(); // go back: resend from the oldest unacknowledged byte as the window reopens
                _timers.Stop(TcpTimer.Retransmit);
                Output();
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
