using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace UserNet.Services;

/// <summary>
/// The control messages of iperf3 (iperf.h): one signed byte, written by whoever moves the test on. The server
/// drives the test through PARAM_EXCHANGE, CREATE_STREAMS, TEST_START, TEST_RUNNING, EXCHANGE_RESULTS and
/// DISPLAY_RESULTS; the client sends TEST_END when its timer runs out and IPERF_DONE after showing the results.
/// </summary>
internal enum Iperf3State : sbyte
{
    TestStart = 1,
    TestRunning = 2,
    TestEnd = 4,
    ParamExchange = 9,
    CreateStreams = 10,
    ServerTerminate = 11,
    ClientTerminate = 12,
    ExchangeResults = 13,
    DisplayResults = 14,
    IperfStart = 15,
    IperfDone = 16,
    AccessDenied = -1,
    ServerError = -2,
}

/// <summary>iperf3's error numbers (<c>i_errno</c>, iperf_api.h) that we send or expect, and the text iperf3 prints for them (iperf_error.c).</summary>
internal static class Iperf3Error
{
    public const int Duration = 5, NumStreams = 6, BlockSize = 7, Unimplemented = 13, NoSctp = 18;
    public const int RecvCookie = 106, CtrlClose = 109, Message = 110, RecvParams = 114, RecvResults = 117,
        ClientTerm = 119, ServerTerm = 120, AccessDenied = 121, StreamId = 208;

    /// <summary>What iperf3 prints after "iperf3: error - " for <paramref name="code"/> (the common ones; the rest by number).</summary>
    public static string Text(int code) => code switch
    {
        Duration => "test duration too long (maximum = 86400 seconds)",
        NumStreams => "number of parallel streams too large (maximum = 128)",
        BlockSize => "block size too large (maximum = 1048576 bytes)",
        Unimplemented => "an option you are trying to set is not implemented yet",
        NoSctp => "no SCTP support available",
        RecvCookie => "unable to receive cookie at server",
        CtrlClose => "control socket has closed unexpectedly",
        Message => "received an unknown control message",
        RecvParams => "unable to receive parameters from client",
        RecvResults => "unable to receive results",
        ClientTerm => "the client has terminated",
        ServerTerm => "the server has terminated",
        AccessDenied => "the server is busy running a test. try again later",
        StreamId => "stream has an invalid id",
        _ => $"error {code}",
    };
}

/// <summary>
/// What an iperf3 client asks for (its PARAM_EXCHANGE JSON, send_parameters in iperf_api.c). iperf 3.12 sends
/// <c>{"tcp":true,"omit":0,"time":10,"num":0,"blockcount":0,"parallel":1,"len":131072,"pacing_timer":1000,"client_version":"3.12"}</c>,
/// with <c>"reverse":true</c> for -R, <c>"udp":true</c> for -u, and a key per other option given.
/// </summary>
internal sealed class Iperf3Parameters
{
    public const int DefaultBlockSize = 128 * 1024, MaxBlockSize = 1024 * 1024, MaxStreams = 128, MaxSeconds = 86400;

    public bool Udp { get; init; }
    public bool Sctp { get; init; }
    public int Omit { get; init; }
    public int Seconds { get; init; } = 10;
    public long Bytes { get; init; }
    public long Blocks { get; init; }
    public int Parallel { get; init; } = 1;
    public bool Reverse { get; init; }
    public bool Bidirectional { get; init; }
    public int BlockSize { get; init; } = DefaultBlockSize;
    public long Bandwidth { get; init; }
    public string? ClientVersion { get; init; }
    /// <summary>Keys we read but do not act on in a way the client would notice (-w, -M, -C, -S, ...): the server refuses them.</summary>
    public IReadOnlyList<string> Unsupported { get; init; } = [];

    private static readonly HashSet<string> Ignored =
    [
        "tcp", "pacing_timer", "client_version", "nodelay", "title", "extra_data", "server_affinity", "repeating_payload",
        "udp_counters_64bit", "zerocopy", "omit", "time", "num", "blockcount", "parallel", "len", "reverse",
        "bidirectional", "udp", "sctp", "bandwidth",
    ];

    /// <exception cref="JsonException">Not JSON.</exception>
    /// <exception cref="FormatException">Not a JSON object, or a name or string that is not UTF-8.</exception>
    public static Iperf3Parameters Parse(ReadOnlySpan<byte> json)
    {
        // JsonDocument checks the structure only; a name or string with bytes that are not UTF-8 fails when read.
        try { return ParseDocument(json); }
        catch (InvalidOperationException e) { throw new FormatException($"bad iperf3 parameters: {e.Message}", e); }
    }

