using System.Buffers.Binary;

namespace UserNet.Wire;

/// <summary>ARP operation codes (RFC 826).</summary>
public enum ArpOperation : ushort { Request = 1, Reply = 2 }

/// <summary>An ARP packet for Ethernet and IPv4 (RFC 826): hardware type 1, protocol 0x0800, lengths 6 and 4.</summary>
public readonly ref struct ArpPacket
{
    public const int Length = 28;
    public const ushort HardwareTypeEthernet = 1;

    private const int HardwareTypeOffset = 0;
    private const int ProtocolTypeOffset = 2;
    private const int HardwareLengthOffset = 4;
    private const int ProtocolLengthOffset = 5;
    private const int OperationOffset = 6;
    private const int SenderHardwareOffset = 8;
    private const int SenderProtocolOffset = 14;
    private const int TargetHardwareOffset = 18;
    private const int TargetProtocolOffset = 24;

    public readonly Span<byte> Buffer;

    public ArpPacket(Span<byte> buffer) => Buffer = buffer;

    /// <summary>Checks length only; <see cref="IsEthernetIpv4"/> checks the address formats.</summary>
    public static bool TryParse(Span<byte> buffer, out ArpPacket packet)
    {
        packet = new ArpPacket(buffer);
        return buffer.Length >= Length;
    }

    public ushort HardwareType { get => BinaryPrimitives.ReadUInt16BigEndian(Buffer[HardwareTypeOffset..]); set => BinaryPrimitives.WriteUInt16BigEndian(Buffer[HardwareTypeOffset..], value); }
    public ushort ProtocolType { get => BinaryPrimitives.ReadUInt16BigEndian(Buffer[ProtocolTypeOffset..]); set => BinaryPrimitives.WriteUInt16BigEndian(Buffer[ProtocolTypeOffset..], value); }
    public byte HardwareLength { get => Buffer[HardwareLengthOffset]; set => Buffer[HardwareLengthOffset] = value; }
    public byte ProtocolLength { get => Buffer[ProtocolLengthOffset]; set => Buffer[ProtocolLengthOffset] = value; }
    public ArpOperation Operation { get => (ArpOperation)BinaryPrimitives.ReadUInt16BigEndian(Buffer[OperationOffset..]); set => BinaryPrimitives.WriteUInt16BigEndian(Buffer[OperationOffset..], (ushort)value); }
    public MacAddress SenderHardwareAddress { get => MacAddress.Read(Buffer[SenderHardwareOffset..]); set => value.Write(Buffer[SenderHardwareOffset..]); }
    public Ipv4Address SenderProtocolAddress { get => Ipv4Address.Read(Buffer[SenderProtocolOffset..]); set => value.Write(Buffer[SenderProtocolOffset..]); }
    public MacAddress TargetHardwareAddress { get => MacAddress.Read(Buffer[TargetHardwareOffset..]); set => value.Write(Buffer[TargetHardwareOffset..]); }
    public Ipv4Address TargetProtocolAddress { get => Ipv4Address.Read(Buffer[TargetProtocolOffset..]); set => value.Write(Buffer[TargetProtocolOffset..]); }

    /// <summary>True for the only format we speak: Ethernet hardware addresses and IPv4 protocol addresses.</summary>
    public bool IsEthernetIpv4 =>
        HardwareType == HardwareTypeEthernet && ProtocolType == Wire.EtherType.Ipv4 && HardwareLength == 6 && ProtocolLength == 4;

    /// <summary>Writes a complete Ethernet/IPv4 ARP packet.</summary>
    public static void Write(Span<byte> buffer, ArpOperation op, MacAddress senderMac, Ipv4Address senderIp, MacAddress targetMac, Ipv4Address targetIp)
    {
        var p = new ArpPacket(buffer)
        {
            HardwareType = HardwareTypeEthernet,
            ProtocolType = Wire.EtherType.Ipv4,
            HardwareLength = 6,
            ProtocolLength = 4,
            Operation = op,
            SenderHardwareAddress = senderMac,
            SenderProtocolAddress = senderIp,
            TargetHardwareAddress = targetMac,
            TargetProtocolAddress = targetIp,
        };
        _ = p;
    }
}
