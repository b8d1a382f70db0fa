using System.Net;
using System.Text.RegularExpressions;
using UserNet.Capture;
using UserNet.Pictures;
using UserNet.Replay;
using UserNet.TestSupport;
using UserNet.Wire;
using Xunit;
using Xunit.Abstractions;

namespace UserNet.Trace.Tests;

/// <summary>
/// The packet-flow page (<c>usernet replay FILE --html OUT</c>, <c>usernet trace -r FILE --html OUT</c>): every frame
/// on the ladder in order, with the tcpdump line the text tools print; the TCP graphs' segments and retransmissions;
/// the per-layer table; escaping; the ladder's cap; and what headless Chromium draws of it.
/// </summary>
public sealed partial class PacketFlowPageTests(ITestOutputHelper output)
{
    private static readonly Ipv4Subnet Stack = Ipv4Subnet.Parse("10.50.0.2/24");

    public static TheoryData<string> Captures() =>
        new(Directory.GetFiles(Repo.Captures, "*.pcapng").Select(Path.GetFileNameWithoutExtension).Order()!);

    [GeneratedRegex("<g class=\"(row[^\"]*)\" data-n=\"(\\d*)\">.*?<text class=\"label\"[^>]*>([^<]*)</text>", RegexOptions.Singleline)]
    private static partial Regex Row();

    /// <summary>The ladder's rows, in order: the frame number (null for a frame only the replay sent), its classes, its label as text.</summary>
    private static List<(int? Number, string Classes, string Label)> Rows(string page) =>
        Row().Matches(page).Select(m => (m.Groups[2].Value.Length == 0 ? (int?)null : int.Parse(m.Groups[2].Value), m.Groups[1].Value, WebUtility.HtmlDecode(m.Groups[3].Value))).ToList();

    private static string TracePage(IReadOnlyList<CaptureRecord> records, PacketFlowOptions? options = null)
    {
        var w = new StringWriter();
        PacketFlowPage.Write(w, records, options ?? new PacketFlowOptions { Title = "test" });
        return w.ToString();
    }

    private static (string Page, ReplayResult Result) ReplayPage(string capture)
    {
        var result = PacketReplay.Run(Repo.ReadAll(Path.Combine(Repo.Captures, capture + ".pcapng")), new ReplayOptions { Address = RecorderAndReplayTests.StackAddress(capture) });
        var w = new StringWriter();
        PacketFlowPage.Write(w, result, new PacketFlowOptions { Title = capture });
        return (w.ToString(), result);
    }

    [Theory]
    [MemberData(nameof(Captures))]
    public void The_trace_page_shows_every_frame_in_order_with_the_line_usernet_trace_prints(string capture)
    {
        var path = Path.Combine(Repo.Captures, capture + ".pcapng");
        var text = Shell.Usernet("trace", "-t", "-r", path);
        Assert.Equal(0, text.ExitCode);
        var rows = Rows(TracePage(Repo.ReadAll(path)));
        Assert.Equal(Repo.Lines(text.Stdout), rows.Select(r => r.Label).ToArray());
        Assert.Equal(Enumerable.Range(1, rows.Count).Select(n => (int?)n), rows.Select(r => r.Number));
    }

    [Theory]
    [InlineData("crafted")]
    [InlineData("live")]
    public void A_capture_no_stack_commented_on_shows_every_frame_with_the_line_tcpdump_itself_printed(string fixture)
    {
        // NAME.tcpdump-t.txt is tcpdump 4.99's own "tcpdump -n -t -r" output (Fixtures/make-expected.sh).
        // A frame of an unknown type gets tcpdump's hex dump on lines of its own: the ladder's label has them on one line.
        var expected = Regex.Replace(File.ReadAllText(Repo.Fixture(fixture + ".tcpdump-t.txt")), "\n(?=\t)", " ").TrimEnd('\n').Split('\n');
        var page = TracePage(Repo.ReadAll(Repo.Fixture(fixture + ".pcap")));
        Assert.Equal(expected, Rows(page).Select(r => r.Label).ToArray());
        // No stack said which way a frame went: the table counts frames per layer, not in and out.
        Assert.Contains("<tr><th>layer</th><th>frames</th><th>dropped</th></tr>", page);
        Assert.Contains($"<tr class=\"total\"><td>all frames</td><td>{expected.Length}</td><td>0</td></tr>", page);
    }

