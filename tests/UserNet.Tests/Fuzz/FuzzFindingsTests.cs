using UserNet.Core;
using UserNet.Services;
using UserNet.Tests.Tcp;
using UserNet.Tracing;
using UserNet.Wire;

namespace UserNet.Tests.Fuzz;

/// <summary>
/// What the fuzzers found, each pinned down by hand where it lives (the inputs that found them are in
/// fuzz/regressions/ and run through their targets in <see cref="FuzzCorpusTests"/>).
/// </summary>
public sealed class FuzzFindingsTests
{
    // fuzz/regressions/tcp-established/dsack-2pow31-away
    [Fact]
    public void A_segment_exactly_half_the_sequence_space_from_RCV_NXT_is_acknowledged_without_a_D_SACK_RFC2883()
    {
        var p = new TcpPeer();
        p.Accept(new TcpOptions { Mss = 1460, SackPermitted = true });

        // 2^31 away, the sequence number is both before RCV.NXT and after it (RFC 1982 leaves it undefined): it is
        // outside the window, so it gets an ACK, but it is no duplicate of anything received.
        p.Send(TcpFlags.Ack, p.SndNxt + 0x8000_0000u, p.RcvNxt, "A"u8);

        var ack = p.TakeOne();
        Assert.Equal(TcpFlags.Ack, ack.Flags);
        Assert.Equal(p.SndNxt, ack.Ack);
        Assert.Empty(ack.SackBlocks);
        Assert.Equal(0, p.F.Counters.DroppedFor(DropReason.StackFault));
    }
}
