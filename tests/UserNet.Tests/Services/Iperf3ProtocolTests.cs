using System.IO.Pipelines;
using System.Net;
using System.Text;
using System.Text.Json;
using UserNet.Devices;
using UserNet.Hosting;
using UserNet.Services;
using UserNet.Stack;
using UserNet.Wire;

namespace UserNet.Tests.Services;

/// <summary>iperf3's control messages: what iperf 3.12 sends, what we send back, and a whole test over the in-memory link.</summary>
public class Iperf3ProtocolTests
{
    // What `iperf3 -c ADDR -t 2 -P 2 -R` (3.12) sends as its parameters (from its -d output).
    private const string Iperf312Parameters =
        """{"tcp":true,"omit":0,"time":2,"num":0,"blockcount":0,"parallel":2,"reverse":true,"len":131072,"pacing_timer":1000,"client_version":"3.12"}""";

    // What iperf 3.12's server sends when it was the receiver: -1 comes out as an unsigned 64-bit number.
    private const string Iperf312ReceiverResults = """
        {"cpu_util_total":83.291046738184,"cpu_util_user":1.1287421887261739,"cpu_util_system":82.1623045494578,
         "sender_has_retransmits":1.8446744073709552e+19,"congestion_used":"bbr",
         "streams":[{"id":1,"bytes":2688548864,"retransmits":1.8446744073709552e+19,"jitter":0,"errors":0,"packets":0,"start_time":0,"end_time":2.000624},
                    {"id":3,"bytes":2768371712,"retransmits":1.8446744073709552e+19,"jitter":0,"errors":0,"packets":0,"start_time":0,"end_time":2.000625}]}
        """;

    [Fact]
    public void Iperf3_parameters_of_3_12_parse_and_are_accepted()
    {
        var p = Iperf3Parameters.Parse(Encoding.UTF8.GetBytes(Iperf312Parameters));
        Assert.Equal(2, p.Seconds);
        Assert.Equal(2, p.Parallel);
        Assert.True(p.Reverse);
        Assert.Equal(131072, p.BlockSize);
        Assert.Equal("3.12", p.ClientVersion);
        Assert.Empty(p.Unsupported);
        Assert.Equal(0, p.Refusal());
    }

    [Theory]
    [InlineData("""{"udp":true,"time":1,"parallel":1,"len":32768,"bandwidth":1048576}""", 13)] // IEUNIMP
    [InlineData("""{"sctp":true,"time":1,"parallel":1}""", 18)] // IENOSCTP
    [InlineData("""{"tcp":true,"time":1,"parallel":1,"window":102400}""", 13)]
    [InlineData("""{"tcp":true,"time":1,"parallel":1,"bidirectional":true}""", 13)]
    [InlineData("""{"tcp":true,"time":1,"parallel":1,"num":1000}""", 13)]
    [InlineData("""{"tcp":true,"time":1,"parallel":500}""", 6)] // IENUMSTREAMS
    [InlineData("""{"tcp":true,"time":1,"parallel":1,"len":4194304}""", 7)] // IEBLOCKSIZE
    public void Iperf3_parameters_we_cannot_honour_get_iperf3s_error_number(string json, int expected) =>
        Assert.Equal(expected, Iperf3Parameters.Parse(Encoding.UTF8.GetBytes(json)).Refusal());

    [Fact]
    public void Iperf3_client_parameters_are_what_3_12_sends()
    {
        var json = new Iperf3Parameters { Seconds = 2, Parallel = 2, Reverse = true }.ToJson();
        using var ours = JsonDocument.Parse(json);
        using var theirs = JsonDocument.Parse(Iperf312Parameters);
        Assert.Equal(theirs.RootElement.EnumerateObject().Select(p => p.Name).Order(), ours.RootElement.EnumerateObject().Select(p => p.Name).Order());
        foreach (var p in theirs.RootElement.EnumerateObject())
            Assert.Equal(p.Value.GetRawText(), ours.RootElement.GetProperty(p.Name).GetRawText());
    }

    [Fact]
    public void Iperf3_results_of_a_3_12_receiver_parse_with_its_minus_one()
    {
        var r = Iperf3Results.Parse(Encoding.UTF8.GetBytes(Iperf312ReceiverResults));
        Assert.Equal(-1, r.SenderHasRetransmits);
        Assert.Equal("bbr", r.CongestionUsed);
        Assert.Equal([1, 3], r.Streams.Select(s => s.Id));
        Assert.Equal(2688548864, r.Streams[0].Bytes); // past 2^31
        Assert.Equal(-1, r.Streams[0].Retransmits);
        Assert.Equal(2.000625, r.Streams[1].EndTime);
        Assert.Equal(83.291046738184, r.CpuTotal);
    }

