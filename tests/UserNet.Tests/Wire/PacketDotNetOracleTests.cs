using System.Net;
using System.Net.NetworkInformation;
using PacketDotNet;
using PacketDotNet.Utils;
using UserNet.Wire;
using Pdn = PacketDotNet;
using UArpOperation = UserNet.Wire.ArpOperation;
using UArpPacket = UserNet.Wire.ArpPacket;

namespace UserNet.Tests.Wire;

/// <summary>
/// PacketDotNet, a parser written by other people, is the independent oracle: what our views build it must read
/// field for field, and what it builds our views must read the same way.
/// </summary>
public class PacketDotNetOracleTests
{
    private static readonly MacAddress OurMac = MacAddress.Parse("02:00:00:00:00:02");
    private static readonly MacAddress PeerMac = MacAddress.Parse("52:54:00:12:34:56");
    private static readonly Ipv4Address OurIp = Ipv4Address.Parse("10.0.0.2");
    private static readonly Ipv4Address PeerIp = Ipv4Address.Parse("10.0.0.1");

    private static PhysicalAddress Phys(MacAddress m)
    {
        var b = new byte[6];
        m.Write(b);
        return new PhysicalAddress(b);
    }

    private static MacAddress Mac(PhysicalAddress p) => MacAddress.Read(p.GetAddressBytes());

    // ---- what we build, PacketDotNet reads ----

    [Theory]
    [InlineData(UArpOperation.Request)]
    [InlineData(UArpOperation.Reply)]
    public void Rfc826_ArpWeBuild_PacketDotNetReads(UArpOperation op)
    {
        var bytes = new byte[EthernetFrame.HeaderLength + UArpPacket.Length];
        var ethDst = op == UArpOperation.Request ? MacAddress.Broadcast : PeerMac;
        var tha = op == UArpOperation.Request ? MacAddress.Zero : PeerMac;
        EthernetFrame.Write(bytes, ethDst, OurMac, EtherType.Arp);
        UArpPacket.Write(bytes.AsSpan(EthernetFrame.HeaderLength), op, OurMac, OurIp, tha, PeerIp);

        var eth = Assert.IsType<EthernetPacket>(Packet.ParsePacket(LinkLayers.Ethernet, bytes));
        Assert.Equal(ethDst, Mac(eth.DestinationHardwareAddress));
        Assert.Equal(OurMac, Mac(eth.SourceHardwareAddress));
        Assert.Equal(EthernetType.Arp, eth.Type);

        var arp = eth.Extract<Pdn.ArpPacket>();
        Assert.NotNull(arp);
        Assert.Equal(LinkLayers.Ethernet, arp.HardwareAddressType);
        Assert.Equal(EthernetType.IPv4, arp.ProtocolAddressType);
        Assert.Equal(6, arp.HardwareAddressLength);
        Assert.Equal(4, arp.ProtocolAddressLength);
        Assert.Equal(op == UArpOperation.Request ? Pdn.ArpOperation.Request : Pdn.ArpOperation.Response, arp.Operation);
        Assert.Equal(OurMac, Mac(arp.SenderHardwareAddress));
        Assert.Equal(IPAddress.Parse("10.0.0.2"), arp.SenderProtocolAddress);
        Assert.Equal(tha, Mac(arp.TargetHardwareAddress));
        Assert.Equal(IPAddress.Parse("10.0.0.1"), arp.TargetProtocolAddress);
    }

