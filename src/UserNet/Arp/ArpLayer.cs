using System.Buffers;
using Microsoft.Extensions.Logging;
using UserNet.Core;
using UserNet.Wire;

namespace UserNet.Arp;

/// <summary>
/// ARP for Ethernet/IPv4 (RFC 826): answers requests for our address, learns by the RFC's merge rule,
/// resolves next hops with rate-limited retried requests, and holds a few packets per address meanwhile.
/// </summary>
internal sealed partial class ArpLayer : IDisposable
{
    private const int FrameLength = EthernetFrame.HeaderLength + ArpPacket.Length;
    private readonly NetStack _stack;
    private readonly ArpCache _cache;
    private readonly StackOptions _o;
    private TimeSpan _lastDefence = TimeSpan.MinValue;
    private TimeSpan _nextDeadline = TimeSpan.MaxValue;

    public ArpLayer(NetStack stack)
    {
        _stack = stack;
        _o = stack.Options;
        _cache = new ArpCache(_o.ArpCacheCapacity);
    }

    internal ArpCache Cache => _cache;
    public TimeSpan NextDeadline => _nextDeadline;

    public void Receive(Span<byte> payload)
    {
        if (!ArpPacket.TryParse(payload, out var arp)) { _stack.Drop(DropReason.ArpTruncated); return; }
        if (!arp.IsEthernetIpv4 || arp.Operation is not (ArpOperation.Request or ArpOperation.Reply))
        {
            _stack.Drop(DropReason.ArpUnsupportedFormat);
            return;
        }
        var sha = arp.SenderHardwareAddress;
        var spa = arp.SenderProtocolAddress;
        var tpa = arp.TargetProtocolAddress;
        var me = _stack.IpAddress;

        if (sha.IsMulticast || sha == MacAddress.Zero) { _stack.Drop(DropReason.ArpBadSender); return; }
        if (spa == me)
        {
            // Another host claims our address. Never learn it; defend at a bounded rate (RFC 5227 section 2.4 (c)).
            if (sha != _stack.Mac)
            {
                _stack.Drop(DropReason.ArpAddressConflict);
                if (_lastDefence == TimeSpan.MinValue || _stack.Now - _lastDefence >= _o.ArpDefendInterval)
                {
                    _lastDefence = _stack.Now;
                    LogConflict(sha);
                    Announce();
                }
            }
            else _stack.Drop(DropReason.ArpNotForUs);
            return;
        }
        if (spa.IsMulticast || spa.IsLimitedBroadcast || spa.IsLoopback)
        {
            _stack.Drop(DropReason.ArpBadSender);
            return;
        }

        _stack.Counters.Received(Layer.Arp);
        // RFC 826 "Packet Reception": merge first, then add only if we are the target.
        bool merged = false;
        if (!spa.IsUnspecified && _cache.TryGet(spa, out var entry))
        {
            Learn(spa, sha);
            merged = true;
            _ = entry;
        }
        if (tpa != me)
        {
            if (merged) _stack.Decide(Layer.Arp, "arp for another host -> cache updated");
            else _stack.Drop(DropReason.ArpNotForUs);
            return;
        }
        // spa 0.0.0.0 is an RFC 5227 probe: answer it, but there is no mapping to learn.
        if (!merged && !spa.IsUnspecified) Learn(spa, sha);
        if (arp.Operation == ArpOperation.Request)
        {
            _stack.Decide(Layer.Arp, "arp request for us -> reply");
            SendArp(ArpOperation.Reply, sha, sha, spa, "arp reply");
        }
        else
        {
            _stack.Decide(Layer.Arp, "arp reply for us -> learned");
        }
    }

    private void Learn(Ipv4Address ip, MacAddress mac)
    {
        var e = _cache.GetOrAdd(ip, out _, out int discarded);
        for (int i = 0; i < discarded; i++) _stack.DropOutgoing(DropReason.ArpEvicted);
        e = _cache.Set(ip, mac, _stack.Now + _o.ArpEntryLifetime);
        FlushWaiting(e);
        // A deadline that is now too early only costs one early poll, which recomputes it.
        if (e.Deadline < _nextDeadline) _nextDeadline = e.Deadline;
    }

    private void FlushWaiting(ArpCache.Entry e)
    {
        while (e.Waiting.TryDequeue(out var w))
        {
            _stack.Ip.Emit(w.Buffer.AsSpan(0, w.Length), e.Mac, w.Layer, w.What);
            ArrayPool<byte>.Shared.Return(w.Buffer);
        }
    }

