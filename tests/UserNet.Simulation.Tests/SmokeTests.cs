using System.Net;
using System.Text;
using UserNet.Sockets;

namespace UserNet.Simulation.Tests;

public sealed class SmokeTests
{
    [Fact]
    public async Task Deterministic_ping_and_tcp_echo_work_over_a_delayed_link()
    {
        await using var net = new SimulatedNetwork(seed: 1, SimulationMode.Deterministic);
        var a = net.AddHost("client", "10.0.0.1/24");
        var b = net.AddHost("server", "10.0.0.2/24");
        net.SetLink(a, b, new LinkProfile { Latency = TimeSpan.FromMilliseconds(20) });
        await net.RunAsync(async () =>
        {
            var r = await a.Pinger.PingAsync(b.Address.Address, 7, 1, timeout: TimeSpan.FromSeconds(5));
            Assert.NotNull(r);
            var r2 = await a.Pinger.PingAsync(b.Address.Address, 7, 2, timeout: TimeSpan.FromSeconds(5));
            Assert.Equal(TimeSpan.FromMilliseconds(40), r2!.Value.RoundTripTime);
            var listener = await TcpConnectionListener.StartAsync(b, 80);
            var accept = listener.AcceptAsync().AsTask();
            var c = await TcpConnection.ConnectAsync(a, new IPEndPoint(await net.ResolveAsync("server"), 80));
            var s = await accept;
            await c.Output.WriteAsync(Encoding.ASCII.GetBytes("hello"));
            var read = await s.Input.ReadAtLeastAsync(5);
            Assert.Equal("hello", Encoding.ASCII.GetString(read.Buffer.FirstSpan[..5]));
        }, TimeSpan.FromSeconds(30));
        Assert.Equal(0, net.CrossThreadCalls);
    }
}