    private static Iperf3Parameters ParseDocument(ReadOnlySpan<byte> json)
    {
        using var doc = JsonDocument.Parse(json.ToArray());
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw new FormatException("the parameters are not a JSON object");
        var unsupported = new List<string>();
        foreach (var p in root.EnumerateObject())
            if (!Ignored.Contains(p.Name)) unsupported.Add(p.Name);
        return new Iperf3Parameters
        {
            Udp = root.TryGetProperty("udp", out _),
            Sctp = root.TryGetProperty("sctp", out _),
            Omit = Int(root, "omit", 0),
            Seconds = Int(root, "time", 10),
            Bytes = Long(root, "num", 0),
            Blocks = Long(root, "blockcount", 0),
            Parallel = Int(root, "parallel", 1),
            Reverse = root.TryGetProperty("reverse", out _),
            Bidirectional = root.TryGetProperty("bidirectional", out _),
            BlockSize = Int(root, "len", DefaultBlockSize),
            Bandwidth = Long(root, "bandwidth", 0),
            ClientVersion = root.TryGetProperty("client_version", out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null,
            Unsupported = unsupported,
        };
    }

    /// <summary>The i_errno a server answers these parameters with, or 0 when it can run the test.</summary>
    public int Refusal()
    {
        if (Sctp) return Iperf3Error.NoSctp;
        if (Udp || Bidirectional || Bandwidth != 0 || Bytes != 0 || Blocks != 0 || Omit != 0 || Unsupported.Count > 0) return Iperf3Error.Unimplemented;
        if (Seconds is < 0 or > MaxSeconds) return Iperf3Error.Duration;
        if (Parallel is < 1 or > MaxStreams) return Iperf3Error.NumStreams;
        if (BlockSize is < 1 or > MaxBlockSize) return Iperf3Error.BlockSize;
        return 0;
    }

    /// <summary>The JSON iperf 3.12's client would send for these parameters (TCP only).</summary>
    public byte[] ToJson()
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteBoolean("tcp", true);
            w.WriteNumber("omit", Omit);
            w.WriteNumber("time", Seconds);
            w.WriteNumber("num", Bytes);
            w.WriteNumber("blockcount", Blocks);
            w.WriteNumber("parallel", Parallel);
            if (Reverse) w.WriteBoolean("reverse", true);
            w.WriteNumber("len", BlockSize);
            w.WriteNumber("pacing_timer", 1000);
            // The protocol we speak is 3.12's; a server may gate features on this.
            w.WriteString("client_version", ClientVersion ?? "3.12");
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    private static int Int(JsonElement e, string name, int otherwise) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? (int)Math.Clamp(v.GetDouble(), int.MinValue, int.MaxValue) : otherwise;

    private static long Long(JsonElement e, string name, long otherwise) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? (long)v.GetDouble() : otherwise;
}

/// <summary>One stream's line in the EXCHANGE_RESULTS JSON.</summary>
internal readonly record struct Iperf3StreamResult(int Id, long Bytes, long Retransmits, double StartTime, double EndTime);

/// <summary>
/// The EXCHANGE_RESULTS JSON each side sends the other (send_results/get_results in iperf_api.c): CPU use, whether
/// the sender counted retransmissions (-1 from a receiver), and per stream its id, bytes, retransmissions (-1 when
/// not the sender), jitter, errors and packets (UDP's; 0 for TCP), and start and end in seconds from the test's start.
/// </summary>
internal sealed class Iperf3Results
{
    public double CpuTotal { get; init; }
    public double CpuUser { get; init; }
    public double CpuSystem { get; init; }
    public int SenderHasRetransmits { get; init; }
    public string? CongestionUsed { get; init; }
    public IReadOnlyList<Iperf3StreamResult> Streams { get; init; } = [];

