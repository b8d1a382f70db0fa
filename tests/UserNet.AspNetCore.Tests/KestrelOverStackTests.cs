using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using UserNet.Sockets;
using UserNet.Tcp;

namespace UserNet.AspNetCore.Tests;

/// <summary>Kestrel served by one stack, HttpClient on another, over an in-memory link.</summary>
public class KestrelOverStackTests
{
    private static readonly Uri Server = new("http://10.0.0.1/");

    private static HttpClient Client(TwoStacks net, TimeSpan? timeout = null) =>
        new(StackHttp.CreateHandler(net.Client)) { BaseAddress = Server, Timeout = timeout ?? TimeSpan.FromSeconds(60) };

    [Fact]
    public async Task Get_SmallText()
    {
        await using var net = await TwoStacks.StartAsync();
        await using var app = await TestApp.StartAsync(net.Server);
        using var http = Client(net);
        Assert.Equal("hello from UserNet", await http.GetStringAsync("/"));
    }

    [Fact]
    public async Task Get10MB_Through5PercentLoss_Intact()
    {
        await using var net = await TwoStacks.StartAsync();
        await using var app = await TestApp.StartAsync(net.Server);
        using var http = Client(net);
        net.SetLoss(0.05);
        var body = await http.GetByteArrayAsync("/bytes/10000000");
        Assert.Equal(10_000_000, body.Length);
        Assert.Equal(TestApp.Sha256(TestApp.PatternBytes(10_000_000)), TestApp.Sha256(body));
        Assert.True(net.ServerEnd.Lost > 0, "the link lost nothing: the test did not test loss");
    }

    [Fact]
    public async Task Post10MB_Through5PercentLoss_EchoedIntact()
    {
        await using var net = await TwoStacks.StartAsync();
        await using var app = await TestApp.StartAsync(net.Server);
        using var http = Client(net);
        net.SetLoss(0.05);
        var sent = new byte[10_000_000];
        new Random(7).NextBytes(sent);
        using var response = await http.PostAsync("/echo", new ByteArrayContent(sent));
        response.EnsureSuccessStatusCode();
        var back = await response.Content.ReadAsByteArrayAsync();
        Assert.Equal(TestApp.Sha256(sent), TestApp.Sha256(back));
        Assert.True(net.ClientEnd.Lost > 0 && net.ServerEnd.Lost > 0, "the link lost nothing one way: the test did not test loss");
    }

    [Fact]
    public async Task KeepAlive_TwoSequentialRequests_ShareOneConnection()
    {
        await using var net = await TwoStacks.StartAsync();
        await using var app = await TestApp.StartAsync(net.Server);
        using var http = Client(net);
        var first = await http.GetStringAsync("/connection");
        var second = await http.GetStringAsync("/connection");
        Assert.StartsWith("usernet-", first);
        Assert.Equal(first, second);
    }

    [Fact]
    public async Task ServerAbortsRequest_ClientGetsHttpRequestExceptionWithIOException()
    {
        await using var net = await TwoStacks.StartAsync();
        await using var app = await TestApp.StartAsync(net.Server);
        using var http = Client(net);
        var e = await Assert.ThrowsAsync<HttpRequestException>(() => http.GetAsync("/abort"));
        Assert.True(Chain(e).OfType<IOException>().Any(), $"no IOException in {e}");
        // The connection was reset, not reused: the next request opens a new one and works.
        Assert.Equal("hello from UserNet", await http.GetStringAsync("/"));
    }

    [Fact]
    public async Task ClientResetsDuringBody_RequestAbortedFiresOnServer()
    {
        await using var net = await TwoStacks.StartAsync();
        var aborted = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var app = await TestApp.StartAsync(net.Server, routes: a => a.MapPost("/slow", async (HttpContext c) =>
        {
            try
            {
                var buffer = new byte[4096];
                while (await c.Request.Body.ReadAsync(buffer) > 0) { }
                aborted.TrySetResult(null);
            }
            catch (Exception e) { aborted.TrySetResult(e); }
        }));
        var conn = await TcpConnection.ConnectAsync(net.Client, new IPEndPoint(TwoStacks.ServerAddress, 80));
        var head = "POST /slow HTTP/1.1\r\nHost: 10.0.0.1\r\nContent-Length: 100000\r\n\r\n" + new string('x', 1000);
        await conn.Output.WriteAsync(Encoding.ASCII.GetBytes(head));
        await Task.Delay(200);
        conn.Abort();
        var error = await aborted.Task.WaitAsync(TimeSpan.FromSeconds(10));
        // The body ends by the reset, not at its end, and the app sees it as over Kestrel's sockets transport.
        var reset = Assert.IsType<Microsoft.AspNetCore.Connections.ConnectionResetException>(error);
        Assert.Equal(SocketError.ConnectionReset, Assert.IsType<SocketException>(reset.InnerException).SocketErrorCode);
    }

