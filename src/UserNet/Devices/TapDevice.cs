using System.Text;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace UserNet.Devices;

/// <summary>
/// A Linux TAP interface (drivers/net/tun.c) opened through /dev/net/tun with IFF_TAP|IFF_NO_PI: each read returns one
/// Ethernet frame, each write sends one. Non-blocking: the host's loop reads what is queued and, with nothing to do,
/// waits in poll(2) on the TAP and on an eventfd that <see cref="Wake"/> signals. No thread of its own.
/// </summary>
public sealed unsafe class TapDevice : INetDevice
{
    private const int TUNSETIFF = 0x400454CA; // _IOW('T', 202, int)
    private const short IFF_TAP = 0x0002;
    private const short IFF_NO_PI = 0x1000;
    private const int IfNameSize = 16;        // IFNAMSIZ
    private const int IfReqSize = 40;         // sizeof(struct ifreq) on 64-bit Linux

    private readonly int _fd;
    private readonly int _wakeFd;
    /// <summary>One frame being received: one byte more than the largest we accept, so an oversized frame shows as such.</summary>
    private readonly byte[] _rx;
    private long _writeErrors;
    private int _disposed;

    private TapDevice(int fd, int wakeFd, string name, int mtu)
    {
        _fd = fd;
        _wakeFd = wakeFd;
        Name = name;
        Mtu = mtu;
        _rx = GC.AllocateUninitializedArray<byte>(14 + 4 + mtu + 1, pinned: true);
    }

    public string Name { get; }
    public int Mtu { get; }
    /// <summary>Frames the kernel refused on write (for example while the interface is down).</summary>
    public long WriteErrors => Interlocked.Read(ref _writeErrors);

    /// <summary>True when a network interface of that name exists in this namespace.</summary>
    public static bool Exists(string name) => Directory.Exists($"/sys/class/net/{name}");

    /// <summary>
    /// Attaches to the TAP interface <paramref name="name"/>. With <paramref name="create"/> a missing interface is
    /// created (it lasts while we hold it); without, a missing one is an error.
    /// </summary>
    /// <exception cref="NetDeviceException">The name is invalid, the interface is missing, busy or not a TAP, or we may not open it.</exception>
    public static TapDevice Open(string name, bool create = false)
    {
        DeviceErrors.CheckInterfaceName(name);
        bool exists = Exists(name);
        if (!exists && !create)
            throw new NetDeviceException($"no interface named {name}; create one with: ip tuntap add dev {name} mode tap");
        if (exists && !File.Exists($"/sys/class/net/{name}/tun_flags"))
            throw new NetDeviceException($"{name} is not a TAP interface");
        if (!File.Exists("/dev/net/tun"))
            throw new NetDeviceException("/dev/net/tun does not exist (is the tun module loaded? are we in a container without it?)");

        int fd;
        fixed (byte* path = "/dev/net/tun\0"u8)
            fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK, 0);
        if (fd < 0) throw DeviceErrors.Failed("open /dev/net/tun", errno, "CAP_NET_ADMIN");
        byte* ifr = stackalloc byte[IfReqSize];
        new Span<byte>(ifr, IfReqSize).Clear();
        Encoding.ASCII.GetBytes(name, new Span<byte>(ifr, IfNameSize - 1));
        *(short*)(ifr + IfNameSize) = (short)(IFF_TAP | IFF_NO_PI);
        if (ioctl(fd, TUNSETIFF, ifr) < 0)
        {
            int e = errno;
            close(fd);
            if (e == EBUSY) throw new NetDeviceException($"{name} is busy: another process holds it");
            if (e == EINVAL) throw new NetDeviceException($"{name} exists but is not a TAP device (TUN or other type)");
            throw DeviceErrors.Failed($"attach to {name}", e, "CAP_NET_ADMIN");
        }
        int wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (wake < 0)
        {
            int e = errno;
            close(fd);
            throw DeviceErrors.Failed("create an eventfd", e, "CAP_NET_ADMIN");
        }
        return new TapDevice(fd, wake, name, ReadMtu(name));
    }

    private static int ReadMtu(string name)
    {
        try { return int.Parse(File.ReadAllText($"/sys/class/net/{name}/mtu").Trim()); }
        catch (Exception) { return 1500; }
    }

    public int Receive(IFrameReceiver receiver, int max)
    {
        int frames = 0;
        while (frames < max)
        {
            long n;
            fixed (byte* p = _rx) n = read(_fd, p, _rx.Length);
            if (n <= 0) break; // EAGAIN: the queue is empty
            receiver.OnFrame(_rx.AsSpan(0, (int)n));
            frames++;
        }
        return frames;
    }

    public void WaitForFrames(TimeSpan timeout)
    {
        int ms = timeout == Timeout.InfiniteTimeSpan ? -1 : (int)Math.Min(int.MaxValue, Math.Ceiling(Math.Max(0, timeout.TotalMilliseconds)));
        pollfd* fds = stackalloc pollfd[2];
        fds[0] = new pollfd { fd = _fd, events = POLLIN };
        fds[1] = new pollfd { fd = _wakeFd, events = POLLIN };
        int ready = poll(fds, 2, ms);
        if (ready > 0 && (fds[1].revents & POLLIN) != 0)
        {
            ulong count;
            read(_wakeFd, &count, sizeof(ulong)); // reset the eventfd
        }
    }

    public void Wake()
    {
        ulong one = 1;
        write(_wakeFd, &one, sizeof(ulong));
    }

    public void Transmit(ReadOnlySpan<byte> frame)
    {
        long n;
        fixed (byte* p = frame) n = write(_fd, p, frame.Length);
        if (n < 0) Interlocked.Increment(ref _writeErrors);
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        close(_fd);
        close(_wakeFd);
    }
}
