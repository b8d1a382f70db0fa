using System.Net;
using UserNet.Core;
using UserNet.Sockets;
using UserNet.Stack;
using UserNet.Tcp;
using UserNet.Wire;

namespace UserNet.Tests.Tcp;

/// <summary>One direction of a simulated wire between two bare stacks: it holds what is sent until it is due.</summary>
internal interface ISimulatedWire : IFrameTransmitter
{
    /// <summary>The virtual time the driver has reached; frames sent now are stamped with it.</summary>
    TimeSpan Now { set; }
    /// <summary>When the next frame is due at the far end, or <see cref="TimeSpan.MaxValue"/>.</summary>
    TimeSpan Next { get; }
    /// <summary>Hands the frames due by <paramref name="now"/> to <paramref name="to"/>.</summary>
    void Deliver(NetStack to, TimeSpan now);
}

/// <summary>
/// Two bare stacks, a (10.0.0.1) and b (10.0.0.2), joined by two simulated wires and driven on one virtual clock
/// that jumps to the next frame or deadline: a sends <c>size</c> seeded bytes to b's listener on port 5001 and
/// closes; the run ends when b has read them all and the FIN. The same seed gives the same run.
/// </summary>
internal static class SimulatedTransfer
{
    public sealed record Result(byte[] Received, StackCounters A, StackCounters B, TimeSpan Took);

    public static Result Run(ISimulatedWire ab, ISimulatedWire ba, int seed, int size, TimeSpan limit)
    {
        var previous = SynchronizationContext.Current;
        SynchronizationContext.SetSynchronizationContext(null); // continuations run inline, on this thread, at once
        try
        {
            var tcp = new TcpSettings { SendBufferSize = size + 1, ReceiveBufferSize = 1 << 20 };
            var a = new NetStack(new StackOptions { Address = Ipv4Subnet.Parse("10.0.0.1/24"), Name = "a", Seed = seed, Tcp = tcp }, ab);
            var b = new NetStack(new StackOptions { Address = Ipv4Subnet.Parse("10.0.0.2/24"), Name = "b", Seed = seed + 1, Tcp = tcp }, ba);
            var now = TimeSpan.Zero;
            a.Start(now);
            b.Start(now);
            var listening = TcpConnectionListener.StartAsync(b, 5001);
            Assert.True(listening.IsCompleted);
            var listener = listening.Result;
            var connecting = TcpConnection.ConnectAsync(a, new IPEndPoint(IPAddress.Parse("10.0.0.2"), 5001));
            var data = Data(seed, size);
            using var got = new MemoryStream();
            TcpConnection? client = null, server = null;
            bool done = false;
            while (!done && now < limit)
            {
                ab.Now = ba.Now = now;
                ab.Deliver(b, now);
                ba.Deliver(a, now);
                if (now >= a.NextDeadline) a.Poll(now);
                if (now >= b.NextDeadline) b.Poll(now);
                if (client is null && connecting.IsCompleted)
                {
                    client = connecting.Result;
                    Assert.True(client.Output.WriteAsync(data).IsCompleted);
                    client.Output.Complete();
                }
                if (server is null && listener.TryAccept(out var s)) server = s;
                if (server is not null && server.Input.TryRead(out var r))
                {
                    foreach (var m in r.Buffer) got.Write(m.Span);
                    server.Input.AdvanceTo(r.Buffer.End);
                    done = r.IsCompleted;
                }
                if (done) break;
                var next = new[] { ab.Next, ba.Next, a.NextDeadline, b.NextDeadline }.Min();
                Assert.NotEqual(TimeSpan.MaxValue, next); // something must still be due, or the transfer is stuck
                now = next > now ? next : now + TimeSpan.FromTicks(1);
            }
            Assert.True(done, $"not done after {limit} of simulated time");
            return new Result(got.ToArray(), a.Counters, b.Counters, now);
        }
        finally { SynchronizationContext.SetSynchronizationContext(previous); }
    }

    /// <summary>The bytes a run with <paramref name="seed"/> sends.</summary>
    public static byte[] Data(int seed, int size)
    {
        var data = new byte[size];
        new Random(seed).NextBytes(data);
        return data;
    }
}