    [GeneratedRegex(@"^#(\d+) \+\d+\.\d{6} (.*)$", RegexOptions.Multiline)]
    private static partial Regex TranscriptFrame();

    [Theory]
    [MemberData(nameof(Captures))]
    public void The_replay_page_shows_every_frame_of_the_transcript_in_order(string capture)
    {
        var (page, result) = ReplayPage(capture);
        // The transcript the captures' tests pin (captures/NAME.replay.txt) is the one this replay printed.
        Assert.Equal(File.ReadAllText(Path.Combine(Repo.Captures, capture + ".replay.txt")), result.Transcript);
        var expected = TranscriptFrame().Matches(result.Transcript).Select(m => ((int?)int.Parse(m.Groups[1].Value), m.Groups[2].Value)).ToList();
        var rows = Rows(page);
        Assert.Equal(expected, rows.Where(r => r.Number is not null).Select(r => (r.Number, r.Label)).ToList());
        // The frames only the replay sent are drawn too, each as the transcript's "sent:" line has it, marked so.
        var replayOnly = rows.Where(r => r.Number is null).ToList();
        Assert.Equal(result.Frames.Count(f => f.Number is null), replayOnly.Count);
        Assert.All(replayOnly, r => Assert.Contains("replay-only", r.Classes));
        Assert.All(replayOnly, r => Assert.Contains($"sent: {r.Label}  (", result.Transcript));
        Assert.Equal(result.Frames.Count, rows.Count);
    }

    [Fact]
    public void A_frame_the_replay_sent_and_the_recording_lacks_is_drawn_where_it_was_sent()
    {
        // Only the peer's frames: every answer is the replay's own.
        var records = Repo.ReadAll(Path.Combine(Repo.Captures, "arp-and-ping.pcapng"))
            .Where(r => r.Comment?.StartsWith("tx: ", StringComparison.Ordinal) != true).ToList();
        var result = PacketReplay.Run(records, new ReplayOptions { Address = Stack });
        var w = new StringWriter();
        PacketFlowPage.Write(w, result, new PacketFlowOptions());
        var rows = Rows(w.ToString());
        Assert.Equal(result.Sent.Count, rows.Count(r => r.Number is null));
        Assert.True(result.Sent.Count >= 3, $"the stack answered the ARP request and two pings: {result.Sent.Count} sent");
        // Each answer follows the frame that asked for it.
        int request = rows.FindIndex(r => r.Label.StartsWith("ARP, Request who-has 10.50.0.2 tell 10.50.0.1", StringComparison.Ordinal));
        Assert.True(request >= 0);
        Assert.Null(rows[request + 1].Number);
        Assert.StartsWith("ARP, Reply 10.50.0.2 is-at", rows[request + 1].Label);
    }

    [GeneratedRegex("<svg class=\"tsg\" data-connection=\"([^\"]*)\".*?</svg>", RegexOptions.Singleline)]
    private static partial Regex Graph();

    /// <summary>Each graph's connection and direction, with its data segments and the retransmissions among them.</summary>
    private static Dictionary<string, (int Segments, int Retransmissions)> Graphs(string page) =>
        Graph().Matches(page).ToDictionary(m => WebUtility.HtmlDecode(m.Groups[1].Value),
            m => (Regex.Count(m.Value, "<g class=\"seg[\" ]"), Regex.Count(m.Value, "<g class=\"seg retransmission\"")));

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void The_lost_segment_shows_as_one_retransmission_in_its_graph_and_on_the_ladder(bool replay)
    {
        var path = Path.Combine(Repo.Captures, "tcp-retransmission.pcapng");
        string page = replay ? ReplayPage("tcp-retransmission").Page : TracePage(Repo.ReadAll(path));
        var graphs = Graphs(page);
        // The stack's echo of 39 bytes: sent, lost, sent again 200 ms later (RFC 6298 section 2.4's least RTO).
        Assert.Equal((2, 1), graphs["10.50.0.2.7 > 10.50.0.1.40011"]);
        Assert.Equal((1, 0), graphs["10.50.0.1.40011 > 10.50.0.2.7"]);
        Assert.Equal(2, graphs.Count);
        var retransmitted = Rows(page).Where(r => r.Classes.Contains("retransmission")).ToList();
        Assert.Equal(9, Assert.Single(retransmitted).Number);
        // The stack's state changes are on the time axis.
        Assert.Contains(">SYN-RECEIVED -&gt; ESTABLISHED</text>", page);
        Assert.Contains(">LAST-ACK -&gt; CLOSED</text>", page);
    }

