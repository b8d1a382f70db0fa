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
[Collection(nameof(FuzzCollection))]
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

    // fuzz/regressions/iperf3-control/parameters-string-not-utf8, parameters-name-not-utf8
    [Theory]
    [InlineData("7b22636c69656e745f76657273696f6e223a22332ece32227d")] // {"client_version":"3.\xce2"}
    [InlineData("7b2274ff6d65223a317d")] // {"t\xffme":1}
    public void Iperf3_parameters_that_are_not_UTF_8_are_a_format_error_which_the_server_answers_as_iperf3_does(string hex)
    {
        // The server answers FormatException and JsonException with "unable to receive parameters from client".
        Assert.Throws<FormatException>(() => Iperf3Parameters.Parse(Convert.FromHexString(hex)));
    }

    // fuzz/regressions/tcpdump/icmp-router-advertisement-truncated, capture/icmp-router-advertisement-truncated.pcap
    [Theory]
    [InlineData("02080000000202000000000108004500001A00014000400126CE0A0900010A0900020900F7FE0001")]
    [InlineData("02000000000202000000000108004500001800014000400126C40A0900010A0900020900E4EB010207080A09000100000000")]
    public void A_router_advertisement_too_short_for_its_lifetime_is_truncated_as_tcpdump_says(string hex)
    {
        var frame = Convert.FromHexString(hex);
        var text = new TcpdumpFormatter(new TcpdumpOptions { Timestamps = TimestampStyle.None }).Format(0, frame, frame.Length);
        Assert.Equal("IP 10.9.0.1 > 10.9.0.2:  [|icmp]", text); // tcpdump 4.99.3 -n -t on the same frames
    }

    // fuzz/regressions/capture/ipv6-length-overflow-found.pcap
    [Fact]
    public void An_IPv6_packet_whose_capture_claims_nearly_4_GiB_on_the_wire_is_printed_not_undecodable()
    {
        // A file's orig_len is whatever it says. With a payload length of 0 (a jumbogram, RFC 2675, or nonsense) the
        // formatter takes the link's length plus the header, which overflowed an int and cut the packet at a negative length.
        var frame = new byte[48];
        frame[0] = 0x60;                       // version 6, payload length 0
        frame[6] = 58;                         // ICMPv6
        frame[7] = 64;
        frame[23] = 1; frame[39] = 2;          // ::1 > ::2
        frame[40] = 128;                       // echo request
        var text = new TcpdumpFormatter(new TcpdumpOptions { Timestamps = TimestampStyle.None })
            .Format(0, frame, originalLength: int.MaxValue - 8, linkType: UserNet.Capture.LinkTypes.Raw);
        Assert.StartsWith("IP6 ::1 > ::2: ICMP6, echo request", text);
        Assert.DoesNotContain("undecodable", text);
    }

    // fuzz/regressions/iperf3-control/results-number-infinite-found
    [Fact]
    public void Iperf3_results_with_a_number_beyond_a_double_are_a_format_error_not_an_infinity_written_back()
    {
        // 2e624 reads as +Infinity, which JSON cannot hold: writing the results back threw ArgumentException.
        var json = """{"cpu_util_total":1,"cpu_util_user":1,"cpu_util_system":0,"sender_has_retransmits":0,"streams":[{"id":1,"bytes":10,"retransmits":0,"start_time":0,"end_time":2e624}]}"""u8.ToArray();
        Assert.Throws<FormatException>(() => Iperf3Results.Parse(json));
    }
}
