namespace UserNet.Core;

/// <summary>The layer that handled (or dropped) a frame; used by counters and traces.</summary>
public enum Layer { Ethernet, Arp, Ipv4, Icmp, Udp, Tcp }

/// <summary>Why a frame was dropped. Each reason belongs to one layer (see <see cref="DropReasons"/>).</summary>
public enum DropReason
{
    EthernetTooShort,
    EthernetNotForUs,
    EthernetUnknownType,
    EthernetTooLarge,
    StackFault,

    ArpTruncated,
    ArpUnsupportedFormat,
    ArpBadSender,
    ArpAddressConflict,
    ArpNotForUs,
    ArpQueueOverflow,
    ArpUnresolved,
    ArpEvicted,

    Ipv4Truncated,
    Ipv4BadVersion,
    Ipv4BadHeaderLength,
    Ipv4BadTotalLength,
    Ipv4BadChecksum,
    Ipv4BadSource,
    Ipv4NotForUs,
    Ipv4FragmentMalformed,
    Ipv4ReassemblyOverlap,
    Ipv4ReassemblyTooBig,
    Ipv4ReassemblyTimeout,
    Ipv4ReassemblyEvicted,
    Ipv4UnknownProtocol,
    Ipv4TooBig,
    Ipv4NoRoute,
    Ipv4DontFragment,

    IcmpTruncated,
    IcmpBadChecksum,
    IcmpUnhandledType,
    IcmpUnmatchedReply,
    IcmpEchoToBroadcast,
    IcmpErrorRateLimited,
    IcmpErrorMalformed,
    IcmpErrorUnmatched,

    UdpTruncated,
    UdpBadLength,
    UdpBadChecksum,
    UdpNoSocket,
    UdpReceiveQueueFull,

    TcpTruncated,
    TcpBadChecksum,
    TcpBroadcast,
    TcpNoConnection,
    TcpBacklogFull,
    TcpOutOfWindow,
    TcpOutOfOrderFull,
    TcpChallengeAckLimited,
    TcpPaws,
    TcpAcceptQueueFull,
    Ipv4SuperSegmentNotTcp,
    TcpConnectionLimit,
    TcpHalfOpenLimit,
    TcpOutOfOrderLimit,
    UdpQueueLimit,
    TcpPeerConnectionLimit,
}

/// <summary>Layer and human text for each <see cref="DropReason"/>; the text is what traces and counters show.</summary>
public static class DropReasons
{
    private static readonly (Layer Layer, string Tag, string Text)[] Table = Build();
    private static readonly string[] Decisions = Table.Select(t => t.Text + " -> drop").ToArray();

    public static Layer LayerOf(DropReason r) => Table[(int)r].Layer;
    /// <summary>A stable snake_case tag for metrics (for example <c>bad_checksum</c>).</summary>
    public static string Tag(DropReason r) => Table[(int)r].Tag;
    /// <summary>Plain words, as traces print them (for example <c>ip checksum bad</c>).</summary>
    public static string Text(DropReason r) => Table[(int)r].Text;
    public static int Count => Table.Length;
    /// <summary>The trace decision for a drop, precomputed so the hot path never formats text.</summary>
    public static string Decision(DropReason r) => Decisions[(int)r];

