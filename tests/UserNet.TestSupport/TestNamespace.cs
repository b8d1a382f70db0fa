using System.Diagnostics;
using System.Text;

namespace UserNet.TestSupport;

/// <summary>
/// A Linux network namespace made for one test and deleted with it (also when the test fails). Every command runs
/// as a whole process inside it (ip netns exec), so no packet of the test leaves it.
/// </summary>
public sealed class TestNamespace : IDisposable
{
    private readonly List<Process> _started = new();

    private TestNamespace(string name) => Name = name;

    public string Name { get; }

    /// <param name="purpose">A word for the test, part of the namespace's name.</param>
    /// <param name="prefix">The name's start; CI deletes leftovers with these prefixes before it runs (.ci/run).</param>
    public static TestNamespace Create(string purpose, string prefix = "untest")
    {
        if (Tmds.Linux.LibC.geteuid() != 0)
            throw new InvalidOperationException("these tests need root (they create network namespaces and TAP devices)");
        var name = $"{prefix}-{purpose}-{Guid.NewGuid().ToString("N")[..8]}";
        Shell.Check("ip", "netns", "add", name);
        var ns = new TestNamespace(name);
        try { ns.Check("ip", "link", "set", "lo", "up"); }
        catch { ns.Dispose(); throw; }
        return ns;
    }

    /// <summary>Creates a TAP with the kernel's side addressed <paramref name="kernelCidr"/>, IPv6 off so the kernel stays quiet.</summary>
    public void AddTap(string tap, string kernelCidr)
    {
        Check("ip", "tuntap", "add", "dev", tap, "mode", "tap");
        Check("sh", "-c", $"echo 1 > /proc/sys/net/ipv6/conf/{tap}/disable_ipv6");
        Check("ip", "link", "set", tap, "up");
        Check("ip", "addr", "add", kernelCidr, "dev", tap);
    }

    /// <summary>
    /// Loses <paramref name="percent"/>% of the TCP segments that a bridge in this namespace forwards, each way, each
    /// segment on its own at random (nftables, bridge family, forward hook; steps of 0.1%). ARP and everything else
    /// pass. Loss on the forward path is loss on the wire for both ends: neither TCP learns of it but by its absence.
    /// (An output rule in the sending kernel's own namespace would not be: its TCP sees the refused segment as a failed
    /// send and sends it again at once, so a kernel sender would lose nothing.) <see cref="TapWire"/> makes such a
    /// bridge between the kernel and usernet.
    /// </summary>
    public void AddRandomTcpLoss(double percent)
    {
        var permille = (int)Math.Round(percent * 10);
        if (permille is < 1 or > 1000 || Math.Abs(permille - percent * 10) > 1e-9)
            throw new ArgumentOutOfRangeException(nameof(percent), percent, "0.1 to 100, in steps of 0.1");
        var rules = $$"""
            table bridge usernet_test_loss {
              chain forward {
                type filter hook forward priority 0; policy accept;
                meta l4proto tcp counter numgen random mod 1000 < {{permille}} counter drop
              }
            }
            """;
        var file = Path.GetTempFileName();
        File.WriteAllText(file, rules);
        try { Check(Shell.ToolPath("nft"), "-f", file); } finally { File.Delete(file); }
    }

    /// <summary>What the rules of <see cref="AddRandomTcpLoss"/> have counted so far: TCP segments forwarded and lost.</summary>
    public (long Seen, long Dropped) TcpLossCounts()
    {
        var listing = Check(Shell.ToolPath("nft"), "list", "table", "bridge", "usernet_test_loss").Stdout;
        var packets = System.Text.RegularExpressions.Regex.Matches(listing, @"packets (\d+)").Select(m => long.Parse(m.Groups[1].Value)).ToArray();
        return (packets[0], packets[1]);
    }

    /// <summary>Waits until something in this namespace listens on the TCP <paramref name="port"/> (ss, from iproute2).</summary>
    public void WaitForListen(int port, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (DateTime.UtcNow < deadline)
        {
            if (Exec(TimeSpan.FromSeconds(10), "ss", "-Hltn", $"sport = :{port}").Stdout.Trim().Length > 0) return;
            Thread.Sleep(20);
        }
        throw new TimeoutException($"nothing listens on TCP port {port} in {Name}");
    }

