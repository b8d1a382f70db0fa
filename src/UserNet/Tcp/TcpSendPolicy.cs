namespace UserNet.Tcp;

/// <summary>What the sender does with the data it has and the window it may use.</summary>
internal readonly record struct SendVerdict(int Length, bool ArmPersist)
{
    /// <summary>Nothing goes now; <see cref="ArmPersist"/> says whether only the persist timer can get it going.</summary>
    public static SendVerdict Wait(bool armPersist) => new(0, armPersist);
}

/// <summary>
/// When to send a segment and how large (RFC 9293 3.8.6.2.1, RFC 1122 4.2.3.4): at most one MSS and what the usable
/// window allows; a small segment only when it is all there is and nothing is in flight (Nagle, RFC 896) unless
/// no-delay is set or the application has finished; a window-limited piece only when it is at least half the largest
/// window the peer offered (sender silly window avoidance) and, unless no-delay is set, nothing is in flight. With
/// nothing in flight a refusal needs the persist timer, which is also the override timeout that sends the piece anyway.
/// </summary>
internal static class TcpSendPolicy
{
    /// <param name="unsent">Bytes buffered and not yet sent.</param>
    /// <param name="usable">The usable window: min(SND.WND, cwnd + limited transmit) less what is in flight (may be negative).</param>
    /// <param name="mss">The send MSS.</param>
    /// <param name="inFlight">SND.NXT - SND.UNA.</param>
    /// <param name="maxWindow">The largest window the peer has offered.</param>
    /// <param name="noDelay">Nagle's algorithm is off.</param>
    /// <param name="finished">The application has finished writing (the last piece is not held back).</param>
    /// <param name="overrideTimeout">The persist timer fired with the window open: send what it allows once, whatever its size.</param>
    public static SendVerdict Decide(long unsent, long usable, int mss, uint inFlight, uint maxWindow, bool noDelay, bool finished, bool overrideTimeout)
    {
        int length = (int)Math.Min(Math.Min(unsent, mss), Math.Max(0, usable));
        // Window closed (or too small for anything) with nothing in flight: only the persist timer can get us going
        // again if the peer's window update is lost (RFC 1122 4.2.2.17).
        if (length <= 0) return SendVerdict.Wait(armPersist: inFlight == 0);
        if (length < mss && !overrideTimeout)
        {
            bool allOfIt = length == unsent;
            // Nagle (RFC 896): one small segment in flight at a time, unless asked not to or finishing.
            if (allOfIt && inFlight > 0 && !noDelay && !finished) return SendVerdict.Wait(armPersist: false);
            // Sender SWS avoidance: a window-limited piece must be at least half the largest window seen, and with
            // Nagle on it waits while data is in flight too ("[SND.NXT = SND.UNA and] min(D,U) >= Fs * Max(SND.WND)").
            if (!allOfIt && (length < maxWindow / 2 || (inFlight > 0 && !noDelay))) return SendVerdict.Wait(armPersist: inFlight == 0);
        }
        return new SendVerdict(length, false);
    }
}
