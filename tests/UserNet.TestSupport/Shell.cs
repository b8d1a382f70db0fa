using System.Diagnostics;

namespace UserNet.TestSupport;

/// <summary>Runs a command to completion and collects what it printed.</summary>
public static class Shell
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
        var limit = timeout ?? TimeSpan.FromSeconds(60);
        if (!p.WaitForExit(limit))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish in {limit}");
        }
        return new Result(p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>Runs a command that must succeed; throws with what it said otherwise.</summary>
    public static Result Check(string file, params string[] args)
    {
        var r = Run(file, args);
        if (r.ExitCode != 0) throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed ({r.ExitCode}): {r.Stderr}{r.Stdout}");
        return r;
    }

    /// <summary>Runs a tool the tests compare against (tcpdump, tshark); CI installs them (scripts/install-test-deps.sh).</summary>
    public static Result Tool(string tool, params string[] args) =>
        Run(ToolPath(tool), args, env: new Dictionary<string, string> { ["TZ"] = "UTC" });

    /// <summary>Where a system tool is (also the sbin ones, whatever PATH says); throws, naming the installer, if it is missing.</summary>
    public static string ToolPath(string tool) =>
        new[] { "/usr/bin/", "/usr/sbin/", "/bin/", "/sbin/" }.Select(d => d + tool).FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException($"{tool} is not installed (scripts/install-test-deps.sh installs it)");

    /// <summary>The usernet CLI built next to the tests, in UTC.</summary>
    public static Result Usernet(params string[] args) =>
        Run(UsernetCli.Command[0], [.. UsernetCli.Command[1..], .. args], env: new Dictionary<string, string> { ["TZ"] = "UTC" });
}

/// <summary>How to run the usernet CLI built next to the tests.</summary>
public static class UsernetCli
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
