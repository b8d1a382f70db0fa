using System.Buffers;
using Microsoft.Extensions.Logging;
using UserNet.Core;
using UserNet.Ethernet;
using UserNet.Wire;

namespace UserNet.Arp;

/// <summary>How ARP behaves; the stack fills it in from its options.</summary>
internal sealed record ArpSettings
{
    public required TimeSpan EntryLifetime { get; init; }
    public required TimeSpan RequestInterval { get; init; }
    public required int RequestAttempts { get; init; }
    public required int QueueLength { get; init; }
    public required int CacheCapacity { get; init; }
    public required TimeSpan DefendInterval { get; init; }
}

/// <summary>
/// ARP for Ethernet/IPv4 (RFC 826): answers requests for our address, learns by the RFC's merge rule,
/// resolves next hops with rate-limited retried requests, and holds a few packets per address meanwhile.
/// </summary>
internal sealed partial class ArpLayer : IEtherTypeHandler, INeighbourResolver, IDisposable
{
    private const int FrameLength = EthernetFrame.HeaderLength + ArpPacket.Length;
    private readonly StackContext _ctx;
    private readonly EthernetLayer _link;
    private readonly ArpCache _cache;
    private readonly ArpSettings _o;
    private TimeSpan _lastDefence = TimeSpan.MinValue;
    private TimeSpan _nextDeadline = TimeSpan.MaxValue;

    public ArpLayer(StackContext context, EthernetLayer link, ArpSettings settings)
    {
        _ctx = context;
        _link = link;
        _o = settings;
        _cache = new ArpCache(settings.CacheCapacity);
    }

    internal ArpCache Cache => _cache;
    public TimeSpan NextDeadline => _nextDeadline;

    public void Receive(Span<byte> payload, bool linkBroadcast)
    {
        if (!ArpPacket.TryParse(payload, out var arp)) { _ctx.Drop(DropReason.ArpTruncated); return; }
        if (!arp.IsEthernetIpv4 || arp.Operation is not (ArpOperation.Request or ArpOperation.Reply))
        {
            _ctx.Drop(DropReason.ArpUnsupportedFormat);
            return;
        }
        var sha = arp.SenderHardwareAddress;
        var spa = arp.SenderProtocolAddress;
        var tpa = arp.TargetProtocolAddress;
        var me = _ctx.Address;

        if (sha.IsMulticast || sha == MacAddress.Zero) { _ctx.Drop(DropReason.ArpBadSender); return; }
        if (spa == me)
        {
            // Another host claims our address. Never learn it; defend at a bounded rate (RFC 5227 section 2.4 (c)).
            if (sha != _ctx.Mac)
            {
                _ctx.Drop(DropReason.ArpAddressConflict);
                if (_lastDefence == TimeSpan.MinValue || _ctx.Now - _lastDefence >= _o.DefendInterval)
                {
                    _lastDefence = _ctx.Now;
                    if (_ctx.Logger is { } l) LogConflict(l, sha);
                    Announce();
                }
            }
            else _ctx.Drop(DropReason.ArpNotForUs);
            return;
        }
        if (spa.IsMulticast || spa.IsLimitedBroadcast || spa.IsLoopback)
        {
            _ctx.Drop(DropReason.ArpBadSender);
            return;
        }

        _ctx.Counters.Received(Layer.Arp);
        // RFC 826 "Packet Reception": merge first, then add only if we are the target.
        bool merged = false;
        if (!spa.IsUnspecified && _cache.TryGet(spa, out _))
        {
            Learn(spa, sha);
            merged = true;
        }
        if (tpa != me)
        {
            if (merged) _ctx.Decide(Decision.ArpForAnotherHostCacheUpdated);
            else _ctx.Drop(DropReason.ArpNotForUs);
            return;
        }
        // spa 0.0.0.0 is an RFC 5227 probe: answer it, but there is no mapping to learn.
        if (!merged && !spa.IsUnspecified) Learn(spa, sha);
        if (arp.Operation == ArpOperation.Request)
        {
            _ctx.Decide(Decision.ArpRequestForUsReply);
            SendArp(ArpOperation.Reply, sha, sha, spa, Decision.ArpReplySent);
        }
        else
        {
            _ctx.Decide(Decision.ArpReplyForUsLearned);
        }
    }

    private void Learn(Ipv4Address ip, MacAddress mac)
    {
        _cache.GetOrAdd(ip, out _, out int discarded);
        for (int i = 0; i < discarded; i++) _ctx.DropOutgoing(DropReason.ArpEvicted);
        var e = _cache.Set(ip, mac, _ctx.Now + _o.EntryLifetime);
        while (e.Waiting.TryDequeue(out var w))
        {
            w.Owner.SendResolved(w.Buffer.AsSpan(0, w.Length), e.Mac, w.Layer, w.What);
            ArrayPool<byte>.Shared.Return(w.Buffer);
        }
        // A deadline that is now too early only costs one early poll, which recomputes it.
        if (e.Deadline < _nextDeadline) _nextDeadline = e.Deadline;
    }

