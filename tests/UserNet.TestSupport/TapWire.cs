namespace UserNet.TestSupport;

/// <summary>
/// The kernel and usernet as two hosts on one switch, in two namespaces made for the test: <see cref="Kernel"/> holds a
/// veth at the kernel's address; <see cref="Wire"/> holds the veth's other end and a TAP for usernet, joined by a
/// bridge. Every frame between the two crosses that bridge, where <see cref="TestNamespace.AddRandomTcpLoss"/> on
/// <see cref="Wire"/> loses it out of sight of both TCPs. Offloads are off on the kernel's veth, so its TCP sends
/// MSS-sized segments, one frame each, that are lost or kept one by one (with them on, one 64 KiB super-segment would
/// cross the bridge and be lost as a whole). Run usernet in <see cref="Wire"/> on <see cref="Tap"/>, the kernel's
/// programs in <see cref="Kernel"/>. Disposing deletes both namespaces, with whatever still runs in them.
/// </summary>
public sealed class TapWire : IDisposable
{
    private TapWire(TestNamespace kernel, TestNamespace wire, string tap)
    {
        Kernel = kernel;
        Wire = wire;
        Tap = tap;
    }

    public TestNamespace Kernel { get; }
    public TestNamespace Wire { get; }
    public string Tap { get; }

    /// <param name="purpose">A word for the test, part of both namespaces' names.</param>
    /// <param name="tap">The TAP's name, for usernet's <c>--tap</c>.</param>
    /// <param name="kernelCidr">The kernel's address and prefix, as 10.86.0.1/24; give usernet another in that prefix.</param>
    public static TapWire Create(string purpose, string tap, string kernelCidr)
    {
        var ethtool = Shell.ToolPath("ethtool");
        var kernel = TestNamespace.Create(purpose + "-kernel");
        TestNamespace? wire = null;
        try
        {
            wire = TestNamespace.Create(purpose + "-wire");
            foreach (var ns in new[] { kernel, wire }) // IPv6 off before the devices exist, so the kernel stays quiet on them
                ns.Check("sh", "-c", "echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6; echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6");
            wire.Check("ip", "link", "add", "br0", "type", "bridge");
            wire.Check("ip", "tuntap", "add", "dev", tap, "mode", "tap");
            wire.Check("ip", "link", "add", "wv0", "type", "veth", "peer", "name", "kv0", "netns", kernel.Name);
            foreach (var port in new[] { tap, "wv0" }) wire.Check("ip", "link", "set", port, "master", "br0", "up");
            wire.Check("ip", "link", "set", "br0", "up");
            kernel.Check(ethtool, "-K", "kv0", "tso", "off", "gso", "off", "gro", "off", "sg", "off", "tx", "off", "rx", "off");
            kernel.Check("ip", "addr", "add", kernelCidr, "dev", "kv0");
            kernel.Check("ip", "link", "set", "kv0", "up");
            return new TapWire(kernel, wire, tap);
        }
        catch
        {
            wire?.Dispose();
            kernel.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        Wire.Dispose();
        Kernel.Dispose();
    }
}
