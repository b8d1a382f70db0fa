using System.Net;
using UserNet.Sockets;

namespace UserNet.Simulation.Tests;

internal static class Tcp
{
    /// <summary>
    /// Sends from <paramref name="client"/> to <paramref name="server"/> for <paramref name="duration"/> of network
    /// time, then closes; returns the bytes the server read (checked to be the pattern sent) and the threads seen.
    /// </summary>
    public static async Task<(long Bytes, HashSet<int> Threads)> TransferAsync(SimulatedNetwork net, SimulatedHost client, SimulatedHost server, TimeSpan duration, int port = 5001)
    {
        var threads = new HashSet<int> { Environment.CurrentManagedThreadId };
        var listener = await TcpConnectionListener.StartAsync(server, port);
        var accept = listener.AcceptAsync().AsTask();
        var c = await TcpConnection.ConnectAsync(client, new IPEndPoint(server.Address.Address.ToIPAddress(), port));
        var s = await accept;
        threads.Add(Environment.CurrentManagedThreadId);
        long received = 0;
        bool intact = true;
        async Task ReadAsync()
        {
            while (true)
            {
                var r = await s.Input.ReadAsync();
                threads.Add(Environment.CurrentManagedThreadId);
                foreach (var seg in r.Buffer)
                    foreach (var b in seg.Span)
                    {
                        if (b != (byte)received) intact = false;
                        received++;
                    }
                s.Input.AdvanceTo(r.Buffer.End);
                if (r.IsCompleted) break;
            }
            await s.CloseAsync();
        }
        var reading = ReadAsync();
        var start = net.Time.GetTimestamp();
        long sent = 0;
        while (net.Time.GetElapsedTime(start) < duration)
        {
            var mem = c.Output.GetMemory(16384);
            int n = Math.Min(mem.Length, 16384);
            for (int i = 0; i < n; i++) mem.Span[i] = (byte)(sent + i);
            c.Output.Advance(n);
            sent += n;
            await c.Output.FlushAsync();
            threads.Add(Environment.CurrentManagedThreadId);
        }
        await c.Output.CompleteAsync();
        await reading;
        await c.CloseAsync();
        await listener.DisposeAsync();
        Assert.True(intact, "the bytes read are not the bytes written");
        Assert.Equal(sent, received);
        return (received, threads);
    }
}
