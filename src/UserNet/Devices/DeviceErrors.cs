using System.Runtime.InteropServices;
using static Tmds.Linux.LibC;

namespace UserNet.Devices;

/// <summary>Why a device could not be opened or used; the message is one line a person can act on.</summary>
public sealed class NetDeviceException(string message) : Exception(message);

/// <summary>errno in words, and the checks every device makes of an interface name.</summary>
internal static unsafe class DeviceErrors
{
    private const int IfNameSize = 16; // IFNAMSIZ

    /// <summary>strerror(3) of <paramref name="errnum"/>.</summary>
    public static string Text(int errnum)
    {
        byte* buf = stackalloc byte[256];
        strerror_r(errnum, buf, 256);
        return Marshal.PtrToStringAnsi((IntPtr)buf) ?? $"errno {errnum}";
    }

    /// <summary>
    /// A failed system call, as one line: "permission denied: cannot open /dev/net/tun (run as root or with CAP_NET_ADMIN)"
    /// for EPERM and EACCES, else "cannot open /dev/net/tun: No such device". <paramref name="action"/> is what we tried.
    /// </summary>
    public static NetDeviceException Failed(string action, int errnum, string capability) =>
        new(errnum == EPERM || errnum == EACCES
            ? $"permission denied: cannot {action} (run as root or with {capability})"
            : $"cannot {action}: {Text(errnum)}");

    /// <summary>Throws unless <paramref name="name"/> could name a Linux interface (1 to 15 bytes, no '/').</summary>
    public static void CheckInterfaceName(string name)
    {
        if (string.IsNullOrEmpty(name) || System.Text.Encoding.ASCII.GetByteCount(name) >= IfNameSize || name.Contains('/'))
            throw new NetDeviceException($"'{name}' is not a valid interface name (1 to 15 characters, no '/')");
    }
}
