using CsCheck;
using UserNet.Tcp;

namespace UserNet.Tests.Tcp;

/// <summary>
/// The receive sequence space of RFC 9293 3.3.1 (figure 5) and the window we offer, on their own:
/// <code>
///                1          2          3
///            ----------|----------|----------
///                   RCV.NXT    RCV.NXT
///                             +RCV.WND
///   1 - old sequence numbers that have been acknowledged
///   2 - sequence numbers allowed for new reception
///   3 - future sequence numbers that are not yet allowed
/// </code>
/// The window scale (RFC 7323), the acceptability test (RFC 9293 3.10.7.4), and receiver silly window avoidance
/// (RFC 9293 3.8.6.2.2, RFC 1122 4.2.3.3). "free" is the buffer space past RCV.NXT: RCV.BUFF - RCV.USER.
/// </summary>
public sealed class TcpReceiveWindowTests
{
    private const int Mss = 1460;
    private static readonly SeqNumber Irs = new(7000);

    private static TcpReceiveWindow Opened(int capacity, SeqNumber irs)
    {
        var w = new TcpReceiveWindow(capacity);
        w.Open(irs);
        return w;
    }

    /// <summary>A shift-0 window of <paramref name="capacity"/> bytes that the peer has filled: RCV.WND = 0, nothing read.</summary>
    private static TcpReceiveWindow Filled(int capacity)
    {
        var w = Opened(capacity, Irs);
        w.Advance(capacity);
        Assert.Equal(0, w.Advertise(0, Mss));
        Assert.Equal(0u, w.Available);
        return w;
    }

    // =================================================================== window scale (RFC 7323 2.2, 2.3)

    [Theory]
    [InlineData(4096, 0)]
    [InlineData(65535, 0)]
    [InlineData(65536, 1)]
    [InlineData(131071, 1)]     // 131071 >> 1 = 65535: the field reaches 131070, the buffer to a multiple of 2
    [InlineData(131072, 2)]
    [InlineData(1 << 20, 5)]    // the 1 MiB buffer of the state-machine tests: 2^20 >> 5 = 32768
    [InlineData(1 << 29, 14)]   // 2^29 >> 13 = 65536, one too many
    public void Window_scale_is_the_least_shift_that_advertises_the_whole_buffer_RFC7323_2_3(int capacity, int shift)
    {
        var w = new TcpReceiveWindow(capacity);
        Assert.Equal(shift, w.Shift);
        Assert.True(capacity >> shift <= 65535, "the 16-bit field can say the buffer at this scale");
        if (shift > 0) Assert.True(capacity >> (shift - 1) > 65535, "and not at one less");
    }

    [Fact]
    public void Window_scale_is_at_most_14_a_larger_buffer_is_offered_up_to_65535_times_2_to_the_14_RFC7323_2_3()
    {
        Assert.Equal(14, new TcpReceiveWindow(int.MaxValue).Shift);
        var w = Opened(1 << 30, Irs);                    // 2^30 would need 15
        Assert.Equal(14, w.Shift);
        Assert.Equal(65535 << 14, w.Offerable(1 << 30, Mss)); // 1,073,725,440: all that 65535 << 14 can say
        Assert.Equal(65535, w.Advertise(1 << 30, Mss));
    }

    [Fact]
    public void When_the_peer_does_not_scale_neither_do_we_and_the_window_is_at_most_65535_RFC7323_2_2()
    {
        var w = new TcpReceiveWindow(1 << 20);
        Assert.Equal(5, w.Shift);
        w.DisableScaling();
        Assert.Equal(0, w.Shift);
        w.Open(Irs);
        Assert.Equal(65535, w.Offerable(1 << 20, Mss));
        Assert.Equal(65535, w.Advertise(1 << 20, Mss));
    }

    // =================================================================== opening (RFC 9293 3.10.7.2, 3.10.7.3)

    [Fact]
    public void Open_RCV_NXT_is_IRS_plus_1_and_the_SYN_window_is_unscaled_at_most_65535_RFC7323_2_2()
    {
        var w = Opened(1 << 20, Irs);
        Assert.Equal(Irs, w.Irs);
        Assert.Equal(Irs + 1, w.Nxt);                    // the peer's SYN takes one number
        Assert.Equal((ushort)65535, w.SynWindow);        // a 1 MiB buffer, but a SYN's window is never scaled
        Assert.Equal(w.Nxt + 65535, w.Edge);
        Assert.Equal(65535u, w.Available);

        var small = Opened(4096, Irs);
        Assert.Equal((ushort)4096, small.SynWindow);
        Assert.Equal(4096u, small.Available);
    }

