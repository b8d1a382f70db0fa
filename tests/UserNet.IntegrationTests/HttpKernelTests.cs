using System.Security.Cryptography;
using UserNet.TestSupport;
using Xunit;

namespace UserNet.IntegrationTests;

/// <summary>
/// <c>usernet up --serve http</c>: ASP.NET Core served by the stack on a real TAP, asked by the kernel's curl inside
/// a namespace the test makes.
/// </summary>
[Collection("tcp")]
public sealed class HttpKernelTests
{
    private const string Tap = "uh0";
    private const string KernelIp = "10.84.0.1";
    private const string StackIp = "10.84.0.2";
    private static readonly TimeSpan UpTimeout = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData("http:0", "the http service takes a port from 1 to 65535")]
    [InlineData("http:eighty", "the http service takes a port from 1 to 65535")]
    [InlineData("http,http:8080", "give the http service once")]
    [InlineData("gopher", "unknown service 'gopher' (known: echo, discard, chargen, iperf3, http, http:PORT, none)")]
    public void A_bad_http_service_gets_one_clear_line_and_exit_2(string serve, string expected)
    {
        var r = Shell.Run(UsernetCli.Command[0], [.. UsernetCli.Command[1..], "up", "--tap", "t0", "--ip", "10.0.0.2/24", "--serve", serve], TimeSpan.FromSeconds(60));
        Assert.Equal(2, r.ExitCode);
        var lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"expected one line, got:\n{r.Stderr}");
        Assert.Contains(expected, lines[0]);
    }

    [Fact]
    public void Http_on_a_port_another_service_has_gets_one_clear_line_and_exit_2()
    {
        using var ns = TestNamespace.Create("httpbusy");
        ns.AddTap(Tap, KernelIp + "/24");
        var r = ns.Exec(TimeSpan.FromSeconds(60), [.. UsernetCli.Command, "up", "--tap", Tap, "--ip", StackIp + "/24", "--serve", "echo,http:7"]);
        Assert.Equal(2, r.ExitCode);
        var lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"expected one line, got:\n{r.Stderr}");
        Assert.Contains("--serve http:", lines[0]);
        Assert.DoesNotContain("   at ", r.Stderr + r.Stdout);
    }

    [Fact]
    public void Curl_GetsTheGreeting_TenMegabytes_AndEchoesOneMegabyte()
    {
        using var ns = TestNamespace.Create("http");
        ns.AddTap(Tap, KernelIp + "/24");
        var up = ns.StartUsernet("up", "--tap", Tap, "--ip", StackIp + "/24", "--serve", "echo,http");
        var line = up.WaitForLine("usernet: up", UpTimeout);
        Assert.Contains("serving echo,http", line);

        var greeting = ns.Exec(TimeSpan.FromSeconds(60), "curl", "-sS", "--max-time", "30", $"http://{StackIp}/");
        Assert.True(greeting.ExitCode == 0, greeting.Stderr);
        Assert.StartsWith($"Hello from UserNet, a userspace TCP/IP stack in .NET, at {StackIp}", greeting.Stdout);

        // GET /bytes/N: byte i is i mod 251.
        const int n = 10_000_000;
        var expected = new byte[n];
        for (int i = 0; i < n; i++) expected[i] = (byte)(i % 251);
        var bytes = ns.Exec(TimeSpan.FromSeconds(120), "sh", "-c", $"curl -sS --max-time 100 http://{StackIp}/bytes/{n} | sha256sum");
        Assert.True(bytes.ExitCode == 0, bytes.Stderr);
        Assert.Equal(Convert.ToHexString(SHA256.HashData(expected)).ToLowerInvariant(), bytes.Stdout.Split(' ')[0]);

        // POST /echo of 1 MB: what comes back is what was sent.
        var file = Path.Combine(Path.GetTempPath(), $"usernet-http-{Environment.ProcessId}");
        var body = new byte[1 << 20];
        new Random(12).NextBytes(body);
        File.WriteAllBytes(file, body);
        try
        {
            var echo = ns.Exec(TimeSpan.FromSeconds(120), "sh", "-c",
                $"curl -sS --max-time 100 -H 'Content-Type: application/octet-stream' --data-binary @{file} http://{StackIp}/echo | sha256sum");
            Assert.True(echo.ExitCode == 0, echo.Stderr);
            Assert.Equal(Convert.ToHexString(SHA256.HashData(body)).ToLowerInvariant(), echo.Stdout.Split(' ')[0]);
        }
        finally { File.Delete(file); }

        var counters = ns.Exec(TimeSpan.FromSeconds(60), "curl", "-sS", "--max-time", "30", $"http://{StackIp}/counters");
        Assert.True(counters.ExitCode == 0, counters.Stderr);
        using (var json = System.Text.Json.JsonDocument.Parse(counters.Stdout))
            Assert.True(json.RootElement.GetProperty("layers").GetProperty("tcp").GetProperty("received").GetInt64() > 0);

        // Nothing was bound on the kernel: the port is the stack's alone.
        Assert.DoesNotContain(":80 ", ns.Exec(TimeSpan.FromSeconds(10), "ss", "-ltn").Stdout);
        Assert.Equal(0, up.Terminate(UpTimeout));
    }
}
