using System.Runtime.InteropServices;
using System.Text;
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
        if (string.IsNullOrEmpty(interfaceName) || Encoding.ASCII.GetByteCount(interfaceName) >= 16 || interfaceName.Contains('/'))
            throw new NetDeviceException($"'{interfaceName}' is not a valid interface name (1 to 15 characters, no '/')");
        if (!Directory.Exists($"/sys/class/net/{interfaceName}"))
            throw new NetDeviceException($"no interface named {interfaceName}");
        if (!int.TryParse(File.ReadAllText($"/sys/class/net/{interfaceName}/ifindex").Trim(), out int index) || index <= 0)
            throw new NetDeviceException($"no interface named {interfaceName}");
        ushort protocolBe = (ushort)((EthPAll << 8) | (EthPAll >> 8)); // htons
        int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, protocolBe);
        if (fd < 0)
        {
            int e = errno;
            throw new NetDeviceException(e == EPERM || e == EACCES
                ? "permission denied opening a packet socket (run as root or with CAP_NET_RAW)"
                : $"cannot open a packet socket: errno {e}");
        }
        byte* sll = stackalloc byte[SockaddrLlSize];
        new Span<byte>(sll, SockaddrLlSize).Clear();
        *(ushort*)sll = (ushort)AF_PACKET;           // sll_family
        *(ushort*)(sll + 2) = protocolBe;            // sll_protocol
        *(int*)(sll + 4) = index;               // sll_ifindex
        if (bind(fd, (sockaddr*)sll, SockaddrLlSize) < 0)
        {
            int e = errno;
            close(fd);
            throw new NetDeviceException($"cannot bind a packet socket to {interfaceName}: errno {e}");
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
        if (ready < 0 && errno != EINTR) throw new NetDeviceException($"poll on the packet socket failed: errno {errno}");
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
            throw new NetDeviceException($"receive on the packet socket failed: errno {e}");
        }
        outgoing = sll[10] == PacketOutgoing; // sll_pkttype
        return (int)n;
    }

    public void Dispose()
    {
        if (_fd >= 0) { close(_fd); _fd = -1; }
    }
}
