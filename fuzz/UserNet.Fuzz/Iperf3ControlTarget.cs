using System.Buffers;
using System.IO.Pipelines;
using System.Text.Json;
using UserNet.Services;

namespace UserNet.Fuzz;

/// <summary>
/// <c>iperf3-control</c>: the bytes a stranger sends on an iperf3 control connection, read as our server reads what a
/// client sends (first input byte even) or as our client reads what a server sends (odd), through the same framing
/// (<see cref="Iperf3Wire"/>) and parsers (<see cref="Iperf3Parameters"/>, <see cref="Iperf3Results"/>), step by step
/// as <c>Iperf3Server</c> and <c>Iperf3Client</c> take them. Only the exceptions their code handles at each step may
/// come out (the peer closed: <see cref="EndOfStreamException"/>; nonsense: <see cref="FormatException"/>, and
/// <see cref="JsonException"/> from the parameters, which the server answers with iperf3's error). What parses must
/// also survive our own writing: what we would send for it parses back the same.
/// </summary>
public static class Iperf3ControlTarget
{
    public static void Run(ReadOnlySpan<byte> input)
    {
        if (input.IsEmpty) return;
        var pipe = new Pipe();
        pipe.Writer.Write(input[1..]);
        pipe.Writer.Complete();
        try
        {
            if ((input[0] & 1) == 0) AsServer(pipe.Reader);
            else AsClient(pipe.Reader);
        }
        catch (EndOfStreamException) { } // the peer closed: the test ends
    }

    /// <summary>Iperf3Server: the cookie, the parameters (answered with iperf3's error when refused), TEST_END, the results, IPERF_DONE.</summary>
    private static void AsServer(PipeReader input)
    {
        var cookie = new byte[Iperf3Wire.CookieSize];
        Wait(Iperf3Wire.ReadExactAsync(input, cookie, default));
        _ = Iperf3Wire.CookieText(cookie);

        Iperf3Parameters p;
        try { p = Iperf3Parameters.Parse(Wait(Iperf3Wire.ReadJsonAsync(input, default))); }
        catch (Exception e) when (e is FormatException or JsonException) { return; } // refused: "unable to receive parameters"
        CheckParameters(p);
        if (p.Refusal() is var refusal and not 0)
        {
            _ = new Iperf3Exception(refusal, 0, p.Unsupported.Count > 0 ? string.Join(", ", p.Unsupported) : null).Message;
            return;
        }
        var next = Wait(Iperf3Wire.ReadStateAsync(input, default));
        if (next != Iperf3State.TestEnd) return; // the client stopped, or said something else: the test ends
        Iperf3Results results;
        try { results = Iperf3Results.Parse(Wait(Iperf3Wire.ReadJsonAsync(input, default))); }
        catch (FormatException) { return; } // "unable to receive results"
        CheckResults(results);
        _ = Wait(Iperf3Wire.ReadStateAsync(input, default));
    }

    /// <summary>Iperf3Client: state after state until the results are displayed or the server says no.</summary>
    private static void AsClient(PipeReader input)
    {
        for (int step = 0; step < 64; step++)
        {
            switch (Wait(Iperf3Wire.ReadStateAsync(input, default)))
            {
                case Iperf3State.ParamExchange or Iperf3State.CreateStreams or Iperf3State.TestStart or Iperf3State.TestRunning:
                    break; // the client writes, or opens streams; nothing more to read here
                case Iperf3State.ExchangeResults:
                    Iperf3Results theirs;
                    try { theirs = Iperf3Results.Parse(Wait(Iperf3Wire.ReadJsonAsync(input, default))); }
                    catch (FormatException) { return; } // "unable to receive results"
                    CheckResults(theirs);
                    break;
                case Iperf3State.ServerError:
                    int code = Wait(Iperf3Wire.ReadInt32Async(input, default));
                    int errno = Wait(Iperf3Wire.ReadInt32Async(input, default));
                    _ = new Iperf3Exception(code, errno).Message;
                    return;
                default:
                    return; // DISPLAY_RESULTS, ACCESS_DENIED, SERVER_TERMINATE or an unknown message: the test is over
            }
        }
    }

    /// <summary>Parameters we accept are within iperf3's limits, and what our client would send for them parses back the same.</summary>
    private static void CheckParameters(Iperf3Parameters p)
    {
        if (p.Refusal() != 0) return;
        if (p.Seconds is < 0 or > Iperf3Parameters.MaxSeconds || p.Parallel is < 1 or > Iperf3Parameters.MaxStreams
            || p.BlockSize is < 1 or > Iperf3Parameters.MaxBlockSize)
            throw new FuzzFailure($"parameters outside iperf3's limits were accepted: {p.Seconds} s, {p.Parallel} streams, {p.BlockSize}-byte blocks");
        var again = Iperf3Parameters.Parse(p.ToJson());
        if (again.Seconds != p.Seconds || again.Parallel != p.Parallel || again.Reverse != p.Reverse || again.BlockSize != p.BlockSize
            || again.ClientVersion != (p.ClientVersion ?? "3.12") || again.Refusal() != 0)
            throw new FuzzFailure($"accepted parameters do not survive our own JSON: {System.Text.Encoding.UTF8.GetString(p.ToJson())}");
    }

    /// <summary>Results that parse, written as we write ours, parse back the same.</summary>
    private static void CheckResults(Iperf3Results r)
    {
        var json = r.ToJson();
        var again = Iperf3Results.Parse(json);
        if (again.CpuTotal != r.CpuTotal || again.CpuUser != r.CpuUser || again.CpuSystem != r.CpuSystem
            || again.SenderHasRetransmits != r.SenderHasRetransmits || again.CongestionUsed != r.CongestionUsed
            || !again.Streams.SequenceEqual(r.Streams))
            throw new FuzzFailure($"results do not survive our own JSON: {System.Text.Encoding.UTF8.GetString(json)}");
    }

    /// <summary>The input is all in the pipe already, so every read completes at once.</summary>
    private static T Wait<T>(ValueTask<T> t) =>
        t.IsCompleted ? t.GetAwaiter().GetResult() : throw new FuzzFailure("a control read waited with the whole input already there");

    private static void Wait(ValueTask t)
    {
        if (!t.IsCompleted) throw new FuzzFailure("a control read waited with the whole input already there");
        t.GetAwaiter().GetResult();
    }
}
