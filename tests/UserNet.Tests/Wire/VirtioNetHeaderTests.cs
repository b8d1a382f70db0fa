using UserNet.Wire;

namespace UserNet.Tests.Wire;

/// <summary>
/// <c>struct virtio_net_hdr</c> (virtio 1.x section 5.1.6, linux/virtio_net.h): flags, gso_type, hdr_len, gso_size,
/// csum_start, csum_offset, little-endian, ten bytes in front of each frame on a TAP opened with IFF_VNET_HDR.
/// </summary>
public sealed class VirtioNetHeaderTests
{
    /// <summary>What the kernel's tun writes for a 64 KiB TSO super-segment of its TCP with timestamps (MSS 1448).</summary>
    private static readonly byte[] KernelTso =
    [
        0x01,       // flags: VIRTIO_NET_HDR_F_NEEDS_CSUM
        0x01,       // gso_type: VIRTIO_NET_HDR_GSO_TCPV4
        0x42, 0x00, // hdr_len: 66 (14 + 20 + 32)
        0xA8, 0x05, // gso_size: 1448
        0x22, 0x00, // csum_start: 34
        0x10, 0x00, // csum_offset: 16
    ];

    [Fact]
    public void A_kernel_TSO_header_reads_as_a_super_segment_with_a_partial_checksum()
    {
        Assert.True(new VirtioNetHeader(KernelTso).TryRead(65000, out var o));
        Assert.True(o.IsSuperSegment);
        Assert.True(o.ChecksumPartial);
        Assert.Equal(1448, o.SegmentSize);
        Assert.Equal(66, o.HeaderLength);
        Assert.Equal(34, o.ChecksumStart);
        Assert.Equal(16, o.ChecksumOffset);
    }

    [Fact]
    public void Written_back_it_is_the_same_ten_bytes()
    {
        var buffer = new byte[VirtioNetHeader.Length];
        VirtioNetHeader.Write(buffer, FrameOffload.TcpSuperSegment(34, 66, 1448));
        Assert.Equal(KernelTso, buffer);
    }

    [Fact]
    public void A_plain_frame_has_an_all_zero_header_and_no_offload()
    {
        var buffer = new byte[VirtioNetHeader.Length];
        buffer.AsSpan().Fill(0xEE);
        VirtioNetHeader.Write(buffer, default);
        Assert.All(buffer, b => Assert.Equal(0, b));
        Assert.True(new VirtioNetHeader(buffer).TryRead(60, out var o));
        Assert.Equal(default, o);
    }

    [Fact]
    public void A_checksum_left_partial_without_GSO_is_only_that()
    {
        byte[] h = [0x01, 0x00, 0, 0, 0, 0, 0x22, 0x00, 0x06, 0x00]; // a UDP datagram the kernel left partial
        Assert.True(new VirtioNetHeader(h).TryRead(100, out var o));
        Assert.False(o.IsSuperSegment);
        Assert.True(o.ChecksumPartial);
        Assert.Equal(6, o.ChecksumOffset);
    }

    [Fact]
    public void The_ECN_bit_of_the_GSO_type_does_not_hide_TCPv4()
    {
        var h = KernelTso.ToArray();
        h[1] = VirtioNetHeader.GsoTcpV4 | VirtioNetHeader.GsoEcn;
        Assert.True(new VirtioNetHeader(h).TryRead(65000, out var o));
        Assert.True(o.IsSuperSegment);
    }

    [Theory]
    [InlineData(VirtioNetHeader.GsoTcpV6)] // we never ask for TSO6 or UFO
    [InlineData(VirtioNetHeader.GsoUdp)]
    public void A_GSO_type_we_never_asked_for_is_refused(byte type)
    {
        var h = KernelTso.ToArray();
        h[1] = type;
        Assert.False(new VirtioNetHeader(h).TryRead(65000, out _));
    }

    [Fact]
    public void A_GSO_size_of_zero_is_refused()
    {
        var h = KernelTso.ToArray();
        h[4] = h[5] = 0;
        Assert.False(new VirtioNetHeader(h).TryRead(65000, out _));
    }

    [Fact]
    public void A_checksum_field_beyond_the_frame_is_refused()
    {
        Assert.False(new VirtioNetHeader(KernelTso).TryRead(40, out _)); // 34 + 16 + 2 > 40
    }
}
