namespace UserNet.Simulation;

/// <summary>How a <see cref="SimulatedNetwork"/> runs.</summary>
public enum SimulationMode
{
    /// <summary>
    /// Each host runs its stack on a thread of its own on the system clock, as a real host would; frames are released
    /// by a delivery thread at their time. Anything runs on it (Kestrel, HttpClient). The fault decisions are seeded
    /// and repeat; the timing is the operating system's and does not.
    /// </summary>
    RealTime,

    /// <summary>
    /// Every stack, timer, frame delivery and continuation of the test runs on the thread that calls
    /// <see cref="SimulatedNetwork.RunAsync(Func{Task})"/>, in virtual time that jumps to the next deadline whenever
    /// nothing is runnable: a seed replays the run exactly (byte-identical captures), and a minute of simulated
    /// traffic takes seconds.
    /// </summary>
    Deterministic,
}

/// <summary>When a capture file is kept.</summary>
public enum CaptureRetention
{
    /// <summary>Always.</summary>
    Always,
    /// <summary>Only when a <see cref="SimulatedNetwork.RunAsync(Func{Task})"/> failed; deleted when the network is disposed otherwise.</summary>
    OnFailure,
}

/// <summary>How to build a <see cref="SimulatedNetwork"/>.</summary>
public sealed class SimulationOptions
{
    /// <summary>The name of the environment variable that gives the seed when none is set here.</summary>
    public const string SeedVariable = "USERNET_SEED";

    /// <summary>The seed of every random decision; null: the <c>USERNET_SEED</c> environment variable if set, else a random one.</summary>
    public int? Seed { get; init; }

    /// <summary>Real threads and clock, or one thread in virtual time.</summary>
    public SimulationMode Mode { get; init; } = SimulationMode.RealTime;

    /// <summary>The profile of the default segment (<c>lan</c>).</summary>
    public LinkProfile DefaultProfile { get; init; } = LinkProfile.Perfect;

    /// <summary>
    /// Where the seed is looked up when <see cref="Seed"/> is null (tests give a dictionary); null: the process's
    /// environment.
    /// </summary>
    public Func<string, string?>? Environment { get; init; }
}

/// <summary>A simulated run failed: says which seed replays it and where its capture is.</summary>
public sealed class SimulationFailedException : Exception
{
    public SimulationFailedException(string message, int seed, string? capturePath, Exception? innerException)
        : base(message, innerException)
    {
        Seed = seed;
        CapturePath = capturePath;
    }

    /// <summary>The network's seed: set <c>USERNET_SEED</c> to it to replay the run.</summary>
    public int Seed { get; }

    /// <summary>The capture of the run, when one was recorded.</summary>
    public string? CapturePath { get; }
}