    [Fact]
    public async Task CutLink_EndsInTheClientsTimeout()
    {
        await using var net = await TwoStacks.StartAsync();
        await using var app = await TestApp.StartAsync(net.Server, routes: a => a.MapGet("/drip", async (HttpContext c) =>
        {
            c.Response.ContentLength = 100_000_000;
            var chunk = new byte[65536];
            for (int i = 0; i < 100_000_000 / chunk.Length && !c.RequestAborted.IsCancellationRequested; i++)
            {
                await c.Response.Body.WriteAsync(chunk, c.RequestAborted);
                if (i == 20) { net.SetLoss(1); } // the cable is pulled mid-response
            }
        }));
        using var http = Client(net, TimeSpan.FromSeconds(3));
        var started = DateTime.UtcNow;
        var e = await Assert.ThrowsAsync<TaskCanceledException>(() => http.GetByteArrayAsync("/drip"));
        Assert.IsType<TimeoutException>(e.InnerException);
        Assert.InRange(DateTime.UtcNow - started, TimeSpan.FromSeconds(2.5), TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task HundredConcurrentRequests_AllAnswered()
    {
        await using var net = await TwoStacks.StartAsync();
        await using var app = await TestApp.StartAsync(net.Server);
        using var http = Client(net);
        var answers = await Task.WhenAll(Enumerable.Range(0, 100).Select(i => http.GetByteArrayAsync($"/bytes/{1000 + i}")));
        for (int i = 0; i < 100; i++) Assert.Equal(TestApp.Sha256(TestApp.PatternBytes(1000 + i)), TestApp.Sha256(answers[i]));
    }

    [Fact]
    public async Task ListenOnAForeignAddress_FailsClearlyAtStart()
    {
        await using var net = await TwoStacks.StartAsync();
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            TestApp.StartAsync(net.Server, b => b.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Parse("10.9.9.9"), 80))));
        Assert.Equal("10.9.9.9 is not an address of this UserNet host (10.0.0.1/24).", e.Message);
    }

    [Fact]
    public async Task ListenOnTheHostsOwnAddress_Serves()
    {
        await using var net = await TwoStacks.StartAsync();
        await using var app = await TestApp.StartAsync(net.Server, b => b.WebHost.ConfigureKestrel(k => k.Listen(TwoStacks.ServerAddress, 80)));
        using var http = Client(net);
        Assert.Equal("hello from UserNet", await http.GetStringAsync("/"));
    }

    [Theory]
    [InlineData("any-ip")]
    [InlineData("http://*:0")]
    [InlineData("http://server:0")]
    public async Task PortZero_AnEphemeralPortIsReportedAndServes(string how)
    {
        await using var net = await TwoStacks.StartAsync();
        await using var app = await TestApp.StartAsync(net.Server, b =>
        {
            if (how == "any-ip") b.WebHost.ConfigureKestrel(k => k.ListenAnyIP(0));
            else b.WebHost.UseUrls(how);
        });
        var address = Assert.Single(app.Services.GetService(typeof(IServer)) is IServer s ? s.Features.Get<IServerAddressesFeature>()!.Addresses : []);
        var uri = new Uri(address);
        Assert.InRange(uri.Port, 49152, 65535);
        using var http = Client(net);
        Assert.Equal("hello from UserNet", await http.GetStringAsync($"http://10.0.0.1:{uri.Port}/"));
    }

    [Fact]
    public async Task UseUrlsStarPort80_Serves()
    {
        await using var net = await TwoStacks.StartAsync();
        await using var app = await TestApp.StartAsync(net.Server, b => b.WebHost.UseUrls("http://*:80"));
        using var http = Client(net);
        Assert.Equal("hello from UserNet", await http.GetStringAsync("/"));
    }

    [Fact]
    public async Task TheKernelsPortStaysFree()
    {
        int port;
        using (var probe = new TcpListener(IPAddress.Any, 0)) { probe.Start(); port = ((IPEndPoint)probe.LocalEndpoint).Port; probe.Stop(); }
        await using var net = await TwoStacks.StartAsync();
        await using var app = await TestApp.StartAsync(net.Server, b => b.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Any, port)));
        using var kernel = new TcpListener(IPAddress.Any, port);
        kernel.Start(); // Kestrel's sockets transport would hold the port: this would throw AddressAlreadyInUse
        kernel.Stop();
        using var http = Client(net);
        Assert.Equal("hello from UserNet", await http.GetStringAsync($"http://10.0.0.1:{port}/"));
    }

    [Fact]
    public async Task StackHttp_WithoutResolver_ANameFailsAsDnsDoes()
    {
        await using var net = await TwoStacks.StartAsync();
        using var http = Client(net);
        var e = await Assert.ThrowsAsync<HttpRequestException>(() => http.GetAsync("http://server/"));
        var inner = Assert.IsType<SocketException>(e.InnerException);
        Assert.Equal(SocketError.HostNotFound, inner.SocketErrorCode);
    }

    [Fact]
    public async Task StackHttp_WithResolver_ANameConnects()
    {
        await using var net = await TwoStacks.StartAsync();
        await using var app = await TestApp.StartAsync(net.Server);
        using var http = new HttpClient(StackHttp.CreateHandler(net.Client, (name, _) =>
            name == "server" ? ValueTask.FromResult(TwoStacks.ServerAddress) : throw new SocketException((int)SocketError.HostNotFound)));
        Assert.Equal("hello from UserNet", await http.GetStringAsync("http://server/"));
    }

    [Fact]
    public async Task StackHttp_ConnectionRefused_IsAnHttpRequestExceptionWithTheSocketError()
    {
        await using var net = await TwoStacks.StartAsync();
        using var http = Client(net);
        var e = await Assert.ThrowsAsync<HttpRequestException>(() => http.GetAsync("http://10.0.0.1:81/"));
        Assert.Equal(SocketError.ConnectionRefused, Assert.IsType<SocketException>(e.InnerException).SocketErrorCode);
    }

    [Fact]
    public async Task StackHttp_CancelDuringConnect_AbortsTheAttempt()
    {
        await using var net = await TwoStacks.StartAsync();
        using var http = Client(net);
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        var started = DateTime.UtcNow;
        // Nobody has 10.0.0.9: the SYN waits on ARP, then would retry for a minute.
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => http.GetAsync("http://10.0.0.9/", cts.Token));
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(5));
    }

    private static IEnumerable<Exception> Chain(Exception e)
    {
        for (Exception? x = e; x is not null; x = x.InnerException) yield return x;
    }
}