    public byte[] ToJson()
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteNumber("cpu_util_total", CpuTotal);
            w.WriteNumber("cpu_util_user", CpuUser);
            w.WriteNumber("cpu_util_system", CpuSystem);
            w.WriteNumber("sender_has_retransmits", SenderHasRetransmits);
            if (CongestionUsed is not null) w.WriteString("congestion_used", CongestionUsed);
            w.WriteStartArray("streams");
            foreach (var s in Streams)
            {
                w.WriteStartObject();
                w.WriteNumber("id", s.Id);
                w.WriteNumber("bytes", s.Bytes);
                w.WriteNumber("retransmits", s.Retransmits);
                w.WriteNumber("jitter", 0);
                w.WriteNumber("errors", 0);
                w.WriteNumber("packets", 0);
                w.WriteNumber("start_time", s.StartTime);
                w.WriteNumber("end_time", s.EndTime);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    /// <exception cref="FormatException">A field iperf3 insists on is missing.</exception>
    public static Iperf3Results Parse(ReadOnlySpan<byte> json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json.ToArray());
            var r = doc.RootElement;
            var streams = new List<Iperf3StreamResult>();
            foreach (var s in r.GetProperty("streams").EnumerateArray())
            {
                streams.Add(new Iperf3StreamResult(
                    (int)Math.Clamp(s.GetProperty("id").GetFinite(), int.MinValue, int.MaxValue),
                    (long)s.GetProperty("bytes").GetFinite(),
                    // iperf 3.12 prints -1 as an unsigned 64-bit number (1.8446744073709552e+19): anything that large is -1.
                    s.GetProperty("retransmits").GetFinite() is var rt && rt >= long.MaxValue ? -1 : (long)rt,
                    s.TryGetProperty("start_time", out var st) ? st.GetFinite() : 0,
                    s.TryGetProperty("end_time", out var et) ? et.GetFinite() : 0));
            }
            var has = r.GetProperty("sender_has_retransmits").GetFinite();
            return new Iperf3Results
            {
                CpuTotal = r.GetProperty("cpu_util_total").GetFinite(),
                CpuUser = r.GetProperty("cpu_util_user").GetFinite(),
                CpuSystem = r.GetProperty("cpu_util_system").GetFinite(),
                SenderHasRetransmits = has >= int.MaxValue ? -1 : (int)has,
                CongestionUsed = r.TryGetProperty("congestion_used", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString() : null,
                Streams = streams,
            };
        }
        catch (Exception e) when (e is KeyNotFoundException or InvalidOperationException or JsonException)
        {
            throw new FormatException($"bad iperf3 results: {e.Message}", e);
        }
    }
}

internal static class Iperf3Json
{
    /// <summary>A number that is one (JSON has no infinity, but 2e624 reads as one): else the results are malformed.</summary>
    public static double GetFinite(this JsonElement e) =>
        e.GetDouble() is var d && double.IsFinite(d) ? d : throw new JsonException($"{e.GetRawText()} is out of range");
}

/// <summary>An iperf3 error: ours (a broken peer) or the one the server answered with (SERVER_ERROR, ACCESS_DENIED).</summary>
public sealed class Iperf3Exception : Exception
{
    internal Iperf3Exception(int errorCode, int systemError = 0, string? detail = null)
        : base(detail is null ? Iperf3Error.Text(errorCode) : $"{Iperf3Error.Text(errorCode)}: {detail}")
    {
        ErrorCode = errorCode;
        SystemError = systemError;
    }

    /// <summary>iperf3's error number (<c>i_errno</c>, iperf_api.h), e.g. 121 for "the server is busy".</summary>
    public int ErrorCode { get; }
    /// <summary>The errno the server sent with it, 0 if none.</summary>
    public int SystemError { get; }
}

/// <summary>The control connection's framing: cookies, state bytes, 4-byte big-endian lengths before JSON, over pipes.</summary>
internal static class Iperf3Wire
{
    /// <summary>36 characters and a NUL (COOKIE_SIZE in iperf.h).</summary>
    public const int CookieSize = 37;
    /// <summary>The most JSON we accept in one message (iperf3 3.17 takes 8 KiB of parameters; results can be longer).</summary>
    public const int MaxJson = 1 << 20;

    /// <summary>A new cookie as iperf3 makes them (make_cookie): 36 characters of base32's alphabet, then NUL.</summary>
    public static byte[] NewCookie()
    {
        const string Alphabet = "abcdefghijklmnopqrstuvwxyz234567";
        var cookie = new byte[CookieSize];
        for (int i = 0; i < CookieSize - 1; i++) cookie[i] = (byte)Alphabet[RandomNumberGenerator.GetInt32(Alphabet.Length)];
        return cookie;
    }

    public static string CookieText(ReadOnlySpan<byte> cookie)
    {
        int end = cookie.IndexOf((byte)0);
        return Encoding.ASCII.GetString(end < 0 ? cookie : cookie[..end]);
    }

    /// <summary>Reads exactly <paramref name="destination"/>'s length.</summary>
    /// <exception cref="EndOfStreamException">The peer closed first.</exception>
    public static async ValueTask ReadExactAsync(PipeReader reader, Memory<byte> destination, CancellationToken ct)
    {
        while (destination.Length > 0)
        {
            var r = await reader.ReadAsync(ct).ConfigureAwait(false);
            var buffer = r.Buffer;
            var n = (int)Math.Min(buffer.Length, destination.Length);
            buffer.Slice(0, n).CopyTo(destination.Span);
            destination = destination[n..];
            reader.AdvanceTo(buffer.GetPosition(n));
            if (destination.Length > 0 && r.IsCompleted) throw new EndOfStreamException();
        }
    }

    public static async ValueTask<Iperf3State> ReadStateAsync(PipeReader reader, CancellationToken ct)
    {
        var b = new byte[1];
        await ReadExactAsync(reader, b, ct).ConfigureAwait(false);
        return (Iperf3State)(sbyte)b[0];
    }

