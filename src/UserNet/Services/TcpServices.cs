using System.Buffers;
using System.IO.Pipelines;
using UserNet.Tcp;

namespace UserNet.Services;

/// <summary>The built-in TCP services: echo (RFC 862), discard (RFC 863), chargen (RFC 864).</summary>
public static class TcpServices
{
    public const int EchoPort = 7, DiscardPort = 9, ChargenPort = 19;

    /// <summary>Accepts connections until <paramref name="stop"/> and serves each with <paramref name="serve"/>.</summary>
    public static async Task RunAsync(TcpListener listener, Func<TcpConnection, CancellationToken, Task> serve, CancellationToken stop)
    {
        var sessions = new List<Task>();
        while (!stop.IsCancellationRequested)
        {
            TcpConnection c;
            try { c = await listener.AcceptAsync(stop).ConfigureAwait(false); }
            catch (OperationCanceledException) { break; }
            catch (ObjectDisposedException) { break; }
            sessions.RemoveAll(t => t.IsCompleted);
            sessions.Add(Task.Run(async () =>
            {
                try { await serve(c, stop).ConfigureAwait(false); }
                catch (Exception) when (c.State is TcpState.Closed || stop.IsCancellationRequested) { } // reset or stopping
                finally { await c.CloseAsync().ConfigureAwait(false); }
            }));
        }
        try { await Task.WhenAll(sessions).ConfigureAwait(false); } catch (Exception) { }
    }

    /// <summary>RFC 862: send back everything received; close when the client does.</summary>
    public static async Task EchoAsync(TcpConnection c, CancellationToken stop)
    {
        await c.Input.CopyToAsync(c.Output, stop).ConfigureAwait(false);
        await c.Output.CompleteAsync().ConfigureAwait(false);
    }

    /// <summary>RFC 863: read and throw away; close when the client does.</summary>
    public static async Task DiscardAsync(TcpConnection c, CancellationToken stop)
    {
        while (true)
        {
            var r = await c.Input.ReadAsync(stop).ConfigureAwait(false);
            c.Input.AdvanceTo(r.Buffer.End);
            if (r.IsCompleted) break;
        }
        await c.Output.CompleteAsync().ConfigureAwait(false);
    }

    /// <summary>RFC 864: lines of 72 printable characters, each starting one further along, until the client goes.</summary>
    public static async Task ChargenAsync(TcpConnection c, CancellationToken stop)
    {
        const int Printable = 95, LineLength = 72;
        var drain = DiscardAsync(c, stop); // input is ignored; its end (or a reset) ends the service
        int start = 0;
        while (!drain.IsCompleted && !stop.IsCancellationRequested)
        {
            var span = c.Output.GetSpan(LineLength + 2);
            for (int i = 0; i < LineLength; i++) span[i] = (byte)(' ' + (start + i) % Printable);
            span[LineLength] = (byte)'\r';
            span[LineLength + 1] = (byte)'\n';
            c.Output.Advance(LineLength + 2);
            start = (start + 1) % Printable;
            if (start % 16 == 0)
            {
                var f = await c.Output.FlushAsync(stop).ConfigureAwait(false);
                if (f.IsCompleted) break;
            }
        }
        await drain.ConfigureAwait(false);
    }
}
