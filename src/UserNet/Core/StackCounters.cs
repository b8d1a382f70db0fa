using System.Diagnostics.Metrics;
using System.Text;

namespace UserNet.Core;

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
    private long _synCookiesSent, _synCookiesAccepted, _synCookiesRejected;
    private readonly Meter _meter;

    internal StackCounters(string stackName)
    {
        _meter = new Meter(MeterName);
        var stackTag = new KeyValuePair<string, object?>("stack", stackName);
        _meter.CreateObservableCounter("usernet.packets.received", () => Observe(_received, stackTag), "{packet}", "Packets accepted by each layer");
        _meter.CreateObservableCounter("usernet.packets.sent", () => Observe(_sent, stackTag), "{packet}", "Packets sent by each layer");
        _meter.CreateObservableCounter("usernet.packets.dropped", () => ObserveDrops(stackTag), "{packet}", "Packets dropped, by layer and reason");
        _meter.CreateObservableCounter("usernet.tcp.syn_cookies", () => ObserveSynCookies(stackTag), "{cookie}",
            "SYN cookies (RFC 4987): sent by a listener whose queue was full, and accepted or rejected when an ACK brought one back");
    }

    internal void Received(Layer layer) => _received[(int)layer]++;
    internal void Sent(Layer layer) => _sent[(int)layer]++;
    internal void Dropped(DropReason reason) => _dropped[(int)reason]++;
    internal void SynCookieSent() => _synCookiesSent++;
    internal void SynCookieAccepted() => _synCookiesAccepted++;
    internal void SynCookieRejected() => _synCookiesRejected++;

    public long ReceivedBy(Layer layer) => Volatile.Read(ref _received[(int)layer]);
    public long SentBy(Layer layer) => Volatile.Read(ref _sent[(int)layer]);
    public long DroppedFor(DropReason reason) => Volatile.Read(ref _dropped[(int)reason]);
    /// <summary>SYN-ACKs whose initial sequence number was a SYN cookie (the listener's queue was full; no state kept).</summary>
    public long SynCookiesSent => Volatile.Read(ref _synCookiesSent);
    /// <summary>ACKs that brought back a valid SYN cookie: each became an established connection.</summary>
    public long SynCookiesAccepted => Volatile.Read(ref _synCookiesAccepted);
    /// <summary>ACKs checked as a SYN cookie (the queue had overflowed lately) that were forged or stale: answered with RST.</summary>
    public long SynCookiesRejected => Volatile.Read(ref _synCookiesRejected);

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

    private IEnumerable<Measurement<long>> ObserveSynCookies(KeyValuePair<string, object?> stackTag)
    {
        yield return new Measurement<long>(SynCookiesSent, stackTag, new("result", "sent"));
        yield return new Measurement<long>(SynCookiesAccepted, stackTag, new("result", "accepted"));
        yield return new Measurement<long>(SynCookiesRejected, stackTag, new("result", "rejected"));
    }

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
        if (SynCookiesSent + SynCookiesAccepted + SynCookiesRejected > 0)
            sb.AppendLine($"  tcp syn cookies: {SynCookiesSent} sent, {SynCookiesAccepted} accepted, {SynCookiesRejected} rejected");
        return sb.ToString();
    }

    /// <summary>Stops the instruments (the stack is disposed).</summary>
    internal void Dispose() => _meter.Dispose();
}