    [Fact]
    public void Iperf3_results_we_build_have_every_field_iperf3_requires()
    {
        var json = new Iperf3Results
        {
            CpuTotal = 12.5, CpuUser = 2.5, CpuSystem = 10, SenderHasRetransmits = 1, CongestionUsed = "cubic",
            Streams = [new Iperf3StreamResult(1, 5_000_000_000, 7, 0, 2.0001)],
        }.ToJson();
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        foreach (var key in new[] { "cpu_util_total", "cpu_util_user", "cpu_util_system", "sender_has_retransmits" })
            Assert.Equal(JsonValueKind.Number, root.GetProperty(key).ValueKind);
        var s = root.GetProperty("streams")[0];
        foreach (var key in new[] { "id", "bytes", "retransmits", "jitter", "errors", "packets", "start_time", "end_time" })
            Assert.Equal(JsonValueKind.Number, s.GetProperty(key).ValueKind);
        Assert.Equal(5_000_000_000, s.GetProperty("bytes").GetInt64());
        var back = Iperf3Results.Parse(json);
        Assert.Equal(new Iperf3StreamResult(1, 5_000_000_000, 7, 0, 2.0001), back.Streams[0]);
    }

    [Fact]
    public void Iperf3_results_without_a_required_field_are_a_format_error() =>
        Assert.Throws<FormatException>(() => Iperf3Results.Parse("""{"cpu_util_total":1,"streams":[]}"""u8));

    [Fact]
    public async Task Iperf3_json_messages_are_framed_by_a_big_endian_length()
    {
        var pipe = new Pipe();
        Iperf3Wire.WriteState(pipe.Writer, Iperf3State.ParamExchange);
        Iperf3Wire.WriteJson(pipe.Writer, """{"a":1}"""u8);
        Iperf3Wire.WriteServerError(pipe.Writer, Iperf3Error.Unimplemented, 0);
        await pipe.Writer.FlushAsync();
        var r = await pipe.Reader.ReadAsync();
        Assert.Equal(new byte[] { 9, 0, 0, 0, 7 }, System.Buffers.BuffersExtensions.ToArray(r.Buffer.Slice(0, 5)));
        pipe.Reader.AdvanceTo(r.Buffer.Start);
        Assert.Equal(Iperf3State.ParamExchange, await Iperf3Wire.ReadStateAsync(pipe.Reader, default));
        Assert.Equal("""{"a":1}""", Encoding.UTF8.GetString(await Iperf3Wire.ReadJsonAsync(pipe.Reader, default)));
        Assert.Equal(Iperf3State.ServerError, await Iperf3Wire.ReadStateAsync(pipe.Reader, default));
        Assert.Equal(13, await Iperf3Wire.ReadInt32Async(pipe.Reader, default));
        Assert.Equal(0, await Iperf3Wire.ReadInt32Async(pipe.Reader, default));
        pipe.Writer.Complete();
        await Assert.ThrowsAsync<EndOfStreamException>(async () => await Iperf3Wire.ReadStateAsync(pipe.Reader, default));
    }

    [Fact]
    public async Task Iperf3_a_json_length_out_of_range_is_refused()
    {
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync(new byte[] { 0x7f, 0, 0, 0 });
        await Assert.ThrowsAsync<FormatException>(async () => await Iperf3Wire.ReadJsonAsync(pipe.Reader, default));
    }

