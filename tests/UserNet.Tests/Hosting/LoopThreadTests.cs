using System.Buffers;
using System.Net;
using UserNet.Core;
using UserNet.Devices;
using UserNet.Hosting;
using UserNet.Sockets;
using UserNet.Stack;
using UserNet.TestSupport;
using UserNet.Wire;

namespace UserNet.Tests.Hosting;

/// <summary>
/// The protocol core is single-threaded in fact: a host runs it on one thread of its own, whatever thread the
/// application writes, reads or connects from, and whatever thread a timer would fire on.
/// </summary>
public sealed class LoopThreadTests
{
    /// <summary>Notes the thread of every frame the stack handles.</summary>
    private sealed class ThreadRecorder : IFrameObserver
    {
        public readonly HashSet<string?> Threads = new();
        public void OnFrame(FrameDirection direction, ReadOnlySpan<byte> frame, Layer layer, string decision, TimeSpan time)
        {
            lock (Threads) Threads.Add(Thread.CurrentThread.Name);
        }
    }

    [Fact]
    public async Task Every_frame_is_handled_on_the_hosts_loop_thread_never_on_an_application_or_timer_thread()
    {
        var (a, b) = MemoryLink.CreatePair(nameA: "loop-a", nameB: "loop-b");
        var seenA = new ThreadRecorder();
        var seenB = new ThreadRecorder();
        // A tiny minimum RTO and loss on the link, so retransmission timers fire during the transfer too.
        var tcp = new UserNet.Tcp.TcpSettings { MinRetransmitTimeout = TimeSpan.FromMilliseconds(20), NoDelay = true };
        await using var hostA = new StackHost(a, new StackOptions { Address = Ipv4Subnet.Parse("10.0.0.1/24"), Observer = seenA, Tcp = tcp });
        await using var hostB = new StackHost(b, new StackOptions { Address = Ipv4Subnet.Parse("10.0.0.2/24"), Observer = seenB, Tcp = tcp });
        await hostA.StartAsync();
        await hostB.StartAsync();
        a.LossRate = 0.02;
        a.FaultRandom = new Random(4);

        await using var listener = await TcpConnectionListener.StartAsync(hostB, 80);
        var accept = listener.AcceptAsync().AsTask();
        await using var client = await TcpConnection.ConnectAsync(hostA, new IPEndPoint(IPAddress.Parse("10.0.0.2"), 80));
        await using var server = await accept;
        var data = new byte[256 * 1024];
        new Random(1).NextBytes(data);
        // Writes from several application threads in turn, small pieces, each flushed (a pipe takes one writer at a time).
        var turn = new SemaphoreSlim(1);
        var writers = Enumerable.Range(0, 4).Select(i => Task.Run(async () =>
        {
            for (int off = i * 64 * 1024, end = off + 64 * 1024; off < end; off += 997)
            {
                int n = Math.Min(997, end - off);
                await turn.WaitAsync();
                try { await client.Output.WriteAsync(data.AsMemory(off, n)); }
                finally { turn.Release(); }
            }
        })).ToArray();
        long got = 0;
        while (got < data.Length)
        {
            var r = await server.Input.ReadAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
            got += r.Buffer.Length;
            server.Input.AdvanceTo(r.Buffer.End);
        }
        await Task.WhenAll(writers);
        Assert.Equal(data.Length, got);

        Assert.Equal(["usernet loop-a"], seenA.Threads);
        Assert.Equal(["usernet loop-b"], seenB.Threads);
    }

    [Fact]
    public async Task Sockets_open_on_a_bare_core_the_driving_thread_runs_their_work()
    {
        // RFC 768 over a NetStack with no host: the test is the loop, it moves the frames by hand.
        var wire = new CapturingTransmitter();
        using var stack = new NetStack(new StackOptions { Address = Ipv4Subnet.Parse("10.0.0.2/24"), Mac = TestStack.OurMac, Seed = 1 }, wire);
        using var socket = await UdpSocket.BindAsync(stack, 5000);
        Assert.Equal(5000, socket.LocalEndPoint.Port);
        stack.Receive(TestStack.UdpFrame(4000, 5000, "hello"u8), TimeSpan.FromSeconds(1));
        var buffer = new byte[16];
        var r = await socket.ReceiveFromAsync(buffer);
        Assert.Equal("hello", System.Text.Encoding.ASCII.GetString(buffer, 0, r.ReceivedBytes));
        Assert.Equal(new IPEndPoint(TestStack.PeerIp.ToIPAddress(), 4000), r.RemoteEndPoint);
        // The peer asks for our address, so we know its MAC; then the answer goes out at once, from this thread.
        stack.Receive(Frames.ArpRequest(TestStack.PeerMac, TestStack.PeerIp, TestStack.OurIp), TimeSpan.FromSeconds(1));
        wire.Clear();
        await socket.SendToAsync("back"u8.ToArray(), r.RemoteEndPoint);
        var sent = Assert.Single(wire.Frames);
        Assert.Equal(IpProtocol.Udp, Dissect.Ipv4(sent).Protocol);
    }

    [Fact]
    public void The_seed_picks_the_MAC_when_none_is_given_so_a_seeded_run_is_the_same_run()
    {
        var o = new StackOptions { Address = Ipv4Subnet.Parse("10.0.0.2/24"), Seed = 7 };
        using var one = new NetStack(o, new CapturingTransmitter());
        using var two = new NetStack(o, new CapturingTransmitter());
        using var other = new NetStack(new StackOptions { Address = o.Address, Seed = 8 }, new CapturingTransmitter());
        Assert.Equal(one.Mac, two.Mac);
        Assert.NotEqual(one.Mac, other.Mac);
        Assert.False(one.Mac.IsMulticast);
        Assert.Equal(0x02, (int)(one.Mac.Value >> 40) & 0x03); // locally administered, unicast
    }
}
