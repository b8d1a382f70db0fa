using UserNet.Tests.Tcp;
using UserNet.Wire;

namespace UserNet.Tests.Stack;

/// <summary>What a stack says to its peers as it is disposed (a host stopping: <c>usernet up</c> on Ctrl-C).</summary>
public sealed class NetStackDisposeTests
{
    [Fact]
    public void Disposing_a_stack_resets_its_connections_with_a_RST_to_the_peer_not_an_ARP_request()
    {
        var p = new TcpPeer();
        p.Accept();
        p.Take();

        p.Stack.Dispose();

        // The RST needs the peer's MAC: the connections go before the neighbour cache does.
        Assert.DoesNotContain(p.F.Sent, f => EthernetFrame.TryParse(f, out var eth) && eth.EtherType == EtherType.Arp);
        var rst = p.TakeOne();
        Assert.Equal(TcpFlags.Rst | TcpFlags.Ack, rst.Flags);
        Assert.Equal(p.SndNxt, rst.Ack);
    }
}