    [Fact]
    public async Task Iperf3_the_data_loops_count_every_byte_through_a_pipe()
    {
        // The sender's and receiver's own loops, joined by a plain pipe: what one counts, the other counts, and the
        // rate (printed) is what our loops cost, apart from TCP.
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 1 << 20, resumeWriterThreshold: 1 << 19, minimumSegmentSize: 64 * 1024));
        var block = Iperf3Wire.NewBlock(128 * 1024);
        long[] sent = [0], received = [0];
        using var stop = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var receiving = Iperf3Wire.ReceiveAsync(pipe.Reader, received, 0, default);
        try { await Iperf3Wire.SendAsync(pipe.Writer, block, sent, 0, stop.Token); } catch (OperationCanceledException) { }
        await pipe.Writer.CompleteAsync();
        await receiving;
        Assert.True(sent[0] > 0);
        Assert.Equal(sent[0], received[0]);
        Assert.Equal(0, sent[0] % block.Length);
        Console.WriteLine($"iperf3 data loops through a pipe: {sent[0] / clock.Elapsed.TotalSeconds / 1e9:F1} GB/s");
    }

    [Fact]
    public void Iperf3_cookies_are_36_characters_of_base32_and_a_nul()
    {
        var c = Iperf3Wire.NewCookie();
        Assert.Equal(37, c.Length);
        Assert.Equal(0, c[36]);
        Assert.Matches("^[a-z2-7]{36}$", Iperf3Wire.CookieText(c));
    }

    [Fact]
    public void Iperf3_stream_ids_skip_two_as_iperf3s_do() =>
        Assert.Equal([1, 3, 4, 5], Enumerable.Range(0, 4).Select(Iperf3Server.StreamId));

    [Fact]
    public void Iperf3_error_texts_are_iperf3s() =>
        Assert.Equal("the server is busy running a test. try again later", new Iperf3Exception(121).Message);

    [Fact]
    public async Task Iperf3_a_second_client_while_a_test_runs_is_told_the_server_is_busy()
    {
        var (endA, endB) = MemoryLink.CreatePair();
        await using var a = new StackHost(endA, new StackOptions { Address = Ipv4Subnet.Parse("10.0.0.1/24"), Mac = MacAddress.Parse("02:00:00:00:00:01"), Name = "a" });
        await using var b = new StackHost(endB, new StackOptions { Address = Ipv4Subnet.Parse("10.0.0.2/24"), Mac = MacAddress.Parse("02:00:00:00:00:02"), Name = "b" });
        await a.StartAsync();
        await b.StartAsync();
        await using var services = await StackServices.StartAsync(b, ["iperf3"]);
        var server = new IPEndPoint(IPAddress.Parse("10.0.0.2"), StackServices.Iperf3Port);
        var running = new TaskCompletionSource();
        var first = Iperf3Client.RunAsync(a, server, new Iperf3ClientOptions { Seconds = 2, Connected = _ => running.TrySetResult() });
        await running.Task.WaitAsync(TimeSpan.FromSeconds(20));
        var e = await Assert.ThrowsAsync<Iperf3Exception>(() => Iperf3Client.RunAsync(a, server, new Iperf3ClientOptions { Seconds = 1 }).WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.Equal(121, e.ErrorCode); // IEACCESSDENIED
        Assert.True((await first.WaitAsync(TimeSpan.FromSeconds(20))).Streams[0].BytesReceived > 0);
    }

    [Theory]
    [InlineData(false, 1)]
    [InlineData(true, 1)]
    [InlineData(false, 3)]
    public async Task Iperf3_our_client_and_server_run_a_test_over_the_memory_link(bool reverse, int parallel)
    {
        var (endA, endB) = MemoryLink.CreatePair();
        await using var a = new StackHost(endA, new StackOptions { Address = Ipv4Subnet.Parse("10.0.0.1/24"), Mac = MacAddress.Parse("02:00:00:00:00:01"), Name = "a" });
        await using var b = new StackHost(endB, new StackOptions { Address = Ipv4Subnet.Parse("10.0.0.2/24"), Mac = MacAddress.Parse("02:00:00:00:00:02"), Name = "b" });
        await a.StartAsync();
        await b.StartAsync();
        await using var services = await StackServices.StartAsync(b, ["iperf3"]);
        var intervals = new List<Iperf3Interval>();
        var wall = System.Diagnostics.Stopwatch.StartNew();
        var report = await Iperf3Client.RunAsync(a, new IPEndPoint(IPAddress.Parse("10.0.0.2"), StackServices.Iperf3Port),
            new Iperf3ClientOptions { Seconds = 1, Reverse = reverse, Parallel = parallel, Interval = intervals.Add })
            .WaitAsync(TimeSpan.FromSeconds(20));
        double whole = wall.Elapsed.TotalSeconds;
        Assert.Single(intervals);
        Assert.Equal(parallel, report.Streams.Count);
        foreach (var s in report.Streams)
        {
            Assert.True(s.BytesReceived > 0, "nothing arrived");
            Assert.True(s.BytesSent >= s.BytesReceived, $"sent {s.BytesSent}, received {s.BytesReceived}");
            // At least the second asked for, and no more than the whole run took (a loaded machine wakes the timer late).
            Assert.InRange(s.SenderSeconds, 0.9, whole);
        }
        // The interval ends at one second; what moved after it (before the flows stopped) is only in the totals.
        Assert.InRange(intervals[0].Bytes.Sum(), 1, reverse ? report.Streams.Sum(s => s.BytesReceived) : report.Streams.Sum(s => s.BytesSent));
        // One test at a time: the server is free again for the next.
        var again = await Iperf3Client.RunAsync(a, new IPEndPoint(IPAddress.Parse("10.0.0.2"), StackServices.Iperf3Port),
            new Iperf3ClientOptions { Seconds = 1 }).WaitAsync(TimeSpan.FromSeconds(20));
        Assert.True(again.Streams[0].BytesReceived > 0);
    }
}
