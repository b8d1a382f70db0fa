using System.Diagnostics;
using UserNet.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace UserNet.IntegrationTests;

/// <summary>
/// 20 MiB each way between usernet and the Linux kernel's TCP through random loss of 2%, 5% and 10% each way: the
/// kernel and usernet on a bridge (<see cref="TapWire"/>) that loses that share of the TCP segments crossing it in
/// both directions (nftables), data and ACKs, SYN and FIN alike. What arrives must be what was sent, byte for byte.
/// Each test has 240 s, so a sender that collapses under loss fails with how much had arrived, and does not hang.
/// </summary>
[Collection("tcp")]
public sealed class LossyTcpTests : IClassFixture<LossyTcpTests.Source>
{
    private const string Tap = "ut0";
    private const string KernelIp = "10.86.0.1";
    private const string StackIp = "10.86.0.2";
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(240);

    private readonly Source _source;
    private readonly ITestOutputHelper _output;

    public LossyTcpTests(Source source, ITestOutputHelper output)
    {
        _source = source;
        _output = output;
    }

    private static string Usernet => string.Join(' ', UsernetCli.Command);

    [Theory]
    [InlineData(2)]
    [InlineData(5)]
    [InlineData(10)]
    public void Twenty_MiB_sent_by_usernet_reach_the_kernel_intact_through_random_loss_each_way(int lossPercent)
    {
        using var net = TapWire.Create($"lossy-u2k{lossPercent}", Tap, KernelIp + "/24");
        net.Wire.AddRandomTcpLoss(lossPercent);
        var received = Path.GetTempFileName();
        try
        {
            var clock = Stopwatch.StartNew();
            var kernel = net.Kernel.Start("sh", "-c", $"exec nc -l -N {KernelIp} 5000 > {received} < /dev/null");
            net.Kernel.WaitForListen(5000);
            var sender = RunWithin(received, net, () => net.Wire.Exec(Left(clock), "sh", "-c",
                $"{Usernet} nc --tap {Tap} --ip {StackIp}/24 {KernelIp} 5000 < {_source.Path}"));
            Assert.True(sender.ExitCode == 0, $"usernet nc failed ({sender.ExitCode}): {sender.Stderr}");
            // usernet's connection ends with its process: what has not arrived soon after it exits never will.
            var senderDone = clock.Elapsed;
            var arrivedThen = Arrived(received);
            Assert.True(kernel.Process.WaitForExit(Min(Left(clock), TimeSpan.FromSeconds(10))),
                $"usernet nc exited 0 after {senderDone.TotalSeconds:F1} s, when {arrivedThen}, and 10 s later the kernel's nc "
                + $"still waited for the rest ({Arrived(received, net)}): usernet nc quit before its data was delivered");
            Assert.True(kernel.Process.ExitCode == 0, $"the kernel's nc failed ({kernel.Process.ExitCode}): {kernel.Errors}");
            AssertIntact(received);
            Report("usernet -> kernel", lossPercent, clock, net);
        }
        finally { File.Delete(received); }
    }

    [Theory]
    [InlineData(2)]
    [InlineData(5)]
    [InlineData(10)]
    public void Twenty_MiB_sent_by_the_kernel_reach_usernet_intact_through_random_loss_each_way(int lossPercent)
    {
        using var net = TapWire.Create($"lossy-k2u{lossPercent}", Tap, KernelIp + "/24");
        net.Wire.AddRandomTcpLoss(lossPercent);
        var received = Path.GetTempFileName();
        try
        {
            var clock = Stopwatch.StartNew();
            var stack = net.Wire.Start("sh", "-c",
                $"exec {Usernet} nc --tap {Tap} --ip {StackIp}/24 -l 5001 -v > {received} < /dev/null");
            stack.WaitFor("listening on tcp", stderr: true, TimeSpan.FromSeconds(30));
            // The kernel's nc exits once its bytes are in its socket and usernet has closed; the kernel delivers the rest.
            var sender = RunWithin(received, net, () => net.Kernel.Exec(Left(clock), "sh", "-c", $"nc -N {StackIp} 5001 < {_source.Path}"));
            Assert.True(sender.ExitCode == 0, $"the kernel's nc failed ({sender.ExitCode}): {sender.Stderr}");
            var senderDone = clock.Elapsed;
            Assert.True(stack.Process.WaitForExit(Left(clock)),
                $"usernet nc did not see the end of the stream in {Limit.TotalSeconds} s (the kernel's nc had handed over "
                + $"its last byte after {senderDone.TotalSeconds:F1} s); {Arrived(received, net)}; stderr: {stack.Errors}");
            Assert.True(stack.Process.ExitCode == 0, $"usernet nc failed ({stack.Process.ExitCode}): {stack.Errors}");
            AssertIntact(received);
            Report("kernel -> usernet", lossPercent, clock, net);
        }
        finally { File.Delete(received); }
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private static TimeSpan Left(Stopwatch clock) => Limit - clock.Elapsed > TimeSpan.Zero ? Limit - clock.Elapsed : TimeSpan.Zero;

    /// <summary>Runs the sending side; if it is not done in time, fails with how much had arrived.</summary>
    private Shell.Result RunWithin(string received, TapWire net, Func<Shell.Result> send)
    {
        try { return send(); }
        catch (TimeoutException) { throw new Xunit.Sdk.XunitException($"not sent within {Limit.TotalSeconds} s; {Arrived(received, net)}"); }
    }

    private string Arrived(string received) =>
        $"{new FileInfo(received).Length / 1048576.0:F1} of {_source.Length / 1048576.0:F1} MiB had arrived";

    /// <summary>For a failure: how much arrived, and how much the bridge lost on the way.</summary>
    private string Arrived(string received, TapWire net)
    {
        try
        {
            var (seen, dropped) = net.Wire.TcpLossCounts();
            return $"{Arrived(received)}; the bridge had lost {dropped} of {seen} TCP segments";
        }
        catch (InvalidOperationException e) { return $"{Arrived(received)}; the loss counters were unreadable ({e.Message.Trim()})"; }
    }

    /// <summary>Byte for byte: the length, and where the first difference is if there is one.</summary>
    private void AssertIntact(string received)
    {
        var got = File.ReadAllBytes(received);
        var want = File.ReadAllBytes(_source.Path);
        var common = Math.Min(got.Length, want.Length);
        var first = want.AsSpan(0, common).CommonPrefixLength(got.AsSpan(0, common));
        Assert.True(got.Length == want.Length && first == common,
            $"received {got.Length} of {want.Length} bytes; " + (first < common ? $"they differ from byte {first}" : "what arrived is a prefix"));
    }

    private void Report(string direction, int lossPercent, Stopwatch clock, TapWire net)
    {
        var (seen, dropped) = net.Wire.TcpLossCounts();
        _output.WriteLine($"{direction}, {lossPercent}% loss each way: {_source.Length >> 20} MiB intact in {clock.Elapsed.TotalSeconds:F1} s; "
            + $"the bridge lost {dropped} of {seen} TCP segments ({100.0 * dropped / Math.Max(seen, 1):F1}%)");
    }

    /// <summary>20 MiB of random bytes (a fixed seed) in a file, shared by the tests of the class and deleted after them.</summary>
    public sealed class Source : IDisposable
    {
        public Source()
        {
            Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"usernet-lossy-src-{Environment.ProcessId}");
            var data = new byte[Length];
            new Random(20).NextBytes(data);
            File.WriteAllBytes(Path, data);
        }

        public int Length => 20 << 20;
        public string Path { get; }

        public void Dispose() => File.Delete(Path);
    }
}
