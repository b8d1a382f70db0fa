namespace UserNet.Tcp;

/// <summary>The timers of one connection (RFC 9293 3.8, RFC 1122 4.2.2.17, 4.2.3.2, 4.2.3.6; RFC 8985 6.3 and 7.2).</summary>
internal enum TcpTimer { Retransmit, Persist, DelayedAck, KeepAlive, TimeWait, Reorder, LossProbe }

/// <summary>
/// A connection's timers as deadlines on the stack's clock (<see cref="TimeSpan.MaxValue"/> is off), and the earliest
/// of them, which the TCP layer keeps in its deadline heap so that a poll visits only connections that are due.
/// </summary>
internal struct TcpTimers
{
    private TimeSpan _retransmit, _persist, _delayedAck, _keepAlive, _timeWait, _reorder, _lossProbe;

    public static TcpTimers Off => new()
    {
        _retransmit = TimeSpan.MaxValue, _persist = TimeSpan.MaxValue, _delayedAck = TimeSpan.MaxValue,
        _keepAlive = TimeSpan.MaxValue, _timeWait = TimeSpan.MaxValue, _reorder = TimeSpan.MaxValue, _lossProbe = TimeSpan.MaxValue,
    };

    public readonly TimeSpan this[TcpTimer timer] => timer switch
    {
        TcpTimer.Retransmit => _retransmit,
        TcpTimer.Persist => _persist,
        TcpTimer.DelayedAck => _delayedAck,
        TcpTimer.KeepAlive => _keepAlive,
        TcpTimer.Reorder => _reorder,
        TcpTimer.LossProbe => _lossProbe,
        _ => _timeWait,
    };

    public void Set(TcpTimer timer, TimeSpan at)
    {
        switch (timer)
        {
            case TcpTimer.Retransmit: _retransmit = at; break;
            case TcpTimer.Persist: _persist = at; break;
            case TcpTimer.DelayedAck: _delayedAck = at; break;
            case TcpTimer.KeepAlive: _keepAlive = at; break;
            case TcpTimer.Reorder: _reorder = at; break;
            case TcpTimer.LossProbe: _lossProbe = at; break;
            default: _timeWait = at; break;
        }
    }

    public void Stop(TcpTimer timer) => Set(timer, TimeSpan.MaxValue);
    public readonly bool IsArmed(TcpTimer timer) => this[timer] != TimeSpan.MaxValue;
    public readonly bool IsDue(TcpTimer timer, TimeSpan now) => now >= this[timer];
    public void StopAll() => this = Off;

    /// <summary>The earliest deadline, or <see cref="TimeSpan.MaxValue"/> when every timer is off.</summary>
    public readonly TimeSpan Earliest
    {
        get
        {
            var d = _retransmit;
            if (_persist < d) d = _persist;
            if (_delayedAck < d) d = _delayedAck;
            if (_keepAlive < d) d = _keepAlive;
            if (_timeWait < d) d = _timeWait;
            if (_reorder < d) d = _reorder;
            if (_lossProbe < d) d = _lossProbe;
            return d;
        }
    }
}
