using System.Text;
using Tmds.Linux;
using UserNet.Wire;
using static Tmds.Linux.LibC;

namespace UserNet.Devices;

/// <summary>
/// A Linux TAP interface (drivers/net/tun.c) opened through /dev/net/tun with IFF_TAP|IFF_NO_PI: each read returns one
/// Ethernet frame, each write sends one. Non-blocking: the host's loop reads what is queued and, with nothing to do,
/// waits in poll(2) on the TAP and on an eventfd that <see cref="Wake"/> signals. No thread of its own.
/// <para>
/// With offloads (the default, where the kernel accepts them) it is opened with IFF_VNET_HDR, as a virtio-net guest's
/// backend is: every frame, both ways, carries a <see cref="VirtioNetHeader"/>, and TUNSETOFFLOAD tells the kernel it
/// may hand us TCP/IPv4 super-segments of up to 64 KiB (TSO4) and leave checksums partial (CSUM). The kernel's TCP
/// then sends us one frame where it would send 45, and cuts the super-segments we send (<see cref="SegmentationLimit"/>).
/// </para>
/// </summary>
public sealed unsafe class TapDevice : INetDevice
{
    private const int TUNSETIFF = 0x400454CA;       // _IOW('T', 202, int)
    private const int TUNSETOFFLOAD = 0x400454D0;   // _IOW('T', 208, unsigned int)
    private const int TUNSETVNETHDRSZ = 0x400454D8; // _IOW('T', 216, int)
    private const short IFF_TAP = 0x0002;
    private const short IFF_NO_PI = 0x1000;
    private const short IFF_VNET_HDR = 0x4000;
    private const uint TUN_F_CSUM = 0x01;
    private const uint TUN_F_TSO4 = 0x02;
    private const int IfNameSize = 16;        // IFNAMSIZ
    private const int IfReqSize = 40;         // sizeof(struct ifreq) on 64-bit Linux
    /// <summary>The largest frame read: a 64 KiB datagram behind its Ethernet header (and a VLAN tag).</summary>
    private const int MaxSuperFrame = 14 + 4 + 65535;

    private readonly int _fd;
    private readonly int _wakeFd;
    /// <summary>
    /// One frame being received, behind its virtio-net header when offloads are on: one byte more than the largest we
    /// accept, so an oversized frame shows as such.
    /// </summary>
    private readonly byte[] _rx;
    /// <summary>The virtio-net header of the frame being sent (offloads on).</summary>
    private readonly byte[] _txHeader;
    private readonly int _headerLength;
    private long _writeErrors;
    private long _rejected;
    private int _disposed;

    private TapDevice(int fd, int wakeFd, string name, int mtu, bool offloads)
    {
        _fd = fd;
        _wakeFd = wakeFd;
        Name = name;
        Mtu = mtu;
        Offloads = offloads;
        _headerLength = offloads ? VirtioNetHeader.Length : 0;
        _rx = GC.AllocateUninitializedArray<byte>(_headerLength + (offloads ? MaxSuperFrame : 14 + 4 + mtu) + 1, pinned: true);
        _txHeader = GC.AllocateArray<byte>(VirtioNetHeader.Length, pinned: true);
    }

    public string Name { get; }
    public int Mtu { get; }
    /// <summary>Frames the kernel refused on write (for example while the interface is down).</summary>
    public long WriteErrors => Interlocked.Read(ref _writeErrors);
    /// <summary>Frames read whose virtio-net header we do not take (a GSO type we never asked for), skipped.</summary>
    public long RejectedFrames => Interlocked.Read(ref _rejected);
    /// <summary>True when the TAP was opened with the virtio-net header and the kernel took our offloads (CSUM, TSO4).</summary>
    public bool Offloads { get; }
    /// <summary>With offloads, 65535: the kernel cuts a TCP super-segment of up to that IP length; 0 without.</summary>
    public int SegmentationLimit => Offloads ? 65535 : 0;

    /// <summary>True when a network interface of that name exists in this namespace.</summary>
    public static bool Exists(string name) => Directory.Exists($"/sys/class/net/{name}");