    [Fact]
    public void Advance_moves_RCV_NXT_and_leaves_the_right_edge_RFC9293_3_3_1()
    {
        var w = Opened(4096, Irs);
        var edge = w.Edge;
        w.Advance(1000);
        Assert.Equal(Irs + 1001, w.Nxt);
        Assert.Equal(edge, w.Edge);
        Assert.Equal(3096u, w.Available);
    }

    // =================================================================== acceptability (RFC 9293 3.10.7.4, first check)

    [Fact]
    public void A_zero_length_segment_with_an_open_window_is_acceptable_anywhere_in_it_RFC9293_3_10_7_4()
    {
        var w = Opened(4096, Irs);                       // RCV.NXT =< SEG.SEQ < RCV.NXT+RCV.WND
        var nxt = w.Nxt;
        Assert.True(w.IsAcceptable(nxt, 0));
        Assert.True(w.IsAcceptable(nxt + 4095, 0));
        Assert.False(w.IsAcceptable(nxt + 4096, 0));
        Assert.False(w.IsAcceptable(nxt - 1, 0));
    }

    [Fact]
    public void A_zero_length_segment_with_a_zero_window_is_acceptable_only_at_RCV_NXT_RFC9293_3_10_7_4()
    {
        var w = Filled(4096);                            // SEG.SEQ = RCV.NXT
        Assert.True(w.IsAcceptable(w.Nxt, 0));
        Assert.False(w.IsAcceptable(w.Nxt + 1, 0));
        Assert.False(w.IsAcceptable(w.Nxt - 1, 0));
    }

    [Fact]
    public void A_segment_with_data_is_never_acceptable_with_a_zero_window_RFC9293_3_10_7_4()
    {
        var w = Filled(4096);
        Assert.False(w.IsAcceptable(w.Nxt, 1));
        Assert.False(w.IsAcceptable(w.Nxt, 1000));
        Assert.False(w.IsAcceptable(w.Nxt - 500, 1000));
    }

    [Fact]
    public void A_segment_with_data_is_acceptable_when_its_first_or_last_byte_is_in_the_window_RFC9293_3_10_7_4()
    {
        // RCV.NXT =< SEG.SEQ < RCV.NXT+RCV.WND, or RCV.NXT =< SEG.SEQ+SEG.LEN-1 < RCV.NXT+RCV.WND
        var w = Opened(4096, Irs);
        var nxt = w.Nxt;
        Assert.True(w.IsAcceptable(nxt, 100));
        Assert.True(w.IsAcceptable(nxt - 50, 100));      // old data in front, new behind: the last byte is in
        Assert.True(w.IsAcceptable(nxt - 100, 101));     // the last byte is RCV.NXT
        Assert.False(w.IsAcceptable(nxt - 100, 100));    // entirely old: it ends at RCV.NXT - 1
        Assert.True(w.IsAcceptable(nxt + 4095, 100));    // the first byte is the window's last
        Assert.False(w.IsAcceptable(nxt + 4096, 1));     // entirely beyond the window
    }

    [Fact]
    public void Acceptability_works_across_the_wrap_of_2_to_the_32_RFC9293_3_4_and_3_10_7_4()
    {
        var w = Opened(4096, new SeqNumber(0xFFFF_FF00));
        Assert.Equal(new SeqNumber(0xFFFF_FF01), w.Nxt); // the window ends at 0xFFFF_FF01 + 4096 = 0xF01
        Assert.True(w.IsAcceptable(new SeqNumber(0x10), 0));
        Assert.True(w.IsAcceptable(new SeqNumber(0xF00), 1));
        Assert.False(w.IsAcceptable(new SeqNumber(0xF01), 0));
        Assert.False(w.IsAcceptable(new SeqNumber(0xFFFF_FF00), 1));
        Assert.True(w.IsAcceptable(new SeqNumber(0xFFFF_FF00), 2));
        Assert.True(w.IsAcceptable(new SeqNumber(0xFFFF_FFFF), 100)); // straddles the wrap
    }

