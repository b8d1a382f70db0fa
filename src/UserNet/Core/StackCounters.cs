using System.Diagnostics.Metrics;
using System.Text;

namespace UserNet.Core;

/// <summary>What TCP did about loss, floods and offloads, counted per stack (see <see cref="StackCounters.Count(TcpCounter)"/>).</summary>
public enum TcpCounter
{
    /// <summary>Retransmissions after duplicate ACKs from a peer without SACK (fast retransmit, RFC 6582 partial ACK, early retransmit).</summary>
    FastRetransmissions,
    /// <summary>Retransmissions of segments RACK found lost (RFC 8985 section 6).</summary>
    RackRetransmissions,
    /// <summary>Tail loss probes sent (RFC 8985 section 7).</summary>
    LossProbes,
    /// <summary>Retransmissions after the retransmission timer expired (RFC 6298).</summary>
    TimeoutRetransmissions,
    /// <summary>Retransmissions found needless: a D-SACK (RFC 2883), or a timeout the peer's timestamps show was spurious.</summary>
    SpuriousRetransmissions,
    /// <summary>Loss recoveries driven by SACK information (RFC 6675).</summary>
    SackRecoveries,
    /// <summary>Loss recoveries from duplicate ACKs alone (RFC 5681, RFC 6582).</summary>
    DuplicateAckRecoveries,
    /// <summary>SYN-ACKs carrying a SYN cookie because a listener's queue was full (RFC 4987).</summary>
    SynCookiesSent,
    /// <summary>ACKs whose SYN cookie was valid: a connection made without a half-open entry.</summary>
    SynCookiesAccepted,
    /// <summary>ACKs to a listener whose SYN cookie was not valid.</summary>
    SynCookiesRejected,
    /// <summary>TCP super-segments received from a link that coalesces (a TAP with offloads: the kernel's GSO), each taken as one segment.</summary>
    SuperSegmentsReceived,
    /// <summary>TCP super-segments sent for the link to cut into MSS-sized segments (TSO through the virtio-net header).</summary>
    SuperSegmentsSent,
    /// <summary>SYNs beyond the stack's cap on half-open connections (<see cref="StackLimits.TcpHalfOpenConnections"/>), answered with a SYN cookie or dropped.</summary>
    HalfOpenLimitReached,
    /// <summary>RSTs not sent in answer to segments for no connection: over <see cref="StackLimits.TcpResetsPerSecond"/>.</summary>
    ResetsRateLimited,
    /// <summary>Connections closed at once instead of entering TIME-WAIT: the stack held <see cref="StackLimits.TcpTimeWaitConnections"/>.</summary>
    TimeWaitLimitReached,
}

/// <summary>
/// Per-layer packet counts and drops by reason. The loop thread bumps plain fields (no locks, no allocation);
/// <see cref="System.Diagnostics.Metrics"/> reads them through observable instruments on the meter <c>UserNet</c>.
/// </summary>
public sealed class StackCounters
{
    public const string MeterName = "UserNet";

    private static readonly int LayerCount = Enum.GetValues<Layer>().Length;
    private readonly long[] _received = new long[LayerCount];
    private readonly long[] _sent = new long[LayerCount];
    private readonly long[] _dropped = new long[DropReasons.Count];
    private static readonly int TcpCounterCount = Enum.GetValues<TcpCounter>().Length;
    private readonly long[] _tcp = new long[TcpCounterCount];
    private readonly Meter _meter;

    internal StackCounters(string stackName)
    {
        _meter = new Meter(MeterName);
        var stackTag = new KeyValuePair<string, object?>("stack", stackName);
        _meter.CreateObservableCounter("usernet.packets.received", () => Observe(_received, stackTag), "{packet}", "Packets accepted by each layer");
        _meter.CreateObservableCounter("usernet.packets.sent", () => Observe(_sent, stackTag), "{packet}", "Packets sent by each layer");
        _meter.CreateObservableCounter("usernet.packets.dropped", () => ObserveDrops(stackTag), "{packet}", "Packets dropped, by layer and reason");
        _meter.CreateObservableCounter("usernet.tcp.events", () => ObserveTcp(stackTag), "{event}", "TCP retransmissions by cause, spurious retransmissions, recoveries, SYN cookies, super-segments and limits reached");
    }

    internal void Received(Layer layer) => _received[(int)layer]++;
    internal void Sent(Layer layer) => _sent[(int)layer]++;
    internal void Dropped(DropReason reason) => _dropped[(int)reason]++;
    internal void Count(TcpCounter counter) => _tcp[(int)counter]++;

    /// <summary>How often TCP did <paramref name="counter"/>.</summary>
    public long CountOf(TcpCounter counter) => Volatile.Read(ref _tcp[(int)counter]);

