using UserNet.TestSupport;
using UserNet.Wire;

namespace UserNet.IntegrationTests;

/// <summary>Hostile frames, each wrong in exactly one way, built from a valid echo request.</summary>
public sealed class MalformedFrames(MacAddress from, MacAddress to, Ipv4Address src, Ipv4Address dst)
{
    public IReadOnlyList<(string Name, byte[] Frame)> All =>
    [
        ("bad ip checksum", BadIpChecksum()),
        ("bad icmp checksum", BadIcmpChecksum()),
        ("ihl below 5", IhlBelowFive()),
        ("total length beyond the frame", TotalLengthBeyondFrame()),
        ("truncated ip header", TruncatedIpHeader()),
        ("truncated arp", TruncatedArp()),
        ("loopback source", LoopbackSource()),
    ];

    public byte[] EchoRequest(Ipv4Address? source = null)
    {
        var frame = new byte[EthernetFrame.HeaderLength + Ipv4Header.MinimumLength + IcmpMessage.HeaderLength + 56];
        EthernetFrame.Write(frame, to, from, EtherType.Ipv4);
        var icmp = IcmpMessage.WriteEcho(frame.AsSpan(34), IcmpType.EchoRequest, 0x4242, 1);
        for (int i = 0; i < 56; i++) icmp.Data[i] = (byte)i;
        icmp.UpdateChecksum();
        Ipv4Header.Write(frame.AsSpan(14), source ?? src, dst, IpProtocol.Icmp, 64, 1234);
        return frame;
    }

    private byte[] BadIpChecksum()
    {
        var f = EchoRequest();
        f[14 + 10] ^= 0x5A;
        return f;
    }

    private byte[] BadIcmpChecksum()
    {
        var f = EchoRequest();
        f[34 + 2] ^= 0x5A;
        return f;
    }

    private byte[] IhlBelowFive()
    {
        var f = EchoRequest();
        f[14] = 0x44;
        new Ipv4Header(f.AsSpan(14)).HeaderChecksum = 0; // irrelevant: the IHL check comes first
        return f;
    }

    private byte[] TotalLengthBeyondFrame()
    {
        var f = EchoRequest();
        var ip = new Ipv4Header(f.AsSpan(14)) { TotalLength = 1000 };
        ip.UpdateChecksum(); // a correct checksum, so only the length is wrong
        return f;
    }

    private byte[] TruncatedIpHeader() => EchoRequest()[..(14 + 12)];

    private byte[] TruncatedArp()
    {
        var f = new byte[14 + 20];
        EthernetFrame.Write(f, to, from, EtherType.Arp);
        var full = new byte[ArpPacket.Length];
        ArpPacket.Write(full, ArpOperation.Request, from, src, MacAddress.Zero, dst);
        full.AsSpan(0, 20).CopyTo(f.AsSpan(14));
        return f;
    }

    private byte[] LoopbackSource() => EchoRequest(Ipv4Address.Parse("127.0.0.1"));
}
