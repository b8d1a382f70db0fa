using UserNet.Capture;
using UserNet.Wire;

namespace UserNet.Replay;

/// <summary>What stack to replay a capture into.</summary>
public sealed record ReplayOptions
{
    /// <summary>The stack's address and prefix.</summary>
    public required Ipv4Subnet Address { get; init; }
    /// <summary>The stack's MAC; null takes the MAC the capture's frames address to <see cref="Address"/>.</summary>
    public MacAddress? Mac { get; init; }
    public Ipv4Address? Gateway { get; init; }
    /// <summary>Seeds the stack's choices (IP identification), so a replay gives the same bytes every run.</summary>
    public int Seed { get; init; } = 1;
    /// <summary>Serve echo (port 7) and discard (port 9) over UDP and TCP, as <c>usernet up</c> does by default.</summary>
    public bool Services { get; init; } = true;
}

/// <summary>The outcome of a replay: the transcript and every frame the stack sent, with its decision as comment.</summary>
public sealed record ReplayResult(string Transcript, IReadOnlyList<CaptureRecord> Sent, MacAddress Mac, string MacSource);

/// <summary>
/// Feeds each frame of a capture into a fresh stack, on the capture's own clock, and says in plain words what each
/// layer saw, what the stack decided and what it sent. Uses no wall clock and no unseeded randomness, so the same
/// capture gives the same transcript, byte for byte, every time.
/// </summary>
public static class PacketReplay
{
    /// <summary>Used when neither --mac nor the capture says what our MAC is: locally administered, fixed.</summary>
    public static readonly MacAddress DefaultMac = MacAddress.Parse("02:00:00:00:00:01");

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