    public static async ValueTask<int> ReadInt32Async(PipeReader reader, CancellationToken ct)
    {
        var b = new byte[4];
        await ReadExactAsync(reader, b, ct).ConfigureAwait(false);
        return BinaryPrimitives.ReadInt32BigEndian(b);
    }

    /// <summary>A length-prefixed JSON message (JSON_read in iperf_util.c).</summary>
    /// <exception cref="FormatException">A length of zero or past <see cref="MaxJson"/>.</exception>
    public static async ValueTask<byte[]> ReadJsonAsync(PipeReader reader, CancellationToken ct)
    {
        int length = await ReadInt32Async(reader, ct).ConfigureAwait(false);
        if (length is <= 0 or > MaxJson) throw new FormatException($"a JSON message of {length} bytes");
        var json = new byte[length];
        await ReadExactAsync(reader, json, ct).ConfigureAwait(false);
        return json;
    }

    public static void WriteState(PipeWriter writer, Iperf3State state)
    {
        writer.GetSpan(1)[0] = (byte)(sbyte)state;
        writer.Advance(1);
    }

    public static void WriteInt32(PipeWriter writer, int value)
    {
        BinaryPrimitives.WriteInt32BigEndian(writer.GetSpan(4), value);
        writer.Advance(4);
    }

    public static void WriteJson(PipeWriter writer, ReadOnlySpan<byte> json)
    {
        WriteInt32(writer, json.Length);
        writer.Write(json);
    }

    /// <summary>SERVER_ERROR, then i_errno and errno in network order (iperf_server_api.c).</summary>
    public static void WriteServerError(PipeWriter writer, int errorCode, int systemError = 0)
    {
        WriteState(writer, Iperf3State.ServerError);
        WriteInt32(writer, errorCode);
        WriteInt32(writer, systemError);
    }

    /// <summary>
    /// Reads and throws away everything until the end, <paramref name="ct"/>, or a reset, counting into
    /// <paramref name="counter"/>[0] (written with Volatile so another thread may sample it). No copy: the pipe's
    /// blocks are released as soon as they are seen.
    /// </summary>
    public static async Task ReceiveAsync(PipeReader reader, long[] counter, int index, CancellationToken ct)
    {
        long total = 0;
        while (true)
        {
            var r = await reader.ReadAsync(ct).ConfigureAwait(false);
            total += r.Buffer.Length;
            reader.AdvanceTo(r.Buffer.End);
            Volatile.Write(ref counter[index], total);
            if (r.IsCompleted || r.IsCanceled) return;
        }
    }

    /// <summary>
    /// Writes <paramref name="block"/> again and again until <paramref name="ct"/> or the connection ends, counting
    /// what the send buffer took into <paramref name="counter"/>[index]. The block is one buffer made once.
    /// </summary>
    public static async Task SendAsync(PipeWriter writer, ReadOnlyMemory<byte> block, long[] counter, int index, CancellationToken ct)
    {
        long total = 0;
        while (!ct.IsCancellationRequested)
        {
            writer.Write(block.Span);
            total += block.Length; // in the send buffer now, whether or not the flush below is cancelled
            Volatile.Write(ref counter[index], total);
            var f = await writer.FlushAsync(ct).ConfigureAwait(false);
            if (f.IsCompleted || f.IsCanceled) return;
        }
    }

    /// <summary>The block the sender repeats: random bytes, as iperf3 fills its buffer unless asked for a repeating payload.</summary>
    public static byte[] NewBlock(int size)
    {
        var block = GC.AllocateUninitializedArray<byte>(size, pinned: true);
        RandomNumberGenerator.Fill(block);
        return block;
    }
}

/// <summary>CPU time of this process between two moments, as percentages of the wall time (cpu_util in iperf_util.c).</summary>
internal readonly struct Iperf3Cpu
{
    private readonly TimeSpan _user, _system;
    private readonly long _start;

    private Iperf3Cpu(TimeSpan user, TimeSpan system, long start) { _user = user; _system = system; _start = start; }

    public static Iperf3Cpu Now()
    {
        using var p = System.Diagnostics.Process.GetCurrentProcess();
        return new Iperf3Cpu(p.UserProcessorTime, p.PrivilegedProcessorTime, System.Diagnostics.Stopwatch.GetTimestamp());
    }

    /// <summary>(total, user, system) in percent since this sample.</summary>
    public (double Total, double User, double System) Since()
    {
        var now = Now();
        var wall = System.Diagnostics.Stopwatch.GetElapsedTime(_start, now._start).TotalSeconds;
        if (wall <= 0) return (0, 0, 0);
        double user = (now._user - _user).TotalSeconds / wall * 100, system = (now._system - _system).TotalSeconds / wall * 100;
        return (user + system, user, system);
    }
}
