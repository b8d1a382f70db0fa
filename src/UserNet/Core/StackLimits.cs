namespace UserNet.Core;

/// <summary>
/// Stack-wide caps that keep floods from taking the process's memory: every one bites with a counter (a drop reason
/// or a <see cref="TcpCounter"/>), and the stack goes on serving what is within them. The defaults suit a host
/// serving a few thousand peers; a test that wants to see a cap bite sets it low.
/// </summary>
public sealed record StackLimits
{
    /// <summary>
    /// TCP connections in any state but TIME-WAIT (those have their own cap). A SYN or a SYN cookie's ACK beyond it is
    /// dropped (<c>tcp/connection_limit</c>); a connect fails with <see cref="System.Net.Sockets.SocketError.NoBufferSpaceAvailable"/>.
    /// Each connection holds at most its send and receive buffers (<c>TcpSettings</c>), so this times those is the most
    /// TCP data the stack keeps.
    /// </summary>
    public int TcpConnections { get; init; } = 8192;

    /// <summary>
    /// TCP connections (but those in TIME-WAIT) with one remote address: one peer that opens connections and never
    /// closes them (nor reads) fills this, not <see cref="TcpConnections"/>, and others still connect. A SYN beyond it
    /// is dropped (<c>tcp/peer_connection_limit</c>); a connect to that peer fails as beyond <see cref="TcpConnections"/>.
    /// </summary>
    public int TcpConnectionsPerPeer { get; init; } = 2048;

    /// <summary>
    /// Connections in TIME-WAIT. Beyond it a connection that would enter TIME-WAIT is closed at once instead, as Linux
    /// does past <c>tcp_max_tw_buckets</c> (counted as <see cref="TcpCounter.TimeWaitLimitReached"/>).
    /// </summary>
    public int TcpTimeWaitConnections { get; init; } = 8192;

    /// <summary>
    /// Half-open connections (SYN-RECEIVED) across all listeners, on top of each listener's backlog. A SYN beyond it
    /// gets a SYN cookie when the listener allows them, and is dropped otherwise (<c>tcp/half_open_limit</c>); either way
    /// <see cref="TcpCounter.HalfOpenLimitReached"/> counts it.
    /// </summary>
    public int TcpHalfOpenConnections { get; init; } = 1024;

    /// <summary>
    /// Bytes of out-of-order data held across all connections, each separate range charged two 16 KiB buffer blocks on
    /// top of its bytes (what it may pin in memory at most). A segment that would go past it is dropped
    /// (<c>tcp/out_of_order_limit</c>) and acknowledged as a duplicate; the peer sends it again once the holes fill.
    /// </summary>
    public long TcpOutOfOrderBytes { get; init; } = 64L << 20;

    /// <summary>
    /// RST segments sent per second in answer to segments for no connection (a flood of ACKs or stray segments to
    /// random ports would otherwise be reflected one for one). The same shape as Linux's global ICMP limit
    /// (<c>icmp_msgs_per_sec</c> 1000, <c>icmp_msgs_burst</c> 50). RSTs that end a connection of ours are not limited.
    /// Counted as <see cref="TcpCounter.ResetsRateLimited"/> when one is not sent.
    /// </summary>
    public int TcpResetsPerSecond { get; init; } = 1000;
    /// <summary>Burst size of <see cref="TcpResetsPerSecond"/>'s token bucket.</summary>
    public int TcpResetBurst { get; init; } = 50;

    /// <summary>
    /// Bytes of received datagrams waiting in all UDP sockets' queues together (each charged the buffer it occupies).
    /// A datagram beyond it is dropped (<c>udp/queue_limit</c>); each socket also has its own limits
    /// (<c>StackOptions.UdpReceiveQueueLength</c> and <c>UdpReceiveBufferSize</c>).
    /// </summary>
    public long UdpQueuedBytes { get; init; } = 32L << 20;

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegative(TcpConnections, nameof(TcpConnections));
        ArgumentOutOfRangeException.ThrowIfNegative(TcpConnectionsPerPeer, nameof(TcpConnectionsPerPeer));
        ArgumentOutOfRangeException.ThrowIfNegative(TcpTimeWaitConnections, nameof(TcpTimeWaitConnections));
        ArgumentOutOfRangeException.ThrowIfNegative(TcpHalfOpenConnections, nameof(TcpHalfOpenConnections));
        ArgumentOutOfRangeException.ThrowIfNegative(TcpOutOfOrderBytes, nameof(TcpOutOfOrderBytes));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(TcpResetsPerSecond, nameof(TcpResetsPerSecond));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(TcpResetBurst, nameof(TcpResetBurst));
        ArgumentOutOfRangeException.ThrowIfNegative(UdpQueuedBytes, nameof(UdpQueuedBytes));
    }
}

/// <summary>
/// Bytes in use against a stack-wide cap, taken on the loop and given back from any thread (a UDP reader).
/// </summary>
internal sealed class SharedByteBudget(long limit)
{
    private long _inUse;

    public long Limit { get; } = limit;
    public long InUse => Interlocked.Read(ref _inUse);

    /// <summary>Takes <paramref name="bytes"/> when they fit under the limit; false (nothing taken) when they do not.</summary>
    public bool TryTake(long bytes)
    {
        long now = Interlocked.Add(ref _inUse, bytes);
        if (now <= Limit) return true;
        Interlocked.Add(ref _inUse, -bytes);
        return false;
    }

    public void Return(long bytes) => Interlocked.Add(ref _inUse, -bytes);
}
