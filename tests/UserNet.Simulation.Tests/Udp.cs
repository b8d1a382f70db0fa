using System.Buffers.Binary;
using System.Net;
using UserNet.Sockets;

namespace UserNet.Simulation.Tests;

/// <summary>A probe stream for measuring a link: numbered UDP datagrams from one host, their arrivals at another.</summary>
internal static class Udp
{
    public const int Port = 9000;

    public readonly record struct Arrival(int Sequence, TimeSpan SentAt, TimeSpan ReceivedAt, int Length, bool Intact)
    {
        public TimeSpan Delay => ReceivedAt - SentAt;
    }

    /// <summary>
    /// Sends <paramref name="count"/> datagrams of <paramref name="size"/> bytes, <paramref name="perBurst"/> at a time
    /// every <paramref name="interval"/>, and collects what arrives until <paramref name="drain"/> after the last.
    /// Each carries its sequence number, its send time and a pattern that shows corruption.
    /// </summary>
    public static async Task<List<Arrival>> ProbeAsync(SimulatedNetwork net, SimulatedHost from, SimulatedHost to, int count, int size = 100,
        TimeSpan? interval = null, int perBurst = 1, TimeSpan? drain = null)
    {
        var rx = await UdpSocket.BindAsync(to, Port);
        var tx = await UdpSocket.BindAsync(from, Port + 1);
        var arrivals = new List<Arrival>();
        var start = net.Time.GetTimestamp();
        TimeSpan Now() => net.Time.GetElapsedTime(start);
        var done = false;
        var receiving = ReceiveAsync();
        async Task ReceiveAsync()
        {
            var buf = new byte[65536];
            while (!done)
            {
                int n;
                try { n = await rx.ReceiveAsync(buf); }
                catch (ObjectDisposedException) { return; }
                var seq = BinaryPrimitives.ReadInt32BigEndian(buf);
                var sent = TimeSpan.FromTicks(BinaryPrimitives.ReadInt64BigEndian(buf.AsSpan(4)));
                bool intact = true;
                for (int i = 12; i < n; i++) if (buf[i] != (byte)(seq + i)) { intact = false; break; }
                arrivals.Add(new Arrival(seq, sent, Now(), n, intact));
            }
        }
        var data = new byte[size];
        var target = new IPEndPoint(to.Address.Address.ToIPAddress(), Port);
        for (int s = 0; s < count; s++)
        {
            BinaryPrimitives.WriteInt32BigEndian(data, s);
            BinaryPrimitives.WriteInt64BigEndian(data.AsSpan(4), Now().Ticks);
            for (int i = 12; i < size; i++) data[i] = (byte)(s + i);
            await tx.SendToAsync(data, target);
            if ((s + 1) % perBurst == 0 && interval is { } iv) await Task.Delay(iv, net.Time);
        }
        await Task.Delay(drain ?? TimeSpan.FromSeconds(2), net.Time);
        done = true;
        rx.Dispose();
        await receiving;
        tx.Dispose();
        return arrivals;
    }

    /// <summary>One datagram each way, so that both ARP caches are filled before a test turns faults on.</summary>
    public static async Task WarmUpAsync(SimulatedHost a, SimulatedHost b)
    {
        var r = await a.Pinger.PingAsync(b.Address.Address, 1, 1, timeout: TimeSpan.FromSeconds(5));
        Assert.NotNull(r);
    }
}
