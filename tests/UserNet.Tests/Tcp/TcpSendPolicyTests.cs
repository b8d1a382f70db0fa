using CsCheck;
using UserNet.Tcp;

namespace UserNet.Tests.Tcp;

/// <summary>
/// When to send (RFC 9293 3.8.6.2.1, RFC 1122 4.2.3.4), with D the data queued and not sent, U the usable window:
/// <code>
///   Send data:
///   (1) if a maximum-sized segment can be sent, i.e., if: min(D,U) >= Eff.snd.MSS;
///   (2) or if the data is pushed and all queued data can be sent now, i.e., if:
///       [SND.NXT = SND.UNA and] PUSHed and D &lt;= U
///       (the bracketed condition is imposed by the Nagle algorithm);
///   (3) or if at least a fraction Fs of the maximum window can be sent, i.e., if:
///       [SND.NXT = SND.UNA and] min(D,U) >= Fs * Max(SND.WND);
///   (4) or if the override timeout occurs.
/// </code>
/// Fs is 1/2; all data counts as pushed; the override timeout is the persist timer. SMSS is 1460.
/// </summary>
public sealed class TcpSendPolicyTests
{
    private const int Mss = 1460;

    private static SendVerdict Decide(long unsent, long usable, uint inFlight = 0, uint maxWindow = 65535,
        bool noDelay = false, bool finished = false, bool overrideTimeout = false) =>
        TcpSendPolicy.Decide(unsent, usable, Mss, inFlight, maxWindow, noDelay, finished, overrideTimeout);

    private static SendVerdict Send(int length) => new(length, false);

    // =================================================================== (1) full-sized segments

    [Fact]
    public void A_full_sized_segment_always_goes_RFC9293_3_8_6_2_1_rule_1()
    {
        Assert.Equal(Send(1460), Decide(unsent: 5000, usable: 10_000, inFlight: 2920)); // Nagle on, data in flight
        Assert.Equal(Send(1460), Decide(unsent: 5000, usable: 1460, inFlight: 2920, maxWindow: 1_000_000)); // the window just fits one
        Assert.Equal(Send(1460), Decide(unsent: 1460, usable: 10_000, inFlight: 2920)); // all there is, and full-sized
    }

    [Fact]
    public void A_segment_is_at_most_one_MSS_of_the_data_and_of_the_usable_window_RFC9293_3_8_6_2_1()
    {
        Assert.Equal(Send(1460), Decide(unsent: 100_000, usable: 100_000));
        Assert.Equal(Send(700), Decide(unsent: 700, usable: 100_000));
        Assert.Equal(Send(1000), Decide(unsent: 100_000, usable: 1000, maxWindow: 2000));
    }

    // =================================================================== (2) Nagle (RFC 896, RFC 1122 4.2.3.4)

    [Fact]
    public void Nagle_a_small_final_piece_goes_when_nothing_is_in_flight_RFC1122_4_2_3_4()
    {
        Assert.Equal(Send(100), Decide(unsent: 100, usable: 10_000, inFlight: 0));
    }

    [Fact]
    public void Nagle_a_small_final_piece_waits_while_data_is_in_flight_RFC896_RFC1122_4_2_3_4()
    {
        // The ACK of what is in flight will come and ask again: no persist timer is needed.
        Assert.Equal(SendVerdict.Wait(armPersist: false), Decide(unsent: 100, usable: 10_000, inFlight: 1460));
        // 5000 written: three full segments went, 620 remain, and wait for the ACKs of the 4380 in flight.
        Assert.Equal(SendVerdict.Wait(armPersist: false), Decide(unsent: 620, usable: 65535 - 4380, inFlight: 4380));
    }

    [Fact]
    public void With_NoDelay_Nagle_is_off_and_the_small_piece_goes_at_once_RFC1122_4_2_3_4()
    {
        Assert.Equal(Send(100), Decide(unsent: 100, usable: 10_000, inFlight: 1460, noDelay: true));
    }

    [Fact]
    public void Once_the_application_has_finished_its_last_small_piece_is_not_held_back_RFC1122_4_2_3_4()
    {
        // Nagle coalesces small writes; after the last one there is nothing to wait for.
        Assert.Equal(Send(100), Decide(unsent: 100, usable: 10_000, inFlight: 1460, finished: true));
    }

    // =================================================================== (3) sender SWS avoidance

    [Fact]
    public void Sender_SWS_a_window_limited_piece_below_half_the_largest_window_waits_RFC9293_3_8_6_2_1_rule_3()
    {
        // Max(SND.WND) 4000: a piece limited by the window must be at least 2000. 1000 is not, whatever Nagle says.
        var wait = SendVerdict.Wait(armPersist: false);  // data in flight: its ACK will reopen the question
        Assert.Equal(wait, Decide(unsent: 10_000, usable: 1000, inFlight: 3000, maxWindow: 4000));
        Assert.Equal(wait, Decide(unsent: 10_000, usable: 1000, inFlight: 3000, maxWindow: 4000, noDelay: true));
        Assert.Equal(wait, Decide(unsent: 10_000, usable: 1000, inFlight: 3000, maxWindow: 4000, finished: true));
    }