    /// <summary>Looks up a next hop's MAC without side effects.</summary>
    public bool TryResolve(Ipv4Address nextHop, out MacAddress mac) => _cache.TryResolve(nextHop, _stack.Now, out mac);

    /// <summary>
    /// Holds a datagram (in a frame whose Ethernet header is still to be written) until <paramref name="nextHop"/>
    /// resolves, requesting it if no request is outstanding. Returns false when the queue is full and it was dropped.
    /// </summary>
    public bool Enqueue(Ipv4Address nextHop, ReadOnlySpan<byte> frame, Layer layer, string what)
    {
        var e = _cache.GetOrAdd(nextHop, out bool created, out int discarded);
        for (int i = 0; i < discarded; i++) _stack.DropOutgoing(DropReason.ArpEvicted);
        if (e.Resolved)
        {
            // Expired mapping: keep the MAC for nothing, resolve afresh.
            e.Resolved = false;
            e.RequestsSent = 0;
            created = true;
        }
        if (e.Waiting.Count >= _o.ArpQueueLength)
        {
            _stack.DropOutgoing(DropReason.ArpQueueOverflow);
            return false;
        }
        var buf = ArrayPool<byte>.Shared.Rent(frame.Length);
        frame.CopyTo(buf);
        e.Waiting.Enqueue((buf, frame.Length, layer, what));
        if (created) SendRequest(e);
        return true;
    }

    private void SendRequest(ArpCache.Entry e)
    {
        e.RequestsSent++;
        e.Deadline = _stack.Now + _o.ArpRequestInterval;
        if (e.Deadline < _nextDeadline) _nextDeadline = e.Deadline;
        SendArp(ArpOperation.Request, MacAddress.Broadcast, MacAddress.Zero, e.Address, "arp request");
    }

    /// <summary>Announces our mapping: a request with sender and target both our address (RFC 5227 section 2.3).</summary>
    public void Announce() =>
        SendArp(ArpOperation.Request, MacAddress.Broadcast, MacAddress.Zero, _stack.IpAddress, "arp announcement (gratuitous)");

    private void SendArp(ArpOperation op, MacAddress ethDst, MacAddress targetMac, Ipv4Address targetIp, string what)
    {
        Span<byte> frame = stackalloc byte[FrameLength];
        EthernetFrame.Write(frame, ethDst, _stack.Mac, EtherType.Arp);
        ArpPacket.Write(frame[EthernetFrame.HeaderLength..], op, _stack.Mac, _stack.IpAddress, targetMac, targetIp);
        _stack.Counters.Sent(Layer.Arp);
        _stack.Transmit(frame, Layer.Arp, what);
    }

    /// <summary>Retries requests that are due, gives up on addresses that never answered, expires old mappings.</summary>
    public void Poll()
    {
        var now = _stack.Now;
        if (now < _nextDeadline) return;
        List<ArpCache.Entry>? expired = null;
        foreach (var e in _cache.Entries)
        {
            if (now < e.Deadline) continue;
            if (!e.Resolved && e.RequestsSent < _o.ArpRequestAttempts) SendRequest(e);
            else (expired ??= new()).Add(e);
        }
        if (expired is not null)
        {
            foreach (var e in expired)
            {
                if (!e.Resolved)
                {
                    LogUnresolved(e.Address, e.RequestsSent);
                    // As a host's own stack does, report "host unreachable" for what waited (RFC 1122 2.3.2.2).
                    foreach (var w in e.Waiting) _stack.Icmp.NotifyLocalUnreachable(w.Buffer.AsSpan(EthernetFrame.HeaderLength, w.Length - EthernetFrame.HeaderLength));
                }
                int dropped = _cache.Remove(e);
                for (int i = 0; i < dropped; i++) _stack.DropOutgoing(DropReason.ArpUnresolved);
            }
        }
        _nextDeadline = _cache.EarliestDeadline();
    }

    public void Dispose() => _cache.Clear();

    private void LogConflict(MacAddress mac) { if (_stack.Logger is { } l) StackLog.AddressConflict(l, mac); }
    private void LogUnresolved(Ipv4Address a, int n) { if (_stack.Logger is { } l) StackLog.ArpUnresolved(l, a, n); }
}