    public long ReceivedBy(Layer layer) => Volatile.Read(ref _received[(int)layer]);
    public long SentBy(Layer layer) => Volatile.Read(ref _sent[(int)layer]);
    public long DroppedFor(DropReason reason) => Volatile.Read(ref _dropped[(int)reason]);
    public long DroppedBy(Layer layer)
    {
        long n = 0;
        for (int i = 0; i < _dropped.Length; i++)
            if (DropReasons.LayerOf((DropReason)i) == layer) n += Volatile.Read(ref _dropped[i]);
        return n;
    }

    private IEnumerable<Measurement<long>> Observe(long[] counts, KeyValuePair<string, object?> stackTag)
    {
        for (int i = 0; i < counts.Length; i++)
            yield return new Measurement<long>(Volatile.Read(ref counts[i]), stackTag, new("layer", LayerName((Layer)i)));
    }

    private IEnumerable<Measurement<long>> ObserveDrops(KeyValuePair<string, object?> stackTag)
    {
        for (int i = 0; i < _dropped.Length; i++)
        {
            var r = (DropReason)i;
            yield return new Measurement<long>(Volatile.Read(ref _dropped[i]), stackTag,
                new("layer", LayerName(DropReasons.LayerOf(r))), new("reason", DropReasons.Tag(r)));
        }
    }

    private IEnumerable<Measurement<long>> ObserveTcp(KeyValuePair<string, object?> stackTag)
    {
        for (int i = 0; i < _tcp.Length; i++)
            yield return new Measurement<long>(Volatile.Read(ref _tcp[i]), stackTag, new("event", TcpCounterTag((TcpCounter)i)));
    }

    /// <summary>The counter's name in metrics and in the table: snake_case, as the drop reasons are.</summary>
    public static string TcpCounterTag(TcpCounter c) => c switch
    {
        TcpCounter.FastRetransmissions => "retransmit_fast",
        TcpCounter.RackRetransmissions => "retransmit_rack",
        TcpCounter.LossProbes => "retransmit_tlp",
        TcpCounter.TimeoutRetransmissions => "retransmit_rto",
        TcpCounter.SpuriousRetransmissions => "spurious_retransmissions",
        TcpCounter.SackRecoveries => "sack_recoveries",
        TcpCounter.DuplicateAckRecoveries => "dupack_recoveries",
        TcpCounter.SynCookiesSent => "syn_cookies_sent",
        TcpCounter.SynCookiesAccepted => "syn_cookies_accepted",
        TcpCounter.SynCookiesRejected => "syn_cookies_rejected",
        TcpCounter.SuperSegmentsReceived => "super_segments_received",
        TcpCounter.SuperSegmentsSent => "super_segments_sent",
        TcpCounter.HalfOpenLimitReached => "half_open_limit_reached",
        TcpCounter.ResetsRateLimited => "resets_rate_limited",
        TcpCounter.TimeWaitLimitReached => "time_wait_limit_reached",
        _ => c.ToString(),
    };

    public static string LayerName(Layer l) => l switch
    {
        Layer.Ethernet => "ethernet",
        Layer.Arp => "arp",
        Layer.Ipv4 => "ipv4",
        Layer.Icmp => "icmp",
        Layer.Udp => "udp",
        Layer.Tcp => "tcp",
        _ => l.ToString().ToLowerInvariant(),
    };

    /// <summary>A table a person can read: one line per layer, then each non-zero drop reason, then SYN cookies if any.</summary>
    public string Format()
    {
        var sb = new StringBuilder();
        sb.AppendLine("layer      received       sent    dropped");
        for (int i = 0; i < LayerCount; i++)
        {
            var l = (Layer)i;
            sb.AppendLine($"{LayerName(l),-8} {ReceivedBy(l),10} {SentBy(l),10} {DroppedBy(l),10}");
        }
        for (int i = 0; i < _dropped.Length; i++)
        {
            var n = DroppedFor((DropReason)i);
            if (n > 0) sb.AppendLine($"  drop {LayerName(DropReasons.LayerOf((DropReason)i))}/{DropReasons.Tag((DropReason)i)}: {n} ({DropReasons.Text((DropReason)i)})");
        }
        for (int i = 0; i < _tcp.Length; i++)
        {
            var n = CountOf((TcpCounter)i);
            if (n > 0) sb.AppendLine($"  tcp {TcpCounterTag((TcpCounter)i)}: {n}");
        }
        return sb.ToString();
    }

    /// <summary>Stops the instruments (the stack is disposed).</summary>
    internal void Dispose() => _meter.Dispose();
}
