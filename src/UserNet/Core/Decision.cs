namespace UserNet.Core;

/// <summary>
/// What the stack decided about a frame it received (<c>arp request for us -> reply</c>), or what a frame it sent is
/// (<c>tcp syn-ack</c>). Layers pass these codes, never strings: the words come from one table (<see cref="Decisions"/>),
/// so the hot path formats nothing and every sentence a trace can show is written down here. Drops have their own
/// table (<see cref="DropReason"/>).
/// </summary>
internal enum Decision : byte
{
    None,

    // ARP
    ArpForAnotherHostCacheUpdated,
    ArpRequestForUsReply,
    ArpReplyForUsLearned,
    ArpRequestSent,
    ArpReplySent,
    ArpAnnouncementSent,
    ArpUnicastPollSent,

    // IPv4
    IpFragmentHeld,
    IpFragmentSent,

    // ICMP
    IcmpEchoRequestReply,
    IcmpEchoReplyToPing,
    IcmpErrorDelivered,
    IcmpEchoRequestSent,
    IcmpEchoReplySent,
    IcmpPortUnreachableSent,
    IcmpProtocolUnreachableSent,
    IcmpReassemblyTimeExceededSent,

    // UDP
    UdpDatagramToSocket,
    UdpDatagramSent,

    // TCP, received
    TcpSegment,
    TcpRstToListenerIgnored,
    TcpAckToListenerRst,
    TcpSynFinToListenerIgnored,
    TcpSynToListener,
    TcpSynToFullListenerCookie,
    TcpAckValidatesSynCookie,
    TcpAckWithBadSynCookieRst,
    TcpSegmentOutsideWindowAck,
    TcpRstOutsideWindowIgnored,
    TcpRstInWindowNotExact,
    TcpRstBackToListen,
    TcpRstConnectionReset,
    TcpSynInSynchronizedState,
    TcpSegmentWithoutAck,
    TcpAckOfNothingWeSent,
    TcpAckOfOurSynAck,
    TcpAckOfDataNotYetSent,
    TcpAckFarTooOld,
    TcpSynAgain,
    TcpSynAckAcknowledgesNothing,
    TcpSynAckInSynReceived,
    TcpUnacceptableAckInSynSent,
    TcpRstConnectionRefused,
    TcpRstWithoutAckInSynSent,
    TcpSegmentWithoutSynInSynSent,
    TcpSynAckEstablished,
    TcpSynInSynSent,
    TcpAck,
    TcpAckOfOurFinFinWait2,
    TcpAckOfOurFinTimeWait,
    TcpAckOfOurFinClosed,
    TcpDuplicate,
    TcpDataOutOfOrder,
    TcpDataOutOfOrderOverLimit,
    TcpDataFillsGap,
    TcpDataDelivered,
    TcpFinCloseWait,
    TcpFinClosing,
    TcpFinTimeWait,

    // TCP, sent
    TcpSynSent,
    TcpSynAckSent,
    TcpSynAckCookieSent,
    TcpAckOutsideWindowSent,
    TcpAckFinAgainInTimeWaitSent,
    TcpAckBeyondWhatWeSentSent,
    TcpAckSimultaneousOpenSent,
    TcpAckHandshakeSent,
    TcpAckDuplicateSent,
    TcpAckDuplicateOutOfOrderSent,
    TcpAckFinAgainSent,
    TcpAckOfFinSent,
    TcpDataSent,
    TcpRetransmissionSent,
    TcpFinSent,
    TcpFinRetransmissionSent,
    TcpFastRetransmissionPartialAck,
    TcpFastRetransmissionThreeDupAcks,
    TcpEarlyRetransmission,
    TcpChallengeAckSent,
    TcpDelayedAckSent,
    TcpZeroWindowProbeSent,
    TcpKeepAliveSent,
    TcpWindowUpdateSent,
    TcpRstSent,
    TcpRackRetransmission,
    TcpAckPawsSent,
    TcpLossProbeSent,
    TcpLossProbeRetransmission,
    TcpSackRecovery,
    TcpSpuriousTimeout,
    TcpSpuriousRetransmission,
}

