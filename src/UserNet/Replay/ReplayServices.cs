using System.Buffers;
using System.Net.Sockets;
using UserNet.Core;
using UserNet.Services;
using UserNet.Tcp;
using UserNet.Udp;
using UserNet.Wire;

namespace UserNet.Replay;

/// <summary>
/// The services <c>usernet up</c> runs (echo, RFC 862, on port 7 and discard, RFC 863, on port 9, over UDP and TCP)
/// for a bare <see cref="NetStack"/>: no host, no threads, no async loop. What arrives waits in the stack's buffers
/// (datagrams in a queue here, TCP bytes in the connection's receive pipe) until the replay gives the services a
/// turn; each turn does one step of each service, so the replay can let them run when the recording shows the
/// recorded services ran. A turn's work on connections is posted (<c>NetStack.Poster</c>) and run when the turn
/// ends, as the host's loop would run it, so a turn's frames are sent before it returns.
/// </summary>
internal sealed class ReplayServices
{
    private readonly NetStack _stack;
    private readonly Queue<(ushort Port, Ipv4Address From, ushort FromPort, byte[] Data)> _datagrams = new();
    private readonly List<TcpListenerCore> _listeners = new();
    private readonly List<Session> _sessions = new();
    private readonly Queue<Action<NetStack>> _posted = new();
    private readonly Action<Action<NetStack>> _post;

    public ReplayServices(NetStack stack)
    {
        _stack = stack;
        _post = _posted.Enqueue;
        foreach (var port in new[] { (ushort)UdpServices.EchoPort, (ushort)UdpServices.DiscardPort })
        {
            stack.Udp.Bind(new Endpoint(this, port), port);
            var listener = new TcpListenerCore(stack, port, backlog: 128, stack.Options.Tcp);
            stack.Tcp.Listen(listener);
            _listeners.Add(listener);
        }
    }

    private static string Name(ushort port) => port == UdpServices.EchoPort ? "echo" : "discard";

    /// <summary>One step of each service with work: answers one datagram, accepts, and reads once from each connection.
    /// <paramref name="said"/> gets a line per step. Returns false when no service had anything to do.</summary>
    public bool Turn(List<string> said)
    {
        // As in usernet up, what the services do to a connection (write, read, close) is posted to the loop and
        // runs after they have done it, coalesced: one visit sends the echo with the window the read reopened.
        _stack.Poster = _post;
        bool any;
        try { any = Steps(said); }
        finally { _stack.Poster = null; }
        while (_posted.TryDequeue(out var work)) work(_stack);
        return any;
    }

    private bool Steps(List<string> said)
    {
        bool any = false;
        if (_datagrams.TryDequeue(out var d))
        {
            any = true;
            if (d.Port == UdpServices.EchoPort)
            {
                said.Add($"the udp echo service sends the {Bytes(d.Data.Length)} back to {d.From}:{d.FromPort}");
                _stack.Udp.Send(d.Port, d.From, d.FromPort, d.Data);
            }
            else said.Add($"the udp discard service throws away the {Bytes(d.Data.Length)} from {d.From}:{d.FromPort}");
        }
        foreach (var l in _listeners)
        {
            while (l.Accepted.Reader.TryRead(out var c))
            {
                any = true;
                said.Add($"the tcp {Name(l.Port)} service accepts the connection from {c.RemoteEndPoint}");
                _sessions.Add(new Session(c, l.Port));
            }
        }
        foreach (var s in _sessions) any |= s.Step(said);
        _sessions.RemoveAll(s => s.Done);
        return any;
    }

    private static string Bytes(long n) => n == 1 ? "1 byte" : $"{n} bytes";

    /// <summary>A UDP port of a service: keeps each datagram for the service's next turn.</summary>
    private sealed class Endpoint(ReplayServices owner, ushort port) : UdpEndpoint
    {
        public override string Decision => "udp datagram -> socket"; // what a UdpSocket says, as in the recording
        public override bool Accepts(Ipv4Address source, ushort sourcePort) => true;
        public override bool Deliver(Ipv4Address source, ushort sourcePort, ReadOnlySpan<byte> data)
        {
            owner._datagrams.Enqueue((port, source, sourcePort, data.ToArray()));
            return true;
        }
        public override void DeliverError(Ipv4Address destination, ushort destinationPort, SocketError error) { } // the services ignore these too
        public override void Close() { }
    }

    /// <summary>One accepted connection and what its service does with each read, as TcpServices.EchoAsync and DiscardAsync do.</summary>
    private sealed class Session(TcpConnection connection, ushort port)
    {
        public bool Done { get; private set; }

        public bool Step(List<string> said)
        {
            if (Done) return false;
            var from = connection.RemoteEndPoint;
            System.IO.Pipelines.ReadResult r;
            try
            {
                if (!connection.Input.TryRead(out r)) return false;
            }
            catch (SocketException e)
            {
                said.Add($"the tcp {Name(port)} service's connection from {from} is gone ({e.SocketErrorCode})");
                Done = true;
                return true;
            }
            var buffer = r.Buffer;
            if (buffer.Length > 0)
            {
                if (port == UdpServices.EchoPort)
                {
                    said.Add($"the tcp echo service reads {Bytes(buffer.Length)} from {from} and writes them back");
                    foreach (var m in buffer) connection.Output.Write(m.Span);
                    _ = connection.Output.FlushAsync(); // below the send buffer's threshold: completes at once
                }
                else said.Add($"the tcp discard service reads {Bytes(buffer.Length)} from {from} and throws them away");
                connection.Input.AdvanceTo(buffer.End);
                return true;
            }
            connection.Input.AdvanceTo(buffer.End);
            if (!r.IsCompleted) return false;
            said.Add($"the tcp {Name(port)} service reads the end of input from {from} and closes the connection");
            connection.Output.Complete();
            connection.Input.Complete();
            Done = true;
            return true;
        }
    }
}
