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
