using System.Net;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using UserNet.AspNetCore;
using UserNet.Devices;
using UserNet.Hosting;
using UserNet.Sockets;
using UserNet.Stack;
using UserNet.Tcp;
using UserNet.Wire;

namespace UserNet.AspNetCore.Tests;

/// <summary>Two stacks on their own loops over an in-memory link: the server (10.0.0.1) and the client (10.0.0.2).</summary>
public sealed class TwoStacks : IAsyncDisposable
{
    public static readonly IPAddress ServerAddress = IPAddress.Parse("10.0.0.1");
    public static readonly IPAddress ClientAddress = IPAddress.Parse("10.0.0.2");

    public MemoryLinkEnd ServerEnd { get; }
    public MemoryLinkEnd ClientEnd { get; }
    public StackHost Server { get; }
    public StackHost Client { get; }

    private TwoStacks(TcpSettings? tcp)
    {
        (ServerEnd, ClientEnd) = MemoryLink.CreatePair();
        var t = tcp ?? new TcpSettings();
        Server = new StackHost(ServerEnd, new StackOptions { Address = Ipv4Subnet.Parse("10.0.0.1/24"), Mac = MacAddress.Parse("02:00:00:00:00:01"), Name = "server", Tcp = t, Seed = 1 });
        Client = new StackHost(ClientEnd, new StackOptions { Address = Ipv4Subnet.Parse("10.0.0.2/24"), Mac = MacAddress.Parse("02:00:00:00:00:02"), Name = "client", Tcp = t, Seed = 2 });
    }

    public static async Task<TwoStacks> StartAsync(TcpSettings? tcp = null)
    {
        var s = new TwoStacks(tcp);
        await s.Server.StartAsync();
        await s.Client.StartAsync();
        return s;
    }

    /// <summary>Loss on both directions of the link, seeded.</summary>
    public void SetLoss(double rate)
    {
        ServerEnd.LossRate = rate;
        ClientEnd.LossRate = rate;
    }

    public async ValueTask DisposeAsync()
    {
        await Client.DisposeAsync();
        await Server.DisposeAsync();
        ServerEnd.Dispose();
        ClientEnd.Dispose();
    }
}

/// <summary>The test app: the routes the tests ask for, served by Kestrel on a UserNet host.</summary>
public static class TestApp
{
    /// <summary>Byte i of every generated body.</summary>
    public static byte Pattern(long i) => (byte)(i % 251);

    public static byte[] PatternBytes(int n)
    {
        var b = new byte[n];
        for (int i = 0; i < n; i++) b[i] = Pattern(i);
        return b;
    }

    public static string Sha256(byte[] data) => Convert.ToHexString(SHA256.HashData(data));

    /// <summary>Builds and starts the app; <paramref name="configure"/> sets Kestrel's endpoints (port 80 on any address if null).</summary>
    public static async Task<WebApplication> StartAsync(IStackHost host, Action<WebApplicationBuilder>? configure = null, Action<WebApplication>? routes = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUserNet(host);
        if (configure is null) builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Any, 80));
        else configure(builder);
        var app = builder.Build();
        app.MapGet("/", () => "hello from UserNet");
        app.MapGet("/connection", (HttpContext c) => c.Connection.Id);
        app.MapGet("/bytes/{n:int}", async (HttpContext c, int n) =>
        {
            c.Response.ContentType = "application/octet-stream";
            c.Response.ContentLength = n;
            var chunk = new byte[16384];
            for (long sent = 0; sent < n;)
            {
                int len = (int)Math.Min(chunk.Length, n - sent);
                for (int i = 0; i < len; i++) chunk[i] = Pattern(sent + i);
                await c.Response.Body.WriteAsync(chunk.AsMemory(0, len));
                sent += len;
            }
        });
        app.MapPost("/echo", async (HttpContext c) =>
        {
            // The whole body first, then the answer: an HTTP/1.1 client (SocketsHttpHandler, curl) finishes sending
            // before it reads, so echoing as it arrives would stall once both directions' buffers are full.
            var body = new MemoryStream();
            await c.Request.Body.CopyToAsync(body);
            c.Response.ContentType = "application/octet-stream";
            c.Response.ContentLength = body.Length;
            await c.Response.Body.WriteAsync(body.GetBuffer().AsMemory(0, (int)body.Length));
        });
        app.MapGet("/abort", (HttpContext c) => { c.Abort(); return Task.CompletedTask; });
        routes?.Invoke(app);
        await app.StartAsync();
        return app;
    }
}