    [Fact]
    public void The_whole_conversation_gives_one_graph_per_direction_that_carried_data()
    {
        var graphs = Graphs(ReplayPage("tcp-handshake-data-close").Page);
        Assert.Equal(2, graphs.Count);
        Assert.All(graphs.Values, g => Assert.Equal((1, 0), g));
        foreach (var capture in new[] { "arp-and-ping", "ip-fragments", "malformed-frames", "udp-echo-and-port-unreachable" })
            Assert.Empty(Graphs(ReplayPage(capture).Page));
    }

    [Fact]
    public void A_sack_block_and_the_scaled_window_are_drawn_where_the_receiver_put_them()
    {
        // A handmade conversation: SYN (wscale 2) / SYN-ACK (wscale 3), then 3 segments of 100 bytes, the second lost;
        // the receiver acknowledges 101 with a SACK block for the third (RFC 2018 section 3), then the second again.
        var a = Ipv4Address.Parse("192.0.2.1"); var b = Ipv4Address.Parse("192.0.2.2");
        uint isn = 1000, peer = 5000;
        var records = new List<CaptureRecord>();
        long t = 1_000_000_000;
        void Add(Ipv4Address s, Ipv4Address d, ushort sp, ushort dp, uint seq, uint ack, TcpFlags flags, ushort win, int len, byte[] options)
            => records.Add(CaptureRecord.Ethernet(t += 10_000_000, TcpFrame(s, d, sp, dp, seq, ack, flags, win, len, options)));
        Add(a, b, 40000, 80, isn, 0, TcpFlags.Syn, 1000, 0, [3, 3, 2, 1]);
        Add(b, a, 80, 40000, peer, isn + 1, TcpFlags.Syn | TcpFlags.Ack, 1000, 0, [3, 3, 3, 1]);
        Add(a, b, 40000, 80, isn + 1, peer + 1, TcpFlags.Ack, 250, 0, []);
        for (int i = 0; i < 3; i++) Add(a, b, 40000, 80, isn + 1 + (uint)(100 * i), peer + 1, TcpFlags.Ack, 250, 100, []);
        Add(b, a, 80, 40000, peer + 1, isn + 101, TcpFlags.Ack, 125, 0, [1, 1, 5, 10, .. Be(isn + 201), .. Be(isn + 301)]);
        Add(a, b, 40000, 80, isn + 101, peer + 1, TcpFlags.Ack, 250, 100, []);
        Add(b, a, 80, 40000, peer + 1, isn + 301, TcpFlags.Ack, 125, 0, []);
        var page = TracePage(records);
        Assert.Equal((4, 1), Graphs(page)["192.0.2.1.40000 > 192.0.2.2.80"]);
        Assert.Contains("SACK block 201-301", page);
        // The receiver's window of 125 counts units of 2^3 bytes (RFC 7323 section 2.2): the window edge is 101 + 1000.
        Assert.Contains("ack 101, window edge 1101", page);
        Assert.Contains("window scale 3", page);
    }

    private static byte[] Be(uint v) => [(byte)(v >> 24), (byte)(v >> 16), (byte)(v >> 8), (byte)v];