    [Theory]
    [InlineData(56, false, (byte)64, (byte)0)]
    [InlineData(57, true, (byte)1, (byte)0xb8)]  // odd data length: the checksum pads with a zero byte
    [InlineData(0, true, (byte)255, (byte)0)]
    [InlineData(1472, false, (byte)64, (byte)0)] // fills a 1500-byte MTU
    public void Rfc791_Rfc792_EchoWeBuild_PacketDotNetReads(int dataLength, bool dontFragment, byte ttl, byte tos)
    {
        var data = new byte[dataLength];
        new Random(dataLength).NextBytes(data);
        int icmpLength = IcmpMessage.HeaderLength + dataLength;
        var bytes = new byte[EthernetFrame.HeaderLength + Ipv4Header.MinimumLength + icmpLength];
        EthernetFrame.Write(bytes, PeerMac, OurMac, EtherType.Ipv4);
        var ipSpan = bytes.AsSpan(EthernetFrame.HeaderLength);
        var ours = Ipv4Header.Write(ipSpan, OurIp, PeerIp, IpProtocol.Icmp, icmpLength, 0xbeef, ttl, dontFragment, tos);
        ushort ourIpChecksum = ours.HeaderChecksum;
        var m = IcmpMessage.WriteEcho(ipSpan[Ipv4Header.MinimumLength..], IcmpType.EchoRequest, 0x1234, 0x5678);
        data.CopyTo(m.Data);
        m.UpdateChecksum();
        ushort ourIcmpChecksum = m.Checksum;

        var eth = Assert.IsType<EthernetPacket>(Packet.ParsePacket(LinkLayers.Ethernet, bytes));
        Assert.Equal(PeerMac, Mac(eth.DestinationHardwareAddress));
        Assert.Equal(OurMac, Mac(eth.SourceHardwareAddress));
        Assert.Equal(EthernetType.IPv4, eth.Type);

        var ip = eth.Extract<IPv4Packet>();
        Assert.NotNull(ip);
        Assert.Equal(IPVersion.IPv4, ip.Version);
        Assert.Equal(Ipv4Header.MinimumLength, ip.HeaderLength * 4); // PacketDotNet counts 32-bit words
        Assert.Equal(Ipv4Header.MinimumLength + icmpLength, ip.TotalLength);
        Assert.Equal(0xbeef, ip.Id);
        Assert.Equal(ttl, ip.TimeToLive);
        Assert.Equal(tos, ip.TypeOfService);
        Assert.Equal(Pdn.ProtocolType.Icmp, ip.Protocol);
        Assert.Equal(dontFragment ? 0x2 : 0x0, ip.FragmentFlags); // the 3 flag bits: reserved, DF, MF
        Assert.Equal(0, ip.FragmentOffset);
        Assert.Equal(IPAddress.Parse("10.0.0.2"), ip.SourceAddress);
        Assert.Equal(IPAddress.Parse("10.0.0.1"), ip.DestinationAddress);
        Assert.Equal(ourIpChecksum, ip.Checksum);
        Assert.True(ip.ValidIPChecksum);
        Assert.Equal(ourIpChecksum, ip.CalculateIPChecksum());

        var icmp = eth.Extract<IcmpV4Packet>();
        Assert.NotNull(icmp);
        Assert.Equal(IcmpV4TypeCode.EchoRequest, icmp.TypeCode);
        Assert.Equal(0x1234, icmp.Id);
        Assert.Equal(0x5678, icmp.Sequence);
        Assert.Equal(ourIcmpChecksum, icmp.Checksum);
        Assert.True(icmp.ValidIcmpChecksum);
        Assert.Equal(data, icmp.Data);
    }

    [Fact]
    public void Rfc791_EchoReplyWeBuild_PacketDotNetSeesAReply()
    {
        var bytes = new byte[EthernetFrame.HeaderLength + Ipv4Header.MinimumLength + IcmpMessage.HeaderLength + 4];
        EthernetFrame.Write(bytes, PeerMac, OurMac, EtherType.Ipv4);
        var ipSpan = bytes.AsSpan(EthernetFrame.HeaderLength);
        Ipv4Header.Write(ipSpan, OurIp, PeerIp, IpProtocol.Icmp, IcmpMessage.HeaderLength + 4, 1);
        var m = IcmpMessage.WriteEcho(ipSpan[Ipv4Header.MinimumLength..], IcmpType.EchoReply, 1, 2);
        m.Data.Fill(0x42);
        m.UpdateChecksum();

        var icmp = Packet.ParsePacket(LinkLayers.Ethernet, bytes).Extract<IcmpV4Packet>();
        Assert.Equal(IcmpV4TypeCode.EchoReply, icmp.TypeCode);
        Assert.True(icmp.ValidIcmpChecksum);
    }

    // ---- what PacketDotNet builds, we read ----

    [Theory]
    [InlineData(UArpOperation.Request)]
    [InlineData(UArpOperation.Reply)]
    public void Rfc826_ArpPacketDotNetBuilds_WeRead(UArpOperation op)
    {
        var ethDst = op == UArpOperation.Request ? MacAddress.Broadcast : OurMac;
        var tha = op == UArpOperation.Request ? MacAddress.Zero : OurMac;
        var arp = new Pdn.ArpPacket(op == UArpOperation.Request ? Pdn.ArpOperation.Request : Pdn.ArpOperation.Response,
            Phys(tha), IPAddress.Parse("10.0.0.2"), Phys(PeerMac), IPAddress.Parse("10.0.0.1"));
        var eth = new EthernetPacket(Phys(PeerMac), Phys(ethDst), EthernetType.Arp) { PayloadPacket = arp };
        var bytes = eth.Bytes;

        Assert.True(EthernetFrame.TryParse(bytes, out var frame));
        Assert.Equal(ethDst, frame.Destination);
        Assert.Equal(PeerMac, frame.Source);
        Assert.Equal(EtherType.Arp, frame.EtherType);
        Assert.True(UArpPacket.TryParse(frame.Payload, out var ours));
        Assert.True(ours.IsEthernetIpv4);
        Assert.Equal(op, ours.Operation);
        Assert.Equal(PeerMac, ours.SenderHardwareAddress);
        Assert.Equal(PeerIp, ours.SenderProtocolAddress);
        Assert.Equal(tha, ours.TargetHardwareAddress);
        Assert.Equal(OurIp, ours.TargetProtocolAddress);
    }

