using UserNet.TestSupport;
using UserNet.Capture;
using UserNet.Replay;
using UserNet.Wire;
using Xunit;

namespace UserNet.Trace.Tests;

/// <summary>usernet replay FILE with no --ip: the capture says which host the stack was, or the replay says it cannot tell.</summary>
public sealed class ReplayInferenceTests
{
    private static readonly MacAddress MacA = MacAddress.Parse("02:00:00:00:0a:01"), MacB = MacAddress.Parse("02:00:00:00:0b:02");
    private static readonly Ipv4Address IpA = Ipv4Address.Parse("10.60.0.1"), IpB = Ipv4Address.Parse("10.60.0.2");

    public static TheoryData<string> Captures() => RecorderAndReplayTests.Captures();

    /// <summary>
    /// Every capture in captures/: with no --ip the replay finds 10.50.0.2 (the stack's, in every one of them) and its
    /// transcript is the --ip 10.50.0.2/24 one but for the header line, which says why.
    /// </summary>
    [Theory]
    [MemberData(nameof(Captures))]
    public void Without_ip_every_capture_replays_as_with_the_right_ip_but_for_the_header_line(string name)
    {
        var records = Repo.ReadAll(Path.Combine(Repo.Captures, name + ".pcapng"));
        var inferred = PacketReplay.InferStack(records);
        var expectedIp = RecorderAndReplayTests.StackAddress(name);
        Assert.Equal(expectedIp, inferred.Address);
        Assert.Empty(inferred.Candidates);
        var given = PacketReplay.Run(records, new ReplayOptions { Address = expectedIp });
        var found = PacketReplay.Run(records, new ReplayOptions { Address = inferred.Address!.Value, AddressSource = inferred.Reason });
        var g = Repo.Lines(given.Transcript);
        var f = Repo.Lines(found.Transcript);
        Assert.Equal(g[1..], f[1..]);
        Assert.StartsWith($"replay: the stack is {expectedIp} mac ", f[0]);
        Assert.Contains("prefix /24 assumed", f[0]);
        Assert.Contains(name == "two-linux-hosts" ? "(the host that answers ARP for 10.51.0.2 and connection requests; " : "(from the recorded stack's comments: its \"tx:\" frames come from 10.50.0.2; ", f[0]);
    }

