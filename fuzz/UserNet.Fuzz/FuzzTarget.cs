namespace UserNet.Fuzz;

/// <summary>Runs one input through a target; throws when the input found a bug (see <see cref="FuzzFailure"/>).</summary>
public delegate void FuzzInput(ReadOnlySpan<byte> input);

/// <summary>
/// One fuzz target: a name (what <c>scripts/fuzz.sh</c> takes), what it exercises, the longest input it reads (the
/// rest is ignored, and afl-fuzz is told to make none longer), and the check function. The check function either
/// returns (the input is fine) or throws: a <see cref="FuzzFailure"/> for an invariant that failed, or the
/// exception that escaped the code under test.
/// </summary>
public sealed record FuzzTarget(string Name, string Description, int MaxInputLength, FuzzInput Check)
{
    /// <summary>Runs <see cref="Check"/> over at most <see cref="MaxInputLength"/> bytes of <paramref name="input"/>.</summary>
    public void Run(ReadOnlySpan<byte> input) => Check(input.Length > MaxInputLength ? input[..MaxInputLength] : input);
}

/// <summary>An invariant a target checks after an input did not hold: a bug, as an exception escaping would be.</summary>
public sealed class FuzzFailure(string message) : Exception(message);

/// <summary>Every target, in the order <c>scripts/fuzz.sh --list</c> prints them.</summary>
public static class FuzzTargets
{
    public static readonly IReadOnlyList<FuzzTarget> All =
    [
        new("frames", "a fresh stack (a UDP socket and a TCP listener open) receiving a sequence of frames cut from one input, and timer ticks",
            8192, FramesTarget.Run),
        new("tcp-established", "a stack with a listener and a connection established by a recorded handshake, receiving segments, frames, ICMP errors, timer ticks and the application's reads, writes and closes",
            8192, TcpEstablishedTarget.Run),
        new("capture", "the pcap and pcapng readers over a capture file, each packet printed as `usernet trace -r` does and written back as pcapng",
            16384, CaptureTarget.Run),
        new("tcpdump", "the tcpdump formatter over arbitrary frames with options chosen by the input",
            4096, TcpdumpTarget.Run),
        new("iperf3-control", "iperf3's control messages as our server and our client read them: cookie, state bytes, length-prefixed parameters and results",
            4096, Iperf3ControlTarget.Run),
    ];

    public static FuzzTarget? Find(string name) => All.FirstOrDefault(t => t.Name == name);
}