    [Theory]
    [InlineData(56)]
    [InlineData(31)]
    [InlineData(0)]
    public void Rfc792_EchoPacketDotNetBuilds_WeRead(int dataLength)
    {
        var data = new byte[dataLength];
        new Random(100 + dataLength).NextBytes(data);
        var icmp = new IcmpV4Packet(new ByteArraySegment(new byte[IcmpMessage.HeaderLength + dataLength]))
        {
            TypeCode = IcmpV4TypeCode.EchoRequest,
            Id = 0x0d2f,
            Sequence = 7,
        };
        data.CopyTo(icmp.Bytes, IcmpMessage.HeaderLength);
        icmp.UpdateIcmpChecksum();
        var ip = new IPv4Packet(IPAddress.Parse("10.0.0.1"), IPAddress.Parse("10.0.0.2"))
        {
            PayloadPacket = icmp,
            TimeToLive = 64,
            Id = 0x1c46,
            Protocol = Pdn.ProtocolType.Icmp,
        };
        var eth = new EthernetPacket(Phys(PeerMac), Phys(OurMac), EthernetType.IPv4) { PayloadPacket = ip };
        eth.UpdateCalculatedValues();
        ip.UpdateIPChecksum();
        var bytes = eth.Bytes;
        Assert.True(ip.ValidIPChecksum, "PacketDotNet built a header it considers valid");

        Assert.True(EthernetFrame.TryParse(bytes, out var frame));
        Assert.Equal(OurMac, frame.Destination);
        Assert.Equal(PeerMac, frame.Source);
        Assert.Equal(EtherType.Ipv4, frame.EtherType);

        Assert.Equal(Ipv4ParseError.None, Ipv4Header.TryParse(frame.Payload, out var h));
        Assert.Equal(4, h.Version);
        Assert.Equal(20, h.HeaderLength);
        Assert.Equal(20 + 8 + dataLength, h.TotalLength);
        Assert.Equal(0x1c46, h.Identification);
        Assert.Equal(64, h.TimeToLive);
        Assert.Equal(IpProtocol.Icmp, h.Protocol);
        Assert.Equal(PeerIp, h.Source);
        Assert.Equal(OurIp, h.Destination);
        Assert.Equal(ip.Checksum, h.HeaderChecksum);
        Assert.True(h.IsChecksumValid);

        Assert.True(IcmpMessage.TryParse(h.Payload, out var m));
        Assert.Equal(IcmpType.EchoRequest, m.Type);
        Assert.Equal(0, m.Code);
        Assert.Equal(0x0d2f, m.Identifier);
        Assert.Equal(7, m.SequenceNumber);
        Assert.Equal(icmp.Checksum, m.Checksum);
        Assert.True(m.IsChecksumValid);
        Assert.Equal(data, m.Data.ToArray());
    }

    [Fact]
    public void Rfc791_RandomHeadersFromPacketDotNet_OurChecksumAgreesWithItsOwn()
    {
        var rng = new Random(791);
        for (int i = 0; i < 200; i++)
        {
            var src = new IPAddress(rng.Next() | 0x0100_0000L);
            var dst = new IPAddress(rng.Next() | 0x0100_0000L);
            var payload = new byte[rng.Next(0, 100)];
            rng.NextBytes(payload);
            var ip = new IPv4Packet(src, dst)
            {
                PayloadData = payload,
                TimeToLive = rng.Next(1, 256),
                Id = (ushort)rng.Next(0, 65536),
                TypeOfService = rng.Next(0, 256),
                Protocol = (Pdn.ProtocolType)rng.Next(0, 256),
            };
            ip.UpdateCalculatedValues();
            ip.UpdateIPChecksum();
            var bytes = ip.Bytes;

            Assert.Equal(Ipv4ParseError.None, Ipv4Header.TryParse(bytes, out var h));
            Assert.Equal(ip.Checksum, h.HeaderChecksum);
            Assert.Equal(payload, h.Payload.ToArray());
            Assert.Equal(Ipv4Address.FromIPAddress(src), h.Source);
            Assert.Equal(Ipv4Address.FromIPAddress(dst), h.Destination);

            // Recomputing with our code gives PacketDotNet's value.
            h.UpdateChecksum();
            Assert.Equal(ip.Checksum, h.HeaderChecksum);
        }
    }
}
