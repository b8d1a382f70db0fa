using Microsoft.Extensions.Logging;
using UserNet.Core;
using UserNet.Ip;
using UserNet.Tcp;
using UserNet.Wire;

namespace UserNet.Stack;

/// <summary>What a stack is (its addresses) and how it behaves (its timers and limits).</summary>
public sealed class StackOptions
{
    /// <summary>Our address and the on-link prefix, for example 10.0.0.2/24.</summary>
    public required Ipv4Subnet Address { get; init; }
    /// <summary>Next hop for destinations off the prefix; none means such destinations are unreachable.</summary>
    public Ipv4Address? Gateway { get; init; }
    /// <summary>Our Ethernet address; when not given, a locally administered one drawn from <see cref="Seed"/> (or at random).</summary>
    public MacAddress? Mac { get; init; }
    /// <summary>The IP MTU of the link; the device usually says what it is.</summary>
    public int Mtu { get; init; } = 1500;
    /// <summary>A name for counters and logs.</summary>
    public string Name { get; init; } = "usernet";

    /// <summary>
    /// Seeds everything the stack would otherwise pick at random (its MAC when none is given, the first IP
    /// identification, the secret behind initial sequence numbers, where ephemeral ports start), so a replay or a
    /// test gives the same bytes every run. Null: random.
    /// </summary>
    public int? Seed { get; init; }

    /// <summary>Initial TTL of datagrams we originate (RFC 1700 recommends 64).</summary>
    public byte DefaultTtl { get; init; } = 64;

    /// <summary>How long a learned ARP entry stays valid without being confirmed again.</summary>
    public TimeSpan ArpEntryLifetime { get; init; } = TimeSpan.FromSeconds(60);
    /// <summary>Least time between two ARP requests for one address (RFC 1122 2.3.2.1: at most one per second).</summary>
    public TimeSpan ArpRequestInterval { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary>ARP requests sent for one address before its waiting packets are dropped.</summary>
    public int ArpRequestAttempts { get; init; } = 3;
    /// <summary>Datagrams held per unresolved address (RFC 1122 2.3.2.2: SHOULD save at least one); more are dropped.</summary>
    public int ArpQueueLength { get; init; } = 8;
    /// <summary>Most entries the ARP cache holds; the entry closest to expiry is evicted for a new one.</summary>
    public int ArpCacheCapacity { get; init; } = 1024;
    /// <summary>Least time between two gratuitous ARPs that defend our address against a conflicting host (RFC 5227 2.4).</summary>
    public TimeSpan ArpDefendInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>IPv4 reassembly limits: timeout, datagrams in progress, bytes held.</summary>
    public ReassemblyOptions Reassembly { get; init; } = new();

    /// <summary>TCP buffer sizes and timers for connections that do not bring their own.</summary>
    public TcpSettings Tcp { get; init; } = new();

    /// <summary>Chooses TCP initial sequence numbers instead of RFC 6528's function (replays and tests); null: RFC 6528.</summary>
    public TcpIsnSelector? TcpInitialSequenceNumbers { get; init; }

    /// <summary>
    /// Chooses the offset a connection adds to its TSval clock (RFC 7323) instead of a keyed hash of its addresses;
    /// null: the hash. For replaying a capture, whose peer echoes the TSvals the recorded stack sent.
    /// </summary>
    public TcpIsnSelector? TcpTimestampOffsets { get; init; }

    /// <summary>Datagrams a UDP socket holds before it drops (and counts) new arrivals.</summary>
    public int UdpReceiveQueueLength { get; init; } = 256;
    /// <summary>
    /// Bytes a UDP socket holds (each datagram charged the buffer it occupies) before it drops (and counts) new
    /// arrivals, like SO_RCVBUF: a slow reader of large datagrams is bounded by this, of small ones by the queue length.
    /// </summary>
    public int UdpReceiveBufferSize { get; init; } = 1 << 20;

    /// <summary>Stack-wide caps against floods: connections, half-open connections, out-of-order bytes, RST answers, UDP queues.</summary>
    public StackLimits Limits { get; init; } = new();

    /// <summary>ICMP error messages allowed per second (token bucket; RFC 1812 4.3.2.8 and RFC 1122 3.2.2 allow limiting).</summary>
    public int IcmpErrorsPerSecond { get; init; } = 10;
    /// <summary>Burst size of the ICMP error token bucket.</summary>
    public int IcmpErrorBurst { get; init; } = 10;

    /// <summary>Where the stack logs notable events (address conflicts, failed resolution). Never used per packet.</summary>
    public ILogger? Logger { get; init; }

    /// <summary>Sees every frame in and out with the decision taken (a tracer, a capture); null for none. Called on the loop.</summary>
    public IFrameObserver? Observer { get; init; }
}