    [Fact]
    public void Sender_SWS_a_window_limited_piece_of_half_the_largest_window_goes_with_nothing_in_flight_RFC9293_3_8_6_2_1_rule_3()
    {
        // A peer with a 2000-byte buffer: half of it, 1000, is enough.
        Assert.Equal(Send(1000), Decide(unsent: 10_000, usable: 1000, inFlight: 0, maxWindow: 2000));
        Assert.Equal(SendVerdict.Wait(armPersist: true), Decide(unsent: 10_000, usable: 999, inFlight: 0, maxWindow: 2000));
    }

    [Fact]
    public void Nagle_a_window_limited_piece_waits_while_data_is_in_flight_even_at_half_the_largest_window_RFC9293_3_8_6_2_1_rule_3()
    {
        // "[SND.NXT = SND.UNA and] min(D,U) >= Fs * Max(SND.WND)": with Nagle on, rule (3) also needs nothing in
        // flight (RFC 1122 4.2.3.4: buffer all user data until the outstanding data is acknowledged or a full-sized
        // segment can be sent). A 2000-byte peer window, 800 in flight, 1200 usable: 1200 >= 1000 but 800 is out.
        Assert.Equal(SendVerdict.Wait(armPersist: false), Decide(unsent: 5000, usable: 1200, inFlight: 800, maxWindow: 2000));
        Assert.Equal(Send(1200), Decide(unsent: 5000, usable: 1200, inFlight: 800, maxWindow: 2000, noDelay: true)); // Nagle off
        Assert.Equal(Send(1200), Decide(unsent: 5000, usable: 1200, inFlight: 0, maxWindow: 2000));
    }

    [Fact]
    public void Sender_SWS_with_nothing_in_flight_a_refused_piece_needs_the_persist_timer_RFC9293_3_8_6_2_1_rule_4()
    {
        // No ACK will come to ask again: only the override timeout can, which the persist timer serves as.
        Assert.Equal(SendVerdict.Wait(armPersist: true), Decide(unsent: 10_000, usable: 500, inFlight: 0, maxWindow: 4000));
    }

    // =================================================================== a closed window (RFC 9293 3.8.6.1)

    [Fact]
    public void A_closed_window_sends_nothing_and_needs_the_persist_timer_only_with_nothing_in_flight_RFC9293_3_8_6_1()
    {
        Assert.Equal(SendVerdict.Wait(armPersist: true), Decide(unsent: 100, usable: 0, inFlight: 0));
        Assert.Equal(SendVerdict.Wait(armPersist: true), Decide(unsent: 100, usable: 0, inFlight: 0, noDelay: true, finished: true, overrideTimeout: true));
        // Data in flight: the retransmission timer watches it, and its ACK brings the window.
        Assert.Equal(SendVerdict.Wait(armPersist: false), Decide(unsent: 100, usable: 0, inFlight: 1000));
        Assert.Equal(SendVerdict.Wait(armPersist: false), Decide(unsent: 100, usable: -500, inFlight: 3000)); // the window shrank below the flight
    }

    // =================================================================== (4) the override timeout

    [Fact]
    public void The_override_timeout_sends_a_refused_small_piece_once_RFC9293_3_8_6_2_1_rule_4()
    {
        Assert.Equal(Send(500), Decide(unsent: 10_000, usable: 500, inFlight: 0, maxWindow: 4000, overrideTimeout: true));
        // The next decision is without it: the next small piece waits again (for the next timeout).
        Assert.Equal(SendVerdict.Wait(armPersist: true), Decide(unsent: 9500, usable: 500, inFlight: 0, maxWindow: 4000));
        // It sends what the window allows, at most one MSS, and nothing when the window is closed.
        Assert.Equal(Send(1460), Decide(unsent: 10_000, usable: 10_000, inFlight: 0, overrideTimeout: true));
        Assert.Equal(SendVerdict.Wait(armPersist: true), Decide(unsent: 10_000, usable: 0, inFlight: 0, overrideTimeout: true));
    }

    [Fact]
    public void The_decision_is_rules_1_to_4_and_a_refusal_needs_the_persist_timer_exactly_when_nothing_is_in_flight_RFC9293_3_8_6_2_1()
    {
        // Half the values near one MSS, where the rules part ways; the rest anywhere.
        var unsents = Gen.OneOf(Gen.Long[1, 3 * Mss], Gen.Long[1, 100_000]);
        var usables = Gen.OneOf(Gen.Long[-100, 3 * Mss], Gen.Long[-10_000, 100_000]);
        var flights = Gen.OneOf(Gen.Const(0u), Gen.UInt[0, 100_000]);
        var maxWindows = Gen.OneOf(Gen.UInt[0, 4 * Mss], Gen.UInt[0, 200_000]);
        Gen.Select(unsents, usables, flights, maxWindows, Gen.Bool, Gen.Bool, Gen.Bool)
            .Sample((unsent, usable, inFlight, maxWindow, noDelay, finished, overrideTimeout) =>
            {
                int n = (int)Math.Min(Math.Min(unsent, Mss), Math.Max(0, usable)); // min(D, U), at most one MSS
                bool nagleAllows = inFlight == 0 || noDelay;
                bool send = n > 0 && (n == Mss                                       // (1)
                                      || (n == unsent && (nagleAllows || finished))  // (2)
                                      || (nagleAllows && n >= maxWindow / 2)         // (3)
                                      || overrideTimeout);                           // (4)
                var expected = send ? Send(n) : SendVerdict.Wait(armPersist: inFlight == 0);
                return TcpSendPolicy.Decide(unsent, usable, Mss, inFlight, maxWindow, noDelay, finished, overrideTimeout) == expected;
            }, iter: 10_000);
    }
}