    [Fact]
    public void Acceptability_is_the_four_case_table_for_any_window_and_segment_RFC9293_3_10_7_4()
    {
        Gen.Select(Gen.UInt, Gen.Int[1, 65535], Gen.Int[0, 65535], Gen.Int[-70_000, 70_000], Gen.Int[0, 70_000])
            .Sample((irs, capacity, used, offset, length) =>
            {
                used = Math.Min(used, capacity);
                var w = Opened(capacity, new SeqNumber(irs));
                w.Advance(used);                          // RCV.WND = capacity - used, possibly zero
                long wnd = capacity - used;
                bool InWindow(long o) => o >= 0 && o < wnd;
                bool expected = length == 0
                    ? (wnd == 0 ? offset == 0 : InWindow(offset))
                    : wnd > 0 && (InWindow(offset) || InWindow(offset + (long)length - 1));
                return w.IsAcceptable(w.Nxt + offset, length) == expected;
            }, iter: 10_000);
    }

    // =================================================================== receiver SWS avoidance (RFC 9293 3.8.6.2.2)

    [Fact]
    public void The_right_edge_stays_until_it_can_move_by_one_MSS_RFC9293_3_8_6_2_2()
    {
        // RCV.BUFF 8192, Eff.snd.MSS 1460: keep RCV.NXT+RCV.WND fixed until
        // RCV.BUFF - RCV.USER - RCV.WND >= min(Fr * RCV.BUFF, Eff.snd.MSS) = min(4096, 1460) = 1460.
        var w = Filled(8192);
        var edge = w.Edge;
        Assert.Equal(0, w.Offerable(1000, Mss));         // the application read 1000: 1000 - 0 < 1460
        Assert.Equal(0, w.Advertise(1000, Mss));
        Assert.Equal(0, w.Advertise(1459, Mss));
        Assert.Equal(edge, w.Edge);
        Assert.Equal(1460, w.Advertise(1460, Mss));      // 1460 - 0 >= 1460: RCV.WND <- RCV.BUFF - RCV.USER
        Assert.Equal(edge + 1460, w.Edge);

        w.Advance(500);                                  // 500 more arrive, nothing read: the edge stays
        Assert.Equal(960, w.Advertise(960, Mss));
        Assert.Equal(edge + 1460, w.Edge);
        Assert.Equal(960, w.Advertise(2000, Mss));       // 1040 more read: 2000 - 960 = 1040 < 1460
        Assert.Equal(2420, w.Advertise(2420, Mss));      // 2420 - 960 = 1460: the edge moves by 1460
        Assert.Equal(edge + 1460 + 1460, w.Edge);
    }

    [Fact]
    public void With_a_small_buffer_half_the_buffer_is_the_step_RFC9293_3_8_6_2_2()
    {
        var w = Filled(2000);                            // min(1/2 * 2000, 1460) = 1000
        Assert.Equal(0, w.Advertise(999, Mss));
        Assert.Equal(1000, w.Advertise(1000, Mss));
    }

    [Fact]
    public void A_window_once_offered_is_not_taken_back_the_right_edge_never_moves_left_RFC9293_3_8_6()
    {
        // "Shrinking the window" is strongly discouraged: the receiver SHOULD NOT move the right edge left (SHLD-14).
        var w = Opened(8192, Irs);
        Assert.Equal(8192, w.Advertise(8192, Mss));
        var edge = w.Edge;
        Assert.Equal(8192, w.Offerable(100, Mss));       // less space than was promised: the promise stands
        Assert.Equal(8192, w.Advertise(100, Mss));
        Assert.Equal(edge, w.Edge);
        w.Advance(8000);
        Assert.Equal(192, w.Advertise(100, Mss));        // RCV.NXT has moved up to the edge, which has not moved
        Assert.Equal(edge, w.Edge);
    }

    [Fact]
    public void Offerable_does_not_change_what_was_advertised_RFC9293_3_8_6_2_2()
    {
        var w = Filled(8192);
        var edge = w.Edge;
        Assert.Equal(8192, w.Offerable(8192, Mss));
        Assert.Equal(edge, w.Edge);
        Assert.Equal(0u, w.Available);
    }

    [Fact]
    public void With_scaling_the_field_rounds_down_and_the_promised_edge_stays_acceptable_RFC7323_2_4()
    {
        // Shift 5: the field counts 32-byte units. RFC 7323 2.4: the receiver MUST honor, as in window, any segment
        // that would have been in window for any ACK it sent, and SHOULD track the actual maximum window sequence number.
        var w = Opened(1 << 20, Irs);
        Assert.Equal(32768, w.Advertise(1 << 20, Mss));  // 1,048,576 >> 5
        var edge = w.Nxt + (1 << 20);
        Assert.Equal(edge, w.Edge);

        w.Advance(100);                                  // 100 arrive, nothing read: 1,048,476 left to the edge
        Assert.Equal(1_048_448, w.Offerable(1_048_476, Mss)); // 1,048,476 / 32 = 32764.875: 32764 * 32
        Assert.Equal(32764, w.Advertise(1_048_476, Mss));
        Assert.Equal(edge, w.Edge);                      // the peer sees the edge 28 bytes left; we keep our promise
        Assert.Equal(1_048_476u, w.Available);
        Assert.True(w.IsAcceptable(w.Nxt + 1_048_448, 28));
        Assert.True(w.IsAcceptable(edge - 1, 1));
        Assert.False(w.IsAcceptable(edge, 1));
    }