    private static byte[] TcpFrame(Ipv4Address s, Ipv4Address d, ushort sp, ushort dp, uint seq, uint ack, TcpFlags flags, ushort win, int len, byte[] options)
    {
        int tcpLen = 20 + options.Length, total = 20 + tcpLen + len;
        var f = new byte[14 + total];
        f[0] = 2; f[5] = 2; f[6] = 2; f[11] = 1; f[12] = 0x08;
        f[14] = 0x45; f[16] = (byte)(total >> 8); f[17] = (byte)total; f[22] = 64; f[23] = IpProtocol.Tcp;
        Be(s.Value).CopyTo(f, 26); Be(d.Value).CopyTo(f, 30);
        int t = 34;
        f[t] = (byte)(sp >> 8); f[t + 1] = (byte)sp; f[t + 2] = (byte)(dp >> 8); f[t + 3] = (byte)dp;
        Be(seq).CopyTo(f, t + 4); Be(ack).CopyTo(f, t + 8);
        f[t + 12] = (byte)(tcpLen / 4 << 4); f[t + 13] = (byte)flags; f[t + 14] = (byte)(win >> 8); f[t + 15] = (byte)win;
        options.CopyTo(f, t + 20);
        return f;
    }

    [Fact]
    public void The_table_counts_frames_per_layer_and_each_drop_by_its_reason()
    {
        var page = ReplayPage("malformed-frames").Page;
        // Five damaged IPv4 headers, one damaged ICMP message and one truncated ARP packet, each dropped at its layer.
        Assert.Matches("<tr class=\"layer\"><td>ipv4</td><td>5</td><td>0</td><td>5</td></tr>", page);
        foreach (var reason in new[] { "ip checksum bad", "ip header length bad", "ip total length bad", "ip header truncated", "ip source address invalid", "icmp checksum bad", "arp truncated" })
            Assert.Contains($"<tr class=\"reason\"><td>{reason}</td><td></td><td></td><td>1</td></tr>", page);
        Assert.Contains("<tr class=\"total\"><td>all frames</td><td>9</td><td>3</td><td>7</td></tr>", page);
        // The ladder marks the same seven frames as dropped.
        Assert.Equal(7, Rows(page).Count(r => r.Classes.Contains("dropped")));
    }