    public bool TryResolve(Ipv4Address nextHop, out MacAddress mac)
    {
        if (!_cache.TryResolve(nextHop, _ctx.Now, out mac, out bool revalidate)) return false;
        // The unicast poll goes at the next poll, not now: the caller is in the middle of building its frame.
        if (revalidate && _ctx.Now < _nextDeadline) _nextDeadline = _ctx.Now;
        return true;
    }

    public bool Hold(Ipv4Address nextHop, ReadOnlySpan<byte> frame, Layer layer, Decision what, INeighbourClient owner)
    {
        var e = _cache.GetOrAdd(nextHop, out bool created, out int discarded);
        for (int i = 0; i < discarded; i++) _ctx.DropOutgoing(DropReason.ArpEvicted);
        if (e.Resolved)
        {
            // Not reached while TryResolve takes every resolved entry; should it be, resolve afresh.
            e.Resolved = false;
            e.Stale = false;
            e.RequestsSent = 0;
            created = true;
        }
        if (e.Waiting.Count >= _o.QueueLength)
        {
            _ctx.DropOutgoing(DropReason.ArpQueueOverflow);
            return false;
        }
        var buf = ArrayPool<byte>.Shared.Rent(frame.Length);
        frame.CopyTo(buf);
        e.Waiting.Enqueue(new HeldFrame(buf, frame.Length, layer, what, owner));
        if (created) SendRequest(e);
        return true;
    }

    private void SendRequest(ArpCache.Entry e)
    {
        e.RequestsSent++;
        e.Deadline = _ctx.Now + _o.RequestInterval;
        if (e.Deadline < _nextDeadline) _nextDeadline = e.Deadline;
        // A stale entry is polled where it was (RFC 1122 2.3.2.1 "unicast poll"); an unresolved one is asked for by broadcast.
        if (e.Stale) SendArp(ArpOperation.Request, e.Mac, MacAddress.Zero, e.Address, Decision.ArpUnicastPollSent);
        else SendArp(ArpOperation.Request, MacAddress.Broadcast, MacAddress.Zero, e.Address, Decision.ArpRequestSent);
    }

    /// <summary>Announces our mapping: a request with sender and target both our address (RFC 5227 section 2.3).</summary>
    public void Announce() =>
        SendArp(ArpOperation.Request, MacAddress.Broadcast, MacAddress.Zero, _ctx.Address, Decision.ArpAnnouncementSent);

    private void SendArp(ArpOperation op, MacAddress ethDst, MacAddress targetMac, Ipv4Address targetIp, Decision what)
    {
        Span<byte> frame = stackalloc byte[FrameLength];
        ArpPacket.Write(frame[EthernetFrame.HeaderLength..], op, _ctx.Mac, _ctx.Address, targetMac, targetIp);
        _ctx.Counters.Sent(Layer.Arp);
        _link.Send(frame, ethDst, EtherType.Arp, Layer.Arp, what);
    }

    /// <summary>Retries requests that are due, gives up on addresses that never answered, expires old mappings.</summary>
    public void Poll()
    {
        var now = _ctx.Now;
        if (now < _nextDeadline) return;
        List<ArpCache.Entry>? expired = null;
        foreach (var e in _cache.Entries)
        {
            if (now < e.Deadline) continue;
            // Unresolved: ask again, or give up. Stale (expired while in use): poll it again, or give up and forget it.
            // Expired and not used since: forget it.
            if ((!e.Resolved || e.Stale) && e.RequestsSent < _o.RequestAttempts) SendRequest(e);
            else (expired ??= new()).Add(e);
        }
        if (expired is not null)
        {
            foreach (var e in expired)
            {
                if (!e.Resolved)
                {
                    if (_ctx.Logger is { } l) LogUnresolved(l, e.Address, e.RequestsSent);
                    // As a host's own stack does, report "host unreachable" for what waited (RFC 1122 2.3.2.2).
                    foreach (var w in e.Waiting)
                        w.Owner.NeighbourUnreachable(w.Buffer.AsSpan(EthernetFrame.HeaderLength, w.Length - EthernetFrame.HeaderLength));
                }
                int dropped = _cache.Remove(e);
                for (int i = 0; i < dropped; i++) _ctx.DropOutgoing(DropReason.ArpUnresolved);
            }
        }
        _nextDeadline = _cache.EarliestDeadline();
    }

    public void Dispose() => _cache.Clear();

    [LoggerMessage(Level = LogLevel.Warning, Message = "ARP: {Mac} claims our address; defending it with a gratuitous ARP")]
    private static partial void LogConflict(ILogger logger, MacAddress mac);

    [LoggerMessage(Level = LogLevel.Information, Message = "ARP: {Address} did not answer {Requests} requests; dropping what waited for it")]
    private static partial void LogUnresolved(ILogger logger, Ipv4Address address, int requests);
}
