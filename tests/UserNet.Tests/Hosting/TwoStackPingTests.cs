using UserNet.Core;
using UserNet.Sockets;
using UserNet.Stack;
using UserNet.Devices;
using UserNet.Hosting;
using UserNet.Wire;

namespace UserNet.Tests.Hosting;

/// <summary>Two whole stacks, each on its own loop, joined by the in-memory link: ping across it both ways.</summary>
public class TwoStackPingTests : IAsyncLifetime
{
    private static readonly Ipv4Address AddressA = Ipv4Address.Parse("10.0.0.1");
    private static readonly Ipv4Address AddressB = Ipv4Address.Parse("10.0.0.2");
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(2);

    private readonly MemoryLinkEnd _endA;
    private readonly MemoryLinkEnd _endB;
    private readonly StackHost _a;
    private readonly StackHost _b;

    public TwoStackPingTests()
    {
        (_endA, _endB) = MemoryLink.CreatePair();
        _a = new StackHost(_endA, new StackOptions { Address = Ipv4Subnet.Parse("10.0.0.1/24"), Mac = MacAddress.Parse("02:00:00:00:00:01"), Name = "a" });
        _b = new StackHost(_endB, new StackOptions { Address = Ipv4Subnet.Parse("10.0.0.2/24"), Mac = MacAddress.Parse("02:00:00:00:00:02"), Name = "b" });
    }

    public async Task InitializeAsync()
    {
        await _a.StartAsync();
        await _b.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _a.DisposeAsync();
        await _b.DisposeAsync();
    }

    private static void AssertReply(PingResult? reply, Ipv4Address from, ushort sequence)
    {
        Assert.True(reply.HasValue, $"no reply to sequence {sequence} from {from}");
        var r = reply.Value;
        Assert.Equal(from, r.From);
        Assert.Equal(sequence, r.Sequence);
        Assert.Equal(56, r.DataLength);
        Assert.Equal(64, r.Ttl);
        Assert.True(r.DataIntact);
        Assert.True(r.RoundTripTime >= TimeSpan.Zero);
    }

    [Fact]
    public async Task Rfc792_PingAcrossTheLink_BothWays()
    {
        // Whatever was lost before both ends listened (A's announcement, sent before B started) does not count.
        long lostA = _endA.Lost, lostB = _endB.Lost;
        for (ushort seq = 1; seq <= 3; seq++)
            AssertReply(await _a.Pinger.PingAsync(AddressB, 0x0a0a, seq, 56, Timeout), AddressB, seq);
        for (ushort seq = 1; seq <= 3; seq++)
            AssertReply(await _b.Pinger.PingAsync(AddressA, 0x0b0b, seq, 56, Timeout), AddressA, seq);

        // Each stack took 3 requests and 3 replies.
        Assert.Equal(6, _a.Counters.ReceivedBy(Layer.Icmp));
        Assert.Equal(6, _b.Counters.ReceivedBy(Layer.Icmp));
        Assert.Equal(lostA, _endA.Lost);
        Assert.Equal(lostB, _endB.Lost);
    }

    [Fact]
    public async Task LossyLink_LosesSomePings_AndTheStacksKeepWorking()
    {
        // Resolve both ways on a clean link first, so the loss below falls on echo requests only.
        AssertReply(await _a.Pinger.PingAsync(AddressB, 0x0c0c, 1, 56, Timeout), AddressB, 1);
        AssertReply(await _b.Pinger.PingAsync(AddressA, 0x0d0d, 1, 56, Timeout), AddressA, 1);

        _endA.FaultRandom = new Random(42);
        _endA.LossRate = 0.3;
        long lostBefore = _endA.Lost;
        var pings = Enumerable.Range(2, 20).Select(seq => _a.Pinger.PingAsync(AddressB, 0x0c0c, (ushort)seq, 56, Timeout)).ToArray();
        var replies = await Task.WhenAll(pings);

        int answered = replies.Count(r => r.HasValue);
        int lost = replies.Length - answered;
        Assert.InRange(lost, 1, replies.Length - 1);
        Assert.Equal(lost, _endA.Lost - lostBefore); // every missing reply is a request the link dropped
        foreach (var r in replies.Where(r => r.HasValue)) Assert.True(r!.Value.DataIntact);

        _endA.LossRate = 0;
        AssertReply(await _a.Pinger.PingAsync(AddressB, 0x0c0c, 100, 56, Timeout), AddressB, 100);
        AssertReply(await _b.Pinger.PingAsync(AddressA, 0x0d0d, 100, 56, Timeout), AddressA, 100);
    }

    [Fact]
    public async Task Rfc1122_2_3_2_1_PingToAnAbsentHost_TheLoopRetriesArpOnItsTimer_ThenGivesUp()
    {
        var absent = Ipv4Address.Parse("10.0.0.99");
        long heardBefore = _b.Counters.DroppedFor(DropReason.ArpNotForUs);

        // Default options: a request a second, three attempts, so the datagram is dropped about 3 s after it was sent.
        var reply = await _a.Pinger.PingAsync(absent, 0x0e0e, 1, 56, TimeSpan.FromSeconds(2));
        Assert.Null(reply);

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (_a.Counters.DroppedFor(DropReason.ArpUnresolved) == 0 && DateTime.UtcNow < deadline)
            await Task.Delay(50);
        var next = await _a.InvokeAsync(s => s.NextDeadline);
        Assert.True(_a.Counters.DroppedFor(DropReason.ArpUnresolved) == 1,
            $"the datagram still waits {_a.Now - next} after its deadline: the loop stopped polling");
        // B heard every broadcast request for 10.0.0.99 and ignored it: exactly the attempt limit, no more.
        Assert.Equal(3, _b.Counters.DroppedFor(DropReason.ArpNotForUs) - heardBefore);

        // The stack still works afterwards.
        AssertReply(await _a.Pinger.PingAsync(AddressB, 0x0e0e, 2, 56, Timeout), AddressB, 2);
    }

    [Fact]
    public async Task Rfc5227_2_4_AHostClaimingOurAddress_DoesNotStopTheStack()
    {
        // Someone else announces 10.0.0.2 (B's address); B must defend it and keep answering.
        var intruder = MacAddress.Parse("52:54:00:66:66:66");
        var claim = TestSupport.Frames.Arp(ArpOperation.Request, MacAddress.Broadcast, intruder, intruder, AddressB, MacAddress.Zero, AddressB);
        Assert.True(_endB.Inject(claim));

        AssertReply(await _a.Pinger.PingAsync(AddressB, 0x0f0f, 1, 56, Timeout), AddressB, 1);
        Assert.False(_b.Completion.IsCompleted, "B's loop ended");
        Assert.Equal(1, _b.Counters.DroppedFor(DropReason.ArpAddressConflict));
    }
}

public sealed class StackHostLifetimeTests
{
    [Fact]
    public async Task Work_posted_after_the_host_stopped_still_completes()
    {
        var (a, _) = UserNet.Devices.MemoryLink.CreatePair();
        var host = new UserNet.Hosting.StackHost(a, new UserNet.Stack.StackOptions { Address = UserNet.Wire.Ipv4Subnet.Parse("10.0.0.1/24") });
        await host.StartAsync();
        var listener = await UserNet.Sockets.TcpConnectionListener.StartAsync(host, 80);
        await host.DisposeAsync();
        await host.DisposeAsync(); // twice is fine
        // Disposing the listener posts to a loop that has stopped: it must not wait for ever.
        await listener.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(42, await host.InvokeAsync(_ => 42).WaitAsync(TimeSpan.FromSeconds(5)));
    }
}