    private static (Layer, string, string)[] Build()
    {
        var t = new (Layer, string, string)[Enum.GetValues<DropReason>().Length];
        void Set(DropReason r, Layer l, string tag, string text) => t[(int)r] = (l, tag, text);
        Set(DropReason.EthernetTooShort, Layer.Ethernet, "too_short", "frame shorter than an ethernet header");
        Set(DropReason.EthernetNotForUs, Layer.Ethernet, "not_for_us", "ethernet destination not ours");
        Set(DropReason.EthernetUnknownType, Layer.Ethernet, "unknown_ethertype", "ethertype not spoken");
        Set(DropReason.EthernetTooLarge, Layer.Ethernet, "too_large", "frame larger than the mtu");
        Set(DropReason.StackFault, Layer.Ethernet, "stack_fault", "the stack failed on this frame (a bug; logged)");
        Set(DropReason.ArpTruncated, Layer.Arp, "truncated", "arp truncated");
        Set(DropReason.ArpUnsupportedFormat, Layer.Arp, "unsupported_format", "arp not ethernet/ipv4");
        Set(DropReason.ArpBadSender, Layer.Arp, "bad_sender", "arp sender address invalid");
        Set(DropReason.ArpAddressConflict, Layer.Arp, "address_conflict", "arp claims our address");
        Set(DropReason.ArpNotForUs, Layer.Arp, "not_for_us", "arp for another host");
        Set(DropReason.ArpQueueOverflow, Layer.Arp, "queue_overflow", "arp wait queue full");
        Set(DropReason.ArpUnresolved, Layer.Arp, "unresolved", "arp got no reply");
        Set(DropReason.ArpEvicted, Layer.Arp, "evicted", "arp cache full: what waited on an evicted entry is dropped");
        Set(DropReason.Ipv4Truncated, Layer.Ipv4, "truncated", "ip header truncated");
        Set(DropReason.Ipv4BadVersion, Layer.Ipv4, "bad_version", "ip version not 4");
        Set(DropReason.Ipv4BadHeaderLength, Layer.Ipv4, "bad_header_length", "ip header length bad");
        Set(DropReason.Ipv4BadTotalLength, Layer.Ipv4, "bad_total_length", "ip total length bad");
        Set(DropReason.Ipv4BadChecksum, Layer.Ipv4, "bad_checksum", "ip checksum bad");
        Set(DropReason.Ipv4BadSource, Layer.Ipv4, "bad_source", "ip source address invalid");
        Set(DropReason.Ipv4NotForUs, Layer.Ipv4, "not_for_us", "ip destination not ours");
        Set(DropReason.Ipv4FragmentMalformed, Layer.Ipv4, "fragment_malformed", "ip fragment empty or not a multiple of 8 bytes");
        Set(DropReason.Ipv4ReassemblyOverlap, Layer.Ipv4, "reassembly_overlap", "ip fragments overlap inconsistently; datagram discarded");
        Set(DropReason.Ipv4ReassemblyTooBig, Layer.Ipv4, "reassembly_too_big", "ip fragments reach past 65535 bytes; datagram discarded");
        Set(DropReason.Ipv4ReassemblyTimeout, Layer.Ipv4, "reassembly_timeout", "ip datagram not complete in time; discarded");
        Set(DropReason.Ipv4ReassemblyEvicted, Layer.Ipv4, "reassembly_evicted", "ip datagram evicted to keep reassembly memory bounded");
        Set(DropReason.Ipv4UnknownProtocol, Layer.Ipv4, "unknown_protocol", "ip protocol not spoken");
        Set(DropReason.Ipv4TooBig, Layer.Ipv4, "too_big", "ip datagram larger than the mtu");
        Set(DropReason.Ipv4NoRoute, Layer.Ipv4, "no_route", "no route to destination");
        Set(DropReason.Ipv4DontFragment, Layer.Ipv4, "dont_fragment", "datagram larger than the mtu with don't-fragment set");
        Set(DropReason.Ipv4SuperSegmentNotTcp, Layer.Ipv4, "super_segment_not_tcp", "ip super-segment from the link is not whole tcp");
        Set(DropReason.IcmpTruncated, Layer.Icmp, "truncated", "icmp truncated");
        Set(DropReason.IcmpBadChecksum, Layer.Icmp, "bad_checksum", "icmp checksum bad");
        Set(DropReason.IcmpUnhandledType, Layer.Icmp, "unhandled_type", "icmp type not handled");
        Set(DropReason.IcmpUnmatchedReply, Layer.Icmp, "unmatched_reply", "icmp echo reply matches no ping");
        Set(DropReason.IcmpEchoToBroadcast, Layer.Icmp, "echo_to_broadcast", "icmp echo to a broadcast address (RFC 1122 3.2.2.6)");
        Set(DropReason.IcmpErrorRateLimited, Layer.Icmp, "error_rate_limited", "icmp error rate limited");
        Set(DropReason.IcmpErrorMalformed, Layer.Icmp, "error_malformed", "icmp error quotes no usable datagram");
        Set(DropReason.IcmpErrorUnmatched, Layer.Icmp, "error_unmatched", "icmp error matches no socket of ours");
        Set(DropReason.UdpTruncated, Layer.Udp, "truncated", "udp header truncated");
        Set(DropReason.UdpBadLength, Layer.Udp, "bad_length", "udp length field disagrees with the ip payload");
        Set(DropReason.UdpBadChecksum, Layer.Udp, "bad_checksum", "udp checksum bad");
        Set(DropReason.UdpNoSocket, Layer.Udp, "no_socket", "no udp socket on that port -> icmp port unreachable");
        Set(DropReason.UdpReceiveQueueFull, Layer.Udp, "receive_queue_full", "udp socket receive queue full");
        Set(DropReason.UdpQueueLimit, Layer.Udp, "queue_limit", "udp datagrams queued in all sockets at the stack's limit");
        Set(DropReason.TcpTruncated, Layer.Tcp, "truncated", "tcp header truncated");
        Set(DropReason.TcpBadChecksum, Layer.Tcp, "bad_checksum", "tcp checksum bad");
        Set(DropReason.TcpBroadcast, Layer.Tcp, "broadcast", "tcp to a broadcast address");
        Set(DropReason.TcpNoConnection, Layer.Tcp, "no_connection", "tcp segment for no connection -> rst");
        Set(DropReason.TcpBacklogFull, Layer.Tcp, "backlog_full", "tcp syn while the listener's backlog is full");
        Set(DropReason.TcpOutOfWindow, Layer.Tcp, "out_of_window", "tcp segment outside the receive window");
        Set(DropReason.TcpOutOfOrderFull, Layer.Tcp, "out_of_order_full", "tcp out-of-order data in too many separate ranges");
        Set(DropReason.TcpChallengeAckLimited, Layer.Tcp, "challenge_ack_limited", "tcp challenge ack rate limited");
        Set(DropReason.TcpPaws, Layer.Tcp, "paws", "tcp paws: old timestamp, ack sent");
        Set(DropReason.TcpConnectionLimit, Layer.Tcp, "connection_limit", "tcp connection refused: the stack holds its most connections");
        Set(DropReason.TcpPeerConnectionLimit, Layer.Tcp, "peer_connection_limit", "tcp connection refused: the peer holds its most connections");
        Set(DropReason.TcpHalfOpenLimit, Layer.Tcp, "half_open_limit", "tcp syn while the stack holds its most half-open connections");
        Set(DropReason.TcpOutOfOrderLimit, Layer.Tcp, "out_of_order_limit", "tcp out-of-order data beyond the stack's limit");
        Set(DropReason.TcpAcceptQueueFull, Layer.Tcp, "accept_queue_full", "tcp ack with a good syn cookie while the accept queue is full");
        return t;
    }
}
