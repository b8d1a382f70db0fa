using System.Diagnostics;
using UserNet.Capture;

namespace UserNet.Trace.Tests;

/// <summary>Where the fixtures and captures are, and how to run tcpdump, tshark and the CLI.</summary>
internal static class Repo
{
    public static readonly string Root = FindRoot();
    public static string Fixture(string name) => Path.Combine(Root, "tests", "UserNet.Trace.Tests", "Fixtures", name);
    public static string Captures => Path.Combine(Root, "captures");

    private static string FindRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "UserNet.sln"))) return d.FullName;
        throw new InvalidOperationException("cannot find the repository root (UserNet.sln) above " + AppContext.BaseDirectory);
    }

    public static List<CaptureRecord> ReadAll(string path)
    {
        using var r = CaptureFile.Open(path);
        var list = new List<CaptureRecord>();
        while (r.Read() is { } rec) list.Add(rec);
        return list;
    }

    public static string[] Lines(string text) => text.Replace("\r\n", "\n").TrimEnd('\n').Split('\n');
}

internal static class Shell
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    public static Result Run(string file, IEnumerable<string> args, TimeSpan? timeout = null, IDictionary<string, string>? env = null)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (env is not null) foreach (var (k, v) in env) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout ?? TimeSpan.FromSeconds(60)))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish");
        }
        return new Result(p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>Runs a tool the tests compare against (tcpdump, tshark); CI installs them (scripts/install-test-deps.sh).</summary>
    public static Result Tool(string tool, params string[] args)
    {
        var path = new[] { "/usr/bin/", "/usr/sbin/", "/bin/", "/sbin/" }.Select(d => d + tool).FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException($"{tool} is not installed (scripts/install-test-deps.sh installs it)");
        return Run(path, args, env: new Dictionary<string, string> { ["TZ"] = "UTC" });
    }

    /// <summary>The usernet CLI built next to the tests.</summary>
    public static Result Usernet(params string[] args) => Run(Cli.Command[0], [.. Cli.Command[1..], .. args], env: new Dictionary<string, string> { ["TZ"] = "UTC" });
}

internal static class Cli
{
    public static string[] Command
    {
        get
        {
            var dll = Path.Combine(AppContext.BaseDirectory, "UserNet.Cli.dll");
            var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
            if (string.IsNullOrEmpty(dotnet) || !File.Exists(dotnet)) dotnet = "dotnet";
            return [dotnet, dll];
        }
    }
}

/// <summary>
/// A network namespace made for one test, with a TAP whose kernel side is addressed, deleted with the test (also
/// on failure). Every command runs as a whole process inside it, so no packet leaves it.
/// </summary>
internal sealed class LiveNamespace : IDisposable
{
    private readonly List<Process> _started = new();
    public string Name { get; }

    private LiveNamespace(string name) => Name = name;

    public static LiveNamespace WithTap(string purpose, string kernelCidr)
    {
        if (Environment.UserName != "root") throw new InvalidOperationException("this test needs root (network namespaces and TAPs)");
        var ns = new LiveNamespace($"untrace-{purpose}-{Guid.NewGuid().ToString("N")[..8]}");
        var add = Shell.Run("ip", ["netns", "add", ns.Name]);
        if (add.ExitCode != 0) throw new InvalidOperationException("ip netns add failed: " + add.Stderr);
        try
        {
            ns.Check("ip", "link", "set", "lo", "up");
            ns.Check("ip", "tuntap", "add", "dev", "tap0", "mode", "tap");
            ns.Check("sh", "-c", "echo 1 > /proc/sys/net/ipv6/conf/tap0/disable_ipv6");
            ns.Check("ip", "link", "set", "tap0", "up");
            ns.Check("ip", "addr", "add", kernelCidr, "dev", "tap0");
        }
        catch { ns.Dispose(); throw; }
        return ns;
    }

    public Shell.Result Exec(params string[] args) => Shell.Run("ip", ["netns", "exec", Name, .. args]);

    private void Check(params string[] args)
    {
        var r = Exec(args);
        if (r.ExitCode != 0) throw new InvalidOperationException($"{string.Join(' ', args)} failed: {r.Stderr}");
    }

    /// <summary>Starts the usernet CLI inside the namespace, collecting its output as it comes.</summary>
    public Running Start(params string[] args)
    {
        var psi = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in (string[])["netns", "exec", Name, .. Cli.Command, .. args]) psi.ArgumentList.Add(a);
        var p = new Process { StartInfo = psi };
        var r = new Running(p);
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (r.Out) r.Out.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (r.Err) r.Err.AppendLine(e.Data); };
        p.Start();
        _started.Add(p);
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return r;
    }

    public void Dispose()
    {
        foreach (var p in _started)
        {
            try { if (!p.HasExited) p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
        }
        Shell.Run("ip", ["netns", "del", Name]);
    }

    internal sealed class Running(Process p)
    {
        public readonly System.Text.StringBuilder Out = new(), Err = new();
        public Process Process => p;
        public string Output { get { lock (Out) return Out.ToString(); } }
        public string Errors { get { lock (Err) return Err.ToString(); } }

        public void WaitFor(string text, bool stderr = false)
        {
            var until = DateTime.UtcNow.AddSeconds(30);
            while (DateTime.UtcNow < until)
            {
                if ((stderr ? Errors : Output).Contains(text)) return;
                if (p.HasExited) break;
                Thread.Sleep(20);
            }
            throw new TimeoutException($"no '{text}'; stdout:\n{Output}\nstderr:\n{Errors}");
        }

        /// <summary>SIGTERM, as Ctrl-C or systemd would; waits for a clean exit.</summary>
        public int Terminate()
        {
            // ip netns exec replaces itself with the command, so this pid is usernet's.
            Tmds.Linux.LibC.kill(p.Id, Tmds.Linux.LibC.SIGTERM);
            if (!p.WaitForExit(TimeSpan.FromSeconds(30))) throw new TimeoutException("usernet did not exit after SIGTERM");
            p.WaitForExit();
            return p.ExitCode;
        }
    }
}
