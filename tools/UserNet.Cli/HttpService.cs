using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;
using UserNet.AspNetCore;
using UserNet.Core;
using UserNet.Hosting;

namespace UserNet.Cli;

/// <summary>
/// <c>--serve http</c>: an ASP.NET Core app served by Kestrel on the stack (through UserNet.AspNetCore, so no kernel
/// port is bound). <c>GET /</c> a greeting, <c>GET /bytes/{n}</c> n bytes of <see cref="Pattern"/>, <c>POST /echo</c>
/// the body back, <c>GET /counters</c> the stack's counters as JSON.
/// </summary>
internal static class HttpService
{
    public const int DefaultPort = 80;
    /// <summary>The most <c>/bytes/{n}</c> sends: 1 GiB.</summary>
    public const long MaxBytes = 1L << 30;
    /// <summary>The largest body <c>/echo</c> takes (it holds the whole body before answering): 64 MiB.</summary>
    public const int MaxEchoBytes = 64 << 20;

    /// <summary>Byte <paramref name="i"/> of every <c>/bytes/{n}</c> answer: i mod 251 (a prime, so the pattern does not line up with any power-of-two block).</summary>
    public static byte Pattern(long i) => (byte)(i % 251);

    /// <summary>The greeting <c>GET /</c> answers.</summary>
    public static string Greeting(StackHost host) => $"Hello from UserNet, a userspace TCP/IP stack in .NET, at {host.Address.Address} (ASP.NET Core on Kestrel through UserNet.AspNetCore)\n";

    public static async Task<WebApplication> StartAsync(StackHost host, int port)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        builder.WebHost.UseUserNet(host);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(IPAddress.Any, port);
            k.Limits.MaxRequestBodySize = MaxEchoBytes;
        });
        var app = builder.Build();
        app.MapGet("/", () => Results.Text(Greeting(host), "text/plain; charset=utf-8"));
        app.MapGet("/bytes/{n}", (HttpContext c, string n) => SendPatternAsync(c, n));
        app.MapPost("/echo", EchoAsync);
        app.MapGet("/counters", (HttpContext c) =>
        {
            c.Response.ContentType = "application/json";
            return c.Response.WriteAsync(CountersJson(host.Counters));
        });
        await app.StartAsync().ConfigureAwait(false);
        return app;
    }

    private static async Task SendPatternAsync(HttpContext c, string text)
    {
        if (!long.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) || n > MaxBytes)
        {
            c.Response.StatusCode = StatusCodes.Status400BadRequest;
            await c.Response.WriteAsync($"/bytes/{{n}}: n is a number of bytes from 0 to {MaxBytes}\n").ConfigureAwait(false);
            return;
        }
        c.Response.ContentType = "application/octet-stream";
        c.Response.ContentLength = n;
        // 251 * 261 bytes: every chunk starts the pattern afresh, so one buffer serves the whole answer.
        var chunk = new byte[251 * 261];
        for (int i = 0; i < chunk.Length; i++) chunk[i] = Pattern(i);
        for (long sent = 0; sent < n;)
        {
            int len = (int)Math.Min(chunk.Length, n - sent);
            await c.Response.Body.WriteAsync(chunk.AsMemory(0, len), c.RequestAborted).ConfigureAwait(false);
            sent += len;
        }
    }

    /// <summary>
    /// Reads the whole body, then sends it back: an HTTP/1.1 client (curl, HttpClient) finishes sending before it
    /// reads, so echoing as the body arrives would stall once the buffers both ways are full.
    /// </summary>
    private static async Task EchoAsync(HttpContext c)
    {
        var body = new MemoryStream();
        await c.Request.Body.CopyToAsync(body, c.RequestAborted).ConfigureAwait(false);
        c.Response.ContentType = c.Request.ContentType ?? "application/octet-stream";
        c.Response.ContentLength = body.Length;
        await c.Response.Body.WriteAsync(body.GetBuffer().AsMemory(0, (int)body.Length), c.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>{"layers":{"tcp":{"received":..,"sent":..,"dropped":..},..},"drops":{"tcp/bad_checksum":..},"tcp":{"retransmit_rto":..}}, zeros left out of the last two.</summary>
    public static string CountersJson(StackCounters counters)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteStartObject("layers");
            foreach (var l in Enum.GetValues<Layer>())
            {
                w.WriteStartObject(StackCounters.LayerName(l));
                w.WriteNumber("received", counters.ReceivedBy(l));
                w.WriteNumber("sent", counters.SentBy(l));
                w.WriteNumber("dropped", counters.DroppedBy(l));
                w.WriteEndObject();
            }
            w.WriteEndObject();
            w.WriteStartObject("drops");
            for (int i = 0; i < DropReasons.Count; i++)
            {
                var r = (DropReason)i;
                if (counters.DroppedFor(r) is var n and > 0) w.WriteNumber($"{StackCounters.LayerName(DropReasons.LayerOf(r))}/{DropReasons.Tag(r)}", n);
            }
            w.WriteEndObject();
            w.WriteStartObject("tcp");
            foreach (var t in Enum.GetValues<TcpCounter>())
                if (counters.CountOf(t) is var n and > 0) w.WriteNumber(StackCounters.TcpCounterTag(t), n);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(ms.ToArray()) + "\n";
    }
}
