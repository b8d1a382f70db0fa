using UserNet.Core;
using UserNet.Wire;

namespace UserNet.Tcp;

// SYN cookies (RFC 4987 section 3.6) at a listener, as Linux uses them: only when its queue is full, and an ACK is
// checked as a cookie only while an overflow is recent enough for a cookie of it to still be good.
internal sealed partial class TcpLayer
{
    private readonly SynCookies _cookies;
    /// <summary>
    /// ISNs the <see cref="TcpIsnSelector"/> chose for cookie SYN-ACKs (a replay gives the recorded ones): they are not
    /// cookies of ours, so they are remembered until their ACK comes. Only with a selector; as many as it chose.
    /// </summary>
    private Dictionary<(uint RemoteAddress, ushort RemotePort, ushort LocalPort), (uint Iss, int MssIndex)>? _chosenCookies;

    /// <summary>
    /// The TSval the connection of this 4-tuple would send now (RFC 7323 5.4: milliseconds of the stack's clock plus
    /// the connection's offset), so that a connection made from the cookie goes on from the value its SYN-ACK carried.
    /// </summary>
    private uint TimestampNow(Ipv4Address local, ushort localPort, Ipv4Address remote, ushort remotePort) =>
        unchecked((uint)(Context.Now.Ticks / TimeSpan.TicksPerMillisecond) + TimestampOffset(local, localPort, remote, remotePort));

    /// <summary>
    /// A SYN reached a listener with no room: answer with a SYN-ACK whose ISN is a cookie, and keep nothing. It offers
    /// our MSS (RFC 9293 3.7.1: what we can receive; the cookie holds the peer's class). When the peer sent timestamps,
    /// our TSval holds its window scale and SACK-permitted, and we offer ours back; without them the cookie has no
    /// room for those options, so the SYN-ACK offers none (Linux clears them too).
    /// </summary>
    private void SendSynCookie(Ipv4Header ip, TcpSegment seg, TcpListenerCore listener)
    {
        var ctx = Context;
        TcpOptions.TryParse(seg.Options, out var offered);
        int ourMss = ctx.Mtu - Ipv4Header.MinimumLength - TcpSegment.MinimumHeaderLength;
        int index = SynCookies.MssIndex(offered.Mss ?? 536, ourMss);
        var remote = ip.Source;
        uint iss;
        if (_isnSelector?.Invoke(ip.Destination, seg.DestinationPort, remote, seg.SourcePort) is uint chosen)
        {
            iss = chosen;
            (_chosenCookies ??= new())[(remote.Value, seg.SourcePort, seg.DestinationPort)] = (chosen, index);
        }
        else iss = _cookies.Make(remote, seg.SourcePort, ip.Destination, seg.DestinationPort, seg.SequenceNumber, index, ctx.Now);
        int buffer = listener.Settings.ReceiveBufferSize;
        var options = new TcpOptions { Mss = (ushort)ourMss };
        if (offered.TimestampValue is { } tsVal)
        {
            byte? ws = offered.WindowScale is { } w ? Math.Min(w, (byte)14) : null;
            options.TimestampValue = SynCookies.EncodeTimestamp(TimestampNow(ip.Destination, seg.DestinationPort, remote, seg.SourcePort), ws, offered.SackPermitted);
            options.TimestampEcho = tsVal;
            options.SackPermitted = offered.SackPermitted;
            if (ws is not null) options.WindowScale = TcpReceiveWindow.ShiftFor(buffer);
        }
        listener.LastOverflow = ctx.Now;
        ctx.Counters.Count(TcpCounter.SynCookiesSent);
        ctx.Decide(Decision.TcpSynToFullListenerCookie);

        var tx = Ip.TxPayload;
        uint ack = unchecked(seg.SequenceNumber + 1);
        int hl = TcpSegment.WriteHeader(tx, seg.DestinationPort, seg.SourcePort, iss, ack, TcpFlags.Syn | TcpFlags.Ack,
            TcpReceiveWindow.SynWindowFor(buffer), options);
        new TcpSegment(tx[..hl]).UpdateChecksum(ip.Destination, remote);
        ctx.Counters.Sent(Layer.Tcp);
        Ip.Send(remote, IpProtocol.Tcp, hl, Layer.Tcp, Decision.TcpSynAckCookieSent);
    }

    /// <summary>
    /// An ACK reached a listener for no connection: when its queue overflowed lately, the ACK may complete a handshake
    /// whose SYN-ACK was a cookie. True when it did (a connection is ESTABLISHED, or, with the accept queue full, the ACK
    /// is dropped and the peer's retransmission tries again); false when the caller answers with RST, and then
    /// <paramref name="badCookie"/> says whether it was checked as a cookie and failed (forged, or stale).
    /// </summary>
    private bool TryAcceptSynCookie(Ipv4Header ip, TcpSegment seg, TcpListenerCore listener, out bool badCookie)
    {
        badCookie = false;
        var ctx = Context;
        if (!listener.Settings.SynCookies || (seg.Flags & TcpFlags.Syn) != 0 || listener.LastOverflow is not { } overflow
            || ctx.Now - overflow > SynCookies.Validity)
            return false;
        var remote = ip.Source;
        uint cookie = unchecked(seg.AcknowledgmentNumber - 1);
        uint peerIsn = unchecked(seg.SequenceNumber - 1);
        TcpOptions.TryParse(seg.Options, out var o);
        var options = new SynCookieOptions(null, false, null);
        bool ok = _cookies.TryCheck(remote, seg.SourcePort, ip.Destination, seg.DestinationPort, cookie, peerIsn, ctx.Now, out int mss)
                  || TryTakeChosen((remote.Value, seg.SourcePort, seg.DestinationPort), cookie, out mss);
        if (ok && o.TimestampValue is { } tsVal && o.TimestampEcho is { } tsEcr)
        {
            ok = SynCookies.TryDecodeTimestamp(tsEcr, out var ws, out bool sack);
            options = new SynCookieOptions(ws, sack, tsVal);
        }
        if (!ok)
        {
            badCookie = true;
            ctx.Counters.Count(TcpCounter.SynCookiesRejected);
            return false;
        }
        if (RoomForConnection(remote) is { } full)
        {
            ctx.Drop(full); // the peer retransmits; the cookie is good for a while
            return true;
        }
        if (!listener.AcceptQueueHasRoom)
        {
            ctx.Drop(DropReason.TcpAcceptQueueFull); // as Linux: the peer retransmits, and the cookie is good for a while
            return true;
        }
        ctx.Counters.Count(TcpCounter.SynCookiesAccepted);
        _chosenCookies?.Remove((remote.Value, seg.SourcePort, seg.DestinationPort));
        var user = listener.User.CreateUser(listener.Settings);
        var child = new TcpControlBlock(this, listener.Settings, ip.Destination, seg.DestinationPort, remote, seg.SourcePort, user, listener);
        Track((remote.Value, seg.SourcePort, seg.DestinationPort), child);
        listener.OnHalfOpen(); // counted as the handshake's connection until the listener takes it
        child.EstablishFromSynCookie(seg, new SeqNumber(cookie), mss, options);
        child.OnSegment(seg); // the client's first data often rides on this ACK
        ctx.Decide(Decision.TcpAckValidatesSynCookie);
        return true;
    }

    private bool TryTakeChosen((uint, ushort, ushort) key, uint cookie, out int mss)
    {
        mss = 0;
        if (_chosenCookies is null || !_chosenCookies.TryGetValue(key, out var chosen) || chosen.Iss != cookie) return false;
        mss = SynCookies.MssTable[chosen.MssIndex];
        return true;
    }
}
