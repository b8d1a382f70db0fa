using System.IO.Pipelines;
using System.Runtime.InteropServices;
using System.Text;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace UserNet.Devices;

/// <summary>Why a TAP device could not be opened; the message is one line a person can act on.</summary>
public sealed class NetDeviceException(string message) : Exception(message);

/// <summary>
/// A Linux TAP interface (drivers/net/tun.c) opened through /dev/net/tun with IFF_TAP|IFF_NO_PI: each read
/// returns one Ethernet frame, each write sends one. A dedicated thread polls the fd and reads frames straight
/// into the receive pipe's memory.
/// </summary>
public sealed unsafe class TapDevice : INetDevice
{
    private const int TUNSETIFF = 0x400454CA; // _IOW('T', 202, int)
    private const short IFF_TAP = 0x0002;
    private const short IFF_NO_PI = 0x1000;
    private const int IfNameSize = 16;        // IFNAMSIZ
    private const int IfReqSize = 40;         // sizeof(struct ifreq) on 64-bit Linux

    private readonly int _fd;
    private Thread? _reader;
    private volatile bool _stopping;
    private long _writeErrors;

    private TapDevice(int fd, string name, int mtu)
    {
        _fd = fd;
        Name = name;
        Mtu = mtu;
    }

    public string Name { get; }
    public int Mtu { get; }
    public bool ReceivesOnOwnThread => true;
    /// <summary>Frames the kernel refused on write (for example while the interface is down).</summary>
    public long WriteErrors => Interlocked.Read(ref _writeErrors);

    /// <summary>True when a network interface of that name exists in this namespace.</summary>
    public static bool Exists(string name) => Directory.Exists($"/sys/class/net/{name}");

    /// <summary>
    /// Attaches to the TAP interface <paramref name="name"/>. With <paramref name="create"/> a missing interface is
    /// created (it lasts while we hold it); without, a missing one is an error.
    /// </summary>
    public static TapDevice Open(string name, bool create = false)
    {
        if (string.IsNullOrEmpty(name) || Encoding.ASCII.GetByteCount(name) >= IfNameSize || name.Contains('/'))
            throw new NetDeviceException($"'{name}' is not a valid interface name (1 to 15 characters, no '/')");
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
        if (fd < 0)
        {
            int e = errno;
            throw new NetDeviceException(e == EACCES || e == EPERM
                ? "permission denied opening /dev/net/tun (run as root or with CAP_NET_ADMIN)"
                : $"cannot open /dev/net/tun: {ErrorText(e)}");
        }
        byte* ifr = stackalloc byte[IfReqSize];
        new Span<byte>(ifr, IfReqSize).Clear();
        Encoding.ASCII.GetBytes(name, new Span<byte>(ifr, IfNameSize - 1));
        *(short*)(ifr + IfNameSize) = (short)(IFF_TAP | IFF_NO_PI);
        if (ioctl(fd, TUNSETIFF, ifr) < 0)
        {
            int e = errno;
            close(fd);
            throw new NetDeviceException(e switch
            {
                _ when e == EBUSY => $"{name} is busy: another process holds it",
                _ when e == EPERM || e == EACCES => $"permission denied attaching to {name} (run as root or with CAP_NET_ADMIN)",
                _ when e == EINVAL => $"{name} exists but is not a TAP device (TUN or other type)",
                _ => $"cannot attach to {name}: {ErrorText(e)}",
            });
        }
        return new TapDevice(fd, name, ReadMtu(name));
    }

    private static int ReadMtu(string name)
    {
        try { return int.Parse(File.ReadAllText($"/sys/class/net/{name}/mtu").Trim()); }
        catch (Exception) { return 1500; }
    }

    private static string ErrorText(int errnum)
    {
        byte* buf = stackalloc byte[256];
        strerror_r(errnum, buf, 256);
        return Marshal.PtrToStringAnsi((IntPtr)buf) ?? $"errno {errnum}";
    }

    public void StartReceiving(PipeWriter sink)
    {
        _stopping = false;
        _reader = new Thread(() => ReceiveLoop(sink)) { IsBackground = true, Name = $"tap-rx {Name}" };
        _reader.Start();
    }

    public void StopReceiving()
    {
        _stopping = true;
        if (_reader is { } t && t != Thread.CurrentThread) t.Join();
        _reader = null;
    }

    private void ReceiveLoop(PipeWriter sink)
    {
        // One byte more than the largest frame we accept, so an oversized frame shows up as such instead of truncated.
        int maxFrame = 14 + 4 + Mtu + 1;
        pollfd pfd = new() { fd = _fd, events = POLLIN };
        while (!_stopping)
        {
            int ready = poll(&pfd, 1, 100); // wake up now and then to see whether we are stopping
            if (ready < 0 && errno != EINTR) break;
            if (ready <= 0) continue;
            int frames = 0;
            while (frames < 64) // read what is queued, then flush once: one loop wake-up per batch
            {
                var span = FrameRecords.Begin(sink, maxFrame);
                long n;
                fixed (byte* p = span) n = read(_fd, p, span.Length);
                if (n <= 0) break; // EAGAIN: queue empty
                FrameRecords.Commit(sink, (int)n);
                frames++;
            }
            if (frames == 0) continue;
            var flush = sink.FlushAsync();
            // When the loop is behind, wait here and let the kernel's queue hold (and drop) frames for us.
            var result = flush.IsCompleted ? flush.Result : flush.AsTask().GetAwaiter().GetResult();
            if (result.IsCompleted) break; // the loop has stopped reading
        }
    }

    public void Transmit(ReadOnlySpan<byte> frame)
    {
        long n;
        fixed (byte* p = frame) n = write(_fd, p, frame.Length);
        if (n < 0) Interlocked.Increment(ref _writeErrors);
    }

    public void Dispose()
    {
        StopReceiving();
        close(_fd);
    }
}