    /// <summary>
    /// A capture whose section comment states the stack (usernet up --pcap writes <c>usernet stack A.B.C.D/N</c>)
    /// gives its prefix too: nothing is assumed, and the statement wins over the frames.
    /// </summary>
    [Fact]
    public void A_section_comment_that_states_the_stack_gives_address_and_prefix()
    {
        var records = Repo.ReadAll(Path.Combine(Repo.Captures, "arp-and-ping.pcapng"));
        var path = Path.Combine(Path.GetTempPath(), $"usernet-{Guid.NewGuid():N}.pcapng");
        try
        {
            using (var w = new PcapNgWriter(File.Create(path), comment: "usernet stack 10.50.0.2/16"))
                foreach (var r in records) w.Write(r);
            using (var reader = (PcapNgReader)CaptureFile.Open(path))
            {
                Assert.NotNull(reader.Read());
                Assert.Equal("usernet stack 10.50.0.2/16", reader.SectionComment);
            }
            var inferred = PacketReplay.InferStack(Repo.ReadAll(path), "usernet stack 10.50.0.2/16");
            Assert.Equal(Ipv4Subnet.Parse("10.50.0.2/16"), inferred.Address);
            Assert.Equal("from the recorded stack's comments: the capture says \"usernet stack 10.50.0.2/16\"", inferred.Reason);
            // A comment that states nothing, or nonsense, falls back to the frames.
            Assert.Equal(Ipv4Subnet.Parse("10.50.0.2/24"), PacketReplay.InferStack(records, "usernet stack 10.50.0.300/99").Address);
            Assert.Equal(Ipv4Subnet.Parse("10.50.0.2/24"), PacketReplay.InferStack(records, "recorded on a Tuesday").Address);

            var cli = Shell.Usernet("replay", path);
            Assert.Equal(0, cli.ExitCode);
            Assert.StartsWith("replay: the stack is 10.50.0.2/16 mac 02:00:00:00:00:02 (from the recorded stack's comments: the capture says \"usernet stack 10.50.0.2/16\"; mac taken from frame 1, arp sender), 7 frames\n", cli.Stdout);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void A_capture_without_comments_takes_the_host_that_answers_arp_and_echo_requests()
    {
        // live.pcap is two kernels: 10.88.0.1 asks for 10.88.0.2 and pings it; 10.88.0.2 answers.
        var inferred = PacketReplay.InferStack(Repo.ReadAll(Repo.Fixture("live.pcap")));
        Assert.Equal(Ipv4Subnet.Parse("10.88.0.2/24"), inferred.Address);
        Assert.StartsWith("the host that answers ARP for 10.88.0.2, echo requests", inferred.Reason);
        Assert.EndsWith("; prefix /24 assumed", inferred.Reason);
    }

    private static List<CaptureRecord> BothAnswerPings() =>
    [
        CaptureRecord.Ethernet(1_000_000_000, Frames.EchoRequest(MacB, MacA, IpA, IpB, 1, 1, Frames.PingData())),
        CaptureRecord.Ethernet(1_001_000_000, Frames.Ipv4(MacA, MacB, IpB, IpA, IpProtocol.Icmp, Frames.IcmpEcho(IcmpType.EchoReply, 1, 1, Frames.PingData()))),
        CaptureRecord.Ethernet(2_000_000_000, Frames.EchoRequest(MacA, MacB, IpB, IpA, 2, 1, Frames.PingData())),
        CaptureRecord.Ethernet(2_001_000_000, Frames.Ipv4(MacB, MacA, IpA, IpB, IpProtocol.Icmp, Frames.IcmpEcho(IcmpType.EchoReply, 2, 1, Frames.PingData()))),
    ];

    [Fact]
    public void Two_hosts_that_both_answer_are_named_as_candidates()
    {
        var inferred = PacketReplay.InferStack(BothAnswerPings());
        Assert.Null(inferred.Address);
        Assert.Equal([IpA, IpB], inferred.Candidates);
        // No answers at all: every host seen is a candidate.
        var requestsOnly = PacketReplay.InferStack([BothAnswerPings()[0], BothAnswerPings()[2]]);
        Assert.Null(requestsOnly.Address);
        Assert.Equal([IpA, IpB], requestsOnly.Candidates);
    }

    [Fact]
    public void Cli_without_ip_replays_a_capture_made_by_usernet_up()
    {
        var path = Path.Combine(Repo.Captures, "arp-and-ping.pcapng");
        var r = Shell.Usernet("replay", path);
        Assert.Equal(0, r.ExitCode);
        Assert.Equal("", r.Stderr);
        var expected = Repo.Lines(File.ReadAllText(Path.Combine(Repo.Captures, "arp-and-ping.replay.txt")));
        var got = Repo.Lines(r.Stdout);
        Assert.Equal("replay: the stack is 10.50.0.2/24 mac 02:00:00:00:00:02 (from the recorded stack's comments: its \"tx:\" frames come from 10.50.0.2; prefix /24 assumed; mac taken from frame 1, arp sender), 7 frames", got[0]);
        Assert.Equal(expected[1..], got[1..]);
    }

    [Fact]
    public void Cli_that_cannot_tell_names_the_candidates_in_one_line_and_exits_2()
    {
        var path = Path.Combine(Path.GetTempPath(), $"usernet-{Guid.NewGuid():N}.pcapng");
        try
        {
            using (var w = new PcapNgWriter(File.Create(path)))
                foreach (var rec in BothAnswerPings()) w.Write(rec);
            var r = Shell.Usernet("replay", path);
            Assert.Equal(2, r.ExitCode);
            Assert.Equal("usernet replay: cannot tell which host is the stack: 10.60.0.1, 10.60.0.2; give --ip\n", r.Stderr.Replace("\r\n", "\n"));
            Assert.Equal("", r.Stdout);
            // Told, it replays.
            Assert.Equal(0, Shell.Usernet("replay", path, "--ip", "10.60.0.2/24").ExitCode);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void Cli_with_an_ip_no_frame_has_warns_and_goes_on()
    {
        var path = Path.Combine(Repo.Captures, "arp-and-ping.pcapng");
        var r = Shell.Usernet("replay", path, "--ip", "10.9.9.9/24");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal($"usernet replay: warning: 10.9.9.9 appears in no frame of {path}; every frame will be \"not for us\"\n", r.Stderr.Replace("\r\n", "\n"));
        Assert.StartsWith("replay: stack 10.9.9.9/24 ", r.Stdout);
        Assert.Contains("#7 ", r.Stdout);
        // The right one draws no warning.
        Assert.Equal("", Shell.Usernet("replay", path, "--ip", "10.50.0.2/24").Stderr);
    }

    /// <summary>The usage line, every subcommand's help and System.CommandLine's own errors say usernet, the command's name.</summary>
    [Fact]
    public void Help_and_errors_say_usernet_not_the_assembly_name()
    {
        var root = Shell.Usernet("--help");
        Assert.Equal(0, root.ExitCode);
        Assert.Contains("\n  usernet [command] [options]\n", root.Stdout.Replace("\r\n", "\n"));
        Assert.DoesNotContain("UserNet.Cli", root.Stdout);
        foreach (var sub in new[] { "up", "ping", "demo", "nc", "iperf3", "trace", "replay" })
        {
            var h = Shell.Usernet(sub, "--help");
            Assert.Equal(0, h.ExitCode);
            Assert.Contains($"\n  usernet {sub}", h.Stdout.Replace("\r\n", "\n"));
            Assert.DoesNotContain("UserNet.Cli", h.Stdout + h.Stderr);
        }
        var bad = Shell.Usernet("bogus");
        Assert.Equal(2, bad.ExitCode);
        Assert.StartsWith("usernet: Unrecognized command or argument 'bogus'.", bad.Stderr);
        var badOption = Shell.Usernet("replay", "x.pcap", "--nosuch");
        Assert.Equal(2, badOption.ExitCode);
        Assert.StartsWith("usernet replay: Unrecognized command or argument '--nosuch'.", badOption.Stderr);
        Assert.DoesNotContain("UserNet.Cli", bad.Stderr + badOption.Stderr);
    }

    /// <summary>
    /// What each TCP capture is there to teach is in its replay, done by the replay's own stack (a "sent:" line or a
    /// decision), not only recorded: a re-recording or a change of the stack that loses the lesson fails here.
    /// </summary>
    [Theory]
    [InlineData("tcp-client-nc", "the client asks the stack to connect from port ", "=> tcp: tcp syn-ack -> ESTABLISHED (SYN-SENT -> ESTABLISHED)", "(tx: tcp syn); this replay sent the same frame")]
    [InlineData("tcp-client-nc", "the client writes 22 bytes: \"hello from usernet nc\\n\"", "the client reads 27 bytes: \"hello back from the kernel\\n\"", "=> tcp: tcp fin -> TIME-WAIT (FIN-WAIT-2 -> TIME-WAIT)")]
    [InlineData("tcp-reset", "=> tcp: tcp rst -> connection reset (ESTABLISHED -> CLOSED)", "is gone (ConnectionReset)", "the tcp echo service reads 17 bytes")]
    [InlineData("tcp-out-of-order-sack", "=> tcp: tcp data out of order -> held, duplicate ack", "sack 1 {1001:1501}], length 0  (tcp ack (duplicate, for out-of-order data))", "=> tcp: tcp data fills a gap -> delivered with held data")]
    [InlineData("tcp-sack-two-holes", "sack 2 {5793:7241}{2897:4345}", "sent: IP 10.50.0.2.7 > 10.50.0.1.40014: Flags [.], seq 1449:2897, ack 7241", "sent: IP 10.50.0.2.7 > 10.50.0.1.40014: Flags [.], seq 4345:5793, ack 7241")]
    [InlineData("tcp-tail-loss-probe", "length 1448  (tcp tail loss probe (last segment again))", "-> hole at 2897 marked lost -> retransmit", "(tx: tcp retransmission (rack: lost by time)); this replay sent the same frame")]
    [InlineData("tcp-syn-cookie", "=> tcp: tcp syn while the listener's queue is full -> syn cookie sent, no state kept", "(tx: tcp syn-ack (syn cookie)); this replay sent the same frame", "=> tcp: tcp ack validates a syn cookie -> ESTABLISHED (LISTEN -> ESTABLISHED)")]
    [InlineData("two-linux-hosts", "=> tcp: tcp syn to a listener -> SYN-RECEIVED, syn-ack (LISTEN -> SYN-RECEIVED)", "the tcp echo service reads 47 bytes from 10.51.0.1:40017 and writes them back", "=> tcp: tcp ack of our fin -> CLOSED (LAST-ACK -> CLOSED)")]
    public void Each_tcp_capture_replays_what_it_teaches(string name, params string[] expected)
    {
        var records = Repo.ReadAll(Path.Combine(Repo.Captures, name + ".pcapng"));
        var t = PacketReplay.Run(records, new ReplayOptions { Address = RecorderAndReplayTests.StackAddress(name) }).Transcript;
        foreach (var e in expected) Assert.Contains(e, t);
        Assert.DoesNotContain("checksum BAD", t);
    }
}