    [Fact]
    public void Every_string_from_the_capture_is_escaped_and_the_page_fetches_nothing()
    {
        var good = Repo.ReadAll(Path.Combine(Repo.Captures, "arp-and-ping.pcapng"));
        var hostile = good.Select((r, i) => r with { Comment = i == 1 ? "rx: <script>alert('x')</script> & \"more\" -> drop" : i == 2 ? "<img src=x onerror=alert(1)>\u0001" : r.Comment }).ToList();
        var page = TracePage(hostile, new PacketFlowOptions { Title = "</title><script>alert(2)</script>" });
        Assert.DoesNotContain("<script", page, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("<img", page, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;more&quot;", page);
        Assert.Contains("&lt;img src=x onerror=alert(1)&gt;\uFFFD", page);
        Assert.Contains("<h1>Packet flow: &lt;/title&gt;&lt;script&gt;alert(2)&lt;/script&gt;</h1>", page);
        // The hostile decision is a drop like any other, and counted by its (escaped) words.
        Assert.Contains("<td>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;more&quot;</td>", page);
        foreach (var p in new[] { TracePage(good), ReplayPage("tcp-retransmission").Page })
        {
            Assert.DoesNotContain("http://", p);
            Assert.DoesNotContain("https://", p);
            Assert.DoesNotContain("<script", p);
            Assert.DoesNotContain("<link", p);
            Assert.DoesNotContain("src=", p);
            Assert.DoesNotContain("url(http", p);
        }
    }

    [Fact]
    public void Frames_of_any_bytes_all_reach_the_ladder_and_nothing_throws()
    {
        var random = new Random(13);
        var records = new List<CaptureRecord>();
        for (int i = 0; i < 600; i++)
        {
            var f = new byte[random.Next(0, 120)];
            random.NextBytes(f);
            if (f.Length > 34 && i % 2 == 0) { f[12] = 0x08; f[13] = 0x00; f[14] = (byte)(0x40 | random.Next(16)); f[23] = IpProtocol.Tcp; f[20] = 0; f[21] = 0; }
            if (f.Length > 14 && i % 7 == 0) { f[12] = 0x08; f[13] = 0x06; }
            records.Add(new CaptureRecord(1_000_000_000L + i * 1000, f.Length + random.Next(0, 3), f, i % 50 == 0 ? LinkTypes.Raw : LinkTypes.Ethernet));
        }
        var rows = Rows(TracePage(records));
        Assert.Equal(records.Count, rows.Count);
    }

    [Fact]
    public void A_big_capture_draws_the_first_frames_and_says_how_many_it_left_out()
    {
        var one = Repo.ReadAll(Path.Combine(Repo.Captures, "udp-echo-and-port-unreachable.pcapng"));
        var records = Enumerable.Range(0, 2500).Select(i => one[i % one.Count] with { Timestamp = one[0].Timestamp + i * 1_000_000L }).ToList();
        var page = TracePage(records);
        var rows = Rows(page);
        Assert.Equal(2000, rows.Count);
        Assert.Equal(Enumerable.Range(1, 2000).Select(n => (int?)n), rows.Select(r => r.Number));
        Assert.Contains("The ladder shows the first 2000 of 2500 frames; the other 500 are left out", page);
        // The table still counts them all.
        Assert.Contains("<tr class=\"total\"><td>all frames</td>", page);
        var total = Regex.Match(page, "<tr class=\"total\"><td>all frames</td><td>(\\d+)</td><td>(\\d+)</td>");
        Assert.Equal(2500, int.Parse(total.Groups[1].Value) + int.Parse(total.Groups[2].Value));
        Assert.True(page.Length < 3_000_000, $"the page is {page.Length} characters");
        var small = TracePage(records, new PacketFlowOptions { MaxLadderFrames = 10 });
        Assert.Equal(10, Rows(small).Count);
        Assert.Contains("the first 10 of 2500 frames; the other 2490 are left out", small);
    }

    [Fact]
    public void A_bulk_transfer_is_counted_whole_and_drawn_within_the_caps()
    {
        // 20,000 segments of 1000 bytes, every 1000th sent twice, an ACK every second segment.
        var a = Ipv4Address.Parse("192.0.2.1"); var b = Ipv4Address.Parse("192.0.2.2");
        var records = new List<CaptureRecord>();
        long t = 1_000_000_000;
        void Add(byte[] frame) => records.Add(CaptureRecord.Ethernet(t += 100_000, frame));
        Add(TcpFrame(a, b, 40000, 9, 0, 0, TcpFlags.Syn, 65535, 0, []));
        Add(TcpFrame(b, a, 9, 40000, 0, 1, TcpFlags.Syn | TcpFlags.Ack, 65535, 0, []));
        for (int i = 0; i < 20_000; i++)
        {
            var segment = TcpFrame(a, b, 40000, 9, 1 + (uint)i * 1000, 1, TcpFlags.Ack, 65535, 1000, []);
            Add(segment);
            if (i % 1000 == 0) Add(segment);
            if (i % 2 == 1) Add(TcpFrame(b, a, 9, 40000, 1, 1 + (uint)(i + 1) * 1000, TcpFlags.Ack, 65535, 0, []));
        }
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var page = TracePage(records);
        clock.Stop();
        output.WriteLine($"{records.Count} frames: the page took {clock.ElapsedMilliseconds} ms, {page.Length} characters");
        Assert.Contains("192.0.2.1.40000 &gt; 192.0.2.2.9: 20020 data segments, 20 retransmissions", page);
        Assert.Contains("This graph draws the first 4000 of 20021 segments", page);
        Assert.Equal((3999, 4), Graphs(page).Single().Value); // the first 4000: the SYN, 3995 segments and the 4 sent again
        Assert.Equal(2000, Rows(page).Count);
        Assert.True(page.Length < 6_000_000, $"the page is {page.Length} characters");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"the page took {clock.Elapsed}");
    }

    [Fact]
    public void Html_needs_a_file_and_a_file_that_cannot_be_written_is_one_line()
    {
        var r = Shell.Usernet("trace", "-i", "lo", "--html", "/tmp/x.html");
        Assert.Equal(2, r.ExitCode);
        Assert.Equal("usernet: --html needs -r FILE: a page is drawn from a whole capture, not a live interface", r.Stderr.TrimEnd('\n'));
        var capture = Path.Combine(Repo.Captures, "arp-and-ping.pcapng");
        foreach (var args in new[] { new[] { "trace", "-r", capture }, ["replay", capture, "--ip", "10.50.0.2/24"] })
        {
            var bad = Shell.Usernet([.. args, "--html", "/nonexistent/dir/page.html"]);
            Assert.Equal(2, bad.ExitCode);
            var lines = bad.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.StartsWith("usernet: cannot write /nonexistent/dir/page.html", Assert.Single(lines));
        }
    }

    /// <summary>Colours the page draws with (Ladder and TimeSequenceGraph): what the screenshot must show.</summary>
    private static readonly (byte, byte, byte) ArrowIn = (0x2b, 0x6c, 0xb0), ArrowOut = (0x2f, 0x85, 0x5a), ArrowRetransmission = (0xdd, 0x6b, 0x20),
        AckLine = (0x1a, 0x98, 0x50), Retransmission = (0xc0, 0x39, 0x2b), Segment = (0x1f, 0x3a, 0x93);

    [Fact]
    public void Headless_chromium_draws_the_ladder_and_then_the_graphs()
    {
        var dir = Directory.CreateTempSubdirectory("usernet-page-");
        try
        {
            string html = Path.Combine(dir.FullName, "page.html"), png = Path.Combine(dir.FullName, "page.png");
            var replay = Shell.Usernet("replay", Path.Combine(Repo.Captures, "tcp-retransmission.pcapng"), "--ip", "10.50.0.2/24", "--html", html);
            Assert.Equal(0, replay.ExitCode);
            Assert.Equal(File.ReadAllText(Path.Combine(Repo.Captures, "tcp-retransmission.replay.txt")), replay.Stdout);
            Assert.Equal(14, Rows(File.ReadAllText(html)).Count);

            // CI installs chromium (scripts/install-test-deps.sh): missing, this fails rather than skips.
            var shot = Shell.Run(Shell.ToolPath("chromium"), ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--force-device-scale-factor=1",
                $"--user-data-dir={Path.Combine(dir.FullName, "profile")}", $"--screenshot={png}", "--window-size=1400,3000", new Uri(html).AbsoluteUri], TimeSpan.FromSeconds(120));
            Assert.True(File.Exists(png), $"chromium wrote no screenshot ({shot.ExitCode}): {shot.Stderr}");
            var image = Png.Read(png);
            Assert.Equal((1400, 3000), (image.Width, image.Height));

            // The ladder: arrows to and from the stack, and the orange retransmission; then, below it, the graphs.
            var arrowsIn = image.RowsOf(ArrowIn); var arrowsOut = image.RowsOf(ArrowOut);
            var orange = image.RowsOf(ArrowRetransmission);
            Assert.True(arrowsIn.Count > 500 && arrowsOut.Count > 500, $"ladder arrows: {arrowsIn.Count} blue, {arrowsOut.Count} green pixels");
            Assert.True(orange.Count > 100, $"retransmission arrow: {orange.Count} orange pixels");
            int ladderBottom = Math.Max(arrowsIn.Max(), arrowsOut.Max());
            var ack = image.RowsOf(AckLine); var segments = image.RowsOf(Segment); var red = image.RowsOf(Retransmission);
            Assert.True(ack.Count > 500, $"ACK lines: {ack.Count} pixels");
            Assert.True(segments.Count > 30, $"data segments: {segments.Count} pixels");
            Assert.True(red.Count > 30, $"the retransmitted segment: {red.Count} pixels");
            Assert.True(ack.Min() > ladderBottom && segments.Min() > ladderBottom, $"the graphs start below the ladder (ladder ends at y {ladderBottom}, ACK line at {ack.Min()})");
            Assert.True(orange.Min() < ladderBottom, "the retransmission is marked on the ladder");
            // Text beside the arrows: the tcpdump lines are drawn (dark pixels to the right of the lanes).
            Assert.True(image.NonWhite(640, arrowsIn.Min() - 10, 1400, ladderBottom) > 5000, "the ladder's labels are drawn");
            // Nothing past the graphs but white: the page is not a smear.
            Assert.True(image.NonWhite(0, 2900, 1400, 3000) < 100, "the bottom of the page is empty");
        }
        finally { dir.Delete(recursive: true); }
    }
}
