using UserNet.Capture;
using UserNet.Core;
using UserNet.Wire;

namespace UserNet.Replay;

/// <summary>What stack to replay a capture into.</summary>
public sealed record ReplayOptions
{
    /// <summary>The stack's address and prefix.</summary>
    public required Ipv4Subnet Address { get; init; }
    /// <summary>The stack's MAC; null takes the MAC the capture's frames address to <see cref="Address"/>.</summary>
    public MacAddress? Mac { get; init; }
    /// <summary>The next hop for destinations off the prefix.</summary>
    public Ipv4Address? Gateway { get; init; }
    /// <summary>
    /// Why <see cref="Address"/> is the stack's, when the capture chose it (<see cref="PacketReplay.InferStack"/>'s
    /// reason): the transcript's header line then says so. Null when the caller gave the address.
    /// </summary>
    public string? AddressSource { get; init; }
    /// <summary>Seeds the stack's choices (IP identification), so a replay gives the same bytes every run.</summary>
    public int Seed { get; init; } = 1;
    /// <summary>Serve echo (port 7) and discard (port 9) over UDP and TCP, as <c>usernet up</c> does by default.</summary>
    public bool Services { get; init; } = true;
}

/// <summary>
/// Which host of a capture the stack was, as the capture tells it: the address (with a /24 prefix, which no frame
/// states) and why, or, when it does not tell, null and the hosts it could have been.
/// </summary>
/// <param name="Address">The stack's address and prefix; null when the capture does not say.</param>
/// <param name="Reason">Why, in words for the transcript's header line; empty when <paramref name="Address"/> is null.</param>
/// <param name="Candidates">When <paramref name="Address"/> is null: the hosts that could be the stack, lowest first.</param>
public sealed record StackInference(Ipv4Subnet? Address, string Reason, IReadOnlyList<Ipv4Address> Candidates);

/// <summary>The outcome of a replay: the transcript and every frame the stack sent, with its decision as comment.</summary>
public sealed record ReplayResult(string Transcript, IReadOnlyList<CaptureRecord> Sent, MacAddress Mac, string MacSource)
{
    /// <summary>
    /// Every frame of the replay in the transcript's order, as a picture of the flow draws them: each frame of the
    /// capture (with the replay stack's decision for a frame it received), and each frame this replay sent that the
    /// recording does not show.
    /// </summary>
    public IReadOnlyList<ReplayFrame> Frames { get; init; } = [];
}

/// <summary>One frame of a replay, with what the replayed stack made of it.</summary>
/// <param name="Record">The frame, its time on the capture's clock, and its recorded comment if any.</param>
/// <param name="Number">Its number in the capture (from 1), or null for a frame only this replay sent.</param>
/// <param name="FromStack">Sent by the stack (the recorded one or this replay), rather than received from a peer.</param>
/// <param name="Summary">Its tcpdump line, as the transcript shows it.</param>
/// <param name="Layer">The layer whose decision ended a received frame's way, or the layer that sent a frame.</param>
/// <param name="Decision">The stack's decision (<c>ip checksum bad -> drop</c>) or what a sent frame is (<c>tcp retransmission</c>).</param>
/// <param name="Dropped">The stack dropped the frame.</param>
/// <param name="Note">What else the transcript says of it: whether this replay sent the same frame, or that the recorded stack decided otherwise.</param>
public sealed record ReplayFrame(CaptureRecord Record, int? Number, bool FromStack, string Summary, Layer Layer, string Decision, bool Dropped, string? Note);

/// <summary>
/// Feeds each frame of a capture into a fresh stack, on the capture's own clock, and says in plain words what each
/// layer saw, what the stack decided and what it sent. Uses no wall clock and no unseeded randomness, so the same
/// capture gives the same transcript, byte for byte, every time.
/// </summary>
public static class PacketReplay
{
    /// <summary>Used when neither --mac nor the capture says what our MAC is: locally administered, fixed.</summary>
    public static readonly MacAddress DefaultMac = MacAddress.Parse("02:00:00:00:00:01");

    /// <summary>
    /// Which host of <paramref name="records"/> the stack was: the one the capture's section comment names
    /// (<c>usernet stack A.B.C.D/N</c>, which <c>usernet up --pcap</c> writes; see <see cref="PcapNgReader.SectionComment"/>),
    /// else the one whose frames the recorded stack marked as sent (its <c>tx:</c> comments), else the one host that
    /// answers echo requests, connection requests or ARP requests. Without the section comment the prefix is in no
    /// frame: /24 is assumed.
    /// </summary>
    public static StackInference InferStack(IReadOnlyList<CaptureRecord> records, string? sectionComment = null)
    {
        ArgumentNullException.ThrowIfNull(records);
        if (CaptureForensics.StatedStack(sectionComment) is { } stated)
            return new StackInference(stated, $"from the recorded stack's comments: the capture says \"{CaptureForensics.StackCommentPrefix}{stated}\"", []);
        var (address, reason, candidates) = CaptureForensics.InferStackAddress(records);
        return new StackInference(address is { } a ? new Ipv4Subnet(a, 24) : null, reason, candidates);
    }

    /// <summary>Whether any frame of <paramref name="records"/> has <paramref name="address"/> as IPv4 source or destination, or as ARP sender or target.</summary>
    public static bool Mentions(IReadOnlyList<CaptureRecord> records, Ipv4Address address)
    {
        ArgumentNullException.ThrowIfNull(records);
        return CaptureForensics.Mentions(records, address);
    }

    /// <summary>Replays <paramref name="records"/> into a fresh stack as <paramref name="options"/> describe it.</summary>
    public static ReplayResult Run(IReadOnlyList<CaptureRecord> records, ReplayOptions options)
    {
        ArgumentNullException.ThrowIfNull(records);
        ArgumentNullException.ThrowIfNull(options);
        // Application code continues inline on this thread, one piece at a time (see ReplaySession). A synchronization
        // context of the caller's would make .NET send continuations to the thread pool instead, out of order.
        var context = SynchronizationContext.Current;
        SynchronizationContext.SetSynchronizationContext(null);
        try
        {
            using var session = new ReplaySession(records, options);
            return session.Run();
        }
        finally { SynchronizationContext.SetSynchronizationContext(context); }
    }
}
