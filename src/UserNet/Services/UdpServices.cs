using System.Net;
using UserNet.Hosting;
using UserNet.Udp;

namespace UserNet.Services;

/// <summary>The built-in UDP services: echo (RFC 862, port 7) and discard (RFC 863, port 9).</summary>
public static class UdpServices
{
    public const int EchoPort = 7;
    public const int DiscardPort = 9;

    /// <summary>Serves RFC 862 echo until <paramref name="stop"/>: every datagram goes back to its sender unchanged.</summary>
    public static async Task RunEchoAsync(UdpSocket socket, CancellationToken stop)
    {
        var buffer = new byte[65535];
        while (!stop.IsCancellationRequested)
        {
            UdpReceiveResult r;
            try { r = await socket.ReceiveFromAsync(buffer, stop).ConfigureAwait(false); }
            catch (OperationCanceledException) { return; }
            catch (ObjectDisposedException) { return; }
            catch (System.Net.Sockets.SocketException) { continue; } // an ICMP error about an earlier echo: nothing to do
            await socket.SendToAsync(buffer.AsMemory(0, r.ReceivedBytes), r.RemoteEndPoint, stop).ConfigureAwait(false);
        }
    }

    /// <summary>Serves RFC 863 discard until <paramref name="stop"/>: datagrams are received and thrown away.</summary>
    public static async Task RunDiscardAsync(UdpSocket socket, CancellationToken stop)
    {
        var buffer = new byte[65535];
        while (!stop.IsCancellationRequested)
        {
            try { await socket.ReceiveFromAsync(buffer, stop).ConfigureAwait(false); }
            catch (OperationCanceledException) { return; }
            catch (ObjectDisposedException) { return; }
            catch (System.Net.Sockets.SocketException) { }
        }
    }

}