/// <summary>The layer and the plain words of each <see cref="Decision"/>.</summary>
internal static class Decisions
{
    private static readonly (Layer Layer, string Text)[] Table = Build();

    public static Layer LayerOf(Decision d) => Table[(int)d].Layer;
    public static string Text(Decision d) => Table[(int)d].Text;

    private static (Layer, string)[] Build()
    {
        var t = new (Layer, string)[Enum.GetValues<Decision>().Length];
        void Set(Decision d, Layer l, string text) => t[(int)d] = (l, text);
        Set(Decision.None, Layer.Ethernet, "");

        Set(Decision.ArpForAnotherHostCacheUpdated, Layer.Arp, "arp for another host -> cache updated");
        Set(Decision.ArpRequestForUsReply, Layer.Arp, "arp request for us -> reply");
        Set(Decision.ArpReplyForUsLearned, Layer.Arp, "arp reply for us -> learned");
        Set(Decision.ArpRequestSent, Layer.Arp, "arp request");
        Set(Decision.ArpReplySent, Layer.Arp, "arp reply");
        Set(Decision.ArpAnnouncementSent, Layer.Arp, "arp announcement (gratuitous)");
        Set(Decision.ArpUnicastPollSent, Layer.Arp, "arp request (unicast poll of an expired entry still in use)");

        Set(Decision.IpFragmentHeld, Layer.Ipv4, "ip fragment -> held for reassembly");
        Set(Decision.IpFragmentSent, Layer.Ipv4, "ip fragment");

        Set(Decision.IcmpEchoRequestReply, Layer.Icmp, "icmp echo request -> reply");
        Set(Decision.IcmpEchoReplyToPing, Layer.Icmp, "icmp echo reply -> ping");
        Set(Decision.IcmpErrorDelivered, Layer.Icmp, "icmp error -> delivered to socket");
        Set(Decision.IcmpEchoRequestSent, Layer.Icmp, "icmp echo request");
        Set(Decision.IcmpEchoReplySent, Layer.Icmp, "icmp echo reply");
        Set(Decision.IcmpPortUnreachableSent, Layer.Icmp, "icmp port unreachable");
        Set(Decision.IcmpProtocolUnreachableSent, Layer.Icmp, "icmp protocol unreachable");
        Set(Decision.IcmpReassemblyTimeExceededSent, Layer.Icmp, "icmp reassembly time exceeded");

        Set(Decision.UdpDatagramToSocket, Layer.Udp, "udp datagram -> socket");
        Set(Decision.UdpDatagramSent, Layer.Udp, "udp datagram");

        Set(Decision.TcpSegment, Layer.Tcp, "tcp segment");
        Set(Decision.TcpRstToListenerIgnored, Layer.Tcp, "tcp rst to a listener -> ignored");
        Set(Decision.TcpAckToListenerRst, Layer.Tcp, "tcp ack to a listener -> rst");
        Set(Decision.TcpSynFinToListenerIgnored, Layer.Tcp, "tcp syn+fin to a listener -> ignored");
        Set(Decision.TcpSynToListener, Layer.Tcp, "tcp syn to a listener -> SYN-RECEIVED, syn-ack");
        Set(Decision.TcpSynToFullListenerCookie, Layer.Tcp, "tcp syn while the listener's queue is full -> syn cookie sent, no state kept");
        Set(Decision.TcpAckValidatesSynCookie, Layer.Tcp, "tcp ack validates a syn cookie -> ESTABLISHED");
        Set(Decision.TcpAckWithBadSynCookieRst, Layer.Tcp, "tcp ack with a bad syn cookie -> rst");
        Set(Decision.TcpSegmentOutsideWindowAck, Layer.Tcp, "tcp segment outside the window -> ack");
        Set(Decision.TcpRstOutsideWindowIgnored, Layer.Tcp, "tcp rst outside the window -> ignored");
        Set(Decision.TcpRstInWindowNotExact, Layer.Tcp, "tcp rst in window but not exact -> challenge ack");
        Set(Decision.TcpRstBackToListen, Layer.Tcp, "tcp rst -> back to LISTEN (connection dropped)");
        Set(Decision.TcpRstConnectionReset, Layer.Tcp, "tcp rst -> connection reset");
        Set(Decision.TcpSynInSynchronizedState, Layer.Tcp, "tcp syn in a synchronized state -> challenge ack");
        Set(Decision.TcpSegmentWithoutAck, Layer.Tcp, "tcp segment without ack -> drop");
        Set(Decision.TcpAckOfNothingWeSent, Layer.Tcp, "tcp ack of nothing we sent -> rst");
        Set(Decision.TcpAckOfOurSynAck, Layer.Tcp, "tcp ack of our syn-ack -> ESTABLISHED");
        Set(Decision.TcpAckOfDataNotYetSent, Layer.Tcp, "tcp ack of data not yet sent -> ack");
        Set(Decision.TcpAckFarTooOld, Layer.Tcp, "tcp ack far too old -> challenge ack");
        Set(Decision.TcpSynAgain, Layer.Tcp, "tcp syn again -> syn-ack again");
        Set(Decision.TcpSynAckAcknowledgesNothing, Layer.Tcp, "tcp syn-ack that acknowledges nothing we sent -> rst");
        Set(Decision.TcpSynAckInSynReceived, Layer.Tcp, "tcp syn-ack in SYN-RECEIVED (simultaneous open) -> ESTABLISHED");
        Set(Decision.TcpUnacceptableAckInSynSent, Layer.Tcp, "tcp unacceptable ack in SYN-SENT -> rst");
        Set(Decision.TcpRstConnectionRefused, Layer.Tcp, "tcp rst -> connection refused");
        Set(Decision.TcpRstWithoutAckInSynSent, Layer.Tcp, "tcp rst without ack in SYN-SENT -> ignored");
        Set(Decision.TcpSegmentWithoutSynInSynSent, Layer.Tcp, "tcp segment without syn in SYN-SENT -> drop");
        Set(Decision.TcpSynAckEstablished, Layer.Tcp, "tcp syn-ack -> ESTABLISHED");
        Set(Decision.TcpSynInSynSent, Layer.Tcp, "tcp syn in SYN-SENT (simultaneous open) -> SYN-RECEIVED");
        Set(Decision.TcpAck, Layer.Tcp, "tcp ack");
        Set(Decision.TcpAckOfOurFinFinWait2, Layer.Tcp, "tcp ack of our fin -> FIN-WAIT-2");
        Set(Decision.TcpAckOfOurFinTimeWait, Layer.Tcp, "tcp ack of our fin -> TIME-WAIT");
        Set(Decision.TcpAckOfOurFinClosed, Layer.Tcp, "tcp ack of our fin -> CLOSED");
        Set(Decision.TcpDuplicate, Layer.Tcp, "tcp duplicate -> ack");
        Set(Decision.TcpDataOutOfOrder, Layer.Tcp, "tcp data out of order -> held, duplicate ack");
        Set(Decision.TcpDataOutOfOrderOverLimit, Layer.Tcp, "tcp data out of order beyond the stack's limit -> dropped, duplicate ack");
        Set(Decision.TcpDataFillsGap, Layer.Tcp, "tcp data fills a gap -> delivered with held data");
        Set(Decision.TcpDataDelivered, Layer.Tcp, "tcp data -> delivered");
        Set(Decision.TcpFinCloseWait, Layer.Tcp, "tcp fin -> CLOSE-WAIT (peer finished sending)");
        Set(Decision.TcpFinClosing, Layer.Tcp, "tcp fin -> CLOSING (simultaneous close)");
        Set(Decision.TcpFinTimeWait, Layer.Tcp, "tcp fin -> TIME-WAIT");

        Set(Decision.TcpSynSent, Layer.Tcp, "tcp syn");
        Set(Decision.TcpSynAckSent, Layer.Tcp, "tcp syn-ack");
        Set(Decision.TcpSynAckCookieSent, Layer.Tcp, "tcp syn-ack (syn cookie)");
        Set(Decision.TcpAckOutsideWindowSent, Layer.Tcp, "tcp ack (segment outside the window)");
        Set(Decision.TcpAckFinAgainInTimeWaitSent, Layer.Tcp, "tcp ack (fin again in TIME-WAIT)");
        Set(Decision.TcpAckBeyondWhatWeSentSent, Layer.Tcp, "tcp ack (acknowledgment beyond what we sent)");
        Set(Decision.TcpAckSimultaneousOpenSent, Layer.Tcp, "tcp ack (simultaneous open)");
        Set(Decision.TcpAckHandshakeSent, Layer.Tcp, "tcp ack (handshake)");
        Set(Decision.TcpAckDuplicateSent, Layer.Tcp, "tcp ack (duplicate)");
        Set(Decision.TcpAckDuplicateOutOfOrderSent, Layer.Tcp, "tcp ack (duplicate, for out-of-order data)");
        Set(Decision.TcpAckFinAgainSent, Layer.Tcp, "tcp ack (fin again)");
        Set(Decision.TcpAckOfFinSent, Layer.Tcp, "tcp ack of fin");
        Set(Decision.TcpDataSent, Layer.Tcp, "tcp data");
        Set(Decision.TcpRetransmissionSent, Layer.Tcp, "tcp retransmission");
        Set(Decision.TcpFinSent, Layer.Tcp, "tcp fin");
        Set(Decision.TcpFinRetransmissionSent, Layer.Tcp, "tcp fin retransmission");
        Set(Decision.TcpFastRetransmissionPartialAck, Layer.Tcp, "tcp fast retransmission (partial ack)");
        Set(Decision.TcpFastRetransmissionThreeDupAcks, Layer.Tcp, "tcp fast retransmission (3 duplicate acks)");
        Set(Decision.TcpEarlyRetransmission, Layer.Tcp, "tcp early retransmission (RFC 5827)");
        Set(Decision.TcpChallengeAckSent, Layer.Tcp, "tcp challenge ack (RFC 5961)");
        Set(Decision.TcpDelayedAckSent, Layer.Tcp, "tcp delayed ack");
        Set(Decision.TcpZeroWindowProbeSent, Layer.Tcp, "tcp zero-window probe");
        Set(Decision.TcpKeepAliveSent, Layer.Tcp, "tcp keep-alive");
        Set(Decision.TcpWindowUpdateSent, Layer.Tcp, "tcp window update");
        Set(Decision.TcpRstSent, Layer.Tcp, "tcp rst");
        Set(Decision.TcpRackRetransmission, Layer.Tcp, "tcp retransmission (rack: lost by time)");
        Set(Decision.TcpAckPawsSent, Layer.Tcp, "tcp ack (old timestamp)");
        Set(Decision.TcpLossProbeSent, Layer.Tcp, "tcp tail loss probe (new data)");
        Set(Decision.TcpLossProbeRetransmission, Layer.Tcp, "tcp tail loss probe (last segment again)");
        Set(Decision.TcpSackRecovery, Layer.Tcp, "tcp ack with sack -> segments marked lost -> recovery");
        Set(Decision.TcpSpuriousTimeout, Layer.Tcp, "tcp ack echoes a timestamp from before the timeout -> spurious, window restored");
        Set(Decision.TcpSpuriousRetransmission, Layer.Tcp, "tcp d-sack: a retransmission was not needed");

        for (int i = 1; i < t.Length; i++)
            if (t[i].Item2 is null) throw new InvalidOperationException($"decision {(Decision)i} has no words");
        return t;
    }
}
