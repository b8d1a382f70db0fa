using CsCheck;
using UserNet.Tcp;

namespace UserNet.Tests.Tcp;

/// <summary>
/// A connection's five timers as deadlines on the stack's clock: retransmission (RFC 6298), persist (RFC 1122
/// 4.2.2.17), delayed ACK (RFC 1122 4.2.3.2), keep-alive (RFC 1122 4.2.3.6) and TIME-WAIT's 2 MSL (RFC 9293 3.6).
/// <see cref="TimeSpan.MaxValue"/> is off; the earliest deadline is what the TCP layer's deadline heap keeps.
/// </summary>
public sealed class TcpTimersTests
{
    private static readonly TcpTimer[] All = Enum.GetValues<TcpTimer>();

    private static TimeSpan Ms(double ms) => TimeSpan.FromMilliseconds(ms);

    [Fact]
    public void There_are_five_timers_one_for_each_job()
    {
        Assert.Equal(new[] { TcpTimer.Retransmit, TcpTimer.Persist, TcpTimer.DelayedAck, TcpTimer.KeepAlive, TcpTimer.TimeWait, TcpTimer.Reorder, TcpTimer.LossProbe }, All);
    }

    [Fact]
    public void Off_every_timer_is_off_and_nothing_is_due()
    {
        var timers = TcpTimers.Off;
        foreach (var t in All)
        {
            Assert.False(timers.IsArmed(t));
            Assert.Equal(TimeSpan.MaxValue, timers[t]);
            Assert.False(timers.IsDue(t, TimeSpan.FromDays(365 * 1000)));
        }
        Assert.Equal(TimeSpan.MaxValue, timers.Earliest);
    }

    [Fact]
    public void Set_arms_one_timer_at_its_deadline_and_leaves_the_others_off()
    {
        foreach (var t in All)
        {
            var timers = TcpTimers.Off;
            timers.Set(t, Ms(1500));
            Assert.True(timers.IsArmed(t));
            Assert.Equal(Ms(1500), timers[t]);
            Assert.Equal(Ms(1500), timers.Earliest);
            foreach (var other in All.Where(o => o != t)) Assert.False(timers.IsArmed(other));
        }
    }

    [Fact]
    public void A_timer_is_due_from_its_deadline_on_not_before()
    {
        var timers = TcpTimers.Off;
        timers.Set(TcpTimer.DelayedAck, Ms(200));
        Assert.False(timers.IsDue(TcpTimer.DelayedAck, Ms(199.9)));
        Assert.True(timers.IsDue(TcpTimer.DelayedAck, Ms(200)));
        Assert.True(timers.IsDue(TcpTimer.DelayedAck, Ms(5000)));
        Assert.False(timers.IsDue(TcpTimer.Retransmit, Ms(5000)));      // another timer, off
    }

    [Fact]
    public void A_deadline_at_zero_is_armed_and_due_at_once()
    {
        var timers = TcpTimers.Off;
        timers.Set(TcpTimer.Persist, TimeSpan.Zero);
        Assert.True(timers.IsArmed(TcpTimer.Persist));
        Assert.True(timers.IsDue(TcpTimer.Persist, TimeSpan.Zero));
        Assert.Equal(TimeSpan.Zero, timers.Earliest);
    }

    [Fact]
    public void Set_again_restarts_the_timer_at_the_new_deadline_later_or_sooner_RFC6298_5_3()
    {
        // (5.3) When an ACK is received that acknowledges new data, restart the retransmission timer.
        var timers = TcpTimers.Off;
        timers.Set(TcpTimer.Retransmit, Ms(1000));
        timers.Set(TcpTimer.Retransmit, Ms(1300));
        Assert.Equal(Ms(1300), timers[TcpTimer.Retransmit]);
        Assert.False(timers.IsDue(TcpTimer.Retransmit, Ms(1000)));
        timers.Set(TcpTimer.Retransmit, Ms(400));
        Assert.Equal(Ms(400), timers.Earliest);
    }

    [Fact]
    public void Stop_turns_one_timer_off_and_leaves_the_others_RFC6298_5_2()
    {
        // (5.2) When all outstanding data has been acknowledged, turn off the retransmission timer.
        var timers = TcpTimers.Off;
        timers.Set(TcpTimer.Retransmit, Ms(1000));
        timers.Set(TcpTimer.KeepAlive, Ms(7_200_000));
        timers.Stop(TcpTimer.Retransmit);
        Assert.False(timers.IsArmed(TcpTimer.Retransmit));
        Assert.False(timers.IsDue(TcpTimer.Retransmit, Ms(10_000_000)));
        Assert.True(timers.IsArmed(TcpTimer.KeepAlive));
        Assert.Equal(Ms(7_200_000), timers.Earliest);     // the earliest moves on to the next
        timers.Stop(TcpTimer.Retransmit);                 // stopping a stopped timer changes nothing
        Assert.Equal(Ms(7_200_000), timers.Earliest);
    }

    [Fact]
    public void Earliest_is_the_soonest_of_those_armed()
    {
        var timers = TcpTimers.Off;
        timers.Set(TcpTimer.TimeWait, Ms(60_000));
        timers.Set(TcpTimer.Retransmit, Ms(1000));
        timers.Set(TcpTimer.DelayedAck, Ms(200));
        Assert.Equal(Ms(200), timers.Earliest);
        timers.Stop(TcpTimer.DelayedAck);
        Assert.Equal(Ms(1000), timers.Earliest);

        // Any mix of armed and stopped timers, each the last in the list or not: the minimum of those armed.
        Gen.Select(Gen.Long[0, TimeSpan.TicksPerDay].Array[All.Length], Gen.Bool.Array[All.Length]).Sample((deadlines, armed) =>
        {
            var t = TcpTimers.Off;
            var expected = TimeSpan.MaxValue;
            for (int i = 0; i < All.Length; i++)
            {
                if (!armed[i]) continue;
                var at = TimeSpan.FromTicks(deadlines[i]);
                t.Set(All[i], at);
                if (at < expected) expected = at;
            }
            return t.Earliest == expected && All.All(x => t.IsArmed(x) == armed[Array.IndexOf(All, x)]);
        });
    }

    [Fact]
    public void StopAll_turns_every_timer_off_RFC9293_3_10_5()
    {
        // A connection that is aborted or closed leaves no timer behind.
        var timers = TcpTimers.Off;
        foreach (var t in All) timers.Set(t, Ms(100 * (int)t));
        Assert.Equal(TimeSpan.Zero, timers.Earliest);
        timers.StopAll();
        Assert.All(All, t => Assert.False(timers.IsArmed(t)));
        Assert.Equal(TimeSpan.MaxValue, timers.Earliest);
    }
}