    [Fact]
    public void Through_any_traffic_the_edge_never_moves_left_moves_in_SWS_steps_and_promises_only_buffer_RFC9293_3_8_6_2_2_RFC7323_2_4()
    {
        // The peer sends within the window, the application reads, segments go out with the window; the invariants:
        // the right edge never moves left; when it moves, it moves by at least min(half the buffer, one MSS) (less
        // the rounding of the scaled field, under 2^shift); when free space passes the edge by that much and the
        // rounding, it does move; the field times 2^shift is what Offerable said, a multiple of 2^shift; and the
        // window promised never exceeds the free buffer.
        int[] capacities = [2000, 8192, 65535, 100_000, 1 << 20];
        Gen.Select(Gen.Int[0, capacities.Length - 1], Gen.UInt, Gen.Int[536, 9000], Gen.Int).Sample((which, irs, mss, seed) =>
        {
            int capacity = capacities[which];
            var random = new Random(seed);
            var w = Opened(capacity, new SeqNumber(irs));
            int step = 1 << w.Shift;
            int threshold = Math.Min(capacity / 2, mss);
            int unread = 0;
            for (int i = 0; i < 300; i++)
            {
                var edge = w.Edge;
                int free = capacity - unread;
                switch (random.Next(3))
                {
                    case 0:                               // the peer sends within the window
                        int n = random.Next(0, (int)w.Available + 1);
                        w.Advance(n);
                        unread += n;
                        break;
                    case 1:                               // the application reads
                        unread -= random.Next(0, unread + 1);
                        break;
                    default:                              // a segment goes out
                        uint before = w.Available;
                        int offer = w.Offerable(free, mss);
                        ushort field = w.Advertise(free, mss);
                        if (offer % step != 0 || field << w.Shift != offer) return false;
                        if (free - before >= threshold + step - 1 && w.Edge != w.Nxt + (free >> w.Shift << w.Shift)) return false;
                        break;
                }
                if (w.Edge < edge) return false;
                if (w.Edge != edge && w.Edge - edge < threshold - (step - 1)) return false;
                if (w.Available > capacity - unread) return false;
            }
            return true;
        });
    }

    // =================================================================== window updates (RFC 1122 4.2.3.3)

    [Fact]
    public void A_window_update_is_worth_sending_once_the_window_can_open_by_one_MSS_RFC1122_4_2_3_3()
    {
        var w = Filled(8192);                            // the peer sees a zero window
        Assert.False(w.UpdateWorthSending(1000, Mss));   // the application read 1000: the edge cannot move yet
        Assert.False(w.UpdateWorthSending(1459, Mss));
        Assert.True(w.UpdateWorthSending(1460, Mss));    // 1460 - 0 >= min(4096, 1460)
        w.Advertise(1460, Mss);                          // the update goes out
        Assert.False(w.UpdateWorthSending(1460, Mss));   // and is not worth sending again
        Assert.False(w.UpdateWorthSending(2919, Mss));   // 2919 - 1460 < 1460
        Assert.True(w.UpdateWorthSending(2920, Mss));
    }

    [Fact]
    public void No_window_update_while_the_peer_still_has_half_the_buffer_to_send_into_RFC1122_4_2_3_3()
    {
        // The peer that still has at least half the buffer to fill will send, and the ACKs of its data carry the
        // window: a segment just for the update is not worth it.
        var w = Opened(8192, Irs);                       // RCV.WND 8192 from the SYN-ACK
        w.Advance(3192);                                 // the peer sends 3192; the application reads them at once
        Assert.Equal(5000u, w.Available);
        Assert.Equal(8192, w.Offerable(8192, Mss));      // the edge could move by 3192
        Assert.False(w.UpdateWorthSending(8192, Mss));   // but 5000 >= 8192 / 2
        w.Advance(904);
        Assert.Equal(4096u, w.Available);
        Assert.False(w.UpdateWorthSending(8192, Mss));   // 4096, not below half
        w.Advance(1);
        Assert.True(w.UpdateWorthSending(8192, Mss));    // 4095 < 4096, and 8192 - 4095 >= 1460
    }
}