    /// <summary>
    /// Attaches to the TAP interface <paramref name="name"/>. With <paramref name="create"/> a missing interface is
    /// created (it lasts while we hold it); without, a missing one is an error. With <paramref name="offloads"/> (the
    /// default) it asks for the virtio-net header, partial checksums and TSO4, and falls back to plain frames where the
    /// kernel refuses them (see <see cref="Offloads"/>); without, every frame is a plain one of at most the MTU.
    /// </summary>
    /// <exception cref="NetDeviceException">The name is invalid, the interface is missing, busy or not a TAP, or we may not open it.</exception>
    public static TapDevice Open(string name, bool create = false, bool offloads = true)
    {
        DeviceErrors.CheckInterfaceName(name);
        bool exists = Exists(name);
        if (!exists && !create)
            throw new NetDeviceException($"no interface named {name}; create one with: ip tuntap add dev {name} mode tap");
        if (exists && !File.Exists($"/sys/class/net/{name}/tun_flags"))
            throw new NetDeviceException($"{name} is not a TAP interface");
        if (!File.Exists("/dev/net/tun"))
            throw new NetDeviceException("/dev/net/tun does not exist (is the tun module loaded? are we in a container without it?)");

        int fd = offloads ? Attach(name, offloads: true) : -1;
        if (fd >= 0 && !TrySetOffloads(fd))
        {
            close(fd);
            fd = -1;
        }
        if (fd < 0)
        {
            // No offloads asked for, or the kernel refused them: plain frames. The TAP keeps the offload features of
            // whoever held it last (a persistent TAP outlives its holder), and with TSO on the kernel would hand a
            // reader without the virtio-net header super-segments and partial checksums it cannot recognise.
            fd = Attach(name, offloads: false);
            ioctl(fd, TUNSETOFFLOAD, (void*)0);
            offloads = false;
        }
        int wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (wake < 0)
        {
            int e = errno;
            close(fd);
            throw DeviceErrors.Failed("create an eventfd", e, "CAP_NET_ADMIN");
        }
        return new TapDevice(fd, wake, name, ReadMtu(name), offloads);
    }

    /// <summary>Opens /dev/net/tun and attaches to the interface; -1 when the kernel refuses the virtio-net header.</summary>
    private static int Attach(string name, bool offloads)
    {
        int fd;
        fixed (byte* path = "/dev/net/tun\0"u8)
            fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK, 0);
        if (fd < 0) throw DeviceErrors.Failed("open /dev/net/tun", errno, "CAP_NET_ADMIN");
        byte* ifr = stackalloc byte[IfReqSize];
        new Span<byte>(ifr, IfReqSize).Clear();
        Encoding.ASCII.GetBytes(name, new Span<byte>(ifr, IfNameSize - 1));
        *(short*)(ifr + IfNameSize) = (short)(IFF_TAP | IFF_NO_PI | (offloads ? IFF_VNET_HDR : 0));
        if (ioctl(fd, TUNSETIFF, ifr) < 0)
        {
            int e = errno;
            close(fd);
            if (e == EBUSY) throw new NetDeviceException($"{name} is busy: another process holds it");
            if (e == EINVAL && offloads) return -1;
            if (e == EINVAL) throw new NetDeviceException($"{name} exists but is not a TAP device (TUN or other type)");
            throw DeviceErrors.Failed($"attach to {name}", e, "CAP_NET_ADMIN");
        }
        return fd;
    }

    /// <summary>TUNSETVNETHDRSZ to the 10-byte header and TUNSETOFFLOAD to CSUM and TSO4; false when the kernel refuses either.</summary>
    private static bool TrySetOffloads(int fd)
    {
        int size = VirtioNetHeader.Length;
        if (ioctl(fd, TUNSETVNETHDRSZ, &size) < 0) return false;
        // The argument is the value itself, not a pointer to it (tun.c: TUNSETOFFLOAD takes arg as the flags).
        return ioctl(fd, TUNSETOFFLOAD, (void*)(nuint)(TUN_F_CSUM | TUN_F_TSO4)) >= 0;
    }

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern nint writev(int fd, iovec* iov, int iovcnt);

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
            frames++;
            if (!Offloads)
            {
                receiver.OnFrame(_rx.AsSpan(0, (int)n));
                continue;
            }
            if (n < VirtioNetHeader.Length) { Interlocked.Increment(ref _rejected); continue; }
            int length = (int)n - VirtioNetHeader.Length;
            if (!new VirtioNetHeader(_rx.AsSpan(0, VirtioNetHeader.Length)).TryRead(length, out var offload))
            {
                Interlocked.Increment(ref _rejected);
                continue;
            }
            var frame = _rx.AsSpan(VirtioNetHeader.Length, length);
            if (offload.IsSuperSegment || offload.ChecksumPartial) receiver.OnFrame(frame, offload);
            else receiver.OnFrame(frame);
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

    public void Transmit(ReadOnlySpan<byte> frame) => Transmit(frame, default);

    /// <summary>Sends one frame; with offloads, behind the virtio-net header that tells the kernel what to finish.</summary>
    public void Transmit(ReadOnlySpan<byte> frame, in FrameOffload offload)
    {
        long n;
        if (!Offloads)
        {
            fixed (byte* p = frame) n = write(_fd, p, frame.Length);
        }
        else
        {
            // Header and frame gathered in one writev: the frame stays where the stack built it.
            VirtioNetHeader.Write(_txHeader, offload);
            fixed (byte* h = _txHeader)
            fixed (byte* p = frame)
            {
                iovec* iov = stackalloc iovec[2];
                iov[0] = new iovec { iov_base = h, iov_len = VirtioNetHeader.Length };
                iov[1] = new iovec { iov_base = p, iov_len = frame.Length };
                n = writev(_fd, iov, 2);
            }
        }
        if (n < 0) Interlocked.Increment(ref _writeErrors);
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        // Leave the TAP as we found it: its next holder may read plain frames (see Open).
        if (Offloads) ioctl(_fd, TUNSETOFFLOAD, (void*)0);
        close(_fd);
        close(_wakeFd);
    }
}
