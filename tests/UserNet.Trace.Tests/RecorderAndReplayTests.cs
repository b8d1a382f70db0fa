using UserNet.TestSupport;
using UserNet.Capture;
using UserNet.Core;
using UserNet.Replay;
using UserNet.Stack;
using UserNet.Wire;
using Xunit;

namespace UserNet.Trace.Tests;

/// <summary>Recording a stack's frames with its decisions, and replaying captures through a fresh stack.</summary>
public sealed class RecorderAndReplayTests
{
    private static readonly MacAddress Us = MacAddress.Parse("02:00:00:00:00:02");
    private static readonly MacAddress Peer = MacAddress.Parse("02:00:00:00:00:01");
    private static readonly Ipv4Address UsIp = Ipv4Address.Parse("10.0.0.2"), PeerIp = Ipv4Address.Parse("10.0.0.1");

    private sealed class NoDevice : IFrameTransmitter { public void Transmit(ReadOnlySpan<byte> frame) { } }

    private static byte[] ArpRequest()
    {
        var f = new byte[42];
        EthernetFrame.Write(f, MacAddress.Broadcast, Peer, EtherType.Arp);
        ArpPacket.Write(f.AsSpan(14), ArpOperation.Request, Peer, PeerIp, MacAddress.Zero, UsIp);
        return f;
    }

    private static byte[] EchoRequest(bool badIpChecksum)
    {
        var f = new byte[14 + 20 + 8 + 8];
        EthernetFrame.Write(f, Us, Peer, EtherType.Ipv4);
        var icmp = IcmpMessage.WriteEcho(f.AsSpan(34), IcmpType.EchoRequest, 7, 1);
        icmp.UpdateChecksum();
        Ipv4Header.Write(f.AsSpan(14), PeerIp, UsIp, IpProtocol.Icmp, 16, 99);
        if (badIpChecksum) f[24] ^= 0xFF;
        return f;
    }

    [Fact]
    public void The_recorder_writes_each_frame_with_the_stacks_decision_as_its_comment()
    {
        var ms = new MemoryStream();
        var recorder = new PcapNgRecorder(new PcapNgWriter(ms), 1_700_000_000_000_000_000);
        using (var stack = new NetStack(new StackOptions { Address = Ipv4Subnet.Parse("10.0.0.2/24"), Mac = Us, Seed = 1, Observer = recorder }, new NoDevice()))
        {
            stack.Receive(ArpRequest(), TimeSpan.FromSeconds(1));
            stack.Receive(EchoRequest(badIpChecksum: false), TimeSpan.FromSeconds(2));
            stack.Receive(EchoRequest(badIpChecksum: true), TimeSpan.FromSeconds(3));
        }
        var records = Repo.ReadAll(Save(ms.ToArray()));
        Assert.Equal(
            new string?[] { "rx: arp request for us -> reply", "tx: arp reply", "rx: icmp echo request -> reply", "tx: icmp echo reply", "rx: ip checksum bad -> drop" },
            records.Select(r => r.Comment).ToArray());
        Assert.Equal(1_700_000_001_000_000_000, records[0].Timestamp);
        Assert.Equal(1_700_000_003_000_000_000, records[4].Timestamp);
    }

