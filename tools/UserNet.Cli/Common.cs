using System.CommandLine;
using System.CommandLine.Parsing;
using UserNet.Core;
using UserNet.Stack;
using UserNet.Devices;
using UserNet.Wire;

namespace UserNet.Cli;

internal static class ExitCodes
{
    public const int Ok = 0;
    public const int NoReply = 1;
    public const int Error = 2;
}

/// <summary>A problem the user can fix, reported as one line with exit code 2.</summary>
internal sealed class CliException(string message) : Exception(message);

/// <summary>The options every command that runs a stack on a TAP shares.</summary>
internal sealed class StackArguments
{
    public readonly Option<string> Tap = new("--tap") { Description = "TAP interface to attach to", Required = true };
    public readonly Option<Ipv4Subnet> Ip = new("--ip") { Description = "the stack's address and prefix, A.B.C.D/N", Required = true, CustomParser = ParseSubnet };
    public readonly Option<Ipv4Address?> Gateway = new("--gateway") { Description = "next hop for destinations off the prefix", CustomParser = ParseAddress };
    public readonly Option<MacAddress?> Mac = new("--mac") { Description = "the stack's MAC (default: random locally administered)", CustomParser = ParseMac };
    public readonly Option<bool> Create = new("--create") { Description = "create the TAP interface if it does not exist (it lasts while usernet runs)" };
    public readonly Option<bool> NoOffload = new("--no-offload") { Description = "plain frames: no virtio-net header, so no TSO and no partial checksums (to measure both)" };

    public void AddTo(Command c)
    {
        c.Add(Tap); c.Add(Ip); c.Add(Gateway); c.Add(Mac); c.Add(Create); c.Add(NoOffload);
    }

    public StackOptions BuildOptions(ParseResult p, int mtu, string name, IFrameObserver? observer = null) => new()
    {
        Address = p.GetValue(Ip),
        Gateway = p.GetValue(Gateway),
        Mac = p.GetValue(Mac),
        Mtu = mtu,
        Name = name,
        Observer = observer,
    };

    public TapDevice OpenTap(ParseResult p)
    {
        if (Environment.OSVersion.Platform != PlatformID.Unix) throw new CliException("TAP devices need Linux");
        var subnet = p.GetValue(Ip);
        if (p.GetValue(Gateway) is { } gw && !subnet.Contains(gw))
            throw new CliException($"gateway {gw} is not inside {subnet}");
        return TapDevice.Open(p.GetValue(Tap)!, p.GetValue(Create), offloads: !p.GetValue(NoOffload));
    }

    internal static Ipv4Subnet ParseSubnet(ArgumentResult r)
    {
        var s = r.Tokens.Count > 0 ? r.Tokens[0].Value : "";
        try
        {
            var n = Ipv4Subnet.Parse(s);
            var a = n.Address;
            if (a.IsUnspecified || a.IsLoopback || a.IsMulticast || a.IsLimitedBroadcast || a.IsReserved
                || (n.PrefixLength < 31 && (a == n.DirectedBroadcast || a == n.Network)))
                r.AddError($"{s} is not a usable host address");
            return n;
        }
        catch (FormatException e)
        {
            r.AddError(e.Message);
            return default;
        }
    }

    internal static Ipv4Address? ParseAddress(ArgumentResult r)
    {
        var s = r.Tokens.Count > 0 ? r.Tokens[0].Value : "";
        if (Ipv4Address.TryParse(s, out var a)) return a;
        r.AddError($"'{s}' is not an IPv4 address (expected A.B.C.D)");
        return null;
    }

    internal static MacAddress? ParseMac(ArgumentResult r)
    {
        var s = r.Tokens.Count > 0 ? r.Tokens[0].Value : "";
        if (!MacAddress.TryParse(s, out var m)) { r.AddError($"'{s}' is not a MAC address (expected XX:XX:XX:XX:XX:XX)"); return null; }
        if (m.IsMulticast || m == MacAddress.Zero) { r.AddError($"{s} is not a unicast MAC address"); return null; }
        return m;
    }
}

internal static class Signals
{
    /// <summary>A token cancelled by SIGINT or SIGTERM (the registrations live as long as the returned object).</summary>
    public static (CancellationTokenSource Cts, IDisposable Registrations) OnTermination()
    {
        var cts = new CancellationTokenSource();
        void Handler(System.Runtime.InteropServices.PosixSignalContext c) { c.Cancel = true; cts.Cancel(); }
        var a = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGINT, Handler);
        var b = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, Handler);
        return (cts, new Both(a, b));
    }

    private sealed class Both(IDisposable a, IDisposable b) : IDisposable
    {
        public void Dispose() { a.Dispose(); b.Dispose(); }
    }
}
