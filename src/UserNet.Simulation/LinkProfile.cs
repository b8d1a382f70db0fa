namespace UserNet.Simulation;

/// <summary>
/// What a link does to the frames that cross it, in one direction, in the order the simulation applies it: a frame
/// whose IP payload exceeds <see cref="Mtu"/> is dropped; the rest wait for the rate limiter (a FIFO of at most
/// <see cref="QueueLimitBytes"/>, beyond which they are dropped); once serialised a frame may be lost
/// (<see cref="Loss"/>, then <see cref="BurstLoss"/>), corrupted, duplicated, held back (<see cref="Reorder"/>) and is
/// delayed by <see cref="Latency"/> ± <see cref="Jitter"/>. Every random choice comes from the link's own seeded
/// generator, so a seed replays them all.
/// </summary>
public sealed record LinkProfile
{
    /// <summary>A link that delivers every frame at once, in order, unchanged.</summary>
    public static LinkProfile Perfect { get; } = new();

    /// <summary>One-way propagation delay.</summary>
    public TimeSpan Latency { get; init; }

    /// <summary>
    /// Each frame's delay is drawn uniformly from <see cref="Latency"/> ± <see cref="Jitter"/> (never below zero). Unlike
    /// netem's default, jitter does not reorder: a frame never overtakes the one sent before it on the same link (its
    /// delivery waits for the earlier one), so that a jittery path stays a FIFO path; reordering is
    /// <see cref="Reorder"/>'s job alone.
    /// </summary>
    public TimeSpan Jitter { get; init; }

    /// <summary>Bits per second of the bottleneck; 0 for unlimited. A frame takes <c>Length * 8 / rate</c> to serialise.</summary>
    public long RateBitsPerSecond { get; init; }

    /// <summary>Bytes that may wait for the rate limiter (including the frame being serialised); a frame beyond is dropped ("queue full").</summary>
    public int QueueLimitBytes { get; init; } = 256 * 1024;

    /// <summary>Probability (0..1) that a frame is lost, independently of every other.</summary>
    public double Loss { get; init; }

    /// <summary>Bursty loss on top of <see cref="Loss"/>: a two-state Gilbert-Elliott channel; null for none.</summary>
    public GilbertElliott? BurstLoss { get; init; }

    /// <summary>Probability (0..1) that a frame arrives twice.</summary>
    public double Duplicate { get; init; }

    /// <summary>Probability (0..1) that a frame is held back by <see cref="ReorderDelay"/>, so that later frames arrive first.</summary>
    public double Reorder { get; init; }

    /// <summary>How long a reordered frame is held back beyond its normal delay.</summary>
    public TimeSpan ReorderDelay { get; init; } = TimeSpan.FromMilliseconds(10);

    /// <summary>Probability (0..1) that one random bit inside the IP datagram is flipped (the Ethernet header is left alone, so the checksums must catch it).</summary>
    public double Corrupt { get; init; }

    /// <summary>The largest Ethernet payload (IP datagram) the link carries; bigger frames are dropped ("too big"). Null: no limit.</summary>
    public int? Mtu { get; init; }

    internal void Validate()
    {
        static void P(double p, string name)
        {
            if (!(p >= 0 && p <= 1)) throw new ArgumentOutOfRangeException(name, p, $"{name} is a probability: 0..1");
        }
        P(Loss, nameof(Loss));
        P(Duplicate, nameof(Duplicate));
        P(Reorder, nameof(Reorder));
        P(Corrupt, nameof(Corrupt));
        if (Latency < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(Latency), Latency, "latency cannot be negative");
        if (Jitter < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(Jitter), Jitter, "jitter cannot be negative");
        if (ReorderDelay < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(ReorderDelay), ReorderDelay, "reorder delay cannot be negative");
        if (RateBitsPerSecond < 0) throw new ArgumentOutOfRangeException(nameof(RateBitsPerSecond), RateBitsPerSecond, "rate cannot be negative (0 is unlimited)");
        if (QueueLimitBytes < 0) throw new ArgumentOutOfRangeException(nameof(QueueLimitBytes), QueueLimitBytes, "queue limit cannot be negative");
        if (Mtu is < 0) throw new ArgumentOutOfRangeException(nameof(Mtu), Mtu, "MTU cannot be negative");
        if (BurstLoss is { } b)
        {
            P(b.GoodToBad, "BurstLoss.GoodToBad");
            P(b.BadToGood, "BurstLoss.BadToGood");
            P(b.LossInBad, "BurstLoss.LossInBad");
            P(b.LossInGood, "BurstLoss.LossInGood");
        }
    }
}

/// <summary>
/// The Gilbert-Elliott loss model: the channel is Good or Bad; before each frame it moves Good to Bad with probability
/// <paramref name="GoodToBad"/> and Bad to Good with <paramref name="BadToGood"/>, then loses the frame with the
/// loss probability of its state. Bursts in the Bad state last 1 / <paramref name="BadToGood"/> frames on average; the
/// channel is Bad a fraction GoodToBad / (GoodToBad + BadToGood) of the time.
/// </summary>
public sealed record GilbertElliott(double GoodToBad, double BadToGood, double LossInBad = 1, double LossInGood = 0)
{
    /// <summary>The long-run fraction of frames lost: the stationary mix of the two states' loss probabilities.</summary>
    public double StationaryLoss
    {
        get
        {
            double sum = GoodToBad + BadToGood;
            if (sum == 0) return LossInGood;
            double bad = GoodToBad / sum;
            return bad * LossInBad + (1 - bad) * LossInGood;
        }
    }
}

/// <summary>
/// What one direction of a link did to the frames offered to it. <paramref name="Sent"/> counts frames offered;
/// <paramref name="Delivered"/> frames handed to the receiving host (duplicates included);
/// <paramref name="Lost"/> frames lost to independent loss and <paramref name="BurstLost"/> to the Gilbert-Elliott
/// channel; <paramref name="QueueHighWaterBytes"/> the most bytes that ever waited for the rate limiter.
/// </summary>
public readonly record struct LinkStatistics(long Sent, long Delivered, long Lost, long BurstLost, long QueueDropped, long Duplicated,
    long Reordered, long Corrupted, long TooBig, long PartitionDropped, long QueueHighWaterBytes)
{
    /// <summary>Frames that reached a host that was down (crashed) when they arrived.</summary>
    public long HostDown { get; init; }
}