    private static string Save(byte[] bytes)
    {
        var path = Path.Combine(Path.GetTempPath(), $"usernet-{Guid.NewGuid():N}.pcapng");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    public static TheoryData<string> Captures()
    {
        var data = new TheoryData<string>();
        foreach (var f in Directory.GetFiles(Repo.Captures, "*.pcapng").Order()) data.Add(Path.GetFileNameWithoutExtension(f));
        return data;
    }

    /// <summary>Every capture in captures/ replays to its checked-in transcript (UPDATE_TRANSCRIPTS=1 rewrites them).</summary>
    [Theory]
    [MemberData(nameof(Captures))]
    public void Every_capture_replays_to_its_expected_transcript(string name)
    {
        var result = PacketReplay.Run(Repo.ReadAll(Path.Combine(Repo.Captures, name + ".pcapng")), new ReplayOptions { Address = StackAddress(name) });
        var expectedPath = Path.Combine(Repo.Captures, name + ".replay.txt");
        if (Environment.GetEnvironmentVariable("UPDATE_TRANSCRIPTS") == "1") File.WriteAllText(expectedPath, result.Transcript);
        Assert.Equal(File.ReadAllText(expectedPath), result.Transcript);
        Assert.Contains(captureReadme, l => l.Contains($"`{name}.pcapng`"));
    }

    /// <summary>The stack's address in a capture of captures/: 10.50.0.2/24 (usernet up's), but for the two Linux hosts, replayed as the server.</summary>
    internal static Ipv4Subnet StackAddress(string capture) =>
        Ipv4Subnet.Parse(capture == "two-linux-hosts" ? "10.51.0.2/24" : "10.50.0.2/24");

    private static readonly string[] captureReadme = File.ReadAllLines(Path.Combine(Repo.Captures, "README.md"));

    [Fact]
    public void Replays_are_byte_identical_every_time()
    {
        foreach (var capture in Directory.GetFiles(Repo.Captures, "*.pcapng").Append(Repo.Fixture("live.pcap")))
        {
            var records = Repo.ReadAll(capture);
            var ip = capture.EndsWith("live.pcap") ? Ipv4Subnet.Parse("10.88.0.2/24") : StackAddress(Path.GetFileNameWithoutExtension(capture));
            var a = PacketReplay.Run(records, new ReplayOptions { Address = ip });
            var b = PacketReplay.Run(Repo.ReadAll(capture), new ReplayOptions { Address = ip });
            Assert.Equal(a.Transcript, b.Transcript);
            Assert.Equal(Serialize(a.Sent), Serialize(b.Sent));
        }
    }

    private static byte[] Serialize(IEnumerable<CaptureRecord> records)
    {
        var ms = new MemoryStream();
        var w = new PcapNgWriter(ms);
        foreach (var r in records) w.Write(r);
        return ms.ToArray();
    }

    [Fact]
    public void Without_a_mac_the_stack_takes_the_one_the_capture_gives_its_address()
    {
        // live.pcap is two kernels talking; replayed as 10.88.0.2, the stack becomes that host.
        var records = Repo.ReadAll(Repo.Fixture("live.pcap"));
        var result = PacketReplay.Run(records, new ReplayOptions { Address = Ipv4Subnet.Parse("10.88.0.2/24") });
        var arpReply = records.Select(r => r.Data).First(d => d[12] == 0x08 && d[13] == 0x06 && d[21] == 2);
        Assert.Equal(MacAddress.Read(arpReply.AsSpan(6)), result.Mac);
        Assert.Contains("=> arp: arp request for us -> reply", result.Transcript);
        Assert.Contains("=> icmp: icmp echo request -> reply", result.Transcript);
        Assert.Contains("ip fragment", result.Transcript);
        Assert.Contains("sent: IP 10.88.0.2 > 10.88.0.1: ICMP echo reply", result.Transcript);

        var given = PacketReplay.Run(records, new ReplayOptions { Address = Ipv4Subnet.Parse("10.88.0.2/24"), Mac = MacAddress.Parse("02:aa:bb:cc:dd:ee") });
        Assert.Equal(MacAddress.Parse("02:aa:bb:cc:dd:ee"), given.Mac);
        Assert.Contains("ethernet destination not ours -> drop", given.Transcript);
    }

    [Fact]
    public void The_transcript_shows_each_layer_and_the_decision()
    {
        var result = PacketReplay.Run(Repo.ReadAll(Path.Combine(Repo.Captures, "malformed-frames.pcapng")), new ReplayOptions { Address = Ipv4Subnet.Parse("10.50.0.2/24") });
        var t = result.Transcript;
        Assert.Contains("    ipv4: 10.50.0.1 -> 10.50.0.2 (us), checksum BAD", t);
        Assert.Contains("    => ipv4: ip checksum bad -> drop", t);
        Assert.Contains("    => icmp: icmp checksum bad -> drop", t);
        Assert.Contains("    arp: only 20 bytes, a packet needs 28", t);
        Assert.Contains("this replay sent the same frame", t);
    }

    [Fact]
    public void A_recording_of_the_stack_pinging_replays_its_ping_client_too()
    {
        var result = PacketReplay.Run(Repo.ReadAll(Path.Combine(Repo.Captures, "stack-pings-kernel.pcapng")), new ReplayOptions { Address = Ipv4Subnet.Parse("10.50.0.2/24") });
        var t = result.Transcript;
        Assert.Contains("the ping client asks the stack to send an echo request to 10.50.0.1", t);
        Assert.Contains("(tx: arp request); this replay sent the same frame", t);
        Assert.Contains("(tx: ip datagram (was waiting for arp)); this replay sent the same frame", t);
        Assert.DoesNotContain("matches no ping", t);
        Assert.Equal(2, t.Split("=> icmp: icmp echo reply -> ping").Length - 1);
    }

    [Fact]
    public void A_tcp_recording_replays_with_the_recorded_isn_and_the_lost_segment_is_retransmitted_on_the_captures_clock()
    {
        var t = PacketReplay.Run(Repo.ReadAll(Path.Combine(Repo.Captures, "tcp-retransmission.pcapng")), new ReplayOptions { Address = Ipv4Subnet.Parse("10.50.0.2/24") }).Transcript;
        Assert.Contains("(tx: tcp syn-ack); this replay sent the same frame", t);
        Assert.Contains("=> tcp: tcp ack of our syn-ack -> ESTABLISHED (SYN-RECEIVED -> ESTABLISHED)", t);
        Assert.Contains("the tcp echo service reads 39 bytes from 10.50.0.1:40011 and writes them back", t);
        Assert.Matches(@"timer \+0\.99\d+: a deadline of the stack's passed before the next frame\n    sent: IP 10\.50\.0\.2\.7 > 10\.50\.0\.1\.40011: Flags \[P\.\], seq 1:40.*\(tcp retransmission\)", t);
        Assert.Contains("(tx: tcp retransmission); this replay sent the same frame", t);
        Assert.Contains("=> tcp: tcp ack of our fin -> CLOSED (LAST-ACK -> CLOSED)", t);
        // Everything the recorded stack sent, the replay sent too, but the gratuitous ARP of usernet up's start.
        Assert.Single(t.Split('\n'), l => l.Contains("this replay did not send it"));
        Assert.DoesNotContain("did not appear in the recording", t);
    }

    [Fact]
    public void The_tcp_echo_conversation_replays_frame_for_frame()
    {
        var t = PacketReplay.Run(Repo.ReadAll(Path.Combine(Repo.Captures, "tcp-handshake-data-close.pcapng")), new ReplayOptions { Address = Ipv4Subnet.Parse("10.50.0.2/24") }).Transcript;
        Assert.Contains("=> tcp: tcp fin -> CLOSE-WAIT (peer finished sending) (ESTABLISHED -> CLOSE-WAIT)", t);
        Assert.Contains("the tcp echo service reads the end of input from 10.50.0.1:40010 and closes the connection", t);
        Assert.Single(t.Split('\n'), l => l.Contains("this replay did not send it"));
        Assert.DoesNotContain("decided otherwise", t);
        Assert.DoesNotContain("did not appear in the recording", t);
    }

    [Fact]
    public void Fragments_of_the_kernel_are_reassembled_and_the_echo_leaves_in_fragments()
    {
        var t = PacketReplay.Run(Repo.ReadAll(Path.Combine(Repo.Captures, "ip-fragments.pcapng")), new ReplayOptions { Address = Ipv4Subnet.Parse("10.50.0.2/24") }).Transcript;
        Assert.Equal(2, t.Split("=> ipv4: ip fragment -> held for reassembly").Length - 1);
        Assert.Contains("a datagram of 3008 bytes of UDP goes up", t);
        Assert.Contains("udp: port 40009 -> port 7, 3000 bytes of data, checksum ok", t);
        Assert.Equal(2, t.Split("(tx: ip fragment); this replay sent the same frame").Length - 1);
    }

    [Fact]
    public void Without_services_a_udp_datagram_to_the_echo_port_gets_port_unreachable()
    {
        var records = Repo.ReadAll(Path.Combine(Repo.Captures, "udp-echo-and-port-unreachable.pcapng"));
        var t = PacketReplay.Run(records, new ReplayOptions { Address = Ipv4Subnet.Parse("10.50.0.2/24"), Services = false }).Transcript;
        Assert.Contains("(the recorded stack decided otherwise: udp datagram -> socket)", t);
    }
}
