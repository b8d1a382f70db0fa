using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace UserNet.Devices;

/// <summary>
/// A Linux AF_PACKET raw socket bound to one interface (packet(7)): sees every frame the interface sends and
/// receives, as tcpdump does; on a TAP that is the kernel's side of the wire. Read-only: it never sends.
/// </summary>
public sealed unsafe class PacketSocket : IDisposable
{
    private const ushort EthPAll = 0x0003;       // ETH_P_ALL: every protocol
    private const int SockaddrLlSize = 20;       // sizeof(struct sockaddr_ll)
    private const byte PacketOutgoing = 4;       // PACKET_OUTGOING: a frame this host sent
    private int _fd;

    private PacketSocket(int fd, string name) { _fd = fd; Name = name; }

    public string Name { get; }

    public static PacketSocket Open(string interfaceName)
    {
        DeviceErrors.CheckInterfaceName(interfaceName);
        if (!Directory.Exists($"/sys/class/net/{interfaceName}"))
            throw new NetDeviceException($"no interface named {interfaceName}");
        if (!int.TryParse(File.ReadAllText($"/sys/class/net/{interfaceName}/ifindex").Trim(), out int index) || index <= 0)
            throw new NetDeviceException($"no interface named {interfaceName}");
        ushort protocolBe = (ushort)((EthPAll << 8) | (EthPAll >> 8)); // htons
        int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, protocolBe);
        if (fd < 0) throw DeviceErrors.Failed("open a packet socket", errno, "CAP_NET_RAW");
        byte* sll = stackalloc byte[SockaddrLlSize];
        new Span<byte>(sll, SockaddrLlSize).Clear();
        *(ushort*)sll = (ushort)AF_PACKET;           // sll_family
        *(ushort*)(sll + 2) = protocolBe;            // sll_protocol
        *(int*)(sll + 4) = index;               // sll_ifindex
        if (bind(fd, (sockaddr*)sll, SockaddrLlSize) < 0)
        {
            int e = errno;
            close(fd);
            throw DeviceErrors.Failed($"bind a packet socket to {interfaceName}", e, "CAP_NET_RAW");
        }
        return new PacketSocket(fd, interfaceName);
    }

    /// <summary>
    /// Waits up to <paramref name="timeoutMilliseconds"/> for a frame and copies it into <paramref name="buffer"/>.
    /// Returns the frame's length on the wire (which may exceed the buffer: the copy is then truncated), or 0 on timeout.
    /// </summary>
    public int Receive(Span<byte> buffer, int timeoutMilliseconds, out bool outgoing)
    {
        outgoing = false;
        pollfd pfd = new() { fd = _fd, events = POLLIN };
        int ready = poll(&pfd, 1, timeoutMilliseconds);
        if (ready < 0 && errno != EINTR) throw DeviceErrors.Failed("poll the packet socket", errno, "CAP_NET_RAW");
        if (ready <= 0) return 0;
        byte* sll = stackalloc byte[SockaddrLlSize];
        socklen_t sllLength = SockaddrLlSize;
        long n;
        fixed (byte* b = buffer)
            n = recvfrom(_fd, b, (size_t)buffer.Length, MSG_TRUNC, (sockaddr*)sll, &sllLength);
        if (n < 0)
        {
            int e = errno;
            if (e == EINTR || e == EAGAIN) return 0;
            throw DeviceErrors.Failed("receive from the packet socket", e, "CAP_NET_RAW");
        }
        outgoing = sll[10] == PacketOutgoing; // sll_pkttype
        return (int)n;
    }

    public void Dispose()
    {
        if (_fd >= 0) { close(_fd); _fd = -1; }
    }
}