    public Shell.Result Exec(TimeSpan timeout, params string[] args) =>
        Shell.Run("ip", ["netns", "exec", Name, .. args], timeout);

    public Shell.Result Exec(params string[] args) => Exec(TimeSpan.FromSeconds(60), args);

    public Shell.Result Check(params string[] args)
    {
        var r = Exec(TimeSpan.FromSeconds(60), args);
        if (r.ExitCode != 0) throw new InvalidOperationException($"{string.Join(' ', args)} failed ({r.ExitCode}): {r.Stderr}{r.Stdout}");
        return r;
    }

    /// <summary>Starts the usernet CLI inside the namespace, collecting its output as it comes.</summary>
    public UsernetProcess StartUsernet(params string[] args) => Start([.. UsernetCli.Command, .. args]);

    /// <summary>
    /// Starts any command inside the namespace, collecting its output as it comes; it is killed at <see cref="Dispose"/>
    /// if it still runs.
    /// </summary>
    public UsernetProcess Start(params string[] args)
    {
        var p = UsernetProcess.Start(["ip", "netns", "exec", Name, .. args]);
        _started.Add(p.Process);
        return p;
    }

    public void Dispose()
    {
        foreach (var p in _started)
        {
            try { if (!p.HasExited) p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
        }
        // Whatever else still runs in here (a test's kernel nc, started some other way) belongs to the test too.
        var left = Shell.Run("ip", ["netns", "pids", Name], TimeSpan.FromSeconds(30)).Stdout
            .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var pid in left)
            if (int.TryParse(pid, out var id)) Tmds.Linux.LibC.kill(id, Tmds.Linux.LibC.SIGKILL);
        Shell.Run("ip", ["netns", "del", Name], TimeSpan.FromSeconds(30));
    }
}

/// <summary>A running usernet process whose output lines are collected as they come.</summary>
public sealed class UsernetProcess
{
    private readonly StringBuilder _out = new();
    private readonly StringBuilder _err = new();

    private UsernetProcess(Process p) => Process = p;

    public Process Process { get; }
    public string Output { get { lock (_out) return _out.ToString(); } }
    public string Errors { get { lock (_err) return _err.ToString(); } }

    public static UsernetProcess Start(string[] command)
    {
        var psi = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in command[1..]) psi.ArgumentList.Add(a);
        var p = new Process { StartInfo = psi };
        var u = new UsernetProcess(p);
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (u._out) u._out.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (u._err) u._err.AppendLine(e.Data); };
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return u;
    }

    /// <summary>Waits until a line starting with <paramref name="prefix"/> has been printed; returns it.</summary>
    public string WaitForLine(string prefix, TimeSpan timeout)
    {
        var until = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < until)
        {
            var line = Output.Split('\n').FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal));
            if (line is not null) return line.TrimEnd('\r');
            if (Process.HasExited) break;
            Thread.Sleep(20);
        }
        throw new TimeoutException($"no line starting '{prefix}' (exited: {Process.HasExited}); stdout:\n{Output}\nstderr:\n{Errors}");
    }

    /// <summary>Waits until <paramref name="text"/> appears anywhere in what it printed (stdout, or stderr).</summary>
    public void WaitFor(string text, bool stderr = false, TimeSpan? timeout = null)
    {
        var until = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (DateTime.UtcNow < until)
        {
            if ((stderr ? Errors : Output).Contains(text)) return;
            if (Process.HasExited) break;
            Thread.Sleep(20);
        }
        throw new TimeoutException($"no '{text}'; stdout:\n{Output}\nstderr:\n{Errors}");
    }

    /// <summary>Sends SIGTERM (as Ctrl-C or systemd would) and waits for a clean exit.</summary>
    public int Terminate(TimeSpan? timeout = null)
    {
        // ip netns exec replaces itself with the command, so this pid is usernet's.
        Tmds.Linux.LibC.kill(Process.Id, Tmds.Linux.LibC.SIGTERM);
        if (!Process.WaitForExit(timeout ?? TimeSpan.FromSeconds(30))) throw new TimeoutException("usernet did not exit after SIGTERM");
        Process.WaitForExit(); // drain the output handlers
        return Process.ExitCode;
    }
}
