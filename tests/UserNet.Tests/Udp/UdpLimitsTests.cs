using UserNet.Core;
using UserNet.Sockets;
using UserNet.Stack;
using UserNet.TestSupport;
using Xunit;

namespace UserNet.Tests.Udp;

/// <summary>
/// A flood of datagrams to sockets whose readers are slow: each socket holds at most its receive buffer of bytes
/// (as SO_RCVBUF does), all sockets together at most the stack's <see cref="StackLimits.UdpQueuedBytes"/>; what is
/// beyond is dropped and counted, and reading makes room again.
/// </summary>
public sealed class UdpLimitsTests
{
    private static readonly TimeSpan Soon = TimeSpan.FromSeconds(5);

    private static TestStack Stack(int bufferSize = 1 << 20, long stackBytes = 32L << 20)
    {
        var s = TestStack.Started(o => new StackOptions
        {
            Address = o.Address,
            Mac = o.Mac,
            UdpReceiveBufferSize = bufferSize,
            Limits = new StackLimits { UdpQueuedBytes = stackBytes },
        });
        s.LearnPeer();
        return s;
    }

    /// <summary>1000 bytes of data: each such datagram is charged the 1 KiB pooled array it is copied into.</summary>
    private static byte[] Datagram(byte tag, ushort to)
    {
        var data = new byte[1000];
        data[0] = tag;
        return TestStack.UdpFrame(4000, to, data);
    }

    [Fact]
    public async Task A_socket_holds_at_most_its_receive_buffer_of_bytes_and_reading_makes_room()
    {
        var s = Stack(bufferSize: 8 * 1024);
        using var socket = await UdpSocket.BindAsync(s.Stack, 5000);
        for (int i = 0; i < 12; i++) s.Receive(Datagram((byte)i, 5000));
        Assert.Equal(4, s.Stack.Counters.DroppedFor(DropReason.UdpReceiveQueueFull));
        Assert.Equal(4, socket.DroppedDatagrams);

        var buf = new byte[2000];
        var first = await socket.ReceiveFromAsync(buf).AsTask().WaitAsync(Soon);
        Assert.Equal(1000, first.ReceivedBytes);
        Assert.Equal(0, buf[0]); // the oldest were kept
        s.Receive(Datagram(99, 5000));
        Assert.Equal(4, socket.DroppedDatagrams); // it fit in the room the read made
        for (int i = 1; i < 8; i++)
        {
            await socket.ReceiveFromAsync(buf).AsTask().WaitAsync(Soon);
            Assert.Equal(i, buf[0]);
        }
        await socket.ReceiveFromAsync(buf).AsTask().WaitAsync(Soon);
        Assert.Equal(99, buf[0]);
    }

    [Fact]
    public async Task All_sockets_together_hold_at_most_the_stack_limit_and_a_read_in_one_makes_room_for_another()
    {
        var s = Stack(stackBytes: 4 * 1024);
        using var a = await UdpSocket.BindAsync(s.Stack, 5000);
        using var b = await UdpSocket.BindAsync(s.Stack, 5001);
        s.Receive(Datagram(1, 5000));
        s.Receive(Datagram(2, 5000));
        s.Receive(Datagram(3, 5001));
        s.Receive(Datagram(4, 5001));
        s.Receive(Datagram(5, 5001)); // a fifth KiB: over the stack's four
        Assert.Equal(1, s.Stack.Counters.DroppedFor(DropReason.UdpQueueLimit));
        Assert.Equal(0, s.Stack.Counters.DroppedFor(DropReason.UdpReceiveQueueFull));
        Assert.Equal(1, b.DroppedDatagrams);

        var buf = new byte[1000];
        await a.ReceiveFromAsync(buf).AsTask().WaitAsync(Soon);
        s.Receive(Datagram(6, 5001));
        Assert.Equal(1, s.Stack.Counters.DroppedFor(DropReason.UdpQueueLimit));

        // A socket closed with datagrams still queued gives their bytes back too.
        b.Dispose();
        using var c = await UdpSocket.BindAsync(s.Stack, 5002);
        for (int i = 0; i < 3; i++) s.Receive(Datagram((byte)(10 + i), 5002));
        Assert.Equal(1, s.Stack.Counters.DroppedFor(DropReason.UdpQueueLimit));
    }
}
