using UserNet.TestSupport;
using UserNet.Wire;

namespace UserNet.IntegrationTests;

/// <summary>Fragment sets that attack reassembly, built as the kernel side would send them.</summary>
public sealed class HostileFragments(MacAddress from, MacAddress to, Ipv4Address src, Ipv4Address dst)
{
    private byte[] Fragment(ushort id, byte protocol, int offset, bool more, ReadOnlySpan<byte> data)
    {
        var frame = new byte[14 + 20 + data.Length];
        EthernetFrame.Write(frame, to, from, EtherType.Ipv4);
        data.CopyTo(frame.AsSpan(34));
        var ip = Ipv4Header.Write(frame.AsSpan(14), src, dst, protocol, data.Length, id);
        ip.FlagsAndFragmentOffset = (ushort)((more ? Ipv4Header.MoreFragmentsFlag : 0) | (offset / 8));
        ip.UpdateChecksum();
        return frame;
    }

    private static byte[] EchoRequest(int dataLength, ushort seq)
    {
        var m = new byte[8 + dataLength];
        var icmp = IcmpMessage.WriteEcho(m, IcmpType.EchoRequest, 0x7777, seq);
        for (int i = 0; i < dataLength; i++) icmp.Data[i] = (byte)(i * 7);
        icmp.UpdateChecksum();
        return m;
    }

    /// <summary>Two fragments whose overlapping bytes differ (the teardrop family): never deliver mixed data.</summary>
    public IEnumerable<byte[]> Teardrop()
    {
        var echo = EchoRequest(64, 1);
        yield return Fragment(100, IpProtocol.Icmp, 0, true, echo.AsSpan(0, 40));
        var evil = echo.AsSpan(24).ToArray();
        evil[0] ^= 0xFF; // byte 24 arrives twice, different the second time
        yield return Fragment(100, IpProtocol.Icmp, 24, false, evil);
    }

    /// <summary>Fragments whose offsets reach past the largest datagram (the "ping of death").</summary>
    public IEnumerable<byte[]> PastMaximumSize()
    {
        var data = new byte[1480];
        yield return Fragment(200, IpProtocol.Icmp, 0, true, EchoRequest(1472, 2));
        yield return Fragment(200, IpProtocol.Icmp, 65528, false, data.AsSpan(0, 100));
    }

    /// <summary>A valid echo request in 8-byte fragments, sent last to first: must reassemble and be answered.</summary>
    public IEnumerable<byte[]> EightByteFragmentsOfAnEcho()
    {
        var echo = EchoRequest(56, 3);
        var list = new List<byte[]>();
        for (int off = 0; off < echo.Length; off += 8)
            list.Add(Fragment(300, IpProtocol.Icmp, off, off + 8 < echo.Length, echo.AsSpan(off, Math.Min(8, echo.Length - off))));
        list.Reverse();
        return list;
    }

    /// <summary>First fragments of <paramref name="count"/> datagrams whose rest never comes.</summary>
    public IEnumerable<byte[]> NeverCompleted(int count, int idBase = 1000)
    {
        var data = new byte[1400];
        for (int i = 0; i < count; i++)
            yield return Fragment((ushort)(idBase + i), IpProtocol.Udp, 0, true, data);
    }
}
